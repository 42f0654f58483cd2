"""The caches every process shares: login rate limits, API throttles, the TOTP replay guard and list versions.

`RedisCache` is Django's, except that it keeps one redis-py client per connection pool: Django builds a new one
(and its table of about 170 response callbacks) for every cache call, which on a hot page costs more than the call.
`FallbackRedisCache` also does not turn every login and upload into an error while Redis is unreachable: for that
while each call goes to this process's own memory instead, so the limits and the guard against a TOTP code used twice
still count, each web process on its own (with 4 processes a client may get up to 4 times its limit), and logins and
uploads go on. A warning is logged at most every 10 s. What was counted in memory is not carried back to Redis.
"""

import logging
import time

from django.core.cache.backends import redis as django_redis
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.locmem import LocMemCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)
UNREACHABLE = (RedisConnectionError, RedisTimeoutError)
WARN_EVERY_S = 10.0
FALLBACK_MAX_ENTRIES = 100_000  # counters of one outage; culling them would reset limits


class _PooledClient(django_redis.RedisCacheClient):
    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        clients = self.__dict__.setdefault("_clients", {})
        if index not in clients:  # redis-py clients are thread-safe; two threads racing here make two, harmlessly
            clients[index] = self._client(connection_pool=self._get_connection_pool(write))
        return clients[index]


class RedisCache(django_redis.RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _PooledClient

    def hit(self, key: str, seconds: int) -> int:
        """Count one more hit on `key` and return the count; the key expires `seconds` after its latest hit.
        One round trip (INCR and EXPIRE in a pipeline)."""
        key = self.make_and_validate_key(key)
        pipe = self._cache.get_client(key, write=True).pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, seconds)
        return pipe.execute()[0]


class FallbackRedisCache(RedisCache):
    warned_at = float("-inf")

    def __init__(self, server, params):
        super().__init__(server, params)
        # Keyed like Redis (same prefix and version); one store per process and Redis location, whatever the thread.
        local = {k: v for k, v in params.items() if k in ("KEY_PREFIX", "VERSION", "KEY_FUNCTION", "TIMEOUT")}
        local["OPTIONS"] = {"MAX_ENTRIES": FALLBACK_MAX_ENTRIES}
        self.fallback = LocMemCache(f"medsite-fallback:{server}", local)

    def _unreachable(self, exc: Exception) -> LocMemCache:
        now = time.monotonic()
        if now - FallbackRedisCache.warned_at >= WARN_EVERY_S:
            FallbackRedisCache.warned_at = now
            name = type(exc).__name__
            logger.warning("Shared cache unreachable (%s): rate limits count in each process until it is back", name)
        return self.fallback

    def _either(self, name: str, *args):
        """Redis's answer to cache call `name`, or this process's memory's while Redis is unreachable."""
        try:
            return getattr(super(), name)(*args)
        except UNREACHABLE as exc:
            return getattr(self._unreachable(exc), name)(*args)

    def get(self, key, default=None, version=None):
        return self._either("get", key, default, version)

    def get_many(self, keys, version=None):
        return self._either("get_many", keys, version)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        self._either("set", key, value, timeout, version)

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._either("add", key, value, timeout, version)

    def delete(self, key, version=None):
        return self._either("delete", key, version)

    def incr(self, key, delta=1, version=None):
        return self._either("incr", key, delta, version)

    def hit(self, key: str, seconds: int) -> int:
        try:
            return super().hit(key, seconds)
        except UNREACHABLE as exc:
            local = self._unreachable(exc)
            local.add(key, 0, seconds)
            try:
                count = local.incr(key)
            except ValueError:  # it expired between the two calls
                count = 1
                local.set(key, count, seconds)
            local.touch(key, seconds)  # like EXPIRE: `seconds` after the latest hit
            return count
