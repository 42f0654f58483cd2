"""The caches every process shares: login rate limits, API throttles, the TOTP replay guard and list versions.

`RedisCache` is Django's, except that it keeps one redis-py client per connection pool: Django builds a new one
(and its table of about 170 response callbacks) for every cache call, which on a hot page costs more than the call.
`FailOpenRedisCache` also does not turn every login and upload into an error while Redis is unreachable: reads find
nothing and writes are dropped, so for that while each request counts as the first one (the limits fail open, as
does the guard against a TOTP code used twice); a warning is logged at most every 10 s.
"""

import logging
import time

from django.core.cache.backends import redis as django_redis
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)
UNREACHABLE = (RedisConnectionError, RedisTimeoutError)
WARN_EVERY_S = 10.0


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


class FailOpenRedisCache(RedisCache):
    warned_at = float("-inf")

    def _unreachable(self, exc: Exception, answer):
        now = time.monotonic()
        if now - FailOpenRedisCache.warned_at >= WARN_EVERY_S:
            FailOpenRedisCache.warned_at = now
            name = type(exc).__name__
            logger.warning("Shared cache unreachable (%s): rate limits count nothing until it is back", name)
        return answer

    def get(self, key, default=None, version=None):
        try:
            return super().get(key, default, version)
        except UNREACHABLE as exc:
            return self._unreachable(exc, default)

    def get_many(self, keys, version=None):
        try:
            return super().get_many(keys, version)
        except UNREACHABLE as exc:
            return self._unreachable(exc, {})

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            super().set(key, value, timeout, version)
        except UNREACHABLE as exc:
            self._unreachable(exc, None)

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return super().add(key, value, timeout, version)
        except UNREACHABLE as exc:
            return self._unreachable(exc, True)  # as if it were new: a lock is taken, a code counts as unused

    def delete(self, key, version=None):
        try:
            return super().delete(key, version)
        except UNREACHABLE as exc:
            return self._unreachable(exc, False)

    def incr(self, key, delta=1, version=None):
        try:
            return super().incr(key, delta, version)
        except UNREACHABLE as exc:
            return self._unreachable(exc, delta)

    def hit(self, key: str, seconds: int) -> int:
        try:
            return super().hit(key, seconds)
        except UNREACHABLE as exc:
            return self._unreachable(exc, 1)
