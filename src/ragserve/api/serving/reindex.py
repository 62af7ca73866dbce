"""``/api/collections/{name}/reindex``: rebuild a whole collection inside the running server.

``ragserve reindex`` refuses to run beside a server (the embedded store has one writer), so a
server's users could give an old collection its keyword side only by stopping the server.
This runs the same ``ingest.reindex.reindex_collection`` in a thread of the server:

- the new vectors go to a new vector collection; searches use the old ones until every
  document is in, then the collection switches (nothing switches if any document fails);
- the embedding goes through the server's shared batcher at bulk priority, so questions
  keep going first;
- while it runs, the collection takes no other work (uploads, a document's re-index,
  deletes answer 409 ``collection_busy``): the new index is built from the documents as they
  were when it started.

The latest run per collection is kept in memory; a server stopped mid-run leaves the
collection on its old vectors and the run is not resumed — ask for it again. The half-built
vectors are dropped when the server next starts (``Runtime.start_serving``; the embedded
store only — on a Qdrant server another replica's re-index may be building one).
"""

from __future__ import annotations

import logging
import threading

from ragserve.config import Settings
from ragserve.embed.base import EmbeddingBackend
from ragserve.errors import CollectionNotFound, RagserveError
from ragserve.ingest.pipeline import FileOutcome
from ragserve.ingest.reindex import reindex_collection
from ragserve.ingest.service import IngestService
from ragserve.protocol import ReindexStatus
from ragserve.store.catalog import Catalog
from ragserve.store.tables import utcnow

log = logging.getLogger(__name__)


class ReindexServing:
    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        ingest: IngestService,
        embedder: EmbeddingBackend,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.ingest = ingest
        self.embedder = embedder
        self._runs: dict[str, ReindexStatus] = {}
        self._lock = threading.Lock()

    def start(self, name: str) -> ReindexStatus:
        """Start re-indexing ``name`` in the background (CollectionNotFound, EmbeddingMismatch,
        CollectionBusy while it or its documents are busy)."""
        self.catalog.open(name, self.embedder.model_id, self.embedder.dimension, create=False)
        documents = self.ingest.hold_for_reindex(name)
        status = ReindexStatus(
            collection=name, status="running", documents=documents, started_at=utcnow()
        )
        with self._lock:
            self._runs[name] = status
        try:
            threading.Thread(
                target=self._run, args=(name,), name=f"reindex-{name}", daemon=True
            ).start()
        except BaseException:
            self.ingest.release_reindex(name)
            raise
        return status

    def get(self, name: str) -> ReindexStatus:
        with self._lock:
            status = self._runs.get(name)
        if status is not None:
            return status
        if self.catalog.collections.get(name) is None:
            raise CollectionNotFound(name)
        totals = self.catalog.documents.totals().get(name)
        documents = sum(totals[0].values()) if totals else 0
        return ReindexStatus(collection=name, status="none", documents=documents)

    def _update(self, name: str, **changes: object) -> None:
        with self._lock:
            self._runs[name] = self._runs[name].model_copy(update=changes)

    def _run(self, name: str) -> None:
        def advance(outcome: FileOutcome) -> None:
            with self._lock:
                now = self._runs[name]
                self._runs[name] = now.model_copy(
                    update={
                        "done": now.done + 1,
                        "failed": now.failed + (outcome.status == "failed"),
                    }
                )

        try:
            result = reindex_collection(
                self.settings, self.catalog, self.embedder, name, on_outcome=advance
            )
        except RagserveError as exc:
            self._update(name, status="failed", error=str(exc), finished_at=utcnow())
        except Exception as exc:  # a bug: the collection keeps its old vectors; say so
            log.exception("re-indexing collection %r failed", name)
            self._update(
                name, status="failed", error=f"internal error: {exc!r}", finished_at=utcnow()
            )
        else:
            self._update(
                name,
                status="done",
                chunks=result.report.chunks,
                sparse_encoding=result.sparse_encoding,
                finished_at=utcnow(),
            )
            log.info("re-indexed collection %r: %d chunks", name, result.report.chunks)
        finally:
            self.ingest.release_reindex(name)
