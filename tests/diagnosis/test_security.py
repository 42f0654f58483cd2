"""Security review: CSRF on every URL, media never public, no patient identifiers in the logs, and the IDOR
cases the permission matrices (test_permission_matrix.py, test_api.py) do not already make.
"""

import io
import logging
import re

import pydicom
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import NoReverseMatch, URLResolver, get_resolver, reverse
from django.urls.resolvers import RoutePattern
from django.views.static import serve
from pydicom.data import get_testdata_file
from rest_framework.test import APIClient

from accounts.models import ApiToken, AuditEvent
from diagnosis.models import Image, Patient, Study
from diagnosis.services import records
from diagnosis.services.inference import image_run_inference
from diagnosis.services.training import model_register
from tests.conftest import png_bytes
from tests.factories import PatientFactory, StudyFactory

pytestmark = pytest.mark.django_db

# --- CSRF: walk the URL configuration -------------------------------------------------------------------------

SAMPLES = {"int": "1", "uuid": "00000000-0000-0000-0000-000000000000"}  # other converters and regex groups:
GUESSES = ("x", "1", "accounts", "key-1")  # one of these fits every parameter in this URLconf


def _params(pattern) -> dict[str, str | None]:
    """A pattern's parameters, with the sample its converter needs (None: any of GUESSES may do)."""
    if isinstance(pattern.pattern, RoutePattern):  # path(): <int:pk>
        converters = pattern.pattern.converters.items()
        return {name: SAMPLES.get(type(conv).__name__.removesuffix("Converter").lower()) for name, conv in converters}
    return dict.fromkeys(pattern.pattern.regex.groupindex)  # re_path(): (?P<name>...)


def _routes(resolver: URLResolver | None = None, namespace: str = "", params: dict | None = None):
    """(url, name, callback) for every named pattern, with sample values for its parameters."""
    for pattern in (resolver or get_resolver()).url_patterns:
        here = (params or {}) | _params(pattern)
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern, ":".join(part for part in (namespace, pattern.namespace) if part), here)
        elif pattern.name:
            name = f"{namespace}:{pattern.name}" if namespace else pattern.name
            yield _reverse(name, here), name, pattern.callback


def _reverse(name: str, params: dict[str, str | None]) -> str | None:
    for guess in GUESSES:
        try:
            return reverse(name, kwargs={key: value or guess for key, value in params.items()})
        except NoReverseMatch:
            continue
    return None


ROUTES = list(_routes())


def test_the_walk_finds_the_forms():
    assert [name for url, name, _ in ROUTES if url is None] == []  # every URL got a concrete address
    names = {name for _, name, _ in ROUTES}
    assert {"diagnosis:study_upload", "diagnosis:review_submit", "account_login", "mfa_activate_totp"} <= names
    assert "admin:index" in names and "api:patient-list" in names


