"""Live document status for the UI, read from the stored state.

The stream polls the ``documents`` table (every ``RAGSERVE_UI_EVENTS_POLL_S``) rather than
listening to this process's ingestion, so it stays true when the work runs in other
processes or after a restart. A new stream first sends every queued or indexing document,
then each change as it is stored:

event: document   a DocumentInfo (status queued → indexing → ready, or failed + error)
id: …             on every event: where a reconnecting client resumes (Last-Event-ID)

It ends when the client leaves, or once nothing in the collection is queued or indexing
(after ``retry:``): an idle stream holds no connection, and a browser's EventSource
reconnects by itself, sending ``Last-Event-ID``, so no change is missed in between.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

from ragserve.api.serving.documents import document_info
from ragserve.errors import CollectionNotFound
from ragserve.sse import event
from ragserve.store.catalog import Catalog
from ragserve.store.tables import DocumentRow, utcnow

#: Rows are re-read this far back: a transaction that stamped its rows earlier can commit
#: after a later one, and must not slip behind the cursor.
OVERLAP = timedelta(seconds=2)
#: How long a browser waits before reconnecting once an idle stream ended, milliseconds.
RETRY_MS = 2000


def resume_point(last_event_id: str | None) -> datetime | None:
    """The cursor a reconnecting client sent back, if it is one of ours."""
    if not last_event_id:
        return None
    try:
        stamp = datetime.fromisoformat(last_event_id)
    except ValueError:
        return None
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)


class DocumentEvents:
    def __init__(self, catalog: Catalog, poll_s: float) -> None:
        self.catalog = catalog
        self.poll_s = poll_s

    def check(self, collection: str) -> None:
        """Raise ``CollectionNotFound`` before the stream starts, so it is a 404."""
        if self.catalog.collections.get(collection) is None:
            raise CollectionNotFound(collection)

    async def stream(
        self,
        collection: str,
        disconnected: Callable[[], Awaitable[bool]],
        last_event_id: str | None = None,
    ) -> AsyncIterator[str]:
        """Changes until the client leaves or nothing is left queued or indexing."""
        sent: dict[str, tuple[object, ...]] = {}
        resumed = resume_point(last_event_id)
        cursor = resumed or utcnow()
        yield f"retry: {RETRY_MS}\n\n"
        if resumed is None:
            for row in await asyncio.to_thread(self.catalog.documents.not_ready, collection):
                yield self._event(row, sent, cursor)
        while not await disconnected():
            rows = await asyncio.to_thread(
                self.catalog.documents.changed_since, collection, cursor - OVERLAP
            )
            for row in rows:
                cursor = max(cursor, _aware(row.updated_at))
                if sent.get(row.id) != _state(row):
                    yield self._event(row, sent, cursor)
            # A change stored between the two reads is re-read on reconnecting (OVERLAP).
            if not await asyncio.to_thread(self.catalog.documents.not_ready, collection):
                yield f"id: {cursor.isoformat()}\n\n"  # resume here after reconnecting
                return
            await asyncio.sleep(self.poll_s)

    @staticmethod
    def _event(row: DocumentRow, sent: dict[str, tuple[object, ...]], cursor: datetime) -> str:
        sent[row.id] = _state(row)
        return f"id: {cursor.isoformat()}\n" + event(
            "document", document_info(row).model_dump(mode="json")
        )


def _state(row: DocumentRow) -> tuple[object, ...]:
    return (row.status, row.error, row.chunks, row.updated_at)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
