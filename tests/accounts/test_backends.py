"""The request's user and its memberships in one query, and sessions read with one fixed statement."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.backends import AuthenticationBackend, ModelBackend, user_with_memberships
from accounts.models import Role, User
from accounts.sessions import SessionStore
from tests.factories import MembershipFactory, SiteFactory, UserFactory


def _values(obj) -> list:
    return [getattr(obj, field.attname) for field in type(obj)._meta.concrete_fields]


def _orm_memberships(user) -> list[tuple]:
    rows = user.memberships.select_related("site").order_by("role", "site__name")
    return [(_values(m), _values(m.site)) for m in rows]


@pytest.mark.django_db
def test_one_query_loads_the_user_and_its_memberships_in_their_order() -> None:
    user = UserFactory(first_name="Ada")
    for name, role in (("Zeta General", Role.CLINICIAN), ("Alpha Clinic", Role.RADIOLOGIST), ("Mid Town", Role.ADMIN)):
        MembershipFactory(user=user, site=SiteFactory(name=name, second_reader=name == "Mid Town"), role=role)
    MembershipFactory(role=Role.ADMIN)  # someone else's, not to be picked up
    with CaptureQueriesContext(connection) as queries:
        loaded = user_with_memberships(user.pk)
        held = [(_values(m), _values(m.site)) for m in loaded.memberships_by_role()]
        assert all(m.user is loaded for m in loaded.memberships_by_role())
    assert len(queries) == 1
    assert _values(loaded) == _values(User.objects.get(pk=user.pk))  # every column as the ORM reads it
    assert loaded.first_name == "Ada" and timezone.is_aware(loaded.date_joined)
    assert held == _orm_memberships(user) and len(held) == 3
    loaded.first_name = "Grace"
    loaded.save()  # a real, saveable model instance
    user.refresh_from_db()
    assert user.first_name == "Grace"


@pytest.mark.django_db
def test_a_user_with_no_memberships_inactive_users_and_unknown_ids() -> None:
    lone = UserFactory()
    assert user_with_memberships(lone.pk).memberships_by_role() == []
    assert user_with_memberships(lone.pk + 1000) is None
    assert user_with_memberships("not-a-number") is None
    gone = UserFactory(is_active=False)
    for backend in (ModelBackend(), AuthenticationBackend()):
        assert backend.get_user(lone.pk) == lone
        assert backend.get_user(gone.pk) is None  # as Django's: inactive users are nobody


def test_a_signed_in_request_reads_its_session_and_user_in_two_queries(client, clinician, password, rf) -> None:
    assert client.login(email=clinician.email, password=password)  # through the configured backends
    request = rf.get("/")
    request.session = SessionStore(client.cookies["sessionid"].value)
    with CaptureQueriesContext(connection) as queries:
        user = get_user(request)
        assert [m.role for m in user.memberships_by_role()] == [Role.CLINICIAN]
    assert user == clinician
    assert len(queries) == 2  # the session, then the user with its memberships


def test_the_session_store_reads_live_sessions_only(client, clinician) -> None:
    client.force_login(clinician)
    key = client.cookies["sessionid"].value
    assert SessionStore(key).load()["_auth_user_id"] == str(clinician.pk)
    Session.objects.filter(session_key=key).update(expire_date=timezone.now() - timedelta(seconds=1))
    expired = SessionStore(key)
    assert expired.load() == {} and expired.session_key is None  # forgotten, as Django's store does
    assert SessionStore("x" * 40).load() == {}
    assert client.get(reverse("diagnosis:home")).status_code == 302  # the expired session signs nobody in


def test_an_api_token_loads_its_user_and_memberships_in_one_query(clinician, rf) -> None:
    from rest_framework.exceptions import AuthenticationFailed

    from accounts.backends import TokenAuthentication
    from accounts.models import ApiToken

    stored, key = ApiToken.objects.create(user=clinician, name="PACS bridge")
    ApiToken.objects.filter(pk=stored.pk).update(last_used_at=timezone.now())  # used a moment ago: no write now
    request = rf.get("/api/v1/studies/", HTTP_AUTHORIZATION=f"Token {key}")
    with CaptureQueriesContext(connection) as queries:
        user, token = TokenAuthentication().authenticate(request)
        assert [(m.role, m.site.name) for m in user.memberships_by_role()] == [(Role.CLINICIAN, "St Elsewhere")]
    assert len(queries) == 1
    assert user == clinician and token.pk == stored.pk and token.user is user
    assert _values(token) == _values(ApiToken.objects.get(pk=stored.pk))
    for bad in ("0" * 64, key[:-1]):
        with pytest.raises(AuthenticationFailed, match="Invalid token"):
            TokenAuthentication().authenticate(rf.get("/", HTTP_AUTHORIZATION=f"Token {bad}"))
    User.objects.filter(pk=clinician.pk).update(is_active=False)
    with pytest.raises(AuthenticationFailed, match="inactive"):
        TokenAuthentication().authenticate(request)


def test_the_api_answers_401_for_an_unknown_token(client, clinician) -> None:
    response = client.get("/api/v1/studies/", HTTP_AUTHORIZATION="Token " + "f" * 40)
    assert response.status_code == 401 and "Invalid token" in response.json()["detail"]
