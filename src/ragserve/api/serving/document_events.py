"""Live document status for the UI, read from the stored state.

The stream polls the ``documents`` table (every ``RAGSERVE_UI_EVENTS_POLL_S``) rather than
listening to this process's ingestion, so it stays true when the work runs in other
processes or after a restart. It first sends every queued or indexing document, then each
change as it is stored:

event: document   a DocumentInfo (status queued → indexing → ready, or failed + error)
: ping            a comment now and then, so proxies keep an idle stream open
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta

from ragserve.api.serving.documents import document_info
from ragserve.errors import CollectionNotFound
from ragserve.protocol import DocumentInfo
from ragserve.sse import event
from ragserve.store.catalog import Catalog
from ragserve.store.tables import DocumentRow, utcnow

#: Rows are re-read this far back: a transaction that stamped its rows earlier can commit
#: after a later one, and must not slip behind the cursor.
OVERLAP = timedelta(seconds=2)
PING_S = 15.0


class DocumentEvents:
    def __init__(self, catalog: Catalog, poll_s: float) -> None:
        self.catalog = catalog
        self.poll_s = poll_s

    def check(self, collection: str) -> None:
        """Raise ``CollectionNotFound`` before the stream starts, so it is a 404."""
        if self.catalog.collections.get(collection) is None:
            raise CollectionNotFound(collection)

    async def stream(
        self, collection: str, disconnected: Callable[[], Awaitable[bool]]
    ) -> AsyncIterator[str]:
        """Changes until the client leaves (``disconnected`` is awaited between polls)."""
        sent: dict[str, tuple[object, ...]] = {}
        cursor = utcnow()
        first = await asyncio.to_thread(self.catalog.documents.not_ready, collection)
        for row in first:
            yield self._event(row, sent)
        last_ping = time.monotonic()
        while True:
            if await disconnected():
                return
            rows = await asyncio.to_thread(
                self.catalog.documents.changed_since, collection, cursor - OVERLAP
            )
            for row in rows:
                if sent.get(row.id) != _state(row):
                    yield self._event(row, sent)
                cursor = max(cursor, _aware(row.updated_at))
            if time.monotonic() - last_ping > PING_S:
                last_ping = time.monotonic()
                yield ": ping\n\n"
            await asyncio.sleep(self.poll_s)

    @staticmethod
    def _event(row: DocumentRow, sent: dict[str, tuple[object, ...]]) -> str:
        sent[row.id] = _state(row)
        info: DocumentInfo = document_info(row)
        return event("document", info.model_dump(mode="json"))


def _state(row: DocumentRow) -> tuple[object, ...]:
    return (row.status, row.error, row.chunks, row.updated_at)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=utcnow().tzinfo)
