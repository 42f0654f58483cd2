"""The API's rate limits: DRF's anonymous and per-user rates (`DEFAULT_THROTTLE_RATES`), counted in fixed windows.

DRF's own throttles keep each client's request times as a list, read and rewritten whole on every request (at
3000/min, up to 3000 timestamps each way). These count hits in the current window instead: one counter per client
and window in the shared cache, one round trip per request. The price is the usual one of fixed windows: a client
can make up to twice its rate across the boundary of two windows, never more.
"""

from rest_framework import throttling

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
