"""Every error mapped to HTTP in one table, with bodies in OpenAI's shape.

    {"error": {"message": "...", "type": "...", "param": null, "code": null}}

Streams cannot change their status once started; they send the same body as a final event.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ragserve import errors
from ragserve.protocol import ErrorDetail, ErrorResponse

log = logging.getLogger(__name__)

#: (exception class, HTTP status, error type); the first match in order wins.
ERROR_TABLE: list[tuple[type[Exception], int, str]] = [
    (errors.Overloaded, 429, "overloaded_error"),
    (errors.RequestTooLarge, 413, "request_too_large"),
    (errors.Unauthorized, 401, "authentication_error"),
    (errors.Forbidden, 403, "permission_error"),
    (errors.NotFound, 404, "not_found_error"),
    (errors.AlreadyExists, 409, "conflict_error"),
    (errors.EmbeddingMismatch, 409, "embedding_mismatch"),
    (errors.UnsupportedFile, 415, "unsupported_media_type"),
    (errors.TooLarge, 413, "request_too_large"),
    (errors.IngestError, 422, "ingest_error"),
    (errors.InvalidRequest, 400, "invalid_request_error"),
    # A backend entry refused before it is stored: the body parsed, its content cannot work.
    (errors.BackendSpecError, 422, "invalid_request_error"),
    (errors.ConfigError, 400, "invalid_request_error"),
    (errors.BackendTimeout, 504, "backend_timeout"),
    (errors.BackendError, 502, "backend_error"),
    (errors.EmbeddingError, 502, "embedding_error"),
    (errors.RagserveError, 500, "internal_error"),
]

_CODES: dict[type[Exception], str] = {errors.Overloaded: "ingest_queue_full"}


def describe(exc: BaseException) -> tuple[int, ErrorResponse]:
    """The HTTP status and body for ``exc``; unknown exceptions are internal errors."""
    for cls, status, kind in ERROR_TABLE:
        if isinstance(exc, cls):
            code = _CODES.get(type(exc))
            param = getattr(exc, "param", None) or getattr(exc, "field", None)
            return status, ErrorResponse(
                error=ErrorDetail(message=str(exc), type=kind, param=param, code=code)
            )
    return 500, ErrorResponse(
        error=ErrorDetail(
            message="internal server error; see the server log", type="internal_error"
        )
    )


def error_response(
    status: int, message: str, kind: str, param: str | None = None, code: str | None = None
) -> JSONResponse:
    body = ErrorResponse(error=ErrorDetail(message=message, type=kind, param=param, code=code))
    return JSONResponse(body.model_dump(), status_code=status)


async def _ragserve_error(_request: Request, exc: Exception) -> JSONResponse:
    status, body = describe(exc)
    if status >= 500:
        log.error("request failed: %s", exc, exc_info=status == 500)
    headers = {}
    if isinstance(exc, errors.Overloaded):
        headers["Retry-After"] = str(exc.retry_after)
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
    message = f"{'.'.join(loc) or 'request'}: {first.get('msg', 'invalid request')}"
    return error_response(400, message, "invalid_request_error", param=".".join(loc) or None)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    kind = {404: "not_found_error", 413: "request_too_large"}.get(
        exc.status_code, "invalid_request_error" if exc.status_code < 500 else "internal_error"
    )
    response = error_response(exc.status_code, str(exc.detail), kind)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error", exc_info=exc)
    status, body = describe(exc)
    return JSONResponse(body.model_dump(), status_code=status)


def install(app: FastAPI) -> None:
    app.add_exception_handler(errors.RagserveError, _ragserve_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
