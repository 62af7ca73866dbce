"""The SQL database: engine, transactions and migrations.

SQLite in the data dir by default (WAL, so a killed process loses nothing committed); the
same tables run on PostgreSQL by URL. The schema is brought up to date by Alembic on open.

Transactions nest: repositories open ``db.session()`` for each call, and a caller that needs
several calls to commit together wraps them in ``db.transaction()`` (same thread), which the
inner calls join.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from ragserve.config import Settings

MIGRATIONS = Path(str(files("ragserve.store") / "migrations"))


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    # With WAL, NORMAL still survives a killed process; only power loss can drop the last
    # commits. FULL would fsync on every chat turn and job update.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def migrate(engine: Engine) -> None:
    """Upgrade the schema to the newest migration (a no-op when it is current)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = create_engine(url)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
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
    def session(self) -> Iterator[Session]:
        """A session: the caller's open transaction if there is one, else a new short one."""
        current: Session | None = getattr(self._local, "session", None)
        if current is not None:
            yield current
            return
        with self._sessions.begin() as session:
            yield session

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """Several repository calls that commit together (or not at all)."""
        if getattr(self._local, "session", None) is not None:
            with self.session() as session:
                yield session
            return
        with self._sessions.begin() as session:
            self._local.session = session
            try:
                yield session
            finally:
                self._local.session = None

    def close(self) -> None:
        self.engine.dispose()
