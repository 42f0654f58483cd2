"""The client's address, as the audit trail, the login rate limits and the API throttles see it.

Behind a reverse proxy every request comes from the proxy's address, so a per-address limit would count every
user together. `X-Forwarded-For` is believed only when the request comes from an address in
MEDSITE_TRUSTED_PROXIES, and only as far back as the chain of trusted proxies goes: the first address, from the
right, that is not a trusted proxy is the client. A client cannot choose its own address by sending the header.
"""

import ipaddress
from functools import lru_cache

from django.conf import settings


@lru_cache(maxsize=8)
def _networks(proxies: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(proxy, strict=False) for proxy in proxies)


def _parse(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def _trusted(address, networks) -> bool:
    return any(address in network for network in networks)


def client_ip(request) -> str | None:
    remote = _parse(request.META.get("REMOTE_ADDR", ""))
    if remote is None:
        return None
    networks = _networks(tuple(settings.MEDSITE_TRUSTED_PROXIES))
    if not networks or not _trusted(remote, networks):
        return str(remote)
    hops = [hop for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _parse(hop)
        if address is None:  # a garbled hop: stop believing the chain at the last trusted address
            return str(remote)
        if not _trusted(address, networks):
            return str(address)
        remote = address
    return str(remote)
