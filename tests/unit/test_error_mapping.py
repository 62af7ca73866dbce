"""Every error maps to one status and an OpenAI-shaped body."""

from __future__ import annotations

import pytest

from ragserve import errors
from ragserve.api.errors import describe


@pytest.mark.parametrize(
    ("exc", "status", "kind"),
    [
        (errors.Overloaded("full", retry_after=3), 429, "overloaded_error"),
        (errors.RequestTooLarge("big"), 413, "request_too_large"),
        (errors.TooLarge("a.pdf", "too big"), 413, "request_too_large"),
        (errors.UnsupportedFile("a.exe", "no"), 415, "unsupported_media_type"),
        (errors.CorruptFile("a.pdf", "bad"), 422, "ingest_error"),
        (errors.CollectionNotFound("c"), 404, "not_found_error"),
        (errors.EmbeddingMismatch("c", "a", 1, "b", 2), 409, "embedding_mismatch"),
        (errors.Unauthorized("key"), 401, "authentication_error"),
        (errors.Forbidden("admin"), 403, "permission_error"),
        (errors.BackendTimeout("slow", "http://x"), 504, "backend_timeout"),
        (errors.BackendUnavailable("down", "http://x"), 502, "backend_error"),
        (errors.ConfigError("bad"), 400, "invalid_request_error"),
        (errors.DatabaseUnavailable("db at h:1", "refused"), 503, "database_unavailable"),
        (RuntimeError("secret detail"), 500, "internal_error"),
    ],
)
def test_describe(exc: Exception, status: int, kind: str) -> None:
    got_status, body = describe(exc)
    assert (got_status, body.error.type) == (status, kind)
    if status == 500:
        assert "secret detail" not in body.error.message  # internals stay in the log
    else:
        assert body.error.message == str(exc)
    assert (body.error.code == "ingest_queue_full") == isinstance(exc, errors.Overloaded)
