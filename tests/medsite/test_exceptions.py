"""Errors under /api/ (medsite.exceptions): one RFC 9457 problem shape for every status, a JSON 404 for unknown
routes, both forms of a path (with and without its trailing slash), and a 500 without internals."""

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import path
from rest_framework import exceptions
from rest_framework.settings import api_settings
from rest_framework.test import APIClient
from rest_framework.views import APIView

from diagnosis.models import Image, Patient
from medsite.errors import DomainError
from medsite.throttling import UserRateThrottle
from medsite.urls import urlpatterns as project_urls
from tests.conftest import png_bytes
from tests.factories import PatientFactory

PROBLEM = "application/problem+json"


class PreconditionFailed(exceptions.APIException):
    status_code = 412
    default_detail = "The resource changed since you read it."
    default_code = "precondition_failed"


class PreconditionRequired(exceptions.APIException):
    status_code = 428
    default_detail = "Send If-Match with the ETag you read."
    default_code = "precondition_required"


def _raising(exc):
    class Raising(APIView):
        permission_classes = []

        def get(self, request):
            raise exc

    return Raising.as_view()


def _bug(request):
    raise ZeroDivisionError("secret internals: /srv/medsite/diagnosis/services.py")


# A URLconf with views that raise what no simple request provokes; the project's routes follow.
urlpatterns = [
    path("api/v1/test/412/", _raising(PreconditionFailed())),
    path("api/v1/test/428/", _raising(PreconditionRequired())),
    path("api/v1/test/409/", _raising(DomainError("A run is already going.", code="run_in_progress", kind="conflict"))),
    path("api/v1/test/field/", _raising(DomainError("Give a reason.", code="required", field="reason"))),
    path("api/v1/test/django/", _raising(ValidationError({"__all__": ["Not like that."]}))),
    path("api/v1/test/500/", _raising(ZeroDivisionError("secret internals"))),
    path("api/v1/test/500-view/", _bug),
    *project_urls,
]
handler404 = "medsite.exceptions.page_not_found"
handler500 = "accounts.views.server_error"


def assert_problem(response, status: int) -> dict:
    """The response is a problem of `status`: RFC 9457's members, plus `code` and `errors`."""
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"] == PROBLEM, response["Content-Type"]
    body = response.json()
    assert body["type"] == "about:blank" and body["status"] == status
    assert body["title"] and body["detail"] and body["code"]
    assert isinstance(body["errors"], dict)
    return body


