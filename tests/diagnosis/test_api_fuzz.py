"""Schemathesis fuzzes every operation of /api/schema/ in-process (Django's WSGI app), once per persona: a superuser
signed in with a session and the CSRF header (superusers' API tokens are refused), and a clinician, a radiologist and
a site admin each with a valid API token (issue 22: "with a valid token per role").

Checks: no 5xx (not_a_server_error) and every documented response matches its schema
(response_schema_conformance). Examples are bounded and derandomized, so a run is repeatable.
"""

import hypothesis
import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from django.utils.crypto import get_random_string
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error, response_schema_conformance

from accounts.models import ApiToken, Role
from medsite.wsgi import application
from tests.conftest import with_totp
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

# Loaded from the running app, as a client would; the schema view needs no database.
schema = schemathesis.openapi.from_wsgi("/api/schema/", application)


@pytest.fixture(autouse=True)
def in_test_transaction():
    """Django's WSGI handler closes the database connection after each request, which would end the test's
    transaction; Django's own test client unhooks the same signal handler while it runs a request."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture(params=["superuser session", "clinician token", "radiologist token", "site admin token"])
def fuzzer(request, world, other_world):
    """The caller's headers, once per persona.

    "superuser session": a superuser who also works at two sites (a clinician at the world's site, a radiologist at
    the other), so that every operation has a caller it may succeed for; signed in with a session, as the browser
    does, with the CSRF secret as the cookie and the header (superusers' API tokens are refused). The others: a
    member of the world's site with that role and a valid API token, as an integrator's program calls."""
    if request.param == "superuser session":
        user = with_totp(UserFactory(is_superuser=True, is_staff=True))
        MembershipFactory(user=user, site=world.site, role=Role.CLINICIAN)
        MembershipFactory(user=user, site=other_world.site, role=Role.RADIOLOGIST)
        browser = Client()
        browser.force_login(user)
        csrf = get_random_string(32)
        return {"Cookie": f"sessionid={browser.cookies['sessionid'].value}; csrftoken={csrf}", "X-CSRFToken": csrf}
    role = {"clinician token": Role.CLINICIAN, "radiologist token": Role.RADIOLOGIST}.get(request.param, Role.ADMIN)
    user = with_totp(UserFactory())
    MembershipFactory(user=user, site=world.site, role=role)
    _, token = ApiToken.objects.create(user=user, name="fuzz")
    return {"Authorization": f"Token {token}"}


@pytest.fixture
def record_ids(world, other_world):
    """Ids of existing records: path ids are drawn from these half of the time, so 200 responses are checked too."""
    records = (world.patient, world.study, world.image, world.prediction, world.model_version, world.candidate)
    return [record.pk for record in (*records, world.retraining_item, world.training_run, other_world.prediction)]


@schema.parametrize()
@schema.given(data=st.data())
@hypothesis.settings(
    max_examples=25,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture, hypothesis.HealthCheck.too_slow],
)
def test_api_fuzz(case, data, fuzzer, record_ids):
    if "id" in (case.path_parameters or {}) and data.draw(st.booleans(), label="existing id"):
        case.path_parameters["id"] = data.draw(st.sampled_from(record_ids), label="id")
    case.call_and_validate(
        headers=fuzzer,
        checks=[not_a_server_error, response_schema_conformance],
    )


def test_every_fuzzing_persona_is_signed_in(fuzzer):
    """The fuzz above proves little for a persona whose every call is a 401: each one reads its own patient list."""
    headers = {"HTTP_" + name.upper().replace("-", "_"): value for name, value in fuzzer.items() if name != "Cookie"}
    client = Client()
    if "Cookie" in fuzzer:
        client.cookies.load(fuzzer["Cookie"])
    assert client.get("/api/v1/patients/", **headers).status_code == 200