@pytest.mark.parametrize(("url", "name", "callback"), [route for route in ROUTES if route[0]], ids=lambda value: value)
def test_every_post_without_a_csrf_token_is_refused(clinician, url, name, callback):
    """Signed in by session (a browser), a POST without the token never reaches a view, whatever the URL."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(clinician)
    response = client.post(url, {"name": "x", "files": SimpleUploadedFile("a.png", png_bytes())})
    assert response.status_code == 403, f"{name} ({url}) answered {response.status_code} to a POST without a token"
    # Django's middleware says "CSRF verification failed"; DRF's session authentication (the API, its schema
    # and docs views are DRF views, csrf_exempt for Django) does the same check and says "CSRF Failed", except
    # on the Swagger page, whose HTML renderer shows the site's plain 403 page.
    if name != "api-docs":
        assert re.search(r"CSRF (verification failed|Failed)", response.content.decode()), response.content[:300]


def test_no_view_is_csrf_exempt_except_the_api():
    """DRF marks its views csrf_exempt and checks CSRF itself for session-authenticated requests (above); the FHIR
    API (/fhir/) and DICOMweb (/dicomweb/) are DRF views too."""
    exempt = {url for url, _, callback in ROUTES if getattr(callback, "csrf_exempt", False)}
    assert exempt and all(url.startswith(("/api/", "/fhir/", "/dicomweb/")) for url in exempt), sorted(exempt)


# --- uploaded files are never public ----------------------------------------------------------------------------


@pytest.fixture
def stored(site, clinician):
    dicom_path = get_testdata_file("MR_small.dcm")
    patient = PatientFactory(site=site, mrn=str(pydicom.dcmread(dicom_path).PatientID))
    study = StudyFactory(patient=patient, modality="MR", body_part="HEAD")
    upload = SimpleUploadedFile("mr.dcm", open(dicom_path, "rb").read())
    return records.image_upload(study=study, file=upload, uploaded_by=clinician)


def test_no_url_serves_the_media_folder():
    assert settings.MEDIA_URL in ("", "/")  # unset: Django has no public address for media
    assert not [url for url, _, callback in ROUTES if callback is serve or "media" in url.lower()]


@pytest.mark.parametrize("who", ["anonymous", "clinician", "outsider"])
def test_stored_files_cannot_be_fetched_by_their_storage_path(request, stored, who):
    client = Client()
    if who != "anonymous":
        client.force_login(request.getfixturevalue(who))
    for field in (stored.file, stored.display_file, stored.deidentified_file):
        for url in (
            f"/{field.name}",
            f"/media/{field.name}",
            f"/static/{field.name}",
            f"/static/../media/{field.name}",
        ):
            response = client.get(url)
            assert response.status_code in (302, 404), url
            assert not response.streaming
            if response.status_code == 302:
                assert response["Location"].startswith(reverse("account_login"))


@pytest.mark.parametrize("rendition", ["display", "original", "deidentified"])
def test_image_files_need_a_signed_in_member(client, stored, outsider, rendition):
    url = reverse(f"diagnosis:image_{rendition}", args=[stored.pk])
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("account_login"))
    api = client.get(reverse("api:image-file", args=[stored.pk]), {"rendition": rendition})
    assert api.status_code == 401
    client.force_login(outsider)
    assert client.get(url).status_code == 404


def test_image_files_are_sent_private_and_never_sniffed(client, stored, clinician):
    client.force_login(clinician)
    response = client.get(reverse("diagnosis:image_original", args=[stored.pk]))
    assert response["Cache-Control"] == "private, no-store"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Type"] == "application/dicom"
    assert response["Content-Disposition"].startswith("attachment;")
    assert "image-" in response["Content-Disposition"] and "mr.dcm" not in response["Content-Disposition"]
    response.close()


# --- no patient identifiers in the logs -------------------------------------------------------------------------

NAME, MRN, BIRTH_DATE = "Zbigniewska^Honoratka", "MRN-LOG-90417", "19470322"


def _dicom_of_known_patient() -> bytes:
    ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = NAME, MRN, BIRTH_DATE
    ds.StudyInstanceUID = pydicom.uid.generate_uid()
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


@pytest.fixture
def all_logs(caplog):
    """caplog at DEBUG for every logger: levels set by libraries are lifted, and the loggers that do not
    propagate to the root get caplog's handler too. Everything is put back afterwards."""
    caplog.set_level(logging.DEBUG)
    loggers = [logger for logger in logging.root.manager.loggerDict.values() if isinstance(logger, logging.Logger)]
    saved = [(logger, logger.level, logger.propagate) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.NOTSET)
        if not logger.propagate:
            logger.addHandler(caplog.handler)
    yield caplog
    for logger, level, propagate in saved:
        logger.setLevel(level)
        if not propagate:
            logger.removeHandler(caplog.handler)


