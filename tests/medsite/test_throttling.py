"""The API's rate limits (medsite.throttling): counted per client and window in the shared cache."""

import pytest
from django.conf import settings as django_settings
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.urls import reverse
from rest_framework.settings import api_settings
from rest_framework.test import APIClient

from medsite.cache import FallbackRedisCache, RedisCache
from medsite.throttling import UserRateThrottle

needs_redis = pytest.mark.skipif(not django_settings.CACHE_URL, reason="needs Redis (make test sets it)")


@pytest.fixture
def user_rate(monkeypatch):
    """A user rate of 3 per minute for the test (DRF reads THROTTLE_RATES once, at import)."""
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", api_settings.DEFAULT_THROTTLE_RATES | {"user": "3/min"})


def test_an_api_client_over_its_rate_gets_429_with_retry_after(db, clinician, user_rate):
    api = APIClient()
    api.force_authenticate(clinician)
    statuses = [api.get(reverse("api:study-list")).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = api.get(reverse("api:study-list"))
    assert refused.status_code == 429 and 0 < int(refused["Retry-After"]) <= 60
    assert "throttled" in refused.json()["detail"].lower()


def test_each_user_has_its_own_count(db, clinician, radiologist, user_rate):
    first, second = APIClient(), APIClient()
    first.force_authenticate(clinician)
    second.force_authenticate(radiologist)
    for _ in range(3):
        assert first.get(reverse("api:study-list")).status_code == 200
    assert first.get(reverse("api:study-list")).status_code == 429
    assert second.get(reverse("api:study-list")).status_code == 200


@needs_redis
def test_the_count_is_one_for_every_process_and_expires():
    # Two cache objects, as two gunicorn workers hold, count into the same key, which expires after its window.
    options = {"KEY_PREFIX": "medsite-test-throttle"}
    first = FallbackRedisCache(django_settings.CACHE_URL, options)
    second = FallbackRedisCache(django_settings.CACHE_URL, options)
    assert [first.hit("k", 60), second.hit("k", 60), first.hit("k", 60)] == [1, 2, 3]
    client = first._cache.get_client("k")
    assert 0 < client.ttl(first.make_key("k")) <= 60
    client.delete(first.make_key("k"))
    assert isinstance(caches["default"], FallbackRedisCache) and isinstance(caches["shared"], RedisCache)


@needs_redis
def test_one_redis_client_is_kept_per_pool():
    cache = caches["shared"]
    assert cache._cache.get_client("a") is cache._cache.get_client("b")


def test_without_redis_the_process_counts_in_memory(clinician, user_rate, rf):
    throttle = UserRateThrottle()
    throttle.cache = LocMemCache("throttle-test", {})
    request = rf.get("/api/v1/studies/")
    request.user = clinician
    assert [throttle.allow_request(request, None) for _ in range(4)] == [True, True, True, False]
    assert 0 < throttle.wait() <= 60
