"""The REST API's conventions (issue 22, items 2 and 3): filters that mean what they say, pagination, Location on
201, ETags with If-None-Match and If-Match, Idempotency-Key on creates, the duplicate upload's 409, status reasons,
and what became of retraining items. docs/api.md describes each for integrators."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from accounts.models import AuditEvent, Role
from diagnosis import task_names, tasks
from diagnosis.api.conventions import request_fingerprint
from diagnosis.models import IdempotencyRecord, Image, LearningPolicy, Patient, Review, Study, TrainingRun
from diagnosis.services.idempotency import idempotency_records_purge
from tests.conftest import with_totp
from tests.diagnosis.conftest import png_file
from tests.factories import MembershipFactory, PatientFactory, StudyFactory

pytestmark = pytest.mark.django_db


def url(name: str, *args) -> str:
    return reverse(f"api:{name}", args=args)


# --- filters that mean what they say --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["study", "prediction", "review", "retraining-item", "training-run", "audit-event"])
def test_search_is_refused_where_no_search_is_offered(api, clinician, superuser, world, name):
    """?search= used to return every row on these lists; now it is an unknown parameter (400), and the schema no
    longer advertises it."""
    user = superuser if name in ("retraining-item", "training-run", "audit-event") else clinician
    response = api(user).get(url(f"{name}-list"), {"search": "zzzz"})
    assert response.status_code == 400
    assert "search" in str(response.json())


def test_search_on_models_matches_the_task_or_the_bundle_hash(api, clinician, world):
    client = api(clinician)
    assert client.get(url("model-list"), {"search": "zzzz"}).json()["count"] == 0
    assert client.get(url("model-list"), {"search": "chest"}).json()["count"] == 2
    by_hash = client.get(url("model-list"), {"search": world.candidate.bundle_sha256}).json()["results"]
    assert [row["id"] for row in by_hash] == [world.candidate.pk]


@pytest.mark.parametrize("value", ["0", "1", "no", "yes", "maybe"])
def test_booleans_take_only_true_or_false(api, radiologist, world, value):
    response = api(radiologist).get(url("prediction-list"), {"reviewed": value})
    assert response.status_code == 400
    assert "true or false" in str(response.json())


def test_boolean_filters_still_filter(api, radiologist, world):
    client = api(radiologist)
    assert client.get(url("prediction-list"), {"reviewed": "false"}).json()["count"] == 1
    assert client.get(url("prediction-list"), {"reviewed": "true"}).json()["count"] == 0


def test_unknown_query_parameters_are_refused(api, clinician, world):
    client = api(clinician)
    response = client.get(url("study-list"), {"modalty": "DX"})  # misspelt: used to return every study
    assert response.status_code == 400
    assert "modalty" in str(response.json()) and "modality" in str(response.json())
    known = {"modality": "DX", "study_date_after": "2020-01-01", "page": "1", "page_size": "10", "format": "json"}
    assert client.get(url("study-list"), known).status_code == 200


def test_unknown_orderings_are_refused(api, clinician, world):
    client = api(clinician)
    response = client.get(url("patient-list"), {"ordering": "-mrn,secret"})
    assert response.status_code == 400
    assert "secret" in str(response.json())
    assert client.get(url("patient-list"), {"ordering": "-mrn,name"}).status_code == 200


def test_page_size_is_honoured_up_to_the_maximum(api, clinician, site):
    PatientFactory.create_batch(3, site=site)
    client = api(clinician)
    first = client.get(url("patient-list"), {"page_size": 2}).json()
    assert (first["count"], len(first["results"])) == (3, 2) and "page_size=2" in first["next"]
    for bad in ("201", "0", "-1", "ten"):
        assert client.get(url("patient-list"), {"page_size": bad}).status_code == 400
    assert len(client.get(url("patient-list"), {"page_size": 200}).json()["results"]) == 3


def test_a_page_past_the_end_is_empty_and_points_back_to_the_last(api, clinician, site):
    PatientFactory.create_batch(3, site=site)
    client = api(clinician)
    response = client.get(url("patient-list"), {"page_size": 2, "page": 5})
    assert response.status_code == 200
    body = response.json()
    assert (body["count"], body["results"], body["next"]) == (3, [], None)
    assert "page=2" in body["previous"]
    assert client.get(url("patient-list"), {"page": "two"}).status_code == 400


def test_audit_events_answer_who_accessed_a_record(api, clinician, radiologist, site_admin, patient, study):
    api(clinician).get(url("patient-detail", patient.pk))
    api(radiologist).get(url("patient-detail", patient.pk))
    api(radiologist).get(url("study-detail", study.pk))
    client = api(site_admin)
    query = {"object_type": "patient", "object_id": str(patient.pk), "action": "view"}
    rows = client.get(url("audit-event-list"), query).json()["results"]
    assert sorted(row["actor_email"] for row in rows) == sorted([clinician.email, radiologist.email])
    mine = client.get(url("audit-event-list"), {**query, "actor": radiologist.pk}).json()["results"]
    assert [row["actor_email"] for row in mine] == [radiologist.email]
    later = (timezone.now() + timedelta(minutes=1)).isoformat()
    assert client.get(url("audit-event-list"), {**query, "since": later}).json()["count"] == 0
    assert client.get(url("audit-event-list"), {**query, "until": later}).json()["count"] == 2
    assert client.get(url("audit-event-list"), {"since": "yesterday"}).status_code == 400


# --- Location on 201 ------------------------------------------------------------------------------------


def test_creates_answer_with_the_new_records_location(api, clinician, radiologist, superuser, site, world):
    client = api(clinician)
    patient = client.post(url("patient-list"), {"site": site.pk, "mrn": "L1", "name": "New"}, format="json")
    assert patient["Location"] == f"http://testserver{url('patient-detail', patient.json()['id'])}"
    assert client.get(patient["Location"]).json() == patient.json()
    study_body = {"patient": patient.json()["id"], "modality": "DX", "body_part": "CHEST"}
    study = client.post(url("study-list"), study_body, format="json")
    assert study["Location"].endswith(url("study-detail", study.json()["id"]))
    upload = client.post(url("study-images", study.json()["id"]), {"files": [png_file()]}, format="multipart")
    assert upload["Location"].endswith(url("image-detail", upload.json()["images"][0]["id"]))
    two = client.post(
        url("study-images", study.json()["id"]),
        {"files": [png_file("a.png", size=(40, 40)), png_file("b.png", size=(41, 41))]},
        format="multipart",
    )
    assert two.status_code == 201 and two["Location"].endswith(url("study-images", study.json()["id"]))
    review = api(radiologist).post(
        url("review-list"), {"prediction": world.prediction.pk, "label": "normal"}, format="json"
    )
    assert review["Location"].endswith(url("review-detail", review.json()["id"]))
    assert api(radiologist).get(review["Location"]).json()["label"] == "normal"
    LearningPolicy.objects.create(task="chest-xray", base_dataset="/data/chest.npz")
    run = api(superuser).post(url("training-run-list"), {"task": "chest-xray"}, format="json")
    assert run["Location"].endswith(url("training-run-detail", run.json()["id"]))


# --- ETags ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["patient", "study", "image", "prediction", "model"])
def test_single_records_carry_a_strong_etag_and_answer_304_when_unchanged(api, clinician, world, name):
    target = {"patient": world.patient, "study": world.study, "image": world.image}.get(name)
    target = target or {"prediction": world.prediction, "model": world.model_version}[name]
    client = api(clinician)
    first = client.get(url(f"{name}-detail", target.pk))
    tag = first["ETag"]
    assert tag.startswith('"') and not tag.startswith("W/")
    again = client.get(url(f"{name}-detail", target.pk), HTTP_IF_NONE_MATCH=tag)
    assert (again.status_code, again.content, again["ETag"]) == (304, b"", tag)
    assert client.get(url(f"{name}-detail", target.pk), HTTP_IF_NONE_MATCH='"other"').status_code == 200


def test_an_etag_changes_with_the_record(api, clinician, patient):
    client = api(clinician)
    tag = client.get(url("patient-detail", patient.pk))["ETag"]
    Patient.objects.filter(pk=patient.pk).update(name="Someone Else")
    response = client.get(url("patient-detail", patient.pk), HTTP_IF_NONE_MATCH=tag)
    assert response.status_code == 200 and response["ETag"] != tag


@pytest.mark.parametrize(
    ("name", "change"), [("patient", {"name": "Renamed"}), ("study", {"description": "Follow-up"})]
)
def test_patch_needs_the_current_etag_in_if_match(api, clinician, study, name, change):
    record = study if name == "study" else study.patient
    client = api(clinician)
    detail = url(f"{name}-detail", record.pk)
    tag = client.get(detail)["ETag"]
    missing = client.patch(detail, change, format="json")
    assert missing.status_code == 428
    stale = client.patch(detail, change, format="json", HTTP_IF_MATCH='"stale"')
    assert stale.status_code == 412
    record.refresh_from_db()
    assert all(getattr(record, field) != value for field, value in change.items())  # neither changed it
    done = client.patch(detail, change, format="json", HTTP_IF_MATCH=tag)
    assert done.status_code == 200 and done["ETag"] != tag
    assert done["ETag"] == client.get(detail)["ETag"]
    lost_update = client.patch(detail, {**change}, format="json", HTTP_IF_MATCH=tag)  # a second edit from the old read
    assert lost_update.status_code == 412


def test_if_match_comes_after_the_permission_check(api, outsider, radiologist, patient):
    assert api(outsider).patch(url("patient-detail", patient.pk), {"name": "X"}, format="json").status_code == 404
    assert api(radiologist).patch(url("patient-detail", patient.pk), {"name": "X"}, format="json").status_code == 403


# --- Idempotency-Key -----------------------------------------------------------------------------------------


def test_a_retry_with_the_same_idempotency_key_gets_the_first_answer(api, clinician, patient):
    client = api(clinician)
    body = {"patient": patient.pk, "modality": "DX", "body_part": "CHEST"}
    first = client.post(url("study-list"), body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    retry = client.post(url("study-list"), body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json() == first.json() and retry["Location"] == first["Location"]
    assert retry["Idempotent-Replayed"] == "true" and not first.has_header("Idempotent-Replayed")
    assert Study.objects.filter(patient=patient).count() == 1
    other = client.post(url("study-list"), body, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert other.status_code == 201 and Study.objects.filter(patient=patient).count() == 2


def test_the_same_idempotency_key_with_another_body_is_422(api, clinician, site):
    client = api(clinician)
    client.post(
        url("patient-list"), {"site": site.pk, "mrn": "I1", "name": "A"}, format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    reused = client.post(
        url("patient-list"), {"site": site.pk, "mrn": "I2", "name": "B"}, format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert reused.status_code == 422
    assert list(Patient.objects.filter(site=site).values_list("mrn", flat=True)) == ["I1"]


def test_idempotency_keys_belong_to_their_user(api, clinician, site):
    body = {"site": site.pk, "mrn": "U1", "name": "A"}
    api(clinician).post(url("patient-list"), body, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    colleague = with_totp(MembershipFactory(site=site, role=Role.CLINICIAN).user)
    theirs = api(colleague).post(
        url("patient-list"), {**body, "mrn": "U2"}, format="json", HTTP_IDEMPOTENCY_KEY="shared"
    )
    assert theirs.status_code == 201 and theirs.json()["mrn"] == "U2"
    assert Patient.objects.filter(mrn__in=["U1", "U2"]).count() == 2


def test_an_upload_retried_with_its_key_is_not_a_duplicate(api, clinician, study):
    client = api(clinician)
    first = client.post(
        url("study-images", study.pk), {"files": [png_file()]}, format="multipart", HTTP_IDEMPOTENCY_KEY="u"
    )
    retry = client.post(
        url("study-images", study.pk), {"files": [png_file()]}, format="multipart", HTTP_IDEMPOTENCY_KEY="u"
    )
    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json() == first.json() and study.images.count() == 1


def test_a_retry_while_the_first_is_still_running_is_409_and_creates_nothing(api, clinician, patient):
    """Two concurrent requests with one key: the second finds the first's row (the unique constraint) still
    without an answer, and creates nothing."""
    body = {"patient": patient.pk, "modality": "DX", "body_part": "CHEST"}
    raw = APIRequestFactory().post(url("study-list"), body, format="json")
    in_flight = Request(raw, parsers=[JSONParser()])
    IdempotencyRecord.objects.create(
        user=clinician, key="busy", method="POST", path=url("study-list"), request_hash=request_fingerprint(in_flight)
    )
    response = api(clinician).post(url("study-list"), body, format="json", HTTP_IDEMPOTENCY_KEY="busy")
    assert response.status_code == 409
    assert not Study.objects.filter(patient=patient).exists()


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_requests_with_one_key_create_once(api, clinician, patient):
    """Two threads (two database connections) send the same create with the same key at the same moment: the unique
    constraint lets one create; the other is told 409 (still running) or gets the first answer replayed."""
    body = {"patient": patient.pk, "modality": "DX", "body_part": "CHEST"}
    clients = [api(clinician), api(clinician)]
    start = threading.Barrier(2)

    def send(client):
        start.wait()
        try:
            return client.post(url("study-list"), body, format="json", HTTP_IDEMPOTENCY_KEY="race").status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        statuses = sorted(pool.map(send, clients))
    assert statuses in ([201, 201], [201, 409])
    assert Study.objects.filter(patient=patient).count() == 1


def test_a_failed_first_attempt_keeps_no_answer(api, clinician, site):
    client = api(clinician)
    refused = client.post(
        url("patient-list"), {"site": site.pk, "name": "No MRN"}, format="json", HTTP_IDEMPOTENCY_KEY="f"
    )
    assert refused.status_code == 400 and not IdempotencyRecord.objects.exists()
    fixed = client.post(
        url("patient-list"), {"site": site.pk, "name": "No MRN", "mrn": "F1"}, format="json", HTTP_IDEMPOTENCY_KEY="f"
    )
    assert fixed.status_code == 201


def test_answers_are_kept_24_hours(api, clinician, patient):
    client = api(clinician)
    body = {"patient": patient.pk, "modality": "DX", "body_part": "CHEST"}
    client.post(url("study-list"), body, format="json", HTTP_IDEMPOTENCY_KEY="old")
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))
    again = client.post(url("study-list"), body, format="json", HTTP_IDEMPOTENCY_KEY="old")
    assert again.status_code == 201 and not again.has_header("Idempotent-Replayed")
    assert Study.objects.filter(patient=patient).count() == 2
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))
    assert idempotency_records_purge() == 1 and not IdempotencyRecord.objects.exists()


def test_celery_beat_forgets_idempotency_answers_after_24_hours(api, clinician, site, settings):
    client = api(clinician)
    for key in ("a", "b"):
        body = {"site": site.pk, "mrn": key, "name": "A"}
        client.post(url("patient-list"), body, format="json", HTTP_IDEMPOTENCY_KEY=key)
    IdempotencyRecord.objects.filter(key="a").update(created_at=timezone.now() - timedelta(hours=24, seconds=1))
    schedule = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert task_names.PURGE_IDEMPOTENCY_TASK in schedule
    assert tasks.purge_idempotency_records_task() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["b"]


def test_a_malformed_idempotency_key_is_400(api, clinician, site):
    body = {"site": site.pk, "mrn": "M1", "name": "A"}
    response = api(clinician).post(url("patient-list"), body, format="json", HTTP_IDEMPOTENCY_KEY="x" * 256)
    assert response.status_code == 400 and not Patient.objects.filter(mrn="M1").exists()


# --- duplicates, status reasons, retraining items ----------------------------------------------------------


def test_a_duplicate_file_is_409_with_the_existing_image(api, clinician, study):
    client = api(clinician)
    first = client.post(url("study-images", study.pk), {"files": [png_file()]}, format="multipart")
    again = client.post(url("study-images", study.pk), {"files": [png_file("copy.png")]}, format="multipart")
    assert again.status_code == 409
    [error] = again.json()["errors"]
    existing = first.json()["images"][0]["id"]
    assert error["image"] == existing and error["existing"].endswith(url("image-detail", existing))
    assert "already in this study" in error["message"]
    mixed = client.post(
        url("study-images", study.pk), {"files": [png_file(), SimpleUploadedFile("empty.png", b"")]}, format="multipart"
    )
    assert mixed.status_code == 400  # another kind of refusal among them: not only duplicates


def test_no_model_is_a_status_reason_not_a_failure_reason(api, clinician, study):
    no_model = StudyFactory(patient=study.patient).images.create(
        file="images/n.png", original_name="n.png", format="PNG", width=8, height=8, bits=8, sha256="1" * 64,
        status=Image.Status.NO_MODEL, failure_reason="No active model reads this kind of image.",
    )  # fmt: skip
    failed = study.images.create(
        file="images/f.png", original_name="f.png", format="PNG", width=8, height=8, bits=8, sha256="2" * 64,
        status=Image.Status.FAILED, failure_reason="The image could not be decoded.",
    )  # fmt: skip
    client = api(clinician)
    body = client.get(url("image-detail", no_model.pk)).json()
    assert (body["status_reason"], body["failure_reason"]) == ("No active model reads this kind of image.", "")
    body = client.get(url("image-detail", failed.pk)).json()
    assert body["status_reason"] == body["failure_reason"] == "The image could not be decoded."


def test_retraining_items_say_which_runs_used_them_and_whether_superseded(api, superuser, world):
    item = world.retraining_item
    client = api(superuser)
    body = client.get(url("retraining-item-detail", item.pk)).json()
    assert (body["superseded"], body["used_in_runs"]) == (False, [])
    run = TrainingRun.objects.create(task="chest-xray", source="x", data_manifest=[{"item": item.pk, "label": "p"}])
    TrainingRun.objects.create(task="chest-xray", source="x", data_manifest=[{"item": item.pk + 1000}])
    Review.objects.create(prediction=item.review.prediction, reviewer=superuser, decision="uncertain", label="")
    [listed] = client.get(url("retraining-item-list")).json()["results"]
    assert (listed["superseded"], listed["used_in_runs"]) == (True, [run.pk])


def test_reads_of_single_records_are_still_audited_when_304(api, clinician, patient):
    client = api(clinician)
    tag = client.get(url("patient-detail", patient.pk))["ETag"]
    client.get(url("patient-detail", patient.pk), HTTP_IF_NONE_MATCH=tag)
    assert AuditEvent.objects.filter(action="view", object_type="patient", object_id=str(patient.pk)).count() == 2
