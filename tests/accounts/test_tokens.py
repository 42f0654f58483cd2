"""Issue 20, finding 8: API tokens stored only as digests, with an expiry, a name and a last-used time, listed and
revoked by their owner; superusers' tokens refused; a flood of bad tokens or anonymous calls throttled (429)."""

import hashlib
import importlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken, AuditEvent, Role
from tests.conftest import with_totp
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

TOKENS = reverse("accounts:api_tokens")
REVOKE = reverse("accounts:api_token_revoke")
STUDIES = "/api/v1/studies/"


def _api(token: str, address: str = "192.0.2.10"):
    return APIClient().get(STUDIES, HTTP_AUTHORIZATION=f"Token {token}", REMOTE_ADDR=address)


def _create(client, name: str = "PACS bridge"):
    return client.post(TOKENS, {"name": name})


def _raw_from(response) -> str:
    return response.context["created"][1]


def test_a_token_is_stored_only_as_its_digest_and_shown_once(login, clinician, caplog):
    caplog.set_level("DEBUG")
    client = login(clinician)
    response = _create(client)
    assert response.status_code == 200
    raw = _raw_from(response)
    assert raw in response.content.decode() and "shown only this once" in response.content.decode()
    assert "no-store" in response["Cache-Control"]

    token = ApiToken.objects.get(user=clinician)
    assert token.name == "PACS bridge" and token.token_key == raw[:15]
    assert token.digest == hashlib.sha512(raw.encode()).hexdigest()
    with connection.cursor() as cursor:  # no column of the row holds the token
        cursor.execute(f"SELECT * FROM {ApiToken._meta.db_table}")
        row = " ".join(str(value) for value in cursor.fetchone())
    assert raw not in row
    assert token.expiry - timezone.now() > timedelta(days=89)

    event = AuditEvent.objects.get(action=AuditEvent.Action.CREATE, object_type="apitoken")
    assert event.actor == clinician and event.detail["name"] == "PACS bridge"
    recorded = str(event.detail) + event.object_id
    assert raw not in recorded and token.digest not in recorded

    listing = client.get(TOKENS).content.decode()  # the list names it, never shows it again
    assert "PACS bridge" in listing and token.token_key in listing and raw not in listing
    assert _api(raw).status_code == 200
    assert raw not in caplog.text and token.digest not in caplog.text


def test_an_expired_token_is_refused(clinician):
    token, raw = ApiToken.objects.create(user=clinician, name="old")
    ApiToken.objects.filter(pk=token.pk).update(expiry=timezone.now() - timedelta(seconds=1))
    response = _api(raw)
    assert response.status_code == 401
    assert response.json()["detail"] == "This API token has expired."


def test_a_revoked_token_is_refused(login, clinician):
    token, raw = ApiToken.objects.create(user=clinician, name="bridge")
    assert _api(raw).status_code == 200
    response = login(clinician).post(REVOKE, {"prefix": token.token_key})
    assert response.status_code == 302 and not ApiToken.objects.filter(pk=token.pk).exists()
    event = AuditEvent.objects.get(action=AuditEvent.Action.DELETE, object_type="apitoken")
    assert event.actor == clinician and event.detail["prefix"] == token.token_key
    assert raw not in str(event.detail) and token.digest not in str(event.detail)
    refused = _api(raw)
    assert refused.status_code == 401 and "Invalid token" in refused.json()["detail"]


def test_last_used_at_is_written_at_most_once_a_minute(clinician):
    token, raw = ApiToken.objects.create(user=clinician, name="bridge")
    assert token.last_used_at is None
    assert _api(raw).status_code == 200
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None and timezone.now() - first < timedelta(seconds=30)

    with CaptureQueriesContext(connection) as queries:
        assert _api(raw).status_code == 200
    assert not [q for q in queries if q["sql"].startswith("UPDATE") and "apitoken" in q["sql"]]
    token.refresh_from_db()
    assert token.last_used_at == first  # within the minute: not written again

    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - timedelta(minutes=2))
    assert _api(raw).status_code == 200
    token.refresh_from_db()
    assert token.last_used_at > first


def test_a_superusers_token_is_refused_and_none_is_created(client, site):
    boss = with_totp(UserFactory(is_superuser=True, is_staff=True))
    MembershipFactory(user=boss, site=site, role=Role.CLINICIAN)
    _, raw = ApiToken.objects.create(user=boss, name="made behind the page's back")
    response = _api(raw)
    assert response.status_code == 401
    assert response.json()["detail"] == "API tokens of platform administrators are refused; use a site account."

    client.force_login(boss)
    refused = _create(client, "mine")
    assert refused.status_code == 400 and "platform administrators are refused" in refused.content.decode()
    assert not ApiToken.objects.filter(name="mine").exists()


