"""HTTP to OpenAI-compatible servers: headers, timeouts and the one error mapping.

vLLM, Ollama (`/v1`), llama.cpp, TEI and OpenAI all answer in OpenAI's shape; any status
or transport failure is turned into a :class:`~ragserve.errors.BackendError` here, once.
"""

from __future__ import annotations

import httpx

from ragserve.errors import (
    BackendAuthError,
    BackendError,
    BackendNotFound,
    BackendTimeout,
    BackendUnavailable,
)

#: Sent when no key is configured: servers started without a key ignore it, and the
#: header keeps strict OpenAI-compatible proxies from rejecting the request as malformed.
PLACEHOLDER_KEY = "ragserve-no-key"


def auth_headers(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key or PLACEHOLDER_KEY}"}


def error_detail(response: httpx.Response) -> str:
    """The server's own message, from an OpenAI-shaped body or the raw text."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300].strip()
    if isinstance(body, dict):
        error = body.get("error", body.get("detail", body.get("message")))
        if isinstance(error, dict):
            return str(error.get("message", error))[:300]
        if error is not None:
            return str(error)[:300]
    return str(body)[:300]


def check_response(response: httpx.Response) -> None:
    """Raise the BackendError that matches a non-2xx response."""
    if response.is_success:
        return
    url = str(response.request.url)
    status = response.status_code
    detail = error_detail(response)
    if status in (401, 403):
        raise BackendAuthError(
            f"HTTP {status}: the server rejected the API key ({detail or 'no detail'})", url
        )
    if status == 404:
        raise BackendNotFound(f"HTTP 404: {detail or 'not found'}", url)
    if status >= 500 or status == 429:
        raise BackendUnavailable(f"HTTP {status}: {detail or 'server error'}", url)
    raise BackendError(f"HTTP {status}: {detail}", url)


def map_transport_error(exc: httpx.HTTPError, url: str) -> BackendError:
    """The BackendError for a transport failure (no response at all)."""
    if isinstance(exc, httpx.TimeoutException):
        return BackendTimeout(f"timed out ({type(exc).__name__})", url)
    if isinstance(exc, httpx.ConnectError):
        return BackendUnavailable(f"cannot connect: {exc}", url)
    return BackendUnavailable(f"{type(exc).__name__}: {exc}", url)
