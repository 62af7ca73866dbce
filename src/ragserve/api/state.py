"""The serving classes of a running server, one per route family, made from the runtime's
parts once in the app's lifespan. Nothing is built here: ``runtime.py`` builds the parts."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from ragserve.access.directory import UserDirectory
from ragserve.access.policy import Policy
from ragserve.access.ratelimit import RateLimiter
from ragserve.api.serving.access import AccessServing
from ragserve.api.serving.auth import AuthServing
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
from ragserve.api.session import SessionStore
from ragserve.config import Settings
from ragserve.runtime import Runtime
from ragserve.store.repositories.sessions import SessionRepository

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Serving:
    settings: Settings
    collections: CollectionServing
    reindex: ReindexServing
    documents: DocumentServing
    document_events: DocumentEvents
    jobs: JobServing
    conversations: ConversationServing
    search: SearchServing
    chat: ChatServing
    openai: OpenAIServing
    embeddings: EmbeddingServing
    resources: ResourceServing
    doctor: DoctorServing
    metrics: MetricsServing
    readiness: Readiness
    users: UserDirectory
    policy: Policy
    access: AccessServing
    #: Requests per user key or session, and failed sign-ins per client address.
    key_limits: RateLimiter
    failures: RateLimiter
    auth: AuthServing

    @classmethod
    def over(cls, runtime: Runtime) -> Serving:
        """Serving classes over a runtime whose :meth:`Runtime.start_serving` has run."""
        settings, catalog, chain = runtime.settings, runtime.catalog, runtime.chain
        embedder, ingest, answers = runtime.shared_embedder, runtime.ingest, runtime.answers
        retriever = answers.retriever
        jobs = JobServing(catalog, ingest, embedder)
        readiness = Readiness(embedder, catalog, chain)
        users, policy = UserDirectory(runtime.database), Policy(runtime.database)
        if not settings.secret_key:
            log.warning(
                "RAGSERVE_SECRET_KEY is not set: backend API keys added on the Resources page "
                "are stored unencrypted"
            )
        return cls(
            settings=settings,
            collections=CollectionServing(catalog, ingest, embedder),
            reindex=ReindexServing(settings, catalog, ingest, embedder),
            documents=DocumentServing(settings, catalog, ingest, jobs),
            document_events=DocumentEvents(catalog, settings.ui_events_poll_s),
            jobs=jobs,
            conversations=ConversationServing(settings, catalog),
            search=SearchServing(settings, retriever, ingest, answers.reranker),
            chat=ChatServing(settings, answers, retriever, catalog),
            openai=OpenAIServing(settings, catalog, answers, retriever, chain, [embedder.model_id]),
            embeddings=EmbeddingServing(embedder),
            resources=ResourceServing(
                settings, catalog, chain, runtime.reload_chain, embedder, runtime.secrets
            ),
            doctor=DoctorServing(settings, catalog, embedder, chain),
            metrics=MetricsServing(ingest, embedder, chain, catalog, readiness),
            readiness=readiness,
            users=users,
            policy=policy,
            access=AccessServing(users, policy),
            key_limits=RateLimiter(settings.rate_limit_per_minute),
            failures=RateLimiter(settings.auth_failures_per_minute),
            auth=AuthServing(
                settings,
                SessionStore(
                    SessionRepository(runtime.database),
                    max_age=timedelta(hours=settings.session_max_age_h),
                    idle=timedelta(minutes=settings.session_idle_min),
                ),
                users,
            ),
        )

    async def aclose(self) -> None:
        await self.openai.aclose()
        await self.auth.aclose()
