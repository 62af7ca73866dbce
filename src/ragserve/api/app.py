"""The FastAPI app: ``create_app(settings)`` builds it; the lifespan loads and stops things.

/healthz /readyz                  health
/api/collections[/…/documents]    collections, uploads, documents
/api/jobs /api/ingest/status      ingestion progress and back-pressure
/api/search /api/chat             retrieval, cited answers over SSE
/api/conversations                stored conversations: list, create, rename, delete
/api/resources                    chat backends, their models and order; the embedding model
/api/me /api/keys /api/users /api/groups /api/audit /api/collections/…/members    access
/v1/models /v1/chat/completions /v1/embeddings    the OpenAI-compatible facade
/api/auth/config /auth/login /auth/callback /auth/logout    sign-in (OpenID Connect), sessions
/                                 the web UI (static files)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from ragserve import __version__
from ragserve.access.forwarded import TrustedProxies
from ragserve.access.netguard import networks
from ragserve.api import errors
from ragserve.api.deps import current_principal, docs_access, metrics_access
from ragserve.api.limits import BodySizeLimit
from ragserve.api.request_metrics import RequestMetrics
from ragserve.api.routes import (
    access,
    auth,
    chat,
    collections,
    conversations,
    doctor,
    documents,
    health,
    jobs,
    metrics,
    openai,
    resources,
    search,
)
from ragserve.api.security_headers import SecurityHeaders
from ragserve.api.session import SessionAuth
from ragserve.api.state import Serving
from ragserve.config import Settings
from ragserve.errors import Forbidden, RateLimited, Unauthorized
from ragserve.runtime import Runtime
from ragserve.store.ownership import DataDirLock

log = logging.getLogger(__name__)

WEB_DIR = Path(str(files("ragserve") / "web"))


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    """The ragserve app. A given ``runtime`` is used and left open (tests share one)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = runtime is None
        lock = DataDirLock(settings.data_dir)
        lock.acquire()
        rt = runtime or Runtime(settings)
        try:
            await asyncio.to_thread(rt.start_serving)
            serving = Serving.over(rt)
            app.state.serving = serving
            log.info("ragserve ready")
            yield
            await serving.aclose()
            await rt.stop_serving()
        finally:
            if own:
                rt.close()
            lock.release()

    app = FastAPI(
        title="ragserve",
        version=__version__,
        summary="Cited answers over your documents, on models you run.",
        lifespan=lifespan,
        # Served below behind docs_access: a key once keys are needed (RAGSERVE_OPEN_DOCS).
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    errors.install(app)
    app.add_middleware(BodySizeLimit, max_bytes=int(settings.max_request_mb * 2**20))
    app.add_middleware(RequestMetrics)
    # A session cookie becomes request.state.principal (after its CSRF check) for the
    # key check that runs later, in each route's dependencies.
    app.add_middleware(SessionAuth)
    # Outermost, so error answers (413, 401...) carry the headers too.
    app.add_middleware(SecurityHeaders)
    # Outside even that: every part sees the client address and scheme it may believe.
    app.add_middleware(TrustedProxies, trusted=networks(settings.trusted_proxies))
    app.include_router(health.router, responses=errors.raises())
    app.include_router(
        metrics.router,
        dependencies=[Depends(metrics_access)],
        responses=errors.raises(Unauthorized, Forbidden),
    )
    _docs(app)
    # Without the principal check: sign-in is how a browser gets credentials.
    app.include_router(auth.router, responses=errors.raises())
    guarded = [Depends(current_principal)]
    for module in (
        collections,
        documents,
        jobs,
        search,
        chat,
        conversations,
        openai,
        doctor,
        resources,
        access,
    ):
        app.include_router(
            module.router,
            dependencies=guarded,
            responses=errors.raises(Unauthorized, RateLimited),
        )
    if (WEB_DIR / "index.html").exists():
        # Tried after every API route, so a method an API path lacks is its 405 (a mount at
        # "/" would match first and answer for it); no index.html fallback: unknown paths 404.
        app.frontend("/", directory=WEB_DIR, fallback=None)
    return app


def _docs(app: FastAPI) -> None:
    """/openapi.json, /docs and /redoc, each behind ``docs_access``."""
    gate = [Depends(docs_access)]

    @app.get("/openapi.json", include_in_schema=False, dependencies=gate)
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=gate)
    def swagger() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} - API")

    @app.get("/redoc", include_in_schema=False, dependencies=gate)
    def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json", title=f"{app.title} - ReDoc")
