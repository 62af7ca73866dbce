"""Scale-out ingestion: one API, any number of ``ragserve worker`` processes, on Redis.

    API ── SQL rows (queued) ──▶ stream urgent / bulk ──▶ worker: parse ▶ embed ▶ write ──▶ ack
     ▲        (source of truth)    (consumer group)          │
     │                                                       ├─ Qdrant server: writes itself
     └──────── vectors stream (embedded store) ◀─────────────┘  embedded store: hands back

The SQL database (PostgreSQL) holds every accepted document; Redis only carries work. A
reconciler in the API enqueues again whatever SQL says is pending and Redis does not know
(a restart without persistence, a flush). Deterministic point ids make every redelivery an
overwrite, never a duplicate. Why Redis Streams directly and not a task library:
``docs/scaling.md``.
"""