@pytest.fixture
def api():
    def _as(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return _as


@pytest.fixture
def test_urls(settings):
    settings.ROOT_URLCONF = __name__


# --- one status each ----------------------------------------------------------------------------------------


def test_400_names_each_field(db, api, clinician, site):
    body = assert_problem(api(clinician).post("/api/v1/patients/", {"site": site.pk, "mrn": ""}, format="json"), 400)
    assert set(body["errors"]) == {"mrn", "name"}
    assert body["code"] == "invalid" and "mrn:" in body["detail"] and "name:" in body["detail"]


def test_400_a_duplicate_mrn_has_the_same_shape_on_post_and_patch(db, api, clinician, site):
    PatientFactory(site=site, mrn="MRN-1")
    other = PatientFactory(site=site, mrn="MRN-2")
    client = api(clinician)
    posted = assert_problem(client.post("/api/v1/patients/", {"site": site.pk, "mrn": "MRN-1", "name": "A"}), 400)
    url = f"/api/v1/patients/{other.pk}/"
    if_match = {"HTTP_IF_MATCH": etag} if (etag := client.get(url).get("ETag")) else {}
    patched = assert_problem(client.patch(url, {"mrn": "MRN-1"}, format="json", **if_match), 400)
    key = api_settings.NON_FIELD_ERRORS_KEY
    assert list(posted["errors"]) == list(patched["errors"]) == [key]
    assert Patient.objects.get(pk=other.pk).mrn == "MRN-2"


def test_400_a_service_refusal_about_one_field_is_under_that_field(db, test_urls):
    body = assert_problem(APIClient().get("/api/v1/test/field/"), 400)
    assert body["errors"] == {"reason": ["Give a reason."]} and body["code"] == "required"


def test_400_django_s_own_key_for_the_whole_request_is_renamed(db, test_urls):
    body = assert_problem(APIClient().get("/api/v1/test/django/"), 400)
    assert body["errors"] == {api_settings.NON_FIELD_ERRORS_KEY: ["Not like that."]}
    assert body["detail"] == "Not like that."


def test_401_without_credentials(db, api):
    response = api().get("/api/v1/patients/")
    body = assert_problem(response, 401)
    assert body["code"] == "not_authenticated" and response["WWW-Authenticate"]


def test_403_the_wrong_role(db, api, radiologist, site):
    body = assert_problem(api(radiologist).post("/api/v1/patients/", {"site": site.pk, "mrn": "X", "name": "Y"}), 403)
    assert body["errors"] == {}


def test_404_another_site_s_record(db, api, clinician, other_site):
    assert_problem(api(clinician).get(f"/api/v1/patients/{PatientFactory(site=other_site).pk}/"), 404)


@pytest.mark.parametrize(
    "url", ["/api/v1/no-such-thing/", "/api/v1/no-such-thing", "/api/nothing", "/api/v1/patients/x/"]
)
def test_404_an_unknown_route_is_json(db, api, clinician, url):
    body = assert_problem(api(clinician).get(url), 404)
    assert body["code"] == "not_found"


def test_404_an_unknown_route_is_json_for_anonymous_callers_and_every_method(db):
    client = Client()
    for method in ("get", "post", "put", "patch", "delete"):
        assert_problem(getattr(client, method)("/api/v2/patients/"), 404)


@pytest.mark.parametrize(
    ("method", "url"),
    [("put", "/api/v1/reviews/1/"), ("patch", "/api/v1/reviews/1/"), ("delete", "/api/v1/reviews/1/"),
     ("put", "/api/v1/audit-events/"), ("delete", "/api/v1/audit-events/")],
)  # fmt: skip
def test_405_on_read_only_resources(db, api, site_admin, method, url):
    response = getattr(api(site_admin), method)(url)
    body = assert_problem(response, 405)
    assert method.upper() in body["detail"] and "GET" in response["Allow"]


def test_409_a_conflicting_state(db, test_urls):
    body = assert_problem(APIClient().get("/api/v1/test/409/"), 409)
    assert body["code"] == "run_in_progress" and body["detail"] == "A run is already going."
    assert body["errors"] == {api_settings.NON_FIELD_ERRORS_KEY: ["A run is already going."]}


@pytest.mark.parametrize("status", [412, 428])
def test_412_and_428_preconditions(db, test_urls, status):
    body = assert_problem(APIClient().get(f"/api/v1/test/{status}/"), status)
    assert body["code"].startswith("precondition_")


def test_413_a_body_over_the_limit(db, api, clinician, site, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = api(clinician).post("/api/v1/patients/", {"site": site.pk, "mrn": "M", "name": "x" * 500}, format="json")
    body = assert_problem(response, 413)
    assert "too large" in body["detail"].lower()


def test_415_a_body_in_an_unsupported_format(db, api, clinician):
    response = api(clinician).post("/api/v1/patients/", "mrn=1", content_type="text/plain")
    body = assert_problem(response, 415)
    assert "text/plain" in body["detail"]


def test_429_over_the_rate_keeps_retry_after(db, api, clinician, monkeypatch):
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", api_settings.DEFAULT_THROTTLE_RATES | {"user": "1/min"})
    client = api(clinician)
    client.get("/api/v1/studies/")
    response = client.get("/api/v1/studies/")
    body = assert_problem(response, 429)
    assert body["code"] == "throttled" and 0 < int(response["Retry-After"]) <= 60


def test_429_a_flood_of_refused_credentials_is_still_throttled(db, settings):
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {**rates, "anon": "2/min"}}
    client = APIClient(HTTP_AUTHORIZATION="Token " + "f" * 64, REMOTE_ADDR="203.0.113.9")
    assert [client.get("/api/v1/patients/").status_code for _ in range(3)] == [401, 401, 429]
    response = client.get("/api/v1/patients/")
    assert assert_problem(response, 429)["code"] == "throttled" and int(response["Retry-After"]) > 0


@pytest.mark.parametrize("url", ["/api/v1/test/500/", "/api/v1/test/500-view/"])
def test_500_is_a_problem_without_internals(db, test_urls, settings, url):
    settings.DEBUG = False
    response = Client(raise_request_exception=False).get(url)
    body = assert_problem(response, 500)
    assert "secret" not in response.content.decode() and "Traceback" not in response.content.decode()
    assert body["code"] == "server_error"


def test_the_web_keeps_its_html_404(db, login, clinician):
    response = login(clinician).get("/no-such-page/")
    assert response.status_code == 404 and "application/problem+json" not in response["Content-Type"]


# --- slash or no slash --------------------------------------------------------------------------------------


def test_a_post_without_the_trailing_slash_creates(db, api, clinician, site):
    response = api(clinician).post("/api/v1/patients", {"site": site.pk, "mrn": "NS-1", "name": "No Slash"})
    assert response.status_code == 201, response.content
    assert Patient.objects.filter(mrn="NS-1").exists()


def test_an_upload_without_the_trailing_slash_stores(db, api, clinician, study):
    response = api(clinician).post(f"/api/v1/studies/{study.pk}/images", {"files": _png()}, format="multipart")
    assert response.status_code == 201, response.content
    assert Image.objects.filter(study=study).count() == 1


def test_an_anonymous_post_without_the_slash_is_a_401_not_a_500(db, study):
    client = Client()
    assert_problem(client.post("/api/v1/patients", {"mrn": "X"}), 401)
    assert_problem(client.post(f"/api/v1/studies/{study.pk}/images", {}), 401)


def test_a_get_without_the_slash_answers_the_same(db, api, clinician, patient):
    client = api(clinician)
    assert client.get("/api/v1/patients").json()["count"] == client.get("/api/v1/patients/").json()["count"] == 1
    assert client.get(f"/api/v1/patients/{patient.pk}").json()["mrn"] == patient.mrn


def test_a_session_post_without_the_slash_still_needs_its_csrf_token(db, clinician, site):
    client = Client(enforce_csrf_checks=True)
    client.force_login(clinician)
    response = client.post("/api/v1/patients", {"site": site.pk, "mrn": "C-1", "name": "C"})
    assert_problem(response, 403)
    assert not Patient.objects.filter(mrn="C-1").exists()


def _png(name="chest.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, png_bytes(), content_type="image/png")


@pytest.mark.parametrize("value", ["yesterday", "2024-13-01"])
def test_400_a_bad_range_bound_is_reported_under_its_own_parameter(db, api, clinician, value):
    body = assert_problem(api(clinician).get("/api/v1/predictions/", {"created_after": value}), 400)
    assert list(body["errors"]) == ["created_after"], body


def test_an_error_is_a_problem_whatever_the_client_accepts(db, api, radiologist, site):
    response = api(radiologist).post("/api/v1/patients/", {"site": site.pk}, HTTP_ACCEPT="text/html")
    assert_problem(response, 403)
