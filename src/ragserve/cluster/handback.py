"""Vectors handed back to the API process when the store is embedded (one writer only).

    worker: HandBackStore.upsert / delete_document / stored ─▶ XADD ragserve:vectors
    API:    VectorApplier ─▶ XREADGROUP (group ``api``) ─▶ store + SQL ready ─▶ XACK + XDEL

An embedded store (Qdrant Edge in the data dir) can have one writer, the API process, so
workers send it what they would have written, in order, through one stream. The API marks a
document ``ready`` only after its chunks are stored, and drops what arrives for a document
cancelled or deleted meanwhile. The worker acknowledges its task once the last message is in
the stream: Redis holds it from there, the API acknowledges after writing, and if Redis
loses both, SQL still says ``indexing`` and the reconciler queues the document again. If it
loses only some of a document's messages (it restarted between them), the API sees a gap in
the run's numbered messages before ``stored`` and leaves the document to the reconciler
too. A worker waits for Redis to come back rather than fail the document it is sending; if
it is stopping meanwhile it gives the document back (:class:`StoreUnavailable`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ragserve.cluster.queue import Keys
from ragserve.embed.sparse import SparseVector
from ragserve.errors import ConfigError, StoreUnavailable
from ragserve.store.catalog import Catalog
from ragserve.store.payload import ChunkPayload
from ragserve.store.tables import DocumentRow, DocumentStatus
from ragserve.store.vectors import ChunkPoint, SearchHit

log = logging.getLogger(__name__)

APPLIER_GROUP = "api"
#: Messages the API reads and applies at a time.
READ_BATCH = 64
#: Messages the API may be behind before workers wait: each holds up to one write window
#: (1,024 chunks, ~2.5 MB), so Redis holds at most ~160 MB of vectors in transit.
MAX_BACKLOG = 64
#: Worker runs whose writes the API counts at once (a run ends at its "stored" message;
#: those that never send one are forgotten oldest first).
MAX_TRACKED_RUNS = 100_000
_PENDING = {DocumentStatus.queued.value, DocumentStatus.indexing.value}


class HandBackStore:
    """The worker's stand-in for the embedded store: writes become stream messages."""

    def __init__(self, redis: Redis, keys: Keys, *, stopping: threading.Event | None = None):
        # Any: redis-py annotates replies as sync-or-async unions that need a cast per call.
        self.redis: Any = redis
        self.keys = keys
        self.stopping = stopping or threading.Event()
        #: Per document being sent: its run's id and the messages sent in it so far. The
        #: "stored" message says how many came before it, so the API can tell if any was
        #: lost (see VectorApplier._stored).
        self._runs: dict[str, tuple[str, int]] = {}

    def begin(self, doc_id: str) -> None:
        """A new attempt at ``doc_id``: its messages start a new run."""
        self._runs.pop(doc_id, None)

    def _send(self, fields: dict[str, Any]) -> None:
        doc_id = str(fields["doc"])
        run, sent = self._runs.get(doc_id) or (uuid.uuid4().hex, 0)
        # Numbered within the run: the API ignores a copy (a send retried after Redis took
        # it, a batch read again) and sees a gap as a loss.
        fields["run"], fields["seq"] = run, str(sent)
        self._xadd(fields)  # raises if it could not be sent: the count stays as it was
        if fields["op"] == "stored":
            self._runs.pop(doc_id, None)
        else:
            self._runs[doc_id] = (run, sent + 1)

    def _xadd(self, fields: dict[str, Any]) -> None:
        # Redis away (restarting, say) must not fail the document: wait for it. What it lost
        # of this document's earlier messages the API finds missing at "stored".
        last_warning = 0.0
        while True:
            try:
                # Back-pressure: a slow API makes workers wait instead of filling Redis.
                while int(self.redis.xlen(self.keys.vectors)) >= MAX_BACKLOG:
                    if self.stopping.wait(0.05):
                        break
                self.redis.xadd(self.keys.vectors, fields)
                return
            except (RedisConnectionError, RedisTimeoutError, ReadOnlyError) as exc:
                if self.stopping.is_set():
                    raise StoreUnavailable(f"Redis, carrying vectors to the API: {exc}") from exc
                if time.monotonic() - last_warning > 30:
                    log.warning("vector hand-back: Redis unavailable (%s); waiting for it", exc)
                    last_warning = time.monotonic()
                self.stopping.wait(0.5)

    def upsert(self, name: str, points: Sequence[ChunkPoint]) -> None:
        if not points:
            return
        dense = np.asarray([p.vector for p in points], dtype=np.float32)
        self._send({
            "op": "upsert",
            "name": name,
            "doc": points[0].payload.document_id,
            "ids": json.dumps([p.id for p in points]),
            "payloads": json.dumps([p.payload.to_json() for p in points]),
            "dense": dense.tobytes(),
            "dim": str(dense.shape[1]),
            "sparse": json.dumps(
                [None if p.sparse is None else [p.sparse.indices, p.sparse.values] for p in points]
            ),
        })  # fmt: skip

    def delete_document(self, name: str, doc_id: str, from_index: int = 0) -> None:
        self._send({"op": "delete", "name": name, "doc": doc_id, "from": str(from_index)})

    def stored(self, doc_id: str, state: dict[str, Any], queued_at: str = "") -> None:
        """After the document's last chunks: the API marks it with ``state`` (ready),
        unless it was uploaded again after ``queued_at`` (when its worker took it)."""
        self._send(
            {"op": "stored", "doc": doc_id, "state": json.dumps(state), "queued_at": queued_at}
        )

    # -- the rest of the VectorStore protocol is the API's alone ------------------------------
    def _not_here(self) -> ConfigError:
        return ConfigError("a worker writes through the API process; it cannot read the store")

    def create(self, name: str, dimension: int, sparse: bool = False) -> None:
        raise self._not_here()

    def exists(self, name: str) -> bool:
        raise self._not_here()

    def drop(self, name: str) -> None:
        raise self._not_here()

    def count(self, name: str, doc_id: str | None = None) -> int:
        raise self._not_here()

    def search(
        self,
        name: str,
        vector: Sequence[float] | None,
        limit: int,
        exclude_documents: Sequence[str] = (),
        sparse: SparseVector | None = None,
    ) -> list[SearchHit]:
        raise self._not_here()

    def optimize(self, name: str) -> None:
        return None

    def close(self) -> None:
        return None


