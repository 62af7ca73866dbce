"""``X-Forwarded-For`` and ``X-Forwarded-Proto`` honoured only from trusted proxies.

Without this a client could name any address (dodging per-client limits) or claim https
(getting cookies marked for it). uvicorn's own proxy-header handling is turned off by
``ragserve serve``; this middleware is the one place that decides.
"""

from __future__ import annotations

import ipaddress

from starlette.types import ASGIApp, Receive, Scope, Send

from ragserve.access.netguard import IPNetwork


class TrustedProxies:
    def __init__(self, app: ASGIApp, trusted: list[IPNetwork]) -> None:
        self.app = app
        self.trusted = trusted

    def _trusted(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address.version == n.version and address in n for n in self.trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] in ("http", "websocket") and client and self._trusted(client[0]):
            headers = dict(scope["headers"])
            proto = headers.get(b"x-forwarded-proto")
            forwarded = headers.get(b"x-forwarded-for")
            scope = dict(scope)
            if proto:
                scope["scheme"] = proto.decode("latin-1").split(",")[0].strip()
            if forwarded:
                # The nearest address not ours: walk back past trusted proxies.
                hops = [h.strip() for h in forwarded.decode("latin-1").split(",")]
                for hop in reversed(hops):
                    if hop and not self._trusted(hop):
                        scope["client"] = (hop, 0)
                        break
        await self.app(scope, receive, send)
