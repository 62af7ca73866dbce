"""Every error ragserve raises on purpose, each carrying what a user needs to fix it.

    RagserveError
    ├── ConfigError                    settings that cannot work together
    │   └── BackendSpecError           a chat backend entry that cannot be built (``field``)
    ├── IngestError                    one file could not be ingested (the batch goes on)
    │   ├── UnsupportedFile            extension/content ragserve has no loader for
    │   ├── EmptyFile                  nothing to index (0 bytes, 0 pages, no text)
    │   ├── CorruptFile                unreadable, binary where text was expected, ...
    │   ├── EncryptedFile              password protected
    │   ├── TooLarge                   over a size, page or unpacked-size limit
    │   ├── ParseTimeout               parsing ran past RAGSERVE_PARSE_TIMEOUT_S
    │   ├── ParserCrashed              the parse child died (crash, memory cap): retryable
    │   └── FileVanished               deleted or unreadable between discovery and parsing
    ├── StoreError
    │   ├── NotFound                   no such collection, document, job or conversation
    │   │   └── CollectionNotFound
    │   ├── AlreadyExists              a collection of that name exists
    │   ├── EmbeddingMismatch          collection pinned to another model or dimension
    │   ├── SparseIndexMissing         sparse/hybrid asked of a collection without a sparse side
    │   ├── SparseEncodingMismatch     collection's sparse side made by another tokeniser
    │   ├── ReindexFailed              a collection re-index left it as it was (``failed``)
    │   ├── CollectionBusy             a collection being re-indexed takes no other work
    │   ├── DatabaseUnavailable        the SQL database does not answer (``retry_after`` s)
    │   └── StoreUnavailable           the vector store (or what carries writes to it) is away
    ├── RequestRejected                the server will not take this request as it is
    │   ├── InvalidRequest             a well-formed body asking for something impossible
    │   ├── Overloaded                 ingestion queue full: retry after ``retry_after`` s
    │   │   └── RateLimited            too many requests for this key or client address
    │   ├── RequestTooLarge            too many files or bytes in one request
    │   ├── Unauthorized               missing or wrong API key
    │   │   └── SignInFailed           an OpenID sign-in that fails its checks (state, nonce...)
    │   └── Forbidden                  an admin route without the admin key, a role too low
    ├── EmbeddingError                 the embedder failed or returned the wrong shape
    └── BackendError                   a chat or embedding server failed
        ├── BackendUnavailable         connect error, DNS, refused, 5xx
        ├── BackendAuthError           401/403
        ├── BackendNotFound            404: wrong base URL or the other kind of server
        ├── BackendTimeout             connect / first-token / between-token / total
        └── BackendProtocolError       malformed responses or SSE

HTTP mapping for the API lives next to the routes, in one table keyed by these classes.
"""

from __future__ import annotations

from pathlib import Path


class RagserveError(Exception):
    """Base of every ragserve error; ``str()`` is a sentence a user can act on."""


class ConfigError(RagserveError):
    pass


class BackendSpecError(ConfigError):
    """A chat backend's settings are wrong; ``field`` names the one to change."""

    def __init__(self, message: str, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


class IngestError(RagserveError):
    """A single file failed; ``path`` names it and ``reason`` says why."""

    reason_code = "ingest_error"
    #: Worth another attempt by the shared queue (the same bytes may well fail again).
    retryable = False

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self) -> tuple[type[IngestError], tuple[str, str]]:
        # Raised in parser child processes and pickled back to the parent.
        return (type(self), (self.path, self.reason))


class UnsupportedFile(IngestError):
    reason_code = "unsupported"


class EmptyFile(IngestError):
    reason_code = "empty"


class CorruptFile(IngestError):
    reason_code = "corrupt"


class EncryptedFile(IngestError):
    reason_code = "encrypted"


class TooLarge(IngestError):
    reason_code = "too_large"


class ParseTimeout(IngestError):
    reason_code = "timeout"


class ParserCrashed(IngestError):
    """The parsing child process died on this file. The one-process queue fails it at once;
    workers retry it ``RAGSERVE_QUEUE_MAX_ATTEMPTS`` times, then dead-letter it."""

    reason_code = "parser_crashed"
    retryable = True


class FileVanished(IngestError):
    reason_code = "vanished"


class StoreError(RagserveError):
    pass


class NotFound(StoreError):
    pass


class AlreadyExists(StoreError):
    pass


