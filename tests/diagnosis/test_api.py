"""The REST API (/api/v1/): permissions per persona, authentication, uploads, lists, audit and schema."""

from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter
from types import SimpleNamespace

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils.crypto import get_random_string
from knox.views import LoginView as KnoxLoginView
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.request import Request
from rest_framework.test import APIClient, APIRequestFactory

from accounts.models import ApiToken, AuditEvent
from diagnosis.api.base import store_each
from diagnosis.models import Image, Patient, Prediction, Review, Study
from diagnosis.services import records
from tests.datasets import DICOM_SAMPLES
from tests.diagnosis.conftest import png_file, reviewed_image, shadow_version
from tests.factories import PatientFactory, StudyFactory

pytestmark = pytest.mark.django_db

# shared/ lies beside the repository, as settings.py expects for the other data sets.

DICOM_WITH_PATIENT_ID = "693_UNCI.dcm"  # real CT slice; PatientID CQ500-CT-310
DICOM_WITHOUT_PATIENT_ID = "MR_Implicit_Little.dcm"  # real MR slice; its PatientID is absent


def dicom_file(name: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, (DICOM_SAMPLES / name).read_bytes(), content_type="application/dicom")


def writes() -> int:
    """Every service write leaves an audit event other than a read (VIEW) or a refusal (DENIED): this counts writes
    without knowing the tables."""
    return AuditEvent.objects.exclude(action__in=[AuditEvent.Action.VIEW, AuditEvent.Action.DENIED]).count()


# --- the permission matrix -------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    method: str
    url_name: str
    target: str | None = None  # which record of `world` the URL names
    body: Callable[[SimpleNamespace], dict] | None = None
    multipart: bool = False

    def call(self, client: APIClient, world: SimpleNamespace, **extra):
        url = reverse(self.url_name, args=[attrgetter(self.target)(world).pk] if self.target else [])
        if self.method == "get":
            return client.get(url, **extra)
        data = self.body(world) if self.body else {}
        if self.method == "patch":  # edits need If-Match (test_api_conventions); "*" matches any version
            extra = {"HTTP_IF_MATCH": "*", **extra}
        return getattr(client, self.method)(url, data, format="multipart" if self.multipart else "json", **extra)


