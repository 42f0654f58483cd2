"""The signed-in header, rendered once per distinct header and filled with each request's own CSRF field."""

import re

from django.urls import reverse

from accounts.models import Role
from accounts.templatetags.navigation import _header
from tests.conftest import with_totp
from tests.factories import MembershipFactory


def _logout_token(html: str) -> str:
    form = re.search(r'<form method="post" action="/accounts/logout/".*?</form>', html, re.S).group(0)
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)


def test_each_request_gets_its_own_csrf_field_in_a_shared_header(client, clinician) -> None:
    from django.test import Client

    client.force_login(clinician)
    first = client.get(reverse("diagnosis:home")).content.decode()
    hits = _header.cache_info().hits
    other = Client()
    other.force_login(clinician)
    second = other.get(reverse("diagnosis:home")).content.decode()
    assert _header.cache_info().hits == hits + 1  # the same header, rendered once
    assert _logout_token(first) != _logout_token(second)  # each session's own token
    assert "\x00" not in second
    response = other.post(reverse("account_logout"), {"csrfmiddlewaretoken": _logout_token(second)})
    assert response.status_code == 302  # the field logs out: a valid token for that session


def test_the_header_follows_role_changes_at_once(client, clinician, site) -> None:
    with_totp(clinician)  # the radiologist role given below needs TOTP from the next request on (issue 20, finding 6)
    client.force_login(clinician)
    page = client.get(reverse("diagnosis:home")).content.decode()
    assert 'data-nav="worklist"' not in page and "Clinician at St Elsewhere" in page
    MembershipFactory(user=clinician, site=site.__class__.objects.create(name="Annex", slug="annex"),
                      role=Role.RADIOLOGIST)  # fmt: skip
    page = client.get(reverse("diagnosis:home")).content.decode()
    assert 'data-nav="worklist"' in page and "Radiologist at Annex" in page
    clinician.email = "renamed@hospital.example"
    clinician.save()
    page = client.get(reverse("diagnosis:home")).content.decode()
    assert "<strong>renamed@hospital.example</strong>" in page
    assert 'aria-current="page">Patients' in page
