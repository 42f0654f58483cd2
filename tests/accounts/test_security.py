"""Multi-factor login, session expiry and security headers."""

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret, hotp_value, yield_hotp_counters_from_time
from django.urls import reverse

from accounts.models import AuditEvent, Invitation, Role
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("role", [Role.RADIOLOGIST, Role.ADMIN])
def test_roles_that_require_mfa_are_sent_to_totp_setup(client, site, role):
    user = MembershipFactory(site=site, role=role).user
    client.force_login(user)
    response = client.get(reverse("diagnosis:home"))
    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_activate_totp")


def test_clinicians_may_work_without_mfa(client, site):
    client.force_login(MembershipFactory(site=site, role=Role.CLINICIAN).user)
    assert client.get(reverse("diagnosis:home")).status_code == 200


def test_mfa_requirement_is_configurable(client, site, settings):
    settings.MEDSITE_MFA_REQUIRED_ROLES = [Role.CLINICIAN]
    client.force_login(MembershipFactory(site=site, role=Role.CLINICIAN).user)
    assert client.get(reverse("diagnosis:home"))["Location"] == reverse("mfa_activate_totp")


def _current_code(secret: str) -> str:
    counter = next(yield_hotp_counters_from_time())
    return f"{hotp_value(secret, counter):06d}"


def test_login_with_totp_second_step(client, site, password):
    user = MembershipFactory(site=site, role=Role.RADIOLOGIST).user
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    response = client.post(reverse("account_login"), {"login": user.email, "password": password})
    assert response.status_code == 302 and response["Location"] == reverse("mfa_authenticate")
    assert client.get(reverse("diagnosis:home")).status_code == 302  # not signed in yet
    response = client.post(reverse("mfa_authenticate"), {"code": _current_code(secret)})
    assert response.status_code == 302
    assert client.get(reverse("diagnosis:home")).status_code == 200
    assert AuditEvent.objects.filter(action=AuditEvent.Action.LOGIN, actor=user).exists()


def test_activating_totp_is_audited(client, site, password, django_capture_on_commit_callbacks):
    user = MembershipFactory(site=site, role=Role.RADIOLOGIST).user
    client.post(reverse("account_login"), {"login": user.email, "password": password})
    response = client.get(reverse("mfa_activate_totp"))
    assert response["Location"].startswith(reverse("account_reauthenticate"))  # MFA changes need the password again
    client.post(reverse("account_reauthenticate"), {"password": password})
    page = client.get(reverse("mfa_activate_totp"))
    secret = page.context["form"].secret
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("mfa_activate_totp"), {"code": _current_code(secret)})
    assert response.status_code == 302
    changes = AuditEvent.objects.filter(action=AuditEvent.Action.MFA_CHANGE, actor=user)
    assert {"authenticator": "totp", "change": "added"} in [event.detail for event in changes]
    assert client.get(reverse("diagnosis:home")).status_code == 200


def test_session_expires_after_inactivity(client, clinician, settings):
    assert settings.SESSION_COOKIE_AGE == 30 * 60
    assert settings.SESSION_SAVE_EVERY_REQUEST  # each request renews it: an idle timeout, not an absolute one
    client.force_login(clinician)
    response = client.get(reverse("diagnosis:home"))
    assert response.cookies["sessionid"]["max-age"] == 30 * 60


def test_security_headers(client, clinician):
    client.force_login(clinician)
    response = client.get(reverse("diagnosis:home"))
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_admin_login_goes_through_allauth(client):
    response = client.get("/admin/login/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_login_is_throttled(client, clinician):
    for _ in range(5):
        client.post(reverse("account_login"), {"login": clinician.email, "password": "wrong"})
    response = client.post(reverse("account_login"), {"login": clinician.email, "password": "wrong"})
    assert response.status_code == 429 or "Too many failed login attempts" in response.content.decode()


def test_password_rules(client, site):
    invitation = Invitation.objects.create(email="new@hospital.example", site=site, role=Role.CLINICIAN)
    client.get(reverse("accounts:invitation_accept", args=[invitation.token]))
    response = client.post(
        reverse("account_signup"), {"email": "new@hospital.example", "password1": "short1", "password2": "short1"}
    )
    assert response.status_code == 200
    assert "too short" in response.content.decode()
