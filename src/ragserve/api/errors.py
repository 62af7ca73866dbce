"""Every error mapped to HTTP in one table, with bodies in OpenAI's shape.

    {"error": {"message": "...", "type": "...", "param": null, "code": null}}

Streams cannot change their status once started; they send the same body as a final event.
Routes declare what they raise with ``raises(...)``, which reads the same table, so the
OpenAPI spec lists exactly the statuses the handlers below can answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException
from starlette.routing import Match

from ragserve import errors
from ragserve.protocol import ErrorDetail, ErrorResponse

log = logging.getLogger(__name__)

#: (exception class, HTTP status, error type); the first match in order wins.
ERROR_TABLE: list[tuple[type[Exception], int, str]] = [
    # A path, query or body that does not match the schema (answered by _validation_error).
    (RequestValidationError, 400, "invalid_request_error"),
    (errors.RateLimited, 429, "rate_limit_error"),
    (errors.Overloaded, 429, "overloaded_error"),
    (errors.RequestTooLarge, 413, "request_too_large"),
    (errors.Unauthorized, 401, "authentication_error"),
    (errors.Forbidden, 403, "permission_error"),
    (errors.NotFound, 404, "not_found_error"),
    (errors.AlreadyExists, 409, "conflict_error"),
    (errors.CollectionBusy, 409, "collection_busy"),
    (errors.EmbeddingMismatch, 409, "embedding_mismatch"),
    (errors.SparseIndexMissing, 409, "sparse_index_missing"),
    (errors.SparseEncodingMismatch, 409, "sparse_encoding_mismatch"),
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
    (errors.DatabaseUnavailable, 503, "database_unavailable"),
    (errors.RagserveError, 500, "internal_error"),
]

_CODES: dict[type[Exception], str] = {
    errors.Overloaded: "ingest_queue_full",
    errors.RateLimited: "rate_limited",
    errors.DatabaseUnavailable: "database_unavailable",
}


#: What any route may answer besides what it declares: a bug is still an OpenAI-shaped body.
INTERNAL_ERROR = 500
#: ... and, as nearly every route reads the SQL database, a database that does not answer.
DATABASE_DOWN = 503


def raises(*raised: type[Exception]) -> dict[int | str, dict[str, Any]]:
    """A route's ``responses=``: the status ERROR_TABLE gives each class it raises, with the
    error body model. A class also brings its subclasses' own statuses (``IngestError``
    is 415, 413 or 422 by kind); the description names the error types of each status."""
    kinds: dict[int, set[str]] = {
        INTERNAL_ERROR: {"internal_error"},
        DATABASE_DOWN: {"database_unavailable"},
    }
    for exc in raised:
        for cls, status, kind in ERROR_TABLE:
            if issubclass(cls, exc) or issubclass(exc, cls):
                kinds.setdefault(status, set()).add(kind)
            if issubclass(exc, cls):
                break
        else:
            raise ValueError(f"{exc.__name__} is not in ERROR_TABLE: it would be a 500")
    responses: dict[int | str, dict[str, Any]] = {
        status: {"model": ErrorResponse, "description": "Error: " + ", ".join(sorted(types))}
        for status, types in sorted(kinds.items())
    }
    for status in (429, DATABASE_DOWN):  # _ragserve_error sends it with these (retry_after)
        if status in responses:
            responses[status]["headers"] = {"Retry-After": _RETRY_AFTER}
    return responses


_RETRY_AFTER = {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}


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
    if isinstance(exc, errors.Overloaded | errors.DatabaseUnavailable):
        headers["Retry-After"] = str(exc.retry_after)
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
    message = f"{'.'.join(loc) or 'request'}: {first.get('msg', 'invalid request')}"
    status, body = describe(exc)
    body.error.message, body.error.param = message, ".".join(loc) or None
    return JSONResponse(body.model_dump(), status_code=status)


def allowed_methods(request: Request) -> str:
    """Every method some route serves at the request's path, for a 405's ``Allow``.

    Starlette builds ``Allow`` from the one route it picked, but FastAPI makes a route per
    function, so the GET and POST of one path are two routes: each would list only its own.
    """
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        match, _ = route.matches(request.scope)
        if match is not Match.NONE and route.methods:
            methods |= route.methods
    # No API route has the path: the 405 came from the web UI's files, which are GET/HEAD.
    return ", ".join(sorted(methods or {"GET", "HEAD"}))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    kind = {404: "not_found_error", 413: "request_too_large"}.get(
        exc.status_code, "invalid_request_error" if exc.status_code < 500 else "internal_error"
    )
    response = error_response(exc.status_code, str(exc.detail), kind)
    if exc.headers:
        response.headers.update(exc.headers)
    if exc.status_code == 405:
        response.headers["Allow"] = allowed_methods(request)
    return response


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error", exc_info=exc)
    status, body = describe(exc)
    return JSONResponse(body.model_dump(), status_code=status)


def _openapi_without_fastapi_422(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """``app.openapi`` minus the 422 FastAPI adds to every route with inputs: validation
    errors are answered 400 with the error body here, and routes declare that with
    ``raises(RequestValidationError)``."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            ref = "#/components/schemas/HTTPValidationError"
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    added = operation.get("responses", {}).get("422", {})
                    if added.get("content", {}).get("application/json", {}).get("schema") == {
                        "$ref": ref
                    }:
                        del operation["responses"]["422"]
            components = schema.get("components", {}).get("schemas", {})
            components.pop("HTTPValidationError", None)
            components.pop("ValidationError", None)
            app.openapi_schema = schema
        return app.openapi_schema

    return openapi


def install(app: FastAPI) -> None:
    app.add_exception_handler(errors.RagserveError, _ragserve_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
    app.openapi = _openapi_without_fastapi_422(app)  # type: ignore[method-assign]