PATIENT_LIST = Endpoint("get", "api:patient-list")
PATIENT_SEARCH = Endpoint("post", "api:patient-search", body=lambda w: {"query": w.patient.mrn})
PATIENT_CREATE = Endpoint("post", "api:patient-list", body=lambda w: {"site": w.site.pk, "mrn": "N1", "name": "New"})
PATIENT_GET = Endpoint("get", "api:patient-detail", "patient")
PATIENT_EDIT = Endpoint("patch", "api:patient-detail", "patient", body=lambda w: {"name": "Renamed"})
STUDY_LIST = Endpoint("get", "api:study-list")
STUDY_CREATE = Endpoint(
    "post", "api:study-list", body=lambda w: {"patient": w.patient.pk, "modality": "DX", "body_part": "CHEST"}
)
STUDY_GET = Endpoint("get", "api:study-detail", "study")
STUDY_EDIT = Endpoint("patch", "api:study-detail", "study", body=lambda w: {"description": "Follow-up"})
STUDY_IMAGES = Endpoint("get", "api:study-images", "study")
STUDY_UPLOAD = Endpoint(
    "post", "api:study-images", "study", body=lambda w: {"files": [png_file(bright_centre=False)]}, multipart=True
)
DICOM_IMPORT = Endpoint(
    "post",
    "api:import-list",
    body=lambda w: {"site": w.site.pk, "files": [dicom_file(DICOM_WITH_PATIENT_ID)]},
    multipart=True,
)
IMAGE_GET = Endpoint("get", "api:image-detail", "image")
IMAGE_FILE = Endpoint("get", "api:image-file", "image")
IMAGE_PIXELS = Endpoint("get", "api:image-pixels", "dicom_image")
PREDICTION_LIST = Endpoint("get", "api:prediction-list")
PREDICTION_GET = Endpoint("get", "api:prediction-detail", "prediction")
REVIEW_LIST = Endpoint("get", "api:review-list")
REVIEW_CREATE = Endpoint("post", "api:review-list", body=lambda w: {"prediction": w.prediction.pk, "label": "normal"})
AUDIT_LIST = Endpoint("get", "api:audit-event-list")
REVIEW_EXPORT = Endpoint("get", "api:review-export")
PREDICTION_HEATMAP = Endpoint("get", "api:prediction-heatmap", "prediction")
PREDICTION_SR = Endpoint("get", "api:prediction-sr", "prediction")
PREDICTION_SC = Endpoint("get", "api:prediction-sc", "prediction")
REVIEW_SR = Endpoint("get", "api:review-sr", "retraining_item.review")
REVIEW_GET = Endpoint("get", "api:review-detail", "retraining_item.review")
PREDICTION_DELIVERIES = Endpoint("get", "api:prediction-deliveries", "prediction")
DELIVERY_LIST = Endpoint("get", "api:delivery-list")
DELIVERY_GET = Endpoint("get", "api:delivery-detail", "delivery")
DELIVERY_RETRY = Endpoint("post", "api:delivery-retry", "delivery")
MODEL_LIST = Endpoint("get", "api:model-list")
MODEL_GET = Endpoint("get", "api:model-detail", "model_version")
MODEL_PROMOTE = Endpoint("post", "api:model-promote", "model_version", body=lambda w: {"reason": "validated"})
MODEL_SHADOW = Endpoint("post", "api:model-shadow", "candidate")
MODEL_RETIRE = Endpoint("post", "api:model-retire", "candidate")
MODEL_ROLLBACK = Endpoint("post", "api:model-rollback", body=lambda w: {"task": "chest-xray", "reason": "drift"})
MODEL_PERFORMANCE = Endpoint("get", "api:model-performance", "model_version")
MODEL_EVALUATIONS = Endpoint("get", "api:model-evaluations", "model_version")
MODEL_EVALUATE = Endpoint("post", "api:model-evaluate", "candidate")
ITEM_LIST = Endpoint("get", "api:retraining-item-list")
ITEM_GET = Endpoint("get", "api:retraining-item-detail", "retraining_item")
ITEM_EXCLUDE = Endpoint("post", "api:retraining-item-exclude", "retraining_item", body=lambda w: {"reason": "blurred"})
RUN_LIST = Endpoint("get", "api:training-run-list")
RUN_GET = Endpoint("get", "api:training-run-detail", "training_run")
RUN_CREATE = Endpoint("post", "api:training-run-list", body=lambda w: {"task": "chest-xray", "reason": "drift"})
WORKLIST = Endpoint("get", "api:worklist-list")
STUDY_CLAIM = Endpoint("post", "api:study-claim", "study")
STUDY_RELEASE = Endpoint("post", "api:study-release", "study")

