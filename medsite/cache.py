"""The cache every process shares for login rate limits, API throttles and the TOTP replay guard.

Django's Redis cache, except that an unreachable Redis does not turn every login and upload into an error: while it
is down, reads find nothing and writes are dropped, so for that while each request counts as the first one (the
limits fail open, as does the guard against a TOTP code used twice); a warning is logged at most every 10 s.
"""

import logging
import time

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)
UNREACHABLE = (RedisConnectionError, RedisTimeoutError)
WARN_EVERY_S = 10.0


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
