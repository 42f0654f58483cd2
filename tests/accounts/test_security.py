"""Multi-factor login, sessions, throttling and security headers."""

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret, hotp_value, yield_hotp_counters_from_time
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.urls import reverse

from accounts.middleware import RENEWED_AT
from accounts.models import AuditEvent, Invitation, Role
from tests.factories import MembershipFactory, UserFactory
from tests.medsite.test_settings import PRODUCTION_ENV, ROOT

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
    client.force_login(clinician)
    response = client.get(reverse("diagnosis:home"))
    assert response.cookies["sessionid"]["max-age"] == 30 * 60
    session = Session.objects.get(pk=client.session.session_key)
    # Within a minute the next request does not write the session again ...
    assert "sessionid" not in client.get(reverse("diagnosis:home")).cookies
    assert Session.objects.get(pk=session.pk).expire_date == session.expire_date
    # ... after one, it does: each minute of use pushes the end of the session 30 minutes past it.
    data = session.get_decoded()
    data[RENEWED_AT] -= 61
    earlier = session.expire_date - timedelta(minutes=5)
    Session.objects.filter(pk=session.pk).update(session_data=SessionStore().encode(data), expire_date=earlier)
    response = client.get(reverse("diagnosis:home"))
    assert response.cookies["sessionid"]["max-age"] == 30 * 60
    assert Session.objects.get(pk=session.pk).expire_date >= session.expire_date


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


# --- security review additions (docs/security.md) ---------------------------------------------------------------


def _anonymous_session(client) -> str:
    """A session that exists before login, as an attacker who planted a cookie would hold it."""
    session = client.session
    session["planted"] = True
    session.save()
    client.cookies[settings.SESSION_COOKIE_NAME] = session.session_key
    return session.session_key


def test_login_rotates_the_session_key(client, clinician, password):
    planted = _anonymous_session(client)
    response = client.post(reverse("account_login"), {"login": clinician.email, "password": password})
    assert response.status_code == 302
    signed_in = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert signed_in != planted
    assert not Session.objects.filter(session_key=planted).exists()
    assert client.get(reverse("diagnosis:home")).status_code == 200


def test_login_with_totp_rotates_the_session_key_at_the_last_step(client, site, password):
    user = MembershipFactory(site=site, role=Role.RADIOLOGIST).user
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    planted = _anonymous_session(client)
    client.post(reverse("account_login"), {"login": user.email, "password": password})
    halfway = client.cookies[settings.SESSION_COOKIE_NAME].value
    client.post(reverse("mfa_authenticate"), {"code": _current_code(secret)})
    signed_in = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert signed_in != planted and not Session.objects.filter(session_key=planted).exists()
    assert signed_in != halfway, "the session after the second step is the half-signed-in one"
    assert client.get(reverse("diagnosis:home")).status_code == 200


def test_logout_ends_the_session(client, clinician, password):
    client.post(reverse("account_login"), {"login": clinician.email, "password": password})
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    client.post(reverse("account_logout"))
    assert not Session.objects.filter(session_key=key).exists()
    assert client.get(reverse("diagnosis:home")).status_code == 302


def test_session_and_csrf_cookies_are_not_readable_by_scripts(client, clinician, password):
    client.get(reverse("account_login"))
    client.post(reverse("account_login"), {"login": clinician.email, "password": password})
    assert client.cookies[settings.SESSION_COOKIE_NAME]["httponly"]
    assert client.cookies[settings.SESSION_COOKIE_NAME]["samesite"] == "Lax"


@pytest.mark.parametrize(
    "url",
    ["/accounts/login/", "/api/v1/patients/", "/patients/999999/", "/no-such-page/", "/api/schema/"],
)
def test_security_headers_on_every_kind_of_response(client, clinician, url):
    """Pages, API answers, errors and the schema carry the same headers as the home page above."""
    client.force_login(clinician)
    response = client.get(url)
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_production_settings_send_hsts_and_secure_cookies(tmp_path):
    """Under production settings (DEBUG off, as in tests/medsite/test_settings.py), over HTTPS."""
    script = (
        "import django; django.setup()\n"
        "from django.conf import settings\n"
        "from django.test import Client\n"
        "response = Client().get('/api/v1/', secure=True, headers={'host': 'medsite.example-hospital.org'})\n"
        "plain = Client().get('/api/v1/', headers={'host': 'medsite.example-hospital.org'})\n"
        "print(response.status_code, response['Strict-Transport-Security'], plain.status_code, plain['Location'])\n"
        "print(settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE, settings.DEBUG)\n"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "DATABASE_", "CELERY_"))}
    env |= PRODUCTION_ENV | {"MEDSITE_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "medsite.settings"}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    first, second = result.stdout.strip().splitlines()[-2:]
    assert first == (
        "401 max-age=31536000; includeSubDomains; preload 301 https://medsite.example-hospital.org/api/v1/"
    )
    assert second == "True True False"


def test_a_throttled_account_is_refused_even_with_the_right_password(client, clinician, password):
    for _ in range(5):
        client.post(reverse("account_login"), {"login": clinician.email, "password": "wrong"})
    response = client.post(reverse("account_login"), {"login": clinician.email, "password": password})
    assert response.status_code != 302
    assert "Too many failed login attempts" in response.content.decode()
    assert client.get(reverse("diagnosis:home")).status_code == 302  # still signed out


def test_superusers_must_set_up_mfa_too(client, db):
    client.force_login(UserFactory(is_superuser=True, is_staff=True))
    response = client.get(reverse("diagnosis:home"))
    assert response.status_code == 302 and response["Location"] == reverse("mfa_activate_totp")
    assert client.get("/admin/")["Location"] == reverse("mfa_activate_totp")


def test_mfa_is_required_on_the_api_with_a_session_too(client, site):
    """A browser session without TOTP reaches no data through the API either (tokens are issued by admins)."""
    client.force_login(MembershipFactory(site=site, role=Role.RADIOLOGIST).user)
    response = client.get("/api/v1/predictions/")
    assert response.status_code == 302 and response["Location"] == reverse("mfa_activate_totp")