def _points(fields: dict[str, bytes]) -> list[ChunkPoint]:
    ids = json.loads(fields["ids"])
    payloads = json.loads(fields["payloads"])
    sparse = json.loads(fields["sparse"])
    dense = np.frombuffer(fields["dense"], dtype=np.float32).reshape(len(ids), int(fields["dim"]))
    return [
        ChunkPoint(
            id=pid,
            vector=vector.tolist(),
            payload=ChunkPayload.from_json(payload),
            sparse=None if terms is None else SparseVector(terms[0], terms[1]),
        )
        for pid, payload, vector, terms in zip(ids, payloads, dense, sparse, strict=True)
    ]


class VectorApplier:
    """Runs in the API process: applies handed-back writes under the service's write lock."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        catalog: Catalog,
        write_lock: threading.Lock,
        on_stored: Callable[[str], None],
    ) -> None:
        # Any: redis-py annotates replies as sync-or-async unions that need a cast per call.
        self.redis: Any = redis
        self.keys = keys
        self.catalog = catalog
        self.write_lock = write_lock
        self.on_stored = on_stored  # the vector collection written, to optimise when idle
        self.consumer = "api"
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        #: Per (document, worker run): the sequence number of the message expected next,
        #: or -1 once one went missing. Lost at a restart of this process: a document
        #: mid-hand-back then looks incomplete and is queued again (safe, if slower).
        self._expected: OrderedDict[tuple[str, str], int] = OrderedDict()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="vector-applier", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _ensure_group(self) -> None:
        try:
            self.redis.xgroup_create(self.keys.vectors, APPLIER_GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _run(self) -> None:
        backlog = True  # first what this consumer was given and did not acknowledge
        while not self._stopping.is_set():
            try:
                self._ensure_group()
                got = self.redis.xreadgroup(
                    APPLIER_GROUP, self.consumer, {self.keys.vectors: "0" if backlog else ">"},
                    count=READ_BATCH, block=None if backlog else 1000,
                )  # fmt: skip
                messages = got[0][1] if got else []
                if backlog and not messages:
                    backlog = False
                    continue
                if messages:
                    self.apply_batch([{k.decode(): v for k, v in f.items()} for _i, f in messages])
                    ids = [msg_id for msg_id, _f in messages]
                    pipe = self.redis.pipeline(transaction=False)
                    pipe.xack(self.keys.vectors, APPLIER_GROUP, *ids)
                    pipe.xdel(self.keys.vectors, *ids)
                    pipe.execute()
            except RedisError as exc:
                log.warning("vector hand-back: Redis unavailable (%s); retrying", exc)
                backlog = True
                self._stopping.wait(1.0)
            except Exception:  # the database down, say: the message stays, tried again
                log.exception("vector hand-back: could not apply a message; retrying")
                backlog = True
                self._stopping.wait(1.0)

    def apply(self, fields: dict[str, bytes]) -> None:
        """Apply one message (see :meth:`apply_batch`)."""
        self.apply_batch([fields])

    def apply_batch(self, batch: list[dict[str, bytes]]) -> None:
        """Apply messages in order, dropping those of documents cancelled or deleted
        meanwhile. Consecutive upserts into one collection go to the store as one call, and
        each document's row is read once: the one API process stores every worker's
        chunks, so its cost per message bounds the whole cluster."""
        rows: dict[str, DocumentRow | None] = {}
        upserts: list[ChunkPoint] = []
        target = ""

        def flush() -> None:
            if upserts:
                self.catalog.vectors.upsert(target, upserts)
                upserts.clear()

        with self.write_lock:
            for fields in batch:
                op = fields["op"].decode()
                doc_id = fields["doc"].decode()
                if doc_id not in rows:
                    rows[doc_id] = self.catalog.documents.get(doc_id)
                row = rows[doc_id]
                wanted = row is not None and row.status in _PENDING
                self._sequence(doc_id, fields)
                if op == "upsert":
                    if wanted:
                        name = fields["name"].decode()
                        if name != target:
                            flush()
                            target = name
                        upserts.extend(_points(fields))
                    continue
                flush()
                if op == "delete":
                    if wanted:
                        self.catalog.vectors.delete_document(
                            fields["name"].decode(), doc_id, int(fields["from"])
                        )
                elif op == "stored":
                    if wanted:
                        rows[doc_id] = self._stored(doc_id, row, fields)
                    else:
                        self._expected.pop((doc_id, fields.get("run", b"").decode()), None)
                    # Its worker left it tracked until now (see Worker._record); untracked
                    # only once SQL says ready, so the reconciler never sees it pending and
                    # unknown.
                    self.redis.srem(self.keys.tracked, doc_id)
                else:
                    log.warning("vector hand-back: unknown operation %r dropped", op)
            flush()

    def _sequence(self, doc_id: str, fields: dict[str, bytes]) -> None:
        """Follow a write's place in its worker run (see HandBackStore._send); a worker
        from before runs were numbered sends none and is not checked."""
        run = fields.get("run", b"").decode()
        if not run or fields["op"] == b"stored":
            return
        key, seq = (doc_id, run), int(fields["seq"])
        expected = self._expected.get(key, 0)
        if expected < 0 or seq < expected:
            return  # already short of a write, or a copy of one applied before
        self._expected[key] = seq + 1 if seq == expected else -1
        self._expected.move_to_end(key)
        while len(self._expected) > MAX_TRACKED_RUNS:
            self._expected.popitem(last=False)

    def _stored(
        self, doc_id: str, row: DocumentRow | None, fields: dict[str, bytes]
    ) -> DocumentRow | None:
        assert row is not None
        key = (doc_id, fields.get("run", b"").decode())
        taken = fields.get("queued_at", b"").decode()
        if taken and row.queued_at is not None and row.queued_at.isoformat() != taken:
            # Uploaded again since its worker took it: the new version's task marks it.
            self._expected.pop(key, None)
            return row
        if key[1] and self._expected.get(key, 0) != int(fields["seq"]):
            # Some of its writes never arrived (Redis restarted empty between them and
            # this message): not ready. Still pending and untracked once this returns,
            # so the reconciler queues it again.
            log.warning("vector hand-back: writes of %s went missing; queued again", doc_id)
            self._expected.pop(key, None)
            return row
        state = json.loads(fields["state"])
        coll = self.catalog.collections.get(row.collection)
        if coll is None:
            return row
        updated = self.catalog.set_document_state(doc_id, **state)
        self._expected.pop(key, None)  # only now: if that failed, the batch is read again
        self.on_stored(coll.vector_collection)
        return updated
