"""The SQL database: engine, transactions and migrations.

SQLite in the data dir by default (WAL, so a killed process loses nothing committed); the
same tables run on PostgreSQL by URL. The schema is brought up to date by Alembic on open.

Transactions nest: repositories open ``db.session()`` for each call, and a caller that needs
several calls to commit together wraps them in ``db.transaction()`` (same thread), which the
inner calls join.

A database that cannot be reached raises :class:`~ragserve.errors.DatabaseUnavailable` from
both, within seconds (connect and pool timeouts below): the API answers 503 with
``Retry-After``, and the next call after the database returns simply works again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from ragserve.errors import DatabaseUnavailable

if TYPE_CHECKING:
    from ragserve.config import Settings

MIGRATIONS = Path(str(files("ragserve.store") / "migrations"))

#: Seconds to open a connection to a database server before it counts as unreachable.
CONNECT_TIMEOUT_S = 5
#: Milliseconds sent data may stay unacknowledged before the connection counts as dead.
UNACKNOWLEDGED_MS = 10_000
#: Seconds a request waits for a free pooled connection; sessions last milliseconds, so a
#: longer wait means the database has stalled, and an answer beats a hung request.
POOL_TIMEOUT_S = 5
#: Connections kept open per process, and how many more it may open under load: the API runs
#: its route handlers on AnyIO's 40 threads, but each holds a connection only for one short
#: session, so 20 serve them; N API replicas and workers stay well under PostgreSQL's
#: default ``max_connections`` (100) at 10 idle each.
POOL_SIZE = 10
POOL_OVERFLOW = 10
#: Key of the PostgreSQL advisory lock taken around migrations ("ragserve" in ASCII): the API
#: and N workers start together against one database, and only one may migrate it.
MIGRATION_LOCK_KEY = 0x7261677365727665

#: What SQLAlchemy raises when the database cannot be reached or stops answering.
UNREACHABLE = (OperationalError, InterfaceError, PoolTimeout)


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    # With WAL, NORMAL still survives a killed process; only power loss can drop the last
    # commits. FULL would fsync on every chat turn and job update.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def describe_url(url: str | URL) -> str:
    """The database named for people: dialect, host, port and database, never credentials."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"SQLite database {parsed.database or ':memory:'}"
    where = parsed.host or "localhost"
    if parsed.port:
        where += f":{parsed.port}"
    return f"{parsed.get_backend_name()} database {parsed.database or ''!s} at {where}"


def migrate(engine: Engine) -> None:
    """Upgrade the schema to the newest migration (a no-op when it is current).

    On PostgreSQL under a transaction-scoped advisory lock: processes starting together wait
    for the first one's migration to commit, then find the schema current.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def _engine_options(url: URL) -> dict[str, Any]:
    if url.get_backend_name() != "postgresql":
        return {}
    return {
        # A connection the server dropped (restart, failover) is replaced, not handed out.
        "pool_pre_ping": True,
        "pool_timeout": POOL_TIMEOUT_S,
        "pool_size": POOL_SIZE,
        "max_overflow": POOL_OVERFLOW,
        "connect_args": {
            "connect_timeout": CONNECT_TIMEOUT_S,
            # A server gone from the network (not refusing, just silent) breaks the
            # connection once what was sent stays unacknowledged this long, instead of a
            # query waiting forever; a slow query is unaffected (its bytes are acknowledged).
            "tcp_user_timeout": UNACKNOWLEDGED_MS,
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
        },
    }


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        parsed = make_url(url)
        #: Names the database in errors and readiness (never the password).
        self.name = describe_url(parsed)
        #: Shared with other processes and machines (a server), not a file of this one.
        self.shared = parsed.get_backend_name() != "sqlite"
        self.engine: Engine = create_engine(url, **_engine_options(parsed))
        if not self.shared:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        with self._translated():
            migrate(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._local = threading.local()

    @classmethod
    def in_dir(cls, data_dir: Path) -> Database:
        return cls(f"sqlite:///{data_dir / 'ragserve.db'}")

    @classmethod
    def for_settings(cls, settings: Settings) -> Database:
        """RAGSERVE_DATABASE_URL if set, else SQLite in the data dir."""
        if settings.database_url:
            return cls(settings.database_url)
        return cls.in_dir(settings.data_dir)

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """SQLAlchemy's "cannot reach the database" errors as DatabaseUnavailable."""
        try:
            yield
        except UNREACHABLE as exc:
            raise DatabaseUnavailable(self.name, _first_line(exc)) from exc

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session: the caller's open transaction if there is one, else a new short one."""
        current: Session | None = getattr(self._local, "session", None)
        if current is not None:
            yield current
            return
        with self._translated(), self._sessions.begin() as session:
            yield session

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """Several repository calls that commit together (or not at all)."""
        if getattr(self._local, "session", None) is not None:
            with self.session() as session:
                yield session
            return
        with self._translated(), self._sessions.begin() as session:
            self._local.session = session
            try:
                yield session
            finally:
                self._local.session = None

    def ping(self) -> None:
        """One round trip (``SELECT 1``); raises DatabaseUnavailable if it fails."""
        with self.session() as session:
            session.execute(text("SELECT 1"))

    def close(self) -> None:
        self.engine.dispose()


def _first_line(exc: BaseException) -> str:
    # The driver's own words (e.g. "connection refused"), without SQLAlchemy's SQL echo and
    # background link; the URL in them carries no password (psycopg prints host and port).
    original = getattr(exc, "orig", None) or exc
    return str(original).strip().splitlines()[0] if str(original).strip() else type(exc).__name__
