"""The shared ingestion queue on Redis Streams: one message per document to index.

    enqueue ─▶ XADD urgent|bulk ─▶ XREADGROUP (workers) ─▶ XACK once the vectors are
                                        │                   written (or handed back)
                                        ├─ worker silent > redelivery_s ─▶ XAUTOCLAIM by another
                                        ├─ parser crashed ─▶ zset delayed (backoff) ─▶ XADD again
                                        └─ out of attempts ─▶ XADD dead + SQL failed

A live worker renews its claim on what it holds every third of ``redelivery_s`` (an XCLAIM
to itself, which resets the idle time without counting a delivery), so only a dead or
stuck worker's documents move. Attempts are the message's own count plus its deliveries
beyond the first, so a document that kills its worker every time also runs out of them.

Acknowledged entries are trimmed from the front (XTRIM MINID, below the oldest one still
pending), never deleted one by one: an XDEL after the group's last delivered entry makes
Redis report the group's lag — the backlog KEDA scales workers on — as unknown.

``tracked`` is the set of documents Redis carries work for: the reconciler compares it with
SQL's pending documents, and what is missing was lost by Redis and is enqueued again.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from redis import Redis
from redis.exceptions import ResponseError

GROUP = "workers"
#: How long the reconciler remembers re-queueing a document (Keys.requeued).
REQUEUE_MEMORY_S = 86400


@dataclass(frozen=True, slots=True)
class Keys:
    """Every Redis key ragserve uses, under one prefix."""

    prefix: str = "ragserve"

    @property
    def urgent(self) -> str:
        return f"{self.prefix}:ingest:urgent"

    @property
    def bulk(self) -> str:
        return f"{self.prefix}:ingest:bulk"

    @property
    def streams(self) -> tuple[str, str]:
        return (self.urgent, self.bulk)

    @property
    def dead(self) -> str:
        return f"{self.prefix}:ingest:dead"

    @property
    def delayed(self) -> str:
        return f"{self.prefix}:ingest:delayed"

    @property
    def tracked(self) -> str:
        return f"{self.prefix}:ingest:tracked"

    @property
    def reconciler(self) -> str:
        return f"{self.prefix}:reconciler"

    def requeued(self, doc_id: str) -> str:
        return f"{self.prefix}:ingest:requeued:{doc_id}"

    @property
    def cancelled(self) -> str:
        return f"{self.prefix}:ingest:cancelled"

    @property
    def vectors(self) -> str:
        return f"{self.prefix}:vectors"

    def worker(self, consumer: str) -> str:
        return f"{self.prefix}:workers:{consumer}"

    def rate(self, what: str, second: int) -> str:
        return f"{self.prefix}:rate:{what}:{second}"


@dataclass(frozen=True, slots=True)
class Task:
    """One delivered message: index ``document_id`` (attempt ``attempt``, 1-based)."""

    stream: str
    id: str
    document_id: str
    attempt: int
    force: bool = False
    #: Set on a task claimed from a dead worker with no attempt left: fail it with this.
    give_up: str | None = None
    #: Taken over from a worker that stopped answering.
    redelivered: bool = False

    @property
    def urgent(self) -> bool:
        return self.stream.endswith(":urgent")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _task(stream: bytes | str, msg_id: bytes | str, fields: dict[Any, Any], deliveries: int
          ) -> Task:  # fmt: skip
    data = {_text(k): _text(v) for k, v in fields.items()}
    return Task(
        stream=_text(stream),
        id=_text(msg_id),
        document_id=data["doc"],
        attempt=int(data.get("attempt", "1")) + max(0, deliveries - 1),
        force=data.get("force") == "1",
    )


class WorkQueue:
    """The queue's operations; safe to share between threads (redis-py pools connections)."""

    def __init__(
        self,
        redis: Redis,
        *,
        redelivery_s: float,
        max_attempts: int,
        backoff_s: float,
        keys: Keys | None = None,
    ) -> None:
        # Any: redis-py annotates replies as sync-or-async unions that need a cast per call.
        self.redis: Any = redis
        self.keys = keys or Keys()
        self.redelivery_s = redelivery_s
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self._next_claim = 0.0
        self._next_promote = 0.0
        # Claimed from dead workers but not yet handed out (a claim takes one per stream).
        self._claimed: deque[Task] = deque()
        self._lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> WorkQueue:
        # Timeouts, so a dead Redis is an error in seconds; blocking reads stay below them.
        redis = Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
        return cls(redis, **kwargs)

    def ensure_groups(self) -> None:
        """Create the streams and the workers' group (again, after Redis lost them)."""
        for stream in self.keys.streams:
            try:
                self.redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    # -- producing --------------------------------------------------------------------------
    def enqueue(
        self, doc_ids: Sequence[str], *, urgent: bool, force: bool = False, attempt: int = 1
    ) -> None:
        """Queue documents (their SQL rows exist already); a new submission lifts a cancel."""
        if not doc_ids:
            return
        stream = self.keys.urgent if urgent else self.keys.bulk
        pipe = self.redis.pipeline(transaction=False)
        pipe.sadd(self.keys.tracked, *doc_ids)
        if attempt == 1:
            pipe.srem(self.keys.cancelled, *doc_ids)
        for doc_id in doc_ids:
            fields = {"doc": doc_id, "attempt": str(attempt), "force": "1" if force else "0"}
            pipe.xadd(stream, fields)
        pipe.execute()

    def count_requeues(self, doc_ids: Sequence[str]) -> list[int]:
        """Count one more re-queue by the reconciler for each document; returns the totals.

        Kept a day (a submission clears them): enough to stop a document that is lost on
        every attempt from going round for ever, without state that outlives its purpose.
        """
        pipe = self.redis.pipeline(transaction=False)
        for doc_id in doc_ids:
            pipe.incr(self.keys.requeued(doc_id))
            pipe.expire(self.keys.requeued(doc_id), REQUEUE_MEMORY_S)
        return [int(n) for n in pipe.execute()[::2]]

    def forget_requeues(self, doc_ids: Sequence[str]) -> None:
        """A new submission starts the count again."""
        if doc_ids:
            self.redis.delete(*(self.keys.requeued(d) for d in doc_ids))

    def cancel(self, doc_ids: Iterable[str]) -> None:
        """Workers drop these documents' work at their next window."""
        ids = list(doc_ids)
        if ids:
            self.redis.sadd(self.keys.cancelled, *ids)

    def is_cancelled(self, doc_id: str) -> bool:
        return bool(self.redis.sismember(self.keys.cancelled, doc_id))

    def untracked(self, doc_ids: Sequence[str]) -> list[str]:
        """The documents among ``doc_ids`` Redis carries no work for."""
        if not doc_ids:
            return []
        member = self.redis.smismember(self.keys.tracked, list(doc_ids))
        return [d for d, known in zip(doc_ids, member, strict=True) if not known]

    # -- consuming --------------------------------------------------------------------------
    def take(self, consumer: str, block_s: float = 1.0) -> Task | None:
        """The next task for ``consumer``: urgent first, then bulk; None after ``block_s``.

        Also, at most every quarter of ``redelivery_s``, claims dead workers' tasks (handed
        out first); one out of attempts comes with ``give_up`` set, for the caller to fail.
        """
        with self._lock:
            now = time.monotonic()
            if now >= self._next_promote:
                self._next_promote = now + 1.0
                self.promote_due()
                self.trim()
            if now >= self._next_claim:
                self._next_claim = now + self.redelivery_s / 4
                self._claimed.extend(self.claim_stale(consumer))
            if self._claimed:
                return self._claimed.popleft()
        try:
            for stream in self.keys.streams:
                got = self.redis.xreadgroup(GROUP, consumer, {stream: ">"}, count=1)
                if got:
                    return self._first(got)
            got = self.redis.xreadgroup(
                GROUP, consumer, dict.fromkeys(self.keys.streams, ">"), count=1,
                block=int(block_s * 1000),
            )  # fmt: skip
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            self.ensure_groups()  # Redis came back empty
            return None
        return self._first(got) if got else None

    @staticmethod
    def _first(got: Any) -> Task:
        stream, messages = got[0]
        msg_id, fields = messages[0]
        return _task(stream, msg_id, fields, 1)

    def claim_stale(self, consumer: str) -> list[Task]:
        """Take over tasks idle past ``redelivery_s``; those out of attempts get ``give_up``."""
        claimed: list[Task] = []
        idle_ms = int(self.redelivery_s * 1000)
        for stream in self.keys.streams:
            try:
                _next, messages, *_ = self.redis.xautoclaim(
                    stream, GROUP, consumer, idle_ms, start_id="0-0", count=16
                )
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                self.ensure_groups()
                continue
            for msg_id, fields in messages:
                if not fields:  # deleted meanwhile
                    continue
                pending = self.redis.xpending_range(stream, GROUP, min=msg_id, max=msg_id, count=1)
                deliveries = int(pending[0]["times_delivered"]) if pending else 2
                task = replace(_task(stream, msg_id, fields, deliveries), redelivered=True)
                if task.attempt > self.max_attempts:
                    reason = (
                        f"its worker stopped while indexing it on each of {self.max_attempts} "
                        "attempts (killed, out of memory or lost)"
                    )
                    task = replace(task, attempt=self.max_attempts, give_up=reason)
                claimed.append(task)
        return claimed

    def renew(self, consumer: str, tasks: Iterable[Task]) -> None:
        """Reset the idle time of tasks this live consumer holds (not a new delivery)."""
        by_stream: dict[str, list[str]] = {}
        for task in tasks:
            by_stream.setdefault(task.stream, []).append(task.id)
        for stream, ids in by_stream.items():
            self.redis.xclaim(stream, GROUP, consumer, 0, ids, justid=True)

    def ack(self, task: Task, *, finished: bool = True) -> None:
        """Done with this message; ``finished``: the document needs no more work."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.xack(task.stream, GROUP, task.id)
        if finished:
            pipe.srem(self.keys.tracked, task.document_id)
        pipe.execute()

    def requeue(self, task: Task) -> None:
        """Hand a task back unfinished (a worker shutting down): same attempt, no delay."""
        fields = {"doc": task.document_id, "attempt": str(task.attempt),
                  "force": "1" if task.force else "0"}  # fmt: skip
        pipe = self.redis.pipeline(transaction=True)
        pipe.xadd(task.stream, fields)
        pipe.xack(task.stream, GROUP, task.id)
        pipe.execute()

    def retry_later(self, task: Task) -> bool:
        """Schedule another attempt after the backoff; False when none is left."""
        if task.attempt >= self.max_attempts:
            return False
        due = time.time() + self.backoff_s * 2 ** (task.attempt - 1)
        member = json.dumps({"doc": task.document_id, "attempt": task.attempt + 1,
                             "force": task.force, "stream": task.stream})  # fmt: skip
        pipe = self.redis.pipeline(transaction=True)
        pipe.zadd(self.keys.delayed, {member: due})
        pipe.xack(task.stream, GROUP, task.id)
        pipe.execute()
        return True

    def trim(self) -> None:
        """Drop acknowledged entries from the front of each stream."""
        for stream in self.keys.streams:
            group = self._group(stream)
            if group is None:
                continue
            pending = self.redis.xpending(stream, GROUP)
            if pending["pending"]:
                keep_from = _text(pending["min"])
            else:
                ms, seq = _text(group["last-delivered-id"]).split("-")
                keep_from = f"{ms}-{int(seq) + 1}"
            self.redis.xtrim(stream, minid=keep_from, approximate=False)

    def promote_due(self) -> int:
        """Move retries whose backoff has passed back into their stream."""
        moved = 0
        for member in self.redis.zrangebyscore(self.keys.delayed, "-inf", time.time(), 0, 50):
            if not self.redis.zrem(self.keys.delayed, member):
                continue  # another worker moved it
            data = json.loads(member)
            self.enqueue([data["doc"]], urgent=data["stream"] == self.keys.urgent,
                         force=bool(data["force"]), attempt=int(data["attempt"]))  # fmt: skip
            moved += 1
        return moved

    def dead_letter(self, task: Task, reason: str) -> None:
        """Park a task that used up its attempts, for people to look at; it is finished."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.xadd(self.keys.dead, {"doc": task.document_id, "reason": reason,
                                   "attempts": str(task.attempt)}, maxlen=10000)  # fmt: skip
        pipe.xack(task.stream, GROUP, task.id)
        pipe.srem(self.keys.tracked, task.document_id)
        pipe.execute()

    # -- what is there ------------------------------------------------------------------------
    def depth(self) -> dict[str, int]:
        """Messages waiting for a worker (not yet delivered), per priority: the group's lag."""
        out = {}
        for name, stream in (("urgent", self.keys.urgent), ("bulk", self.keys.bulk)):
            group = self._group(stream)
            if group is None:  # no stream or group yet
                out[name] = 0
                continue
            lag = group.get("lag")
            if lag is None:  # unknown to Redis: everything not pending, an upper bound
                lag = int(self.redis.xlen(stream)) - int(group["pending"])
            out[name] = max(0, int(lag))
        return out

    def _group(self, stream: str) -> dict[str, Any] | None:
        """The workers' group as XINFO GROUPS describes it (lag, pending, last delivered)."""
        try:
            groups = self.redis.xinfo_groups(stream)
        except ResponseError:  # no stream yet
            return None
        return next((g for g in groups if _text(g["name"]) == GROUP), None)

    def delayed(self) -> int:
        return int(self.redis.zcard(self.keys.delayed))

    def dead_letters(self) -> int:
        return int(self.redis.xlen(self.keys.dead))

    # -- shared rates and live workers --------------------------------------------------------
    def count(self, what: str, n: int) -> None:
        """Add ``n`` to this second's counter of ``what`` (documents, chunks)."""
        key = self.keys.rate(what, int(time.time()))
        pipe = self.redis.pipeline(transaction=False)
        pipe.incrby(key, n)
        pipe.expire(key, 120)
        pipe.execute()

    def rate(self, what: str, window_s: int = 30) -> float:
        """``what`` per second over the last ``window_s`` seconds, all workers together."""
        now = int(time.time())
        values = self.redis.mget([self.keys.rate(what, s) for s in range(now - window_s, now + 1)])
        return sum(int(v) for v in values if v) / window_s

    def register_worker(self, consumer: str, concurrency: int, ttl_s: float) -> None:
        self.redis.set(self.keys.worker(consumer), concurrency, ex=max(1, int(ttl_s)))

    def unregister_worker(self, consumer: str) -> None:
        self.redis.delete(self.keys.worker(consumer))

    def workers(self) -> dict[str, int]:
        """Live workers (those that renewed their registration) and their concurrency."""
        keys = list(self.redis.scan_iter(self.keys.worker("*"), count=100))
        values = self.redis.mget(keys) if keys else []
        prefix = len(self.keys.worker(""))
        return {_text(k)[prefix:]: int(v) for k, v in zip(keys, values, strict=True) if v}

    def close(self) -> None:
        self.redis.close()