class CollectionNotFound(NotFound):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f"collection {name!r} does not exist; create it with `ragserve ingest PATH "
            f"--collection {name}`"
        )


class EmbeddingMismatch(StoreError):
    def __init__(
        self, collection: str, pinned_model: str, pinned_dim: int, model: str, dim: int
    ) -> None:
        self.collection = collection
        super().__init__(
            f"collection {collection!r} was indexed with embedding model {pinned_model!r} "
            f"(dimension {pinned_dim}) but the configured model is {model!r} (dimension {dim}). "
            f"Set RAGSERVE_EMBED_MODEL={pinned_model} to use it as it is, or re-index it with "
            f"the new model: `ragserve collections delete {collection}` then "
            f"`ragserve ingest PATH --collection {collection}`."
        )


class SparseIndexMissing(StoreError):
    """A keyword (sparse or hybrid) search of a collection indexed without a sparse side."""

    def __init__(self, collection: str, mode: str) -> None:
        self.collection = collection
        super().__init__(
            f"collection {collection!r} has no keyword (BM25) index, so it cannot be searched "
            f"in mode {mode!r}: it was indexed before hybrid search existed, or with "
            f"RAGSERVE_SPARSE=off. Use mode 'dense', or re-index it: `ragserve reindex -c "
            f"{collection}`, or on a running server POST /api/collections/{collection}/reindex."
        )


class SparseEncodingMismatch(StoreError):
    def __init__(self, collection: str, pinned: str, current: str) -> None:
        self.collection = collection
        super().__init__(
            f"collection {collection!r} has a keyword index made by {pinned!r} but this "
            f"ragserve makes {current!r}; its terms would not match. Re-index it: `ragserve "
            f"reindex -c {collection}`, or on a running server POST "
            f"/api/collections/{collection}/reindex."
        )


class ReindexFailed(StoreError):
    """Some documents of a collection could not be re-indexed (``failed``: (source, reason)
    pairs), so the collection keeps its previous vectors."""

    def __init__(self, collection: str, failed: list[tuple[str, str]]) -> None:
        self.collection = collection
        self.failed = failed
        listed = "; ".join(f"{source}: {reason}" for source, reason in failed[:5])
        more = f" (and {len(failed) - 5} more)" if len(failed) > 5 else ""
        super().__init__(
            f"{len(failed)} document(s) of collection {collection!r} could not be re-indexed, "
            f"so it keeps its previous vectors: {listed}{more}"
        )


class CollectionBusy(StoreError):
    """A collection being re-indexed (or with documents still in flight when a re-index is
    asked for): the work asked for would be lost or undone by the switch to the new index."""


class StoreUnavailable(StoreError):
    """Vectors could not be written because the store, or the queue carrying a worker's
    writes to it, is away: the document is not at fault and goes back to the queue."""


class DatabaseUnavailable(StoreError):
    """The SQL database cannot be reached or stopped answering (refused, timed out, dropped
    connections, no free pooled connection); ``database`` names it without credentials."""

    #: Seconds a client should wait: about one connect timeout, the time a restart takes.
    retry_after = 5

    def __init__(self, database: str, reason: str) -> None:
        self.database = database
        self.reason = reason
        super().__init__(
            f"the {database} is unavailable ({reason}); retry in a few seconds. If it "
            "persists, check that the database server is running and reachable "
            "(RAGSERVE_DATABASE_URL)."
        )


class RequestRejected(RagserveError):
    pass


class InvalidRequest(RequestRejected):
    """``param`` names the request field at fault (OpenAI's ``error.param``)."""

    def __init__(self, message: str, param: str | None = None) -> None:
        self.param = param
        super().__init__(message)


class Overloaded(RequestRejected):
    def __init__(self, message: str, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class RateLimited(Overloaded):
    pass


class RequestTooLarge(RequestRejected):
    pass


class Unauthorized(RequestRejected):
    pass


class SignInFailed(Unauthorized):
    pass


class Forbidden(RequestRejected):
    pass


class EmbeddingError(RagserveError):
    pass


class BackendError(RagserveError):
    """A model server failed; ``url`` is the endpoint that was called."""

    def __init__(self, message: str, url: str | None = None) -> None:
        self.url = url
        super().__init__(f"{message} ({url})" if url else message)


class BackendUnavailable(BackendError):
    pass


class BackendAuthError(BackendError):
    pass


class BackendNotFound(BackendError):
    pass


class BackendTimeout(BackendError):
    pass


class BackendProtocolError(BackendError):
    pass