def test_a_role_that_needs_totp_needs_it_for_tokens(login, site):
    radiologist = MembershipFactory(site=site, role=Role.RADIOLOGIST).user  # no TOTP set up yet
    refused = _create(login(radiologist), "reader")
    assert refused.status_code == 400 and "two-factor authentication" in refused.content.decode()
    assert not ApiToken.objects.filter(user=radiologist).exists()
    _, raw = ApiToken.objects.create(user=radiologist, name="made behind the page's back")
    response = _api(raw)
    assert response.status_code == 401 and "two-factor authentication" in response.json()["detail"]
    with_totp(radiologist)
    assert _api(raw).status_code == 200


def test_the_owner_lists_and_revokes_only_their_own_tokens(client, clinician, radiologist, outsider):
    mine, _ = ApiToken.objects.create(user=clinician, name="my bridge")
    colleagues, _ = ApiToken.objects.create(user=radiologist, name="colleague's script")  # same site
    strangers, _ = ApiToken.objects.create(user=outsider, name="stranger's script")  # another site

    assert client.get(TOKENS).status_code == 302  # anonymous: to the login page
    assert client.post(REVOKE, {"prefix": mine.token_key}).status_code == 302
    assert ApiToken.objects.filter(pk=mine.pk).exists()

    client.force_login(clinician)
    listing = client.get(TOKENS)
    assert listing.status_code == 200
    assert [token.name for token in listing.context["tokens"]] == ["my bridge"]
    assert "colleague's script" not in listing.content.decode() and strangers.token_key not in listing.content.decode()

    for other in (colleagues, strangers):
        assert client.post(REVOKE, {"prefix": other.token_key}).status_code == 404
        assert ApiToken.objects.filter(pk=other.pk).exists()
    assert client.get(REVOKE).status_code == 405
    assert client.post(REVOKE, {"prefix": mine.token_key}).status_code == 302
    assert not ApiToken.objects.filter(pk=mine.pk).exists()


def test_the_user_menu_links_to_the_token_page(login, clinician):
    page = login(clinician).get(reverse("diagnosis:home")).content.decode()
    assert f'href="{TOKENS}"' in page


def test_a_flood_of_bad_tokens_gets_429_with_retry_after(settings, clinician):
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {**rates, "anon": "3/min"}}
    _, good = ApiToken.objects.create(user=clinician, name="bridge")
    flooder = "203.0.113.9"
    statuses = [_api("f" * 64, flooder).status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    refused = _api("e" * 64, flooder)
    assert refused.status_code == 429 and 0 < int(refused["Retry-After"]) <= 60
    assert _api(good, flooder).status_code == 200  # a valid token still works
    assert _api("f" * 64, "198.51.100.4").status_code == 401  # another address is not punished

    anonymous = [APIClient().get(STUDIES, REMOTE_ADDR="203.0.113.10").status_code for _ in range(4)]
    assert anonymous == [401, 401, 401, 429]


def test_existing_drf_tokens_become_hashed_api_tokens(clinician, site):
    """Migration 0009 turns each plain DRF key into an ApiToken with its digest and deletes the plain key."""
    migration = importlib.import_module("accounts.migrations.0009_api_tokens_from_drf")
    boss = UserFactory(is_superuser=True, is_staff=True)
    key, boss_key = "a1" * 20, "b2" * 20  # DRF's keys: 40 hex characters
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, created timestamptz NOT NULL,"
            " user_id bigint NOT NULL)"
        )
        cursor.execute(
            "INSERT INTO authtoken_token VALUES (%s, now(), %s), (%s, now(), %s)",
            [key, clinician.pk, boss_key, boss.pk],
        )
    with connection.schema_editor() as editor:
        migration.tokens_from_drf(apps, editor)

    token = ApiToken.objects.get()
    assert token.user == clinician and token.name == "migrated" and token.token_key == key[:15]
    assert token.digest == hashlib.sha512(key.encode()).hexdigest()
    assert token.expiry - timezone.now() > timedelta(days=89)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM authtoken_token")
        assert cursor.fetchone()[0] == 0  # no plain key left behind
    assert _api(key).status_code == 200  # the running client keeps working
    assert _api(boss_key).status_code == 401
