"""Backend URLs the Resources store refuses: link-local and cloud-metadata addresses.

A stored backend makes the server send requests (with keys) to its URL, so an admin key
leaked to a browser must not turn it into a way to read a cloud's instance metadata.
Addresses are classified, never contacted; host names are resolved (so a name pointing at
169.254.169.254 is refused too) unless they cannot be, in which case the backend simply
fails later. ``RAGSERVE_BACKEND_ALLOWLIST`` names addresses or networks let through.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Link-local (where AWS, GCP and Azure serve metadata) and the other clouds' fixed addresses.
BLOCKED: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "169.254.0.0/16",  # IPv4 link-local: 169.254.169.254 (AWS, GCP, Azure, OpenStack)
        "fe80::/10",  # IPv6 link-local
        "fd00:ec2::254/128",  # AWS metadata over IPv6
        "100.100.100.200/32",  # Alibaba Cloud metadata
        "192.0.0.192/32",  # Oracle Cloud metadata (classic)
        "0.0.0.0/8",  # "this host" (reaches local services on some systems)
        "::/128",
    )
)


def blocked_reason(address: IPAddress, allow: Sequence[IPNetwork] = ()) -> str | None:
    """Why ``address`` is refused as a backend, or None if it is allowed."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in net for net in allow):
        return None
    for net in BLOCKED:
        if address.version == net.version and address in net:
            return f"{address} is in {net}, a link-local or cloud-metadata range"
    return None


def check_backend_url(
    url: str, allow: Sequence[IPNetwork] = (), resolve: bool = True
) -> str | None:
    """Why the URL's host is refused, or None. Names are resolved to every address."""
    host = urlsplit(url).hostname
    if not host:
        return None
    try:
        addresses: list[IPAddress] = [ipaddress.ip_address(host)]
    except ValueError:
        if not resolve:
            return None
        try:
            infos = socket.getaddrinfo(host, None)
        except OSError:
            return None  # cannot resolve now: the backend fails on use, never reaches it
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    for address in addresses:
        reason = blocked_reason(address, allow)
        if reason is not None:
            return f"{host}: {reason}; name it in RAGSERVE_BACKEND_ALLOWLIST to allow it"
    return None


def networks(entries: Sequence[str]) -> list[IPNetwork]:
    return [ipaddress.ip_network(e.strip(), strict=False) for e in entries if e.strip()]