def test_patient_identifiers_never_reach_the_logs(all_logs, site, clinician, radiologist, tiny_bundle, outsider):
    model_register(bundle_path=tiny_bundle, activate=True)
    data = _dicom_of_known_patient()
    web = Client()
    web.force_login(clinician)
    api_headers = {"HTTP_AUTHORIZATION": f"Token {ApiToken.objects.create(user=clinician, name='test')[1]}"}

    # Import (creates the patient from the file), then upload into a chest study of that patient, web and API.
    imported = web.post(
        reverse("diagnosis:dicom_import"), {"site": site.pk, "files": SimpleUploadedFile("a.dcm", data)}
    )
    assert imported.status_code == 200, imported.content.decode()[:1000]
    patient = Patient.objects.get(site=site, mrn=MRN)
    chest = StudyFactory(patient=patient, modality="CR", body_part="CHEST")
    web.post(reverse("diagnosis:study_upload", args=[chest.pk]), {"files": SimpleUploadedFile("b.png", png_bytes())})
    api_client = Client()
    api_client.post(
        reverse("api:study-images", args=[chest.pk]),
        {"files": SimpleUploadedFile("c.png", png_bytes(size=(70, 60)))},
        **api_headers,
    )
    # Refusals too: the same DICOM again (a duplicate), into another patient's study, and by an outsider.
    web.post(reverse("diagnosis:dicom_import"), {"site": site.pk, "files": SimpleUploadedFile("a.dcm", data)})
    other = StudyFactory(patient=PatientFactory(site=site))
    web.post(reverse("diagnosis:study_upload", args=[other.pk]), {"files": SimpleUploadedFile("d.dcm", data)})
    intruder = Client()
    intruder.force_login(outsider)
    intruder.get(reverse("diagnosis:patient_detail", args=[patient.pk]))
    api_client.post(
        reverse("api:patient-search"), {"query": NAME.split("^")[0]}, content_type="application/json", **api_headers
    )

    # Inference on every stored image, then the pages and the review.
    for image in Image.objects.filter(study__patient=patient):
        image_run_inference(image_pk=image.pk)
    prediction = Image.objects.filter(study=chest).first().current_prediction()
    reviewer = Client()
    reviewer.force_login(radiologist)
    assert reviewer.get(reverse("diagnosis:worklist")).status_code == 200
    reviewed = reviewer.post(reverse("diagnosis:review_submit", args=[prediction.pk]), {"label": "normal"})
    assert reviewed.status_code == 302
    for url in (
        reverse("diagnosis:patient_detail", args=[patient.pk]),
        reverse("diagnosis:study_detail", args=[chest.pk]),
    ):
        assert web.get(url).status_code == 200
    api_client.get(reverse("api:patient-detail", args=[patient.pk]), **api_headers)

    assert Study.objects.filter(patient=patient).count() == 2 and prediction.reviews.exists()
    assert len(all_logs.records) > 0  # the logs were captured (the refusals at least log a warning)
    text = "\n".join(f"{record.name} {record.getMessage()} {record.args!r}" for record in all_logs.records)
    for identifier in (NAME, *NAME.split("^"), MRN, BIRTH_DATE):
        assert identifier not in text, f"{identifier} appears in the logs"


# --- IDOR cases the matrices leave out -------------------------------------------------------------------------


def test_web_forms_do_not_take_another_sites_id(client, clinician, other_site):
    """The matrices post to a record of another site; these forms name a site in their body instead."""
    client.force_login(clinician)
    response = client.post(
        reverse("diagnosis:patient_create"), {"site": other_site.pk, "mrn": "X1", "name": "Intruder", "sex": "U"}
    )
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    upload = SimpleUploadedFile("mr.dcm", open(get_testdata_file("MR_small.dcm"), "rb").read())
    response = client.post(reverse("diagnosis:dicom_import"), {"site": other_site.pk, "files": upload})
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    assert not Patient.objects.exists() and not Image.objects.exists()


def test_api_edits_cannot_move_records_to_another_site(client, clinician, site, patient, study, other_site):
    """The update serializers have no site or patient field: a PATCH naming one leaves the record where it is."""
    token = ApiToken.objects.create(user=clinician, name="test")[1]
    headers = {"HTTP_AUTHORIZATION": f"Token {token}", "HTTP_IF_MATCH": "*"}  # If-Match: the edit itself runs
    other_patient = PatientFactory(site=other_site)
    moved = client.patch(
        reverse("api:patient-detail", args=[patient.pk]),
        {"site": other_site.pk},
        content_type="application/json",
        **headers,
    )
    reassigned = client.patch(
        reverse("api:study-detail", args=[study.pk]),
        {"patient": other_patient.pk},
        content_type="application/json",
        **headers,
    )
    assert (moved.status_code, reassigned.status_code) == (200, 200)
    patient.refresh_from_db()
    study.refresh_from_db()
    assert (patient.site, study.patient) == (site, patient)


# --- search terms never in a URL (issue 20, finding 7) --------------------------------------------------------------

MRN, NAME = "MRN-QS-55123", "Quentin Querystring"


def _links(html: str) -> list[str]:
    return re.findall(r'(?:href|action|src|hx-get|hx-post)="([^"]*)"', html)


