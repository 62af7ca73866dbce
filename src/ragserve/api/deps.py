"""Route dependencies: one narrow ``Annotated`` type per serving class, and the API keys.

A route names what it uses (``Documents``, ``Jobs``...), never the whole server state.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Request

from ragserve.api.serving.chat import ChatServing
from ragserve.api.serving.collections import CollectionServing
from ragserve.api.serving.conversations import ConversationServing
from ragserve.api.serving.doctor import DoctorServing
from ragserve.api.serving.document_events import DocumentEvents
from ragserve.api.serving.documents import DocumentServing
from ragserve.api.serving.embeddings import EmbeddingServing
from ragserve.api.serving.health import Readiness
from ragserve.api.serving.jobs import JobServing
from ragserve.api.serving.metrics import MetricsServing
from ragserve.api.serving.openai import OpenAIServing
from ragserve.api.serving.resources import ResourceServing
from ragserve.api.serving.search import SearchServing
from ragserve.api.state import Serving
from ragserve.config import Settings
from ragserve.errors import Forbidden, Unauthorized


def _serving(request: Request) -> Serving:
    serving: Serving = request.app.state.serving
    return serving


def _settings(request: Request) -> Settings:
    return _serving(request).settings


def _part(name: str) -> Callable[[Request], Any]:
    def get(request: Request) -> Any:
        return getattr(_serving(request), name)

    get.__name__ = f"get_{name}"
    return get


SettingsDep = Annotated[Settings, Depends(_settings)]
Collections = Annotated[CollectionServing, Depends(_part("collections"))]
Documents = Annotated[DocumentServing, Depends(_part("documents"))]
DocumentEventsDep = Annotated[DocumentEvents, Depends(_part("document_events"))]
Jobs = Annotated[JobServing, Depends(_part("jobs"))]
Conversations = Annotated[ConversationServing, Depends(_part("conversations"))]
Search = Annotated[SearchServing, Depends(_part("search"))]
Chat = Annotated[ChatServing, Depends(_part("chat"))]
OpenAI = Annotated[OpenAIServing, Depends(_part("openai"))]
Embeddings = Annotated[EmbeddingServing, Depends(_part("embeddings"))]
Resources = Annotated[ResourceServing, Depends(_part("resources"))]
Doctor = Annotated[DoctorServing, Depends(_part("doctor"))]
Metrics = Annotated[MetricsServing, Depends(_part("metrics"))]
ReadinessDep = Annotated[Readiness, Depends(_part("readiness"))]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token else None


def require_api_key(request: Request, settings: SettingsDep) -> None:
    """Every /api and /v1 route, when ``RAGSERVE_API_KEY`` is set."""
    expected = settings.api_key
    if expected is None:
        return
    given = _bearer(request)
    admin = settings.admin_key
    if given is None or not (
        hmac.compare_digest(given, expected) or (admin and hmac.compare_digest(given, admin))
    ):
        raise Unauthorized("missing or wrong API key: send `Authorization: Bearer <key>`")


def require_admin(request: Request, settings: SettingsDep) -> None:
    """Admin routes: only with ``RAGSERVE_ADMIN_KEY`` set and presented."""
    expected = settings.admin_key
    if expected is None:
        raise Forbidden("admin routes are off; set RAGSERVE_ADMIN_KEY to turn them on")
    given = _bearer(request)
    if given is None or not hmac.compare_digest(given, expected):
        raise Forbidden("this route needs the admin key: `Authorization: Bearer <admin key>`")


def admin_if_configured(request: Request, settings: SettingsDep) -> None:
    """Changing backends makes the server call new URLs: admin-only when an admin key is set."""
    if settings.admin_key is not None:
        require_admin(request, settings)