# Each endpoint against three personas: the right role at the record's site, another role at that site, and the
# right role at another site. Where every role may act, the "other role" column shows that it is allowed.
# Lists answer 200 to members of any site; that they hold only the caller's sites' rows is tested below.
MATRIX = [
    # (endpoint, (right role, status), (another role at the site, status), (right role at another site, status))
    (PATIENT_LIST, ("clinician", 200), ("radiologist", 200), ("outsider", 200)),
    (PATIENT_SEARCH, ("clinician", 200), ("radiologist", 200), ("outsider", 200)),  # the outsider finds none
    (PATIENT_CREATE, ("clinician", 201), ("radiologist", 403), ("outsider", 404)),
    (PATIENT_GET, ("clinician", 200), ("site_admin", 200), ("outsider", 404)),
    (PATIENT_EDIT, ("clinician", 200), ("radiologist", 403), ("outsider", 404)),
    (STUDY_LIST, ("clinician", 200), ("radiologist", 200), ("outsider", 200)),
    (STUDY_CREATE, ("clinician", 201), ("radiologist", 403), ("outsider", 404)),
    (STUDY_GET, ("clinician", 200), ("radiologist", 200), ("outsider", 404)),
    (STUDY_EDIT, ("clinician", 200), ("site_admin", 403), ("outsider", 404)),
    (STUDY_IMAGES, ("clinician", 200), ("radiologist", 200), ("outsider", 404)),
    (STUDY_UPLOAD, ("clinician", 201), ("radiologist", 403), ("outsider", 404)),
    (DICOM_IMPORT, ("clinician", 201), ("site_admin", 403), ("outsider", 404)),
    (IMAGE_GET, ("clinician", 200), ("radiologist", 200), ("outsider", 404)),
    (IMAGE_FILE, ("clinician", 200), ("site_admin", 200), ("outsider", 404)),
    (IMAGE_PIXELS, ("clinician", 200), ("radiologist", 200), ("outsider", 404)),
    (PREDICTION_LIST, ("radiologist", 200), ("clinician", 200), ("outside_radiologist", 200)),
    (PREDICTION_GET, ("radiologist", 200), ("clinician", 200), ("outside_radiologist", 404)),
    (REVIEW_LIST, ("radiologist", 200), ("clinician", 200), ("outside_radiologist", 200)),
    (REVIEW_CREATE, ("radiologist", 201), ("clinician", 403), ("outside_radiologist", 404)),
    (AUDIT_LIST, ("site_admin", 200), ("clinician", 403), ("outside_admin", 200)),
    (REVIEW_EXPORT, ("radiologist", 200), ("clinician", 200), ("outside_radiologist", 200)),
    (PREDICTION_HEATMAP, ("radiologist", 200), ("clinician", 200), ("outside_radiologist", 404)),
    (PREDICTION_SR, ("radiologist", 200), ("clinician", 200), ("outside_radiologist", 404)),
    (PREDICTION_SC, ("clinician", 200), ("site_admin", 200), ("outsider", 404)),
    (REVIEW_SR, ("radiologist", 200), ("clinician", 200), ("outside_radiologist", 404)),
    (REVIEW_GET, ("radiologist", 200), ("clinician", 200), ("outside_radiologist", 404)),
    # Results routing: every member sees where the site's results went; its admins send a failed one again.
    (PREDICTION_DELIVERIES, ("clinician", 200), ("radiologist", 200), ("outsider", 404)),
    (DELIVERY_LIST, ("site_admin", 200), ("clinician", 200), ("outside_admin", 200)),
    (DELIVERY_GET, ("site_admin", 200), ("radiologist", 200), ("outside_admin", 404)),
    (DELIVERY_RETRY, ("site_admin", 200), ("clinician", 403), ("outside_admin", 404)),
    # The registry is global: every member reads it; only superusers change it (site admins included: 403).
    (MODEL_LIST, ("clinician", 200), ("site_admin", 200), ("outsider", 200)),
    (MODEL_GET, ("clinician", 200), ("radiologist", 200), ("outsider", 200)),
    (MODEL_PROMOTE, ("superuser", 200), ("site_admin", 403), ("clinician", 403)),
    (MODEL_SHADOW, ("superuser", 200), ("site_admin", 403), ("radiologist", 403)),
    (MODEL_RETIRE, ("superuser", 200), ("site_admin", 403), ("radiologist", 403)),
    (MODEL_ROLLBACK, ("superuser", 400), ("site_admin", 403), ("clinician", 403)),
    (MODEL_PERFORMANCE, ("clinician", 200), ("site_admin", 200), ("outsider", 200)),
    (MODEL_EVALUATIONS, ("clinician", 200), ("radiologist", 200), ("outsider", 200)),
    (MODEL_EVALUATE, ("superuser", 400), ("site_admin", 403), ("radiologist", 403)),  # 400: no learning policy
    # The learning loop serves every site's model: superusers only, like the registry's writes.
    (ITEM_LIST, ("superuser", 200), ("site_admin", 403), ("radiologist", 403)),
    (ITEM_GET, ("superuser", 200), ("site_admin", 403), ("outside_admin", 403)),
    (ITEM_EXCLUDE, ("superuser", 200), ("site_admin", 403), ("radiologist", 403)),
    (RUN_LIST, ("superuser", 200), ("site_admin", 403), ("clinician", 403)),
    (RUN_GET, ("superuser", 200), ("site_admin", 403), ("clinician", 403)),
    (RUN_CREATE, ("superuser", 400), ("site_admin", 403), ("radiologist", 403)),  # 400: no learning policy
    # The worklist and its reading claims: radiologists (another site's reader has a worklist of their own).
    (WORKLIST, ("radiologist", 200), ("clinician", 403), ("outside_radiologist", 200)),
    (STUDY_CLAIM, ("radiologist", 200), ("clinician", 403), ("outside_radiologist", 404)),
    (STUDY_RELEASE, ("radiologist", 200), ("clinician", 403), ("outside_radiologist", 404)),
]
ENDPOINTS = [endpoint for endpoint, *_ in MATRIX]


