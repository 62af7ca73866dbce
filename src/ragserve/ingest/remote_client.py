"""Ingest through a running server's API: ``ragserve ingest PATH... --server URL``.

    discover ─▶ name each file ─▶ hash it ─▶ skip what the server holds unchanged
             ─▶ POST batches (≤ capacity, ≤ 413 limit) ─▶ poll the jobs ─▶ one report

Resuming is the point: each file is uploaded under a name derived from its path relative to
the argument it was found under, so a re-run maps it to the same document id, and a file
whose sha256 equals the ``content_hash`` of a ready document of that name is not sent again.
Back-pressure is obeyed, never fought: a 429 waits its Retry-After, then the client reads
``/api/ingest/status`` and sends no more than the queue has room for.

Memory stays flat whatever the number of files: files are hashed and uploaded as streams,
and at most one batch of open files is held at a time.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from ragserve.errors import (
    BackendAuthError,
    BackendError,
    BackendProtocolError,
    BackendUnavailable,
    IngestError,
    UnsupportedFile,
)
from ragserve.ingest.discover import discover
from ragserve.ingest.pipeline import FileOutcome, IngestReport
from ragserve.ingest.uploads import checked_upload_name, safe_filename

#: Joins the folders of a file's relative path into one upload name (``a/b.md`` → ``a~b.md``):
#: the server keeps only a bare file name, and ``~`` survives its sanitising.
FOLDER_SEPARATOR = "~"
#: The server's error when a new version failed but the previous one stays searchable.
_PREVIOUS_KEPT = "the latest version failed"
_TERMINAL = {"ready", "failed"}
MAX_STATUS_INTERVAL_S = 5.0
_HASH_BLOCK = 1 << 20


@dataclass(slots=True)
class LocalFile:
    """One file to upload: where it is, the name it is sent under, how it is reported."""

    path: Path
    name: str
    source: str
    size: int = 0
    content_hash: str = ""


@dataclass(slots=True)
class RemoteIngestReport(IngestReport):
    """The local report plus how often the server was full and how long that cost."""

    server_full: int = 0
    waited_s: float = 0.0


def upload_names(paths: list[Path]) -> tuple[list[LocalFile], list[FileOutcome]]:
    """The files under ``paths`` with their upload names, and the outcomes known already.

    A folder's files are named by their path below it (``docs/a/x.md`` → ``a~x.md``), a file
    argument by its own name. Two files that still end up with one name (the same relative
    path under two folder arguments) would overwrite each other's document: the second is
    failed with the reason instead.
    """
    files: list[LocalFile] = []
    outcomes: list[FileOutcome] = []
    taken: dict[str, Path] = {}
    seen: set[Path] = set()
    for root in paths:
        found = discover([root])
        for missing in found.missing:
            outcomes.append(FileOutcome(str(missing), "failed", reason="no such file or directory"))
        for path in found.unsupported:
            reason = UnsupportedFile(path, f"unsupported type {path.suffix!r}").reason
            outcomes.append(FileOutcome(str(path), "skipped", reason=str(reason)))
        for path in found.files:
            key = path.resolve()
            if key in seen:
                continue
            seen.add(key)
            relative = path.relative_to(root).parts if root.is_dir() else (path.name,)
            name = safe_filename(FOLDER_SEPARATOR.join(relative))
            if name in taken:
                reason = (
                    f"uploads under the same name {name!r} as {taken[name]}; ingest the two "
                    "folders into separate collections or rename one"
                )
                outcomes.append(FileOutcome(str(path), "failed", reason=reason))
                continue
            taken[name] = path
            files.append(LocalFile(path, name, str(path)))
    return files, outcomes


class RemoteIngestClient:
    """Uploads files to one collection of a ragserve server and waits for them to be indexed.

    ``http`` is the client to talk through (its base URL is the server); tests pass one with
    event hooks. ``sleep`` is how the client waits, so the time spent throttled is counted.
    """

    def __init__(
        self,
        http: httpx.Client,
        collection: str,
        *,
        batch_files: int = 50,
        batch_bytes: int = 64 * 2**20,
        poll_s: float = 0.5,
        max_retries: int = 5,
        on_outcome: Callable[[FileOutcome], None] | None = None,
        on_start: Callable[[int], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.http = http
        self.collection = collection
        self.batch_files = max(1, batch_files)
        self.batch_bytes = batch_bytes
        self.poll_s = poll_s
        self.max_retries = max_retries
        self.on_outcome = on_outcome or (lambda _o: None)
        self.on_start = on_start or (lambda _n: None)
        self._sleep = sleep
        self._path = f"/api/collections/{quote(collection, safe='')}/documents"
        self._report = RemoteIngestReport(collection)
        # Jobs not yet done, oldest first: job id → {document id: file}.
        self._open_jobs: dict[str, dict[str, LocalFile]] = {}
        self._last_poll = 0.0
        # Documents the queue has room for, as last read from /api/ingest/status.
        self._room = 0

    # -- the run -------------------------------------------------------------------------------
    def run(self, paths: list[Path]) -> RemoteIngestReport:
        """Upload what the server lacks, wait until every file is indexed or failed."""
        started = time.perf_counter()
        files, known = upload_names(paths)
        self.on_start(len(files) + sum(1 for o in known if o.status == "failed"))
        for outcome in known:
            self._record(outcome, progress=outcome.status == "failed")
        held = self._held()
        status = self._status()
        # A batch larger than the whole queue could never be accepted.
        self.batch_files = min(self.batch_files, int(status["capacity"]))
        self._room = self._room_in(status)
        pending: deque[LocalFile] = deque()
        candidates = iter(files)
        while True:
            self._fill(pending, candidates, held)
            if not pending:
                break
            batch = self._take_batch(pending)
            pending.extendleft(reversed(self._upload(batch)))
            self._poll_jobs(wait=False)
        self._poll_jobs(wait=True)
        self._report.seconds = time.perf_counter() - started
        return self._report

    def _fill(
        self, pending: deque[LocalFile], candidates: Iterator[LocalFile], held: dict[str, Any]
    ) -> None:
        """Hash files until one batch is pending; unchanged ones are skipped on the way."""
        while len(pending) < self.batch_files:
            file = next(candidates, None)
            if file is None:
                return
            try:
                file.size, file.content_hash, expected = _hash_file(file)
            except OSError as exc:
                reason = f"could not be read: {exc.strerror or exc}"
                self._record(FileOutcome(file.source, "failed", reason=reason))
                continue
            doc = held.get(expected) or held.get(file.name)
            if (
                doc is not None
                and doc["status"] == "ready"
                and doc.get("content_hash") == file.content_hash
            ):
                chunks = int(doc.get("chunks") or 0)
                self._record(FileOutcome(file.source, "skipped", chunks, reason="unchanged"))
                continue
            pending.append(file)

    def _take_batch(self, pending: deque[LocalFile]) -> list[LocalFile]:
        """Up to ``batch_files`` files and ``batch_bytes`` bytes, and no more than the room."""
        while self._room <= 0:
            self._wait_for_room()
        batch = [pending.popleft()]
        size = batch[0].size
        limit = min(self.batch_files, self._room)
        while pending and len(batch) < limit and size + pending[0].size <= self.batch_bytes:
            size += pending[0].size
            batch.append(pending.popleft())
        return batch

    # -- uploading -----------------------------------------------------------------------------
    def _upload(self, batch: list[LocalFile]) -> list[LocalFile]:
        """Send one batch; returns the files to send again (the server was full or too small)."""
        with contextlib.ExitStack() as stack:
            try:
                parts = [("files", (f.name, stack.enter_context(f.path.open("rb")))) for f in batch]
            except OSError as exc:  # vanished since it was hashed: send the rest without it
                gone = [f for f in batch if not f.path.exists()] or batch[:1]
                for f in gone:
                    self._record(FileOutcome(f.source, "failed", reason=f"vanished: {exc}"))
                return [f for f in batch if f not in gone]
            response = self._request("POST", self._path, files=parts)
        if response.status_code == 202:
            self._room -= len(batch)
            self._accepted(response.json(), batch)
            return []
        if response.status_code == 429:
            self._report.server_full += 1
            self._room = 0
            self._wait(_retry_after(response))
            return batch
        if response.status_code in (413, 415) and len(batch) > 1:
            if response.status_code == 413:
                self.batch_files = max(1, len(batch) // 2)
                return batch
            # Every file of the batch was refused; one at a time, each gets its own reason.
            return [f for one in batch for f in self._upload([one])]
        if response.status_code in (413, 415):
            for f in batch:
                self._record(FileOutcome(f.source, "failed", reason=_error_message(response)))
            return []
        raise _unexpected(response)

    def _accepted(self, job: dict[str, Any], batch: list[LocalFile]) -> None:
        """Follow the job's documents; those refused on arrival are failed already."""
        by_name = {f.name: f for f in batch}
        waiting: dict[str, LocalFile] = {}
        for item in job["items"]:
            file = by_name.get(item["source"]) or _sniffed_match(item["source"], by_name)
            if file is None:  # a name the server changed past recognition
                file = LocalFile(Path(item["source"]), item["source"], item["source"])
            if item["status"] in _TERMINAL:
                self._finish(item, file)
            else:
                waiting[item["document_id"]] = file
        if waiting:
            self._open_jobs[job["id"]] = waiting

    # -- waiting -------------------------------------------------------------------------------
    def _wait_for_room(self) -> None:
        """Read the queue's status until it has room, following the jobs meanwhile."""
        delay = self.poll_s
        while True:
            self._room = self._room_in(self._status())
            if self._room > 0:
                return
            self._poll_jobs(wait=False)
            self._wait(delay)
            # The status call is cheap, but a queue that stays full for long need not be
            # asked twice a second; its docs_per_s is a 30 s average, too slow to go by.
            delay = min(MAX_STATUS_INTERVAL_S, delay * 1.5)

    def _wait(self, seconds: float) -> None:
        started = time.monotonic()
        self._sleep(seconds)
        self._report.waited_s += time.monotonic() - started

    def _poll_jobs(self, *, wait: bool) -> None:
        """Record the documents of open jobs that finished; ``wait``: until all have."""
        while self._open_jobs:
            now = time.monotonic()
            if not wait and now - self._last_poll < self.poll_s:
                return
            self._last_poll = now
            job_id, files = next(iter(self._open_jobs.items()))
            response = self._request("GET", f"/api/jobs/{job_id}")
            if response.status_code == 404:  # the collection was deleted under us
                for file in files.values():
                    self._record(FileOutcome(file.source, "failed", reason="its job vanished"))
                del self._open_jobs[job_id]
                continue
            if response.status_code != 200:
                raise _unexpected(response)
            for item in response.json()["items"]:
                if item["document_id"] in files and item["status"] in _TERMINAL:
                    self._finish(item, files.pop(item["document_id"]))
            if files:
                if not wait:
                    return
                self._sleep(self.poll_s)  # the oldest job is not done: later ones rarely are
            else:
                del self._open_jobs[job_id]

    # -- reporting -----------------------------------------------------------------------------
    def _finish(self, item: dict[str, Any], file: LocalFile) -> None:
        error, doc_id = item.get("error"), item["document_id"]
        if item["status"] == "failed" or (error and error.startswith(_PREVIOUS_KEPT)):
            # "ready" with the previous version kept is a failure of this upload, as locally.
            reason = error or "failed"
            self._record(FileOutcome(file.source, "failed", reason=reason, document_id=doc_id))
        else:
            chunks = int(item.get("chunks") or 0)
            self._record(
                FileOutcome(file.source, "ingested", chunks, reason=error, document_id=doc_id)
            )

    def _record(self, outcome: FileOutcome, *, progress: bool = True) -> None:
        self._report.outcomes.append(outcome)
        if progress:
            self.on_outcome(outcome)

    # -- the server ----------------------------------------------------------------------------
    def _held(self) -> dict[str, Any]:
        """The collection's documents by name (none if it does not exist yet)."""
        response = self._request("GET", self._path)
        if response.status_code == 404:
            return {}
        if response.status_code != 200:
            raise _unexpected(response)
        return {doc["source"]: doc for doc in response.json()}

    def _status(self) -> dict[str, Any]:
        response = self._request("GET", "/api/ingest/status")
        if response.status_code != 200:
            raise _unexpected(response)
        status: dict[str, Any] = response.json()
        return status

    @staticmethod
    def _room_in(status: dict[str, Any]) -> int:
        if not status.get("accepting", True):
            return 0
        return max(0, int(status["capacity"]) - int(status["in_flight"]))

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request; connection errors and 5xx are retried with backoff, then raised."""
        for attempt in range(self.max_retries + 1):
            try:
                response = self.http.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                if attempt == self.max_retries:
                    raise BackendUnavailable(
                        f"ragserve server at {self.http.base_url} is unreachable: {exc}; "
                        "run the same command again to resume"
                    ) from exc
            else:
                if response.status_code < 500 or attempt == self.max_retries:
                    return response
            for _field, (_name, handle) in kwargs.get("files", []):
                handle.seek(0)  # a retried upload sends each file from its start again
            self._wait(min(30.0, 2.0**attempt))
        raise AssertionError("unreachable")


def _hash_file(file: LocalFile) -> tuple[int, str, str]:
    """Size, sha256 and the name the server will store it under, in one streamed read."""
    digest = hashlib.sha256()
    size = 0
    head = b""
    with file.path.open("rb") as handle:
        while block := handle.read(_HASH_BLOCK):
            if not head:
                head = block[:4096]
            digest.update(block)
            size += len(block)
    try:
        expected = checked_upload_name(file.name, head)
    except IngestError:  # the server refuses it too; it will say why
        expected = file.name
    return size, digest.hexdigest(), expected


def _sniffed_match(source: str, by_name: dict[str, LocalFile]) -> LocalFile | None:
    """The file the server renamed by adding the suffix its content calls for."""
    return next((f for name, f in by_name.items() if source.startswith(name + ".")), None)


def _retry_after(response: httpx.Response) -> float:
    try:
        return min(120.0, max(1.0, float(response.headers.get("retry-after", "5"))))
    except ValueError:  # an HTTP date: rare enough to wait a fixed while instead
        return 5.0


def _error_message(response: httpx.Response) -> str:
    try:
        error = response.json().get("error", {})
        message = error.get("message") if isinstance(error, dict) else None
    except ValueError:
        message = None
    return str(message or f"HTTP {response.status_code}: {response.text[:200]}")


def _unexpected(response: httpx.Response) -> BackendError:
    message = f"{response.request.method} {response.request.url.path}: {_error_message(response)}"
    if response.status_code in (401, 403):
        return BackendAuthError(f"{message} (pass the server's key with --api-key)")
    if response.status_code >= 500:
        return BackendUnavailable(f"{message}; run the same command again to resume")
    return BackendProtocolError(message)


def connect(server: str, api_key: str | None) -> httpx.Client:
    """An HTTP client for ``server``; long read timeouts because uploads can be large."""
    headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
    timeout = httpx.Timeout(30.0, read=300.0, write=300.0)
    return httpx.Client(base_url=server.rstrip("/"), headers=headers, timeout=timeout)