def test_web_patient_search_is_posted_and_the_term_never_reaches_a_url(client, clinician, site):
    wanted = PatientFactory(site=site, mrn=MRN, name=NAME)
    PatientFactory(site=site, name="Someone Else")
    client.force_login(clinician)
    page = client.get(reverse("diagnosis:home")).content.decode()
    assert re.search(r'<form method="post" class="search"', page)  # the form POSTs: no ?q= in history or logs
    response = client.post(reverse("diagnosis:home"), {"q": MRN.lower()})
    assert response.status_code == 200 and not response.has_header("Location")
    html = response.content.decode()
    assert NAME in html and "Someone Else" not in html
    assert [link for link in _links(html) if MRN.lower() in link.lower() or "Quentin" in link] == []
    assert reverse("diagnosis:patient_detail", args=[wanted.pk]) in _links(html)
    assert client.post(reverse("diagnosis:home"), {"q": "a\x00b"}).status_code == 200  # no 500 from PostgreSQL
    # An old bookmark with ?q= searches nothing: the term in a URL is never used.
    ignored = client.get(reverse("diagnosis:home"), {"q": MRN}).content.decode()
    assert "Someone Else" in ignored
    assert not AuditEvent.objects.filter(detail__icontains=MRN).exists()


def test_api_patient_search_is_posted_and_the_term_never_reaches_a_url(clinician, site):
    PatientFactory.create_batch(51, site=site, name=NAME)
    PatientFactory(site=site, name="Someone Else")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {ApiToken.objects.create(user=clinician, name='test')[1]}")
    url = reverse("api:patient-search")
    first = client.post(url, {"query": "quentin"}, format="json")
    assert first.status_code == 200, first.content
    body = first.json()
    assert body["count"] == 51 and {row["name"] for row in body["results"]} == {NAME}
    assert "quentin" not in body["next"].lower() and body["next"].startswith("http")
    second = client.post(body["next"], {"query": "quentin"}, format="json").json()
    assert len(second["results"]) == 1
    events = AuditEvent.objects.filter(action=AuditEvent.Action.VIEW, object_type="patient")
    assert [event.detail for event in events.order_by("pk")] == [
        {"count": 50, "search": True},
        {"count": 1, "search": True},
    ]
    assert not AuditEvent.objects.filter(detail__icontains="quentin").exists()


def test_api_patient_search_in_the_query_string_is_refused_with_the_way_to_do_it(api, clinician, site):
    PatientFactory(site=site, mrn=MRN)
    response = api(clinician).get(reverse("api:patient-list"), {"search": MRN})
    assert response.status_code == 400
    assert "POST /api/v1/patients/search/" in response.json()["errors"]["search"][0]
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.VIEW).exists()  # nothing was shown


def test_the_schema_documents_search_by_post_and_no_search_parameter(client):
    schema = client.get(reverse("schema"), {"format": "json"}).json()
    search = schema["paths"]["/api/v1/patients/search/"]
    assert "post" in search and "get" not in search
    body = search["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert "PatientSearch" in body
    parameters = [p["name"] for p in schema["paths"]["/api/v1/patients/"]["get"].get("parameters", [])]
    assert "search" not in parameters


# --- Cache-Control: no-store on every signed-in response (issue 20, finding 7) --------------------------------------


def test_signed_in_pages_json_and_errors_are_never_stored(client, clinician, patient, other_world):
    client.force_login(clinician)
    for url, status in [
        (reverse("diagnosis:home"), 200),
        (reverse("diagnosis:patient_detail", args=[patient.pk]), 200),
        (reverse("diagnosis:patient_detail", args=[other_world.patient.pk]), 404),
        ("/no-such-page/", 404),
        (reverse("api:patient-list"), 200),
        (reverse("api:patient-detail", args=[other_world.patient.pk]), 404),
        (reverse("diagnosis:worklist"), 403),
    ]:
        response = client.get(url)
        assert response.status_code == status, url
        assert "no-store" in response["Cache-Control"], url


def test_token_requests_are_never_stored_and_files_stay_private(clinician, stored):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {ApiToken.objects.create(user=clinician, name='test')[1]}")
    assert client.get(reverse("api:patient-list"))["Cache-Control"] == "no-store"
    assert client.get(reverse("api:patient-detail", args=[10**6]))["Cache-Control"] == "no-store"
    response = client.get(reverse("api:image-file", args=[stored.pk]))
    assert response["Cache-Control"] == "private, no-store"
    response.close()