def _label(endpoint: Endpoint) -> str:
    return f"{endpoint.method.upper()} {endpoint.url_name.removeprefix('api:')}"


MATRIX_CASES = [
    pytest.param(endpoint, persona, status, id=f"{_label(endpoint)} as {persona}")
    for endpoint, *personas in MATRIX
    for persona, status in personas
]


@pytest.mark.parametrize(("endpoint", "persona", "status"), MATRIX_CASES)
def test_permission_matrix(request, api, world, endpoint, persona, status):
    client = api(request.getfixturevalue(persona))
    if endpoint.target:
        attrgetter(endpoint.target)(world)  # a record the world makes on first use (the DICOM image) is made first
    before = writes()
    response = endpoint.call(client, world)
    assert response.status_code == status, getattr(response, "data", response)
    if status >= 400:
        assert writes() == before, "a refused request changed something"
    if response.streaming:
        response.close()


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=_label)
def test_anonymous_requests_are_refused(api, world, endpoint):
    response = endpoint.call(api(), world)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


# --- authentication --------------------------------------------------------------------------


def test_token_authentication(world, clinician):
    _, token = ApiToken.objects.create(user=clinician, name="test")
    client = APIClient()
    response = client.get(reverse("api:patient-detail", args=[world.patient.pk]), HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 200
    assert response.json()["mrn"] == world.patient.mrn
    event = AuditEvent.objects.get(action="view", object_type="patient")
    assert event.actor == clinician
    assert client.get(reverse("api:patient-list"), HTTP_AUTHORIZATION="Token not-a-token").status_code == 401


def test_no_endpoint_trades_a_password_for_a_token():
    """Tokens are created by their owner on a signed-in page (with TOTP where the role needs it); a password->token
    endpoint (DRF's or knox's) would skip TOTP."""

    def views(patterns):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from views(pattern.url_patterns)
            elif isinstance(pattern, URLPattern):
                yield getattr(pattern.callback, "cls", None)

    password_to_token = (ObtainAuthToken, KnoxLoginView)
    assert not [view for view in views(get_resolver().url_patterns) if view and issubclass(view, password_to_token)]


def test_browser_upload_with_session_needs_the_csrf_header(world, clinician):
    """The drag-and-drop uploader posts with the session cookie and the page's token in X-CSRFToken."""
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(clinician)
    token = get_random_string(32)  # what the csrftoken cookie holds; the page hands the same secret to scripts
    client.cookies["csrftoken"] = token
    url = reverse("api:study-images", args=[world.study.pk])
    refused = client.post(url, {"files": [png_file(bright_centre=False)]}, format="multipart")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    allowed = client.post(url, {"files": [png_file(bright_centre=False)]}, format="multipart", HTTP_X_CSRFTOKEN=token)
    assert allowed.status_code == 201


# --- uploads ---------------------------------------------------------------------------------


def test_upload_two_images(api, clinician, study):
    files = [png_file("a.png"), png_file("b.png", bright_centre=False)]
    response = api(clinician).post(reverse("api:study-images", args=[study.pk]), {"files": files}, format="multipart")
    assert response.status_code == 201
    body = response.json()
    assert body["errors"] == []
    assert [image["format"] for image in body["images"]] == ["PNG", "PNG"]
    assert set(study.images.values_list("pk", flat=True)) == {image["id"] for image in body["images"]}


def test_upload_keeps_good_files_and_explains_bad_ones(api, clinician, study):
    junk = SimpleUploadedFile("notes.png", b"this is not an image", content_type="image/png")
    response = api(clinician).post(
        reverse("api:study-images", args=[study.pk]), {"files": [png_file("good.png"), junk]}, format="multipart"
    )
    assert response.status_code == 400
    body = response.json()
    assert [image["id"] for image in body["images"]] == list(study.images.values_list("pk", flat=True))
    assert len(body["images"]) == 1
    (error,) = body["errors"]
    assert error["file"] == "notes.png"
    assert "not an image MedSite can read" in error["message"]


def test_dicom_import_creates_patient_and_study(api, clinician, site):
    response = api(clinician).post(
        reverse("api:import-list"), {"site": site.pk, "files": [dicom_file(DICOM_WITH_PATIENT_ID)]}, format="multipart"
    )
    assert response.status_code == 201, response.json()
    (image,) = response.json()["images"]
    assert (image["format"], image["width"], image["height"]) == ("DICOM", 512, 512)
    patient = Patient.objects.get(site=site, mrn="CQ500-CT-310")
    study = Study.objects.get(patient=patient)
    assert (study.pk, study.modality, study.study_instance_uid) == (
        image["study"],
        "CT",
        "1.2.276.0.7230010.3.1.2.296485376.1.1521713414.1800996",
    )


def test_dicom_import_refuses_a_file_without_patient_id(api, clinician, site):
    """MR_Implicit_Little.dcm carries no PatientID, so no patient can be found or created from it."""
    name = DICOM_WITHOUT_PATIENT_ID
    response = api(clinician).post(
        reverse("api:import-list"), {"site": site.pk, "files": [dicom_file(name)]}, format="multipart"
    )
    assert response.status_code == 400
    body = response.json()
    assert body["images"] == [] and body["errors"][0]["file"] == name
    assert (
        body["errors"][0]["message"]
        == f"{name} has no PatientID or StudyInstanceUID; upload it from a study page instead."
    )
    assert not Patient.objects.exists()


def test_import_of_a_png_says_where_to_upload_it(api, clinician, site):
    response = api(clinician).post(
        reverse("api:import-list"), {"site": site.pk, "files": [png_file()]}, format="multipart"
    )
    assert response.status_code == 400
    assert "upload them from a study page" in response.json()["errors"][0]["message"]


# --- records: writes and their validation ------------------------------------------------------


def test_create_patient_and_study(api, clinician, site):
    client = api(clinician)
    response = client.post(
        reverse("api:patient-list"), {"site": site.pk, "mrn": " H-77 ", "name": "Ada", "sex": "F"}, format="json"
    )
    assert response.status_code == 201
    patient = Patient.objects.get(pk=response.json()["id"])
    assert (patient.site, patient.mrn, patient.created_by) == (site, "H-77", clinician)
    response = client.post(
        reverse("api:study-list"), {"patient": patient.pk, "modality": "CR", "body_part": "chest"}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["body_part"] == "CHEST"  # the service's normalisation
    assert AuditEvent.objects.filter(action="create", object_type="study", object_id=str(response.json()["id"]))


def test_duplicate_mrn_is_a_400(api, clinician, patient):
    client = api(clinician)
    create = client.post(
        reverse("api:patient-list"), {"site": patient.site.pk, "mrn": patient.mrn, "name": "Twin"}, format="json"
    )
    assert create.status_code == 400
    other = PatientFactory(site=patient.site)
    edit = client.patch(
        reverse("api:patient-detail", args=[other.pk]), {"mrn": patient.mrn}, format="json", HTTP_IF_MATCH="*"
    )
    assert edit.status_code == 400
    assert "already exists" in str(edit.json())
    other.refresh_from_db()
    assert other.mrn != patient.mrn


def test_a_missing_site_is_a_400_not_a_404(api, clinician):
    response = api(clinician).post(reverse("api:patient-list"), {"mrn": "X", "name": "Y"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"site": ["This field is required."]}


def test_patient_edit_changes_only_given_fields_and_audits_them(api, clinician, patient):
    response = api(clinician).patch(
        reverse("api:patient-detail", args=[patient.pk]), {"sex": "M"}, format="json", HTTP_IF_MATCH="*"
    )
    assert response.status_code == 200
    patient.refresh_from_db()
    assert (patient.sex, response.json()["name"]) == ("M", patient.name)
    assert AuditEvent.objects.get(action="update", object_type="patient").detail == {"fields": ["sex"]}


def test_review_is_recorded(api, radiologist, world):
    response = api(radiologist).post(
        reverse("api:review-list"), {"prediction": world.prediction.pk, "label": "normal", "note": "ok"}, format="json"
    )
    assert response.status_code == 201
    review = Review.objects.get()
    assert (review.decision, review.label, review.reviewer) == ("correct", "normal", radiologist)
    assert response.json()["reviewer"] == radiologist.email


def test_review_with_unknown_label_is_a_400(api, radiologist, world):
    response = api(radiologist).post(
        reverse("api:review-list"), {"prediction": world.prediction.pk, "label": "banana"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"label": ["'banana' is not one of this model's classes: normal, pneumonia"]}
    assert not Review.objects.exists()


# --- image files ----------------------------------------------------------------------------


def test_image_file_is_streamed_privately_and_audited(api, clinician, world):
    response = api(clinician).get(reverse("api:image-file", args=[world.image.pk]), HTTP_ACCEPT="image/png")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Cache-Control"] == "private, no-store"
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")
    event = AuditEvent.objects.get(action="view", object_type="image")
    assert event.detail == {"rendition": "display"}


def test_original_image_is_an_audited_download(api, clinician, world):
    url = reverse("api:image-file", args=[world.image.pk])
    response = api(clinician).get(url, {"rendition": "original"}, HTTP_ACCEPT="application/dicom, image/*")
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="image-{world.image.pk}.png"'
    assert AuditEvent.objects.filter(action="download", object_id=str(world.image.pk)).exists()
    response.close()


@pytest.mark.parametrize(
    ("rendition", "status", "error"),
    [
        ("deidentified", 404, ("This image has no such file.", {})),  # only DICOM uploads have one
        (
            "thumbnail",
            400,
            ('rendition: "thumbnail" is not a valid choice.', {"rendition": ['"thumbnail" is not a valid choice.']}),
        ),
    ],
)
def test_image_file_errors_are_json(api, clinician, world, rendition, status, error):
    url = reverse("api:image-file", args=[world.image.pk])
    response = api(clinician).get(url, {"rendition": rendition}, HTTP_ACCEPT="application/dicom")
    assert (response.status_code, (response.json()["detail"], response.json()["errors"])) == (status, error)
    assert not AuditEvent.objects.filter(object_type="image", action__in=["view", "download"]).exists()


def test_image_metadata(api, clinician, world):
    body = api(clinician).get(reverse("api:image-detail", args=[world.image.pk])).json()
    assert {key: body[key] for key in ("format", "width", "height", "bits", "frames", "sha256")} == {
        "format": "PNG",
        "width": 64,
        "height": 64,
        "bits": 8,
        "frames": 1,
        "sha256": world.image.sha256,
    }
    (prediction,) = body["predictions"]
    assert (prediction["model_version"]["task"], prediction["reviews"]) == ("chest-xray", [])
    assert "original_name" not in body


# --- lists: pagination, filtering, ordering, and only the caller's sites ----------------------


def test_lists_are_paginated(api, clinician, site):
    PatientFactory.create_batch(51, site=site)
    client = api(clinician)
    first = client.get(reverse("api:patient-list")).json()
    assert (first["count"], len(first["results"]), first["previous"]) == (51, 50, None)
    second = client.get(first["next"]).json()
    assert len(second["results"]) == 1
    seen = {row["id"] for row in first["results"] + second["results"]}
    assert seen == set(Patient.objects.values_list("pk", flat=True))


def test_studies_filter_by_modality_and_date(api, clinician, patient):
    StudyFactory(patient=patient, modality="MR", body_part="HEAD", study_date="2024-03-01")
    wanted = StudyFactory(patient=patient, modality="MR", body_part="HEAD", study_date="2024-05-01")
    StudyFactory(patient=patient, modality="CR", study_date="2024-05-02")
    query = {"modality": "MR", "study_date_after": "2024-04-01", "study_date_before": "2024-12-31"}
    body = api(clinician).get(reverse("api:study-list"), query).json()
    assert [row["id"] for row in body["results"]] == [wanted.pk]


def test_patients_search_by_mrn(api, clinician, site, other_site):
    wanted = PatientFactory(site=site, mrn="ZX-991")
    PatientFactory(site=site, mrn="AB-123")
    PatientFactory(site=other_site, mrn="ZX-992")  # another site's: never found
    body = api(clinician).post(reverse("api:patient-search"), {"query": "zx-99"}, format="json").json()
    assert [row["id"] for row in body["results"]] == [wanted.pk]


def test_predictions_order_by_top_probability_and_filter_reviewed(api, clinician, radiologist, world, model_version):
    def predict(size, probabilities):
        image = records.image_upload(study=world.study, file=png_file(size=size), uploaded_by=clinician)
        return Prediction.objects.create(
            image=image, model_version=model_version, label="normal", probabilities=probabilities, inference_ms=1.0
        )

    sure = predict((32, 32), {"normal": 0.97, "pneumonia": 0.03})
    unsure = predict((48, 48), {"normal": 0.55, "pneumonia": 0.45})  # world.prediction's top probability is 0.8
    client = api(radiologist)
    body = client.get(reverse("api:prediction-list"), {"ordering": "-max_probability"}).json()
    assert [row["id"] for row in body["results"]] == [sure.pk, world.prediction.pk, unsure.pk]
    assert [row["max_probability"] for row in body["results"]] == [0.97, 0.8, 0.55]
    Review.objects.create(prediction=unsure, reviewer=radiologist, decision="confirm", label="normal")
    reviewed = client.get(reverse("api:prediction-list"), {"reviewed": "true"}).json()
    assert [row["id"] for row in reviewed["results"]] == [unsure.pk]
    waiting = client.get(reverse("api:prediction-list"), {"reviewed": "false", "task": "chest-xray"}).json()
    assert {row["id"] for row in waiting["results"]} == {sure.pk, world.prediction.pk}


LISTS = [
    ("api:patient-list", "patient"),
    ("api:study-list", "study"),
    ("api:prediction-list", "prediction"),
    ("api:review-list", "review"),
]


@pytest.mark.parametrize(("url_name", "record"), LISTS)
def test_lists_hold_only_the_callers_sites(api, world, other_world, clinician, outsider, url_name, record):
    for here, member in ((world, clinician), (other_world, outsider)):
        here.review = Review.objects.create(
            prediction=here.prediction, reviewer=member, decision="confirm", label="pneumonia"
        )
    for here, member in ((world, clinician), (other_world, outsider)):
        body = api(member).get(reverse(url_name)).json()
        assert [row["id"] for row in body["results"]] == [getattr(here, record).pk]


def test_study_images_hold_only_that_study(api, clinician, world, other_world):
    body = api(clinician).get(reverse("api:study-images", args=[world.study.pk])).json()
    assert [row["id"] for row in body["results"]] == [world.image.pk]


def test_audit_events_are_for_admins_of_their_sites(api, world, other_world, site_admin, outside_admin):
    own = api(site_admin).get(reverse("api:audit-event-list"), {"action": "create", "object_type": "image"}).json()
    assert [row["object_id"] for row in own["results"]] == [str(world.image.pk)]
    theirs = api(outside_admin).get(reverse("api:audit-event-list"), {"object_type": "image"}).json()
    assert [row["object_id"] for row in theirs["results"]] == [str(other_world.image.pk)]


def test_audit_events_filter_by_actor_and_date(api, world, clinician, site_admin):
    client = api(site_admin)
    by_clinician = client.get(reverse("api:audit-event-list"), {"actor_email": clinician.email.upper()}).json()
    assert by_clinician["count"] == 1 and by_clinician["results"][0]["actor_email"] == clinician.email
    assert client.get(reverse("api:audit-event-list"), {"at_before": "2000-01-01"}).json()["count"] == 0


def test_staff_superusers_see_every_event(api, world, other_world, site_admin):
    site_admin.is_staff = site_admin.is_superuser = True
    site_admin.save()
    body = api(site_admin).get(reverse("api:audit-event-list"), {"object_type": "image"}).json()
    assert {row["object_id"] for row in body["results"]} == {str(world.image.pk), str(other_world.image.pk)}


# --- the audit trail of reads -----------------------------------------------------------------


def test_retrieve_is_audited_as_one_view_event(api, clinician, world):
    api(clinician).get(reverse("api:study-detail", args=[world.study.pk]), HTTP_USER_AGENT="Ward-PC")
    event = AuditEvent.objects.get(action="view")
    assert (event.actor, event.site, event.object_type, event.object_id, event.user_agent) == (
        clinician,
        world.site,
        "study",
        str(world.study.pk),
        "Ward-PC",
    )


def test_list_is_audited_as_one_view_event_without_patient_details(api, clinician, world):
    PatientFactory(site=world.site, name="Grace Hopper", mrn="GH-1906")
    response = api(clinician).post(reverse("api:patient-search"), {"query": "Grace"}, format="json")
    assert response.json()["count"] == 1
    event = AuditEvent.objects.get(action="view")
    assert (event.object_type, event.object_id, event.site) == ("patient", "", world.site)
    assert event.detail == {"count": 1, "search": True}
    logged = list(AuditEvent.objects.values_list("detail", "object_id", "user_agent"))
    assert "Grace" not in str(logged) and "GH-1906" not in str(logged)


# --- schema ---------------------------------------------------------------------------------


def test_schema_is_served(client):
    response = client.get(reverse("schema"))
    assert response.status_code == 200
    assert b"/api/v1/studies/{id}/images/" in response.content


def test_schema_validates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))
    assert "/api/v1/audit-events/" in (tmp_path / "schema.yml").read_text()


def test_the_study_list_costs_the_same_queries_for_one_study_or_many(
    api, clinician, radiologist, patient, model_version, settings
):
    settings.MEDSITE_LIST_CACHE_SECONDS = 0  # build every page
    client = api(clinician)
    url = reverse("api:study-list")
    client.get(url)  # the session's first request also records its MFA check

    def listed() -> tuple[int, list]:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200
        return len(queries), response.json()["results"]

    versions = (model_version, shadow_version(model_version))
    reviewed_image(StudyFactory(patient=patient), versions, radiologist, 0)
    one, _ = listed()
    for n in range(1, 6):
        reviewed_image(StudyFactory(patient=patient), versions, radiologist, n)
    many, results = listed()
    assert many == one and len(results) == 6
    for study in results:  # the prefetched rows are the same ones the related managers would give
        [image] = study["images"]
        [prediction] = image["predictions"]  # the shadow one is left out
        assert [r["reviewer"] for r in prediction["reviews"]] == [radiologist.email]
        assert prediction["model_version"]["id"] == model_version.pk


def test_editing_a_study_costs_the_same_queries_for_one_image_or_many(
    api, clinician, radiologist, patient, model_version
):
    client = api(clinician)
    study = StudyFactory(patient=patient)
    url = reverse("api:study-detail", args=[study.pk])
    client.get(url)  # the session's first request also records its MFA check

    def edited(description: str) -> tuple[int, dict]:
        with CaptureQueriesContext(connection) as queries:
            response = client.patch(url, {"description": description}, format="json", HTTP_IF_MATCH="*")
        assert response.status_code == 200
        return len(queries), response.json()

    reviewed_image(study, (model_version,), radiologist, 0)
    one, _ = edited("First")
    for n in range(1, 5):
        reviewed_image(study, (model_version,), radiologist, n)
    many, body = edited("Follow-up")
    assert many == one and body["description"] == "Follow-up" and len(body["images"]) == 5
    assert all(image["predictions"][0]["reviews"][0]["reviewer"] == radiologist.email for image in body["images"])


def test_the_upload_response_costs_the_same_queries_for_one_stored_image_or_many(patient, radiologist, model_version):
    study = StudyFactory(patient=patient)
    images = [reviewed_image(study, (model_version,), radiologist, n) for n in range(5)]

    def responded(stored: list) -> tuple[int, dict]:
        fresh = {image.pk: Image.objects.get(pk=image.pk) for image in stored}  # nothing prefetched yet
        with CaptureQueriesContext(connection) as queries:
            response = store_each(Request(APIRequestFactory().post("/")), list(fresh), lambda pk: fresh[pk])
        assert response.status_code == 201
        return len(queries), response.data

    one, _ = responded(images[:1])
    many, body = responded(images)
    assert many == one and len(body["images"]) == 5
    assert all(image["predictions"][0]["reviews"][0]["reviewer"] == radiologist.email for image in body["images"])
