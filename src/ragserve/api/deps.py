"""Route dependencies: one narrow ``Annotated`` type per serving class, the caller
(``current_principal``) and what it may do (``AccessDep``).

A route names what it uses (``Documents``, ``Jobs``...), never the whole server state.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import ip_address
from typing import Annotated, Any, Literal

from fastapi import Depends, Request

from ragserve.access.directory import UserDirectory
from ragserve.access.netguard import networks
from ragserve.access.policy import Policy
from ragserve.access.principal import Principal, Role, legacy_principal
from ragserve.access.ratelimit import retry_after
from ragserve.access.tokens import looks_like_user_key
from ragserve.api.serving.access import AccessServing
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
from ragserve.api.serving.reindex import ReindexServing
from ragserve.api.serving.resources import ResourceServing
from ragserve.api.serving.search import SearchServing
from ragserve.api.state import Serving
from ragserve.config import Settings
from ragserve.errors import Forbidden, NotFound, RateLimited, Unauthorized
from ragserve.store.tables import ConversationRow, JobRow


def _serving(request: Request) -> Serving:
    serving: Serving = request.app.state.serving
    return serving


# The trivial dependencies are async: a sync one costs every request a hop through the
# thread pool (and its limiter's lock), which showed in profiles of /v1/embeddings under load.
async def _settings(request: Request) -> Settings:
    return _serving(request).settings


def _part(name: str) -> Callable[[Request], Any]:
    async def get(request: Request) -> Any:
        return getattr(_serving(request), name)

    get.__name__ = f"get_{name}"
    return get


SettingsDep = Annotated[Settings, Depends(_settings)]
Collections = Annotated[CollectionServing, Depends(_part("collections"))]
Reindexing = Annotated[ReindexServing, Depends(_part("reindex"))]
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
AccessApi = Annotated[AccessServing, Depends(_part("access"))]

_WRONG_KEY = "missing or wrong API key: send `Authorization: Bearer <key>`"


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token else None


def _matches(given: str | None, expected: str | None) -> bool:
    return given is not None and expected is not None and hmac.compare_digest(given, expected)


def _client(request: Request) -> str:
    # The peer as TrustedProxies left it: a forwarded address only from a trusted proxy.
    return request.client.host if request.client else "unknown"


def current_principal(request: Request) -> Principal:
    """Who is calling, for every /api and /v1 route (sync: key lookups run in a thread).

    A session's principal (set by the session middleware) first; then a user's key; then
    the single ``RAGSERVE_API_KEY``/``RAGSERVE_ADMIN_KEY`` (single-key mode); with no user
    and no key configured, open mode. Once any user exists a request without a valid key
    is 401; a client sending too many wrong keys gets 429 before its keys are looked at.
    """
    serving = _serving(request)
    settings, users = serving.settings, serving.users
    found = getattr(request.state, "principal", None)
    if isinstance(found, Principal):
        principal = found
    else:
        token = _bearer(request)
        if _matches(token, settings.api_key) or _matches(token, settings.admin_key):
            via: Literal["single-key", "open"] = "single-key" if settings.api_key else "open"
            principal = legacy_principal(via, _matches(token, settings.admin_key))
        else:
            client = _client(request)
            wait = serving.failures.blocked_for(client)
            if wait and (token is not None or users.has_users() or settings.api_key):
                raise RateLimited("too many failed sign-ins from this address", retry_after(wait))
            user = users.authenticate(token) if token and looks_like_user_key(token) else None
            if user is None:
                if users.has_users() or settings.api_key is not None:
                    serving.failures.take(client)
                    raise Unauthorized(_WRONG_KEY)
                principal = legacy_principal("open", False)
            else:
                principal = user
        request.state.principal = principal
    if principal.is_user:
        # Per key (its public prefix, never the secret), or per user for a session.
        token = _bearer(request) if principal.via == "key" else None
        bucket = f"key:{token.rsplit('_', 1)[0]}" if token else f"user:{principal.user_id}"
        wait = serving.key_limits.take(bucket)
        if wait:
            raise RateLimited("too many requests for this key", retry_after(wait))
    return principal


Caller = Annotated[Principal, Depends(current_principal)]


def require_admin(request: Request, settings: SettingsDep) -> None:
    """Single-key mode's admin routes: only with ``RAGSERVE_ADMIN_KEY`` set and presented."""
    expected = settings.admin_key
    if expected is None:
        raise Forbidden("admin routes are off; set RAGSERVE_ADMIN_KEY to turn them on")
    if not _matches(_bearer(request), expected):
        raise Forbidden("this route needs the admin key: `Authorization: Bearer <admin key>`")


