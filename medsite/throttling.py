"""The API's rate limits: DRF's anonymous and per-user rates (`DEFAULT_THROTTLE_RATES`), counted in fixed windows.

DRF's own throttles keep each client's request times as a list, read and rewritten whole on every request (at
3000/min, up to 3000 timestamps each way). These count hits in the current window instead: one counter per client
and window in the shared cache, one round trip per request. The price is the usual one of fixed windows: a client
can make up to twice its rate across the boundary of two windows, never more.

DRF authenticates, then checks permissions, and only then throttles, so a request with a wrong, expired or refused
token, or with no credentials where the API needs them, was answered 401 and never counted. `api_exception_handler`
(the API's exception handler, in medsite.exceptions: rest_framework.views reads the throttle classes when it is
imported, so this module must not import it) counts each such refusal against the client address, at the
anonymous rate, and answers 429 with Retry-After once the address is over it. A valid token is never refused for
its address's failures: guessing a 256-bit token is not feasible, so the limit is about floods, and a client
sharing an address with a flood keeps working.
"""

from rest_framework import throttling
from rest_framework.settings import api_settings

from accounts.clientip import client_ip


class _FixedWindow:
    """Mixed into a SimpleRateThrottle: `allow_request` and `wait` over a counter per window."""

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        self.window_ends = (window + 1) * self.duration
        return self._hit(f"{key}:{window}") <= self.num_requests

    def get_ident(self, request) -> str:
        """The client's address: X-Forwarded-For only through MEDSITE_TRUSTED_PROXIES (DRF's NUM_PROXIES would
        believe a header any client can send)."""
        return client_ip(request) or ""

    def wait(self) -> float:
        return max(0.0, self.window_ends - self.now)

    def _hit(self, key: str) -> int:
        hit = getattr(self.cache, "hit", None)  # medsite.cache's Redis caches: one round trip
        if hit is not None:
            return hit(key, self.duration)
        self.cache.add(key, 0, self.duration)  # any other Django cache (the one-process demo's memory)
        try:
            return self.cache.incr(key)
        except ValueError:  # it expired in between
            self.cache.add(key, 1, self.duration)
            return 1


class AnonRateThrottle(_FixedWindow, throttling.AnonRateThrottle):
    pass


class UserRateThrottle(_FixedWindow, throttling.UserRateThrottle):
    pass


class RefusedRateThrottle(_FixedWindow, throttling.SimpleRateThrottle):
    """Refused authentications per client address, at the anonymous rate (read at each request, so that a test's
    override_settings applies; DRF's throttles read their rates once, at import)."""

    scope = "anon"

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view) -> str:
        return f"throttle_refused_{self.get_ident(request)}"
