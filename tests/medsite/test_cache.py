"""The shared cache (medsite.cache): one count for every web process; while Redis is unreachable, no errors and
each process still counts in its own memory."""

import logging

import pytest
from django.conf import settings as django_settings
from django.core.cache import caches
from django.urls import reverse

from medsite.cache import FallbackRedisCache

DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens there
TIMEOUTS = {"socket_connect_timeout": 0.2, "socket_timeout": 0.2}


def _cache(location: str) -> FallbackRedisCache:
    return FallbackRedisCache(location, {"KEY_PREFIX": "medsite-test-cache", "OPTIONS": TIMEOUTS})


@pytest.mark.skipif(not django_settings.CACHE_URL, reason="needs Redis (make test sets it)")
def test_two_processes_see_one_count():
    # Two cache objects, as two gunicorn workers hold: a throttle's history written by one is read by the other.
    first, second = _cache(django_settings.CACHE_URL), _cache(django_settings.CACHE_URL)
    first.set("throttle_user_1", [1.0, 2.0], 60)
    assert second.get("throttle_user_1") == [1.0, 2.0]
    assert second.add("throttle_user_1", []) is False
    second.delete("throttle_user_1")
    assert caches["default"].__class__ is FallbackRedisCache


def test_an_unreachable_redis_counts_in_the_process_and_says_so_once(caplog):
    cache = _cache(DEAD_REDIS)
    FallbackRedisCache.warned_at = float("-inf")
    with caplog.at_level(logging.WARNING, logger="medsite.cache"):
        assert cache.get("history", []) == []
        cache.set("history", [1.0], 60)
        assert cache.get("history") == [1.0] and cache.get_many(["history", "b"]) == {"history": [1.0]}
        assert cache.add("code", True) is True
        assert cache.add("code", True) is False  # a TOTP code used twice is still refused
        cache.set("n", 1, 60)
        assert cache.incr("n") == 2
        assert [cache.hit("window", 60) for _ in range(3)] == [1, 2, 3]  # an API throttle's count goes on
        # another thread's cache object, in the same process: the same memory
        assert _cache(DEAD_REDIS).hit("window", 60) == 4
        assert cache.delete("history") is True and cache.get("history") is None
    warnings = [r for r in caplog.records if r.name == "medsite.cache"]
    assert len(warnings) == 1 and "ConnectionError" in warnings[0].getMessage()


def test_counts_kept_in_the_process_expire_after_the_latest_hit(monkeypatch):
    cache = _cache(DEAD_REDIS)
    cache.fallback.clear()
    now = [1000.0]
    monkeypatch.setattr("django.core.cache.backends.locmem.time.time", lambda: now[0])
    assert cache.hit("window", 60) == 1
    now[0] += 50
    assert cache.hit("window", 60) == 2  # the window runs 60 s from this hit
    now[0] += 50
    assert cache.hit("window", 60) == 3
    now[0] += 61
    assert cache.hit("window", 60) == 1


def test_logins_and_api_calls_work_while_redis_is_unreachable(client, settings, clinician, password):
    settings.CACHES = settings.CACHES | {
        "default": {"BACKEND": "medsite.cache.FallbackRedisCache", "LOCATION": DEAD_REDIS, "OPTIONS": TIMEOUTS}
    }
    response = client.post(reverse("account_login"), {"login": clinician.email, "password": password})
    assert response.status_code == 302  # signed in
    assert client.get(reverse("api:study-list")).status_code == 200  # the API throttle let it through


def test_the_login_rate_limit_still_holds_while_redis_is_unreachable(client, settings, clinician, password):
    settings.CACHES = settings.CACHES | {
        "default": {"BACKEND": "medsite.cache.FallbackRedisCache", "LOCATION": DEAD_REDIS, "OPTIONS": TIMEOUTS}
    }
    caches["default"].fallback.clear()
    for _ in range(5):
        client.post(reverse("account_login"), {"login": clinician.email, "password": "wrong"})
    response = client.post(reverse("account_login"), {"login": clinician.email, "password": password})
    assert response.status_code != 302 and "Too many failed login attempts" in response.content.decode()