@dataclass(frozen=True)
class Access:
    """What the caller may do: every route asks here, and the policy decides."""

    principal: Principal
    policy: Policy
    users: UserDirectory
    settings: Settings
    request: Request

    def collection(self, name: str, need: Role) -> Role:
        """The caller's role; a collection it may not see is 404 exactly as a missing one.
        Single-key and open mode callers own everything and meet the routes' own checks."""
        if not self.principal.is_user:
            return Role.owner
        return self.policy.require(self.principal, name, need)

    def upload_target(self, name: str) -> bool:
        """An upload creates a missing collection (for the caller): True if it will."""
        if not self.principal.is_user:
            return False
        if self.policy.collections.get(name) is None:
            self.policy.require_scope(self.principal, "ingest")
            return True
        self.collection(name, Role.editor)
        return False

    def roles(self) -> dict[str, Role]:
        """Every collection the caller may read, with its role there."""
        return self.policy.readable(self.principal)

    def scope(self, scope: str) -> None:
        self.policy.require_scope(self.principal, scope)

    def admin(self, legacy: Literal["required", "if_configured", "open"]) -> None:
        """Admin routes. Single-key and open mode keep their rules: ``required`` needs the
        admin key, ``if_configured`` needs it only when one is set, ``open`` lets anyone."""
        if self.principal.is_user:
            self.policy.require_admin(self.principal)
        elif legacy == "required" or (legacy == "if_configured" and self.settings.admin_key):
            require_admin(self.request, self.settings)

    def conversation(self, conversation_id: str) -> ConversationRow:
        """The caller's own conversation; anyone else's is 404 exactly as a missing one."""
        row = self.policy.conversations.get(conversation_id)
        if row is None or not self.policy.owns_conversation(self.principal, row):
            raise NotFound(f"no conversation {conversation_id!r}")
        return row

    def job(self, job_id: str, change: bool = False) -> JobRow:
        """A job the caller may see (and, to ``change`` it, edit its collection)."""
        row = self.policy.jobs.get(job_id)
        if row is None or not self.policy.sees_job(self.principal, row):
            raise NotFound(f"no job {job_id!r}")
        if change and self.principal.is_user and row.user_id != self.principal.user_id:
            self.collection(row.collection, Role.editor)
        elif change:
            self.scope("ingest")
        return row

    @property
    def job_filter(self) -> Callable[[JobRow], bool] | None:
        """Which jobs the caller may list; None: all (admins, single-key, open)."""
        if not self.principal.is_user or self.principal.is_admin:
            return None
        return lambda row: self.policy.sees_job(self.principal, row)

    @property
    def owner_filter(self) -> int | None:
        """The user whose conversations are listed; None: all (single-key, open)."""
        return self.principal.user_id if self.principal.is_user else None

    def claim(self, collection: str | None = None, job_id: str | None = None) -> None:
        """Make the caller the owner of a collection it created, or of a job it started."""
        if self.principal.user_id is None:
            return
        if collection is not None:
            self.policy.members.claim(collection, self.principal.user_id)
        if job_id is not None:
            self.policy.claim_job(job_id, self.principal.user_id)

    def record(self, action: str, target: str, **detail: Any) -> None:
        self.users.record(self.principal.name, action, target, **detail)


async def _access(request: Request, principal: Caller) -> Access:
    serving = _serving(request)
    return Access(principal, serving.policy, serving.users, serving.settings, request)


AccessDep = Annotated[Access, Depends(_access)]


def metrics_access(request: Request, settings: SettingsDep) -> None:
    """/metrics: its own token or an allowed network when either is set; with neither,
    open until the first user exists (as before users), refused after."""
    token, allowed = settings.metrics_token, networks(settings.metrics_networks)
    if token is None and not allowed:
        if _serving(request).users.has_users():
            raise Forbidden(
                "/metrics is closed once users exist: set RAGSERVE_METRICS_TOKEN or "
                "RAGSERVE_METRICS_NETWORKS"
            )
        return
    if _matches(_bearer(request), token):
        return
    try:
        peer = ip_address(_client(request))
    except ValueError:
        peer = None
    if peer is not None and any(peer.version == n.version and peer in n for n in allowed):
        return
    raise Unauthorized("/metrics needs `Authorization: Bearer <RAGSERVE_METRICS_TOKEN>`")


def docs_access(request: Request) -> None:
    """/docs and /openapi.json: open with RAGSERVE_OPEN_DOCS, or while nothing needs a key."""
    if _serving(request).settings.open_docs:
        return
    current_principal(request)
