"""The shared cache (medsite.cache): one count for every web process, and no errors while Redis is unreachable."""

import logging

import pytest
from django.conf import settings as django_settings
from django.core.cache import caches
from django.urls import reverse

from medsite.cache import FailOpenRedisCache

DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens there
TIMEOUTS = {"socket_connect_timeout": 0.2, "socket_timeout": 0.2}


def _cache(location: str) -> FailOpenRedisCache:
    return FailOpenRedisCache(location, {"KEY_PREFIX": "medsite-test-cache", "OPTIONS": TIMEOUTS})


@pytest.mark.skipif(not django_settings.CACHE_URL, reason="needs Redis (make test sets it)")
def test_two_processes_see_one_count():
    # Two cache objects, as two gunicorn workers hold: a throttle's history written by one is read by the other.
    first, second = _cache(django_settings.CACHE_URL), _cache(django_settings.CACHE_URL)
    first.set("throttle_user_1", [1.0, 2.0], 60)
    assert second.get("throttle_user_1") == [1.0, 2.0]
    assert second.add("throttle_user_1", []) is False
    second.delete("throttle_user_1")
    assert caches["default"].__class__ is FailOpenRedisCache


def test_an_unreachable_redis_reads_as_empty_and_says_so_once(caplog):
    cache = _cache(DEAD_REDIS)
    FailOpenRedisCache.warned_at = float("-inf")
    with caplog.at_level(logging.WARNING, logger="medsite.cache"):
        assert cache.get("history", []) == []
        assert cache.get_many(["a", "b"]) == {}
        cache.set("history", [1.0], 60)
        assert cache.add("lock", True) is True  # a lock is taken, a TOTP code counts as unused
        assert cache.incr("n") == 1
        assert cache.hit("window", 60) == 1  # an API throttle's count: as if it were the first request
        assert cache.delete("history") is False
    warnings = [r for r in caplog.records if r.name == "medsite.cache"]
    assert len(warnings) == 1 and "ConnectionError" in warnings[0].getMessage()


def test_logins_and_api_calls_work_while_redis_is_unreachable(client, settings, clinician, password):
    settings.CACHES = settings.CACHES | {
        "default": {"BACKEND": "medsite.cache.FailOpenRedisCache", "LOCATION": DEAD_REDIS, "OPTIONS": TIMEOUTS}
    }
    response = client.post(reverse("account_login"), {"login": clinician.email, "password": password})
    assert response.status_code == 302  # signed in (the login rate limit counted nothing)
    assert client.get(reverse("api:study-list")).status_code == 200  # the API throttle let it through
