"""The FastAPI app: ``create_app(settings)`` builds it; the lifespan loads and stops things.

/healthz /readyz                  health
/api/collections[/…/documents]    collections, uploads, documents
/api/jobs /api/ingest/status      ingestion progress and back-pressure
/api/search /api/chat             retrieval, cited answers over SSE
/api/conversations                stored conversations: list, create, rename, delete
/api/resources                    chat backends, their models and order; the embedding model
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

from ragserve import __version__
from ragserve.api import errors
from ragserve.api.deps import require_api_key
from ragserve.api.limits import BodySizeLimit
from ragserve.api.request_metrics import RequestMetrics
from ragserve.api.routes import (
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
from ragserve.errors import Unauthorized
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
    )
    errors.install(app)
    app.add_middleware(BodySizeLimit, max_bytes=int(settings.max_request_mb * 2**20))
    app.add_middleware(RequestMetrics)
    # A session cookie becomes request.state.principal (after its CSRF check) for the
    # key check that runs later, in each route's dependencies.
    app.add_middleware(SessionAuth)
    # Outermost, so error answers (413, 401...) carry the headers too.
    app.add_middleware(SecurityHeaders)
    app.include_router(health.router, responses=errors.raises())
    app.include_router(metrics.router, responses=errors.raises())
    # Before the key check: sign-in is how a browser gets credentials.
    app.include_router(auth.router)
    guarded = [Depends(require_api_key)]
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
    ):
        app.include_router(
            module.router, dependencies=guarded, responses=errors.raises(Unauthorized)
        )
    if (WEB_DIR / "index.html").exists():
        # Tried after every API route, so a method an API path lacks is its 405 (a mount at
        # "/" would match first and answer for it); no index.html fallback: unknown paths 404.
        app.frontend("/", directory=WEB_DIR, fallback=None)
    return app
