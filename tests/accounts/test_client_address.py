"""Issue 20, findings 5 and 6: the client address behind the reverse proxy, and MFA after a role change."""

import pytest
from django.test import RequestFactory
from django.urls import reverse

from accounts.audit import Client
from accounts.clientip import client_ip
from accounts.models import AuditEvent, Membership, Role
from medsite.throttling import AnonRateThrottle
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

PROXY = "10.0.0.5"
ATTACKER = "203.0.113.66"
NURSE_STATION = "198.51.100.23"


def _request(remote: str, forwarded: str | None = None):
    meta = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **meta)


@pytest.mark.parametrize(
    ("proxies", "remote", "forwarded", "expected"),
    [
        ([], PROXY, ATTACKER, PROXY),  # no proxy configured: the header is never believed
        ([PROXY], "192.0.2.1", ATTACKER, "192.0.2.1"),  # from an address that is not a proxy: ignored
        ([PROXY], PROXY, ATTACKER, ATTACKER),
        ([PROXY], PROXY, f"{NURSE_STATION}, {ATTACKER}", ATTACKER),  # a client cannot prepend its own choice
        (["10.0.0.0/24"], PROXY, f"{NURSE_STATION}, 10.0.0.9", NURSE_STATION),  # two trusted hops
        ([PROXY], PROXY, "not-an-address", PROXY),  # a garbled hop: stop at the last trusted address
        ([PROXY], PROXY, "", PROXY),
        (["2001:db8::/32"], "2001:db8::1", "2001:db8::2, 192.0.2.77", "192.0.2.77"),
    ],
)
def test_the_client_address_is_read_through_trusted_proxies_only(settings, proxies, remote, forwarded, expected):
    settings.MEDSITE_TRUSTED_PROXIES = proxies
    assert client_ip(_request(remote, forwarded)) == expected


def test_the_audit_trail_records_the_address_behind_the_proxy(settings):
    settings.MEDSITE_TRUSTED_PROXIES = [PROXY]
    assert Client.from_request(_request(PROXY, NURSE_STATION)).ip == NURSE_STATION


def _login(client, email, password, remote, forwarded):
    return client.post(
        reverse("account_login"),
        {"login": email, "password": password},
        REMOTE_ADDR=remote,
        HTTP_X_FORWARDED_FOR=forwarded,
    )


def test_failed_logins_behind_the_proxy_lock_out_the_guesser_not_everyone(client, clinician, password, settings):
    """11 failed logins with unknown emails, all through the hospital's proxy, then a real user with the right
    password from another workstation: signed in. Before, everyone behind the proxy shared one count."""
    settings.MEDSITE_TRUSTED_PROXIES = [PROXY]
    for attempt in range(11):
        _login(client, f"nobody{attempt}@example.org", "wrong", PROXY, ATTACKER)
    response = _login(client, "nobody@example.org", "wrong", PROXY, ATTACKER)
    assert response.status_code == 429 or "Too many failed login attempts" in response.content.decode()

    client.cookies.clear()
    response = _login(client, clinician.email, password, PROXY, NURSE_STATION)
    assert response.status_code == 302, response.content.decode()[:500]
    assert client.get(reverse("diagnosis:home")).status_code == 200
    login = AuditEvent.objects.filter(action=AuditEvent.Action.LOGIN, actor=clinician).get()
    assert login.ip == NURSE_STATION
    failed = AuditEvent.objects.filter(action=AuditEvent.Action.LOGIN_FAILED)
    assert set(failed.values_list("ip", flat=True)) == {ATTACKER}


def test_a_forged_forwarded_for_does_not_escape_the_limit(client, settings):
    """Straight to the web server (not through a configured proxy), a rotating X-Forwarded-For changes nothing."""
    settings.MEDSITE_TRUSTED_PROXIES = [PROXY]
    for attempt in range(11):
        _login(client, f"nobody{attempt}@example.org", "wrong", ATTACKER, f"192.0.2.{attempt}")
    response = _login(client, "nobody@example.org", "wrong", ATTACKER, "192.0.2.200")
    assert response.status_code == 429 or "Too many failed login attempts" in response.content.decode()


def test_api_throttles_count_each_client_behind_the_proxy(settings):
    """The API's per-address count (anonymous rate) keys on the address behind the proxy, and DRF's own
    NUM_PROXIES rule, which believes a header any client can send, is not used."""
    settings.MEDSITE_TRUSTED_PROXIES = [PROXY]
    throttle = AnonRateThrottle()
    assert throttle.get_ident(_request(PROXY, ATTACKER)) == ATTACKER
    assert throttle.get_ident(_request(PROXY, NURSE_STATION)) == NURSE_STATION
    assert throttle.get_ident(_request(ATTACKER, NURSE_STATION)) == ATTACKER


@pytest.mark.parametrize("raise_to", ["admin role", "radiologist role", "superuser"])
def test_a_role_raised_mid_session_needs_totp_at_the_next_request(client, site, raise_to):
    """Finding 6: the requirement was checked once per session, so a clinician made admin or superuser kept
    working without TOTP (admin, learning loop and audit pages included)."""
    membership = MembershipFactory(site=site, role=Role.CLINICIAN)
    user = membership.user
    client.force_login(user)
    assert client.get(reverse("diagnosis:home")).status_code == 200
    if raise_to == "superuser":
        user.is_superuser = user.is_staff = True
        user.save()
    else:
        Membership.objects.filter(pk=membership.pk).update(
            role=Role.ADMIN if raise_to == "admin role" else Role.RADIOLOGIST
        )
    for path in (reverse("diagnosis:home"), "/admin/", "/api/v1/"):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"] == reverse("mfa_activate_totp"), path
