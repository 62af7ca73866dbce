"""A request-body limit enforced while the body streams in, before anything is spooled."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ragserve.api.errors import error_response


class _TooLarge(HTTPException):
    """An HTTPException, so a handler that catches it on the way out still answers 413."""


class BodySizeLimit:
    """Answers 413 once a body passes ``max_bytes`` (declared or actually sent)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(scope, receive, send)
            return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge(413, self._message())
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._reject(scope, receive, send)

    def _message(self) -> str:
        return f"request body is over {self.max_bytes / 2**20:g} MiB (RAGSERVE_MAX_REQUEST_MB)"

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(413, self._message(), "request_too_large")
        await response(scope, receive, send)
