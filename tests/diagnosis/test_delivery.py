"""Results routing (issue 21, part 3): the AI's SR and heatmap SC, and the final SR, go to the site's PACS over
C-STORE; FHIR reports to its FHIR server. Real peers: dcmtk's storescp receives (its files are read back with
pydicom), an in-process pynetdicom SCP answers chosen statuses, a closed port is a PACS that is down, and a local
http.server is the FHIR server. Tasks run by calling them (apply: Celery's retries run at once, without waiting)."""

import base64
import json
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pydicom
import pytest
import redis
from django.conf import settings
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone
from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import CTImageStorage

from accounts.models import AuditEvent, Role
from diagnosis.models import DicomDestination, FhirServer, ModelVersion, ResultDelivery
from diagnosis.services import delivery
from diagnosis.services.inference import prediction_create
from diagnosis.services.review import review_submit
from diagnosis.tasks import requeue_stalled_deliveries_task, send_result_task
from tests.conftest import png_bytes, with_totp
from tests.diagnosis.test_permission_matrix import with_dicom_image
from tests.factories import MembershipFactory, UserFactory
from tests.medsite.test_settings import PRODUCTION_ENV, _manage

pytestmark = pytest.mark.django_db

SR_CLASS = "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR Storage
SC_CLASS = "1.2.840.10008.5.1.4.1.1.7"  # Secondary Capture Image Storage


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


class StoreSCP:
    """dcmtk's storescp as the PACS, writing what it receives to a folder."""

    def __init__(self, folder, port: int):
        self.folder, self.port = folder, port
        folder.mkdir(exist_ok=True)
        self.process = subprocess.Popen(
            ["storescp", "-aet", "PACS", "-od", str(folder), "-pm", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for_port(port)

    def received(self) -> dict[str, pydicom.Dataset]:
        """What it stored, by SOPInstanceUID."""
        found = [pydicom.dcmread(path) for path in sorted(self.folder.iterdir()) if path.is_file()]
        return {str(ds.SOPInstanceUID): ds for ds in found}

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture
def pacs(tmp_path):
    scp = StoreSCP(tmp_path / "pacs", _free_port())
    yield scp
    scp.stop()


@pytest.fixture
def answering_scp():
    """A pynetdicom storage SCP that answers every C-STORE with `status` (called AE title must be ANSWER)."""
    state = SimpleNamespace(status=0x0000, received=[], port=_free_port())

    def on_store(event):
        state.received.append(str(event.request.AffectedSOPInstanceUID))
        return state.status

    ae = AE(ae_title="ANSWER")
    ae.supported_contexts = AllStoragePresentationContexts
    ae.require_called_aet = True
    ae.maximum_associations = 1
    server = ae.start_server(("127.0.0.1", state.port), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)])
    yield state
    server.shutdown()


def _destination(site, port: int, ae_title: str = "PACS", name: str = "Main PACS", **fields) -> DicomDestination:
    return DicomDestination.objects.create(
        site=site, name=name, ae_title=ae_title, host="127.0.0.1", port=port, calling_ae_title="MEDSITE", **fields
    )


def _predict(image, model_version, heatmap: bool = True):
    return prediction_create(
        image=image,
        model_version=model_version,
        label="pneumonia",
        probabilities={"normal": 0.2, "pneumonia": 0.8},
        threshold=0.5,
        inference_ms=3.0,
        heatmap_png=png_bytes(size=(20, 20)) if heatmap else None,
    )


@pytest.fixture
def dicom_image(world, clinician):
    """MR_small.dcm uploaded: it has its own Study/Series/SOP Instance UIDs."""
    return with_dicom_image(world, clinician).dicom_image


def _send(row: ResultDelivery) -> ResultDelivery:
    send_result_task.apply(kwargs={"delivery_pk": row.pk})
    row.refresh_from_db()
    return row


def _queued_delivery_pks() -> list[int]:
    """The delivery ids of the send_result_task messages waiting in the broker's "default" queue."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    pks = []
    for raw in client.lrange("default", 0, -1):
        message = json.loads(raw)
        if message["headers"].get("task") == "diagnosis.tasks.send_result_task":
            _, kwargs, _ = json.loads(base64.b64decode(message["body"]))
            pks.append(kwargs["delivery_pk"])
    return pks


@pytest.fixture
def empty_default_queue():
    if not settings.CELERY_BROKER_URL.startswith("redis"):
        pytest.skip("reads the Redis broker's queue")
    redis.Redis.from_url(settings.CELERY_BROKER_URL).delete("default")
    yield
    redis.Redis.from_url(settings.CELERY_BROKER_URL).delete("default")


# --- the real PACS receives -------------------------------------------------------------------------------------


def test_a_prediction_reaches_the_pacs_as_sr_and_heatmap_in_the_source_study(
    world, dicom_image, model_version, pacs, empty_default_queue, django_capture_on_commit_callbacks
):
    destination = _destination(world.site, pacs.port)
    with django_capture_on_commit_callbacks(execute=True):
        prediction = _predict(dicom_image, model_version)
    rows = {row.kind: row for row in ResultDelivery.objects.filter(prediction=prediction)}
    assert set(rows) == {"sr", "sc"}
    assert all(row.status == "pending" and row.destination == destination for row in rows.values())
    assert sorted(_queued_delivery_pks()) == sorted(row.pk for row in rows.values())  # on the "default" queue

    sr, sc = _send(rows["sr"]), _send(rows["sc"])

    for row in (sr, sc):
        assert (row.status, row.peer_status, row.attempts, row.error) == ("sent", "0x0000", 1, "")
        assert row.sent_at is not None and row.sop_instance_uid
    received = pacs.received()
    assert set(received) == {sr.sop_instance_uid, sc.sop_instance_uid}
    with dicom_image.file.open("rb") as fh:
        source = pydicom.dcmread(fh, stop_before_pixels=True)
    got_sr, got_sc = received[sr.sop_instance_uid], received[sc.sop_instance_uid]
    assert (got_sr.SOPClassUID, got_sc.SOPClassUID) == (SR_CLASS, SC_CLASS)
    assert got_sr.StudyInstanceUID == got_sc.StudyInstanceUID == source.StudyInstanceUID
    assert got_sr.PatientID == source.PatientID
    assert (got_sr.CompletionFlag, got_sr.VerificationFlag) == ("PARTIAL", "UNVERIFIED")
    assert got_sc.SeriesDescription == "AI heatmap - not for diagnosis"

    events = AuditEvent.objects.filter(action=AuditEvent.Action.SEND, object_type="resultdelivery").order_by("id")
    assert [(e.object_id, e.site_id, e.actor_id) for e in events] == [
        (str(sr.pk), world.site.pk, None),
        (str(sc.pk), world.site.pk, None),
    ]
    assert events[0].detail == {
        "kind": "sr", "destination": "Main PACS", "status": "sent", "peer_status": "0x0000", "attempt": 1
    }  # fmt: skip
    patient = dicom_image.study.patient
    assert not any(patient.mrn in str(e.detail) or patient.name in str(e.detail) for e in events)


def test_a_final_review_sends_the_verified_sr(
    world, dicom_image, model_version, pacs, django_capture_on_commit_callbacks
):
    _destination(world.site, pacs.port, send_preliminary=False)
    prediction = _predict(dicom_image, model_version)
    assert not ResultDelivery.objects.exists()  # preliminary results are not wanted there
    reader = with_totp(MembershipFactory(site=world.site, role=Role.RADIOLOGIST).user)

    with django_capture_on_commit_callbacks(execute=True):
        review = review_submit(prediction=prediction, reviewer=reader, label="normal")
    [row] = ResultDelivery.objects.all()
    assert (row.kind, row.review) == ("final_sr", review)
    row = _send(row)

    assert row.status == "sent"
    got = pacs.received()[row.sop_instance_uid]
    assert (got.SOPClassUID, got.CompletionFlag, got.VerificationFlag) == (SR_CLASS, "COMPLETE", "VERIFIED")
    with dicom_image.file.open("rb") as fh:
        assert got.StudyInstanceUID == pydicom.dcmread(fh, stop_before_pixels=True).StudyInstanceUID


def test_a_first_read_on_a_two_reader_site_sends_nothing_final(world, model_version, pacs):
    world.site.second_reader = True
    world.site.save()
    _destination(world.site, pacs.port, send_preliminary=False)
    reader = with_totp(MembershipFactory(site=world.site, role=Role.RADIOLOGIST).user)
    review_submit(prediction=world.prediction, reviewer=reader, label="normal")
    assert not ResultDelivery.objects.exists()
    second = with_totp(MembershipFactory(site=world.site, role=Role.RADIOLOGIST).user)
    decided = review_submit(prediction=world.prediction, reviewer=second, label="normal")
    assert list(ResultDelivery.objects.values_list("kind", "review")) == [("final_sr", decided.pk)]


# --- what is sent, and only once --------------------------------------------------------------------------------


def test_repeated_triggers_create_nothing_twice_and_a_sent_delivery_is_not_sent_again(
    world, model_version, pacs, empty_default_queue, django_capture_on_commit_callbacks
):
    _destination(world.site, pacs.port)
    with django_capture_on_commit_callbacks(execute=True):
        first = delivery.deliveries_for_prediction(prediction=world.prediction)
        again = delivery.deliveries_for_prediction(prediction=world.prediction)
        same = _predict(world.image, model_version)  # the worker runs the image again: the same prediction
    assert same == world.prediction
    assert len(first) == 2 and again == []
    assert ResultDelivery.objects.count() == 2
    assert sorted(_queued_delivery_pks()) == sorted(row.pk for row in first)  # one message each

    sr = _send(ResultDelivery.objects.get(kind="sr"))
    assert sr.status == "sent"
    assert delivery.delivery_send(delivery_pk=sr.pk) is None  # a duplicate message
    _send(sr)
    sr.refresh_from_db()
    assert sr.attempts == 1 and len(pacs.received()) == 1
    assert AuditEvent.objects.filter(action="send", object_id=str(sr.pk)).count() == 1


def test_who_gets_what(world, model_version, other_site, pacs):
    """Shadow predictions never go; no heatmap, no SC; disabled destinations and other sites' get nothing."""
    _destination(world.site, pacs.port)
    _destination(world.site, pacs.port, name="Off", enabled=False)
    _destination(other_site, pacs.port, name="Theirs")
    FhirServer.objects.create(site=world.site, name="EHR", base_url="http://127.0.0.1:1/fhir")

    rows = delivery.deliveries_for_prediction(prediction=world.prediction)
    assert sorted((r.kind, (r.destination or r.fhir_server).name) for r in rows) == [
        ("fhir", "EHR"), ("sc", "Main PACS"), ("sr", "Main PACS")
    ]  # fmt: skip
    fields = {"label": "normal", "probabilities": {"normal": 0.9, "pneumonia": 0.1}, "threshold": 0.5}
    shadow = prediction_create(
        image=world.image, model_version=world.candidate, inference_ms=1.0, is_shadow=True, **fields
    )
    assert delivery.deliveries_for_prediction(prediction=shadow) == []
    version = ModelVersion.objects.create(
        task="chest-xray", classes=["normal", "pneumonia"], bundle_sha256="e" * 64, image_size=16
    )
    plain = prediction_create(image=world.image, model_version=version, inference_ms=1.0, **fields)
    assert sorted(r.kind for r in delivery.deliveries_for_prediction(prediction=plain)) == ["fhir", "sr"]


# --- the peer's answers -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected", "peer_status", "error"),
    [
        (0xA700, "failed", "0xA700", "The destination refused it: Refused: Out of Resources."),
        (0xC123, "failed", "0xC123", "The destination refused it: Cannot Understand."),
        (0xB000, "sent", "0xB000", "Stored with a warning: Coercion of Data Elements."),
    ],
)
def test_the_peers_dimse_status_decides(world, answering_scp, status, expected, peer_status, error):
    answering_scp.status = status
    _destination(world.site, answering_scp.port, ae_title="ANSWER")
    [sr, _] = sorted(delivery.deliveries_for_prediction(prediction=world.prediction), key=lambda r: r.kind != "sr")

    sr = _send(sr)

    assert (sr.status, sr.peer_status, sr.error, sr.attempts) == (expected, peer_status, error, 1)  # no retry
    assert answering_scp.received == [sr.sop_instance_uid]
    assert (sr.sent_at is not None) == (expected == "sent")
    event = AuditEvent.objects.get(action="send", object_id=str(sr.pk))
    assert (event.detail["status"], event.detail["peer_status"]) == (expected, peer_status)


def test_a_rejected_association_fails_at_once(world, answering_scp):
    _destination(world.site, answering_scp.port, ae_title="WRONG")  # the SCP answers only to ANSWER
    [row, _] = delivery.deliveries_for_prediction(prediction=world.prediction)

    row = _send(row)

    assert (row.status, row.peer_status, row.attempts) == ("failed", "association rejected", 1)
    assert "rejected the association (permanent)" in row.error and answering_scp.received == []


def test_an_object_that_cannot_be_built_fails_at_once_and_logs_no_patient_data(world, answering_scp, caplog):
    _destination(world.site, answering_scp.port, ae_title="ANSWER")
    [sc] = [r for r in delivery.deliveries_for_prediction(prediction=world.prediction) if r.kind == "sc"]
    world.prediction.heatmap.storage.delete(world.prediction.heatmap.name)  # the heatmap file is gone

    sc = _send(sc)

    assert (sc.status, sc.peer_status, sc.attempts) == ("failed", "not sent", 1)
    assert sc.error == "MedSite could not build the DICOM object." and answering_scp.received == []
    logged = caplog.text
    assert f"delivery {sc.pk}" in logged
    assert world.patient.mrn not in logged and world.patient.name not in logged


def test_a_busy_pacs_rejecting_transiently_is_retried_until_the_last_try(world, answering_scp):
    _destination(world.site, answering_scp.port, ae_title="ANSWER")
    holder = AE(ae_title="OTHER")
    holder.add_requested_context(SR_CLASS)
    held = holder.associate("127.0.0.1", answering_scp.port, ae_title="ANSWER")  # the PACS's only association
    assert held.is_established
    try:
        [row, _] = delivery.deliveries_for_prediction(prediction=world.prediction)
        row = _send(row)
    finally:
        held.release()

    assert (row.status, row.peer_status) == ("failed", "association rejected")
    assert row.attempts == settings.MEDSITE_RESULT_SEND_RETRIES + 1 and "(transient)" in row.error


def test_a_pacs_that_does_not_take_the_sop_class_fails_it_at_once(world):
    port = _free_port()
    ae = AE(ae_title="CTONLY")
    ae.add_supported_context(CTImageStorage)
    server = ae.start_server(("127.0.0.1", port), block=False)
    try:
        _destination(world.site, port, ae_title="CTONLY")
        [row] = [r for r in delivery.deliveries_for_prediction(prediction=world.prediction) if r.kind == "sr"]
        row = _send(row)
    finally:
        server.shutdown()
    assert (row.status, row.peer_status, row.attempts) == ("failed", "no presentation context", 1)
    assert row.error == "The destination does not accept Comprehensive 3D SR Storage objects."


def test_a_pacs_that_is_down_is_retried_then_failed_visibly_and_an_admin_sends_it_again(
    world, api, site_admin, tmp_path, empty_default_queue, django_capture_on_commit_callbacks
):
    port = _free_port()  # nothing listens there yet
    _destination(world.site, port)
    [row] = [r for r in delivery.deliveries_for_prediction(prediction=world.prediction) if r.kind == "sr"]

    row = _send(row)

    assert (row.status, row.peer_status) == ("failed", "no answer")
    assert row.attempts == settings.MEDSITE_RESULT_SEND_RETRIES + 1
    assert f"127.0.0.1:{port}" in row.error
    attempts = AuditEvent.objects.filter(action="send", object_id=str(row.pk)).order_by("id")
    assert [e.detail["status"] for e in attempts] == ["pending"] * settings.MEDSITE_RESULT_SEND_RETRIES + ["failed"]
    listed = api(site_admin).get(reverse("api:prediction-deliveries", args=[world.prediction.pk])).json()
    shown = next(d for d in listed if d["id"] == row.pk)
    assert (shown["status"], shown["peer_status"], shown["target"], shown["kind"]) == (
        "failed",
        "no answer",
        "Main PACS",
        "sr",
    )

    pacs = StoreSCP(tmp_path / "pacs", port)  # the PACS is back
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = api(site_admin).post(reverse("api:delivery-retry", args=[row.pk]))
        assert response.status_code == 200 and response.json()["status"] == "pending"
        assert _queued_delivery_pks() == [row.pk]
        row = _send(row)
        assert (row.status, row.peer_status) == ("sent", "0x0000")
        assert set(pacs.received()) == {row.sop_instance_uid}
    finally:
        pacs.stop()
    requested = AuditEvent.objects.get(action="send", object_id=str(row.pk), actor=site_admin)
    assert requested.detail["status"] == "requested again"


def test_a_transient_failure_leaves_it_pending_for_celerys_retry(world):
    _destination(world.site, _free_port())
    [row, _] = delivery.deliveries_for_prediction(prediction=world.prediction)
    with pytest.raises(delivery.DeliveryRetry):
        delivery.delivery_send(delivery_pk=row.pk, last_try=False)
    row.refresh_from_db()
    assert (row.status, row.attempts, row.peer_status, row.claimed_at) == ("pending", 1, "no answer", None)


# --- the API ----------------------------------------------------------------------------------------------------


@pytest.fixture
def failed(world):
    destination = _destination(world.site, 1)
    return ResultDelivery.objects.create(
        key="x", site=world.site, destination=destination, kind="sr", prediction=world.prediction,
        status="failed", attempts=9, peer_status="no answer", error="No DICOM answer from 127.0.0.1:1.",
    )  # fmt: skip


def test_retry_is_for_the_sites_admins(api, world, failed, clinician, outside_admin, site_admin):
    url = reverse("api:delivery-retry", args=[failed.pk])
    assert api(clinician).post(url).status_code == 403
    assert api(outside_admin).post(url).status_code == 404
    denied = AuditEvent.objects.filter(action="denied", object_type="resultdelivery", object_id=str(failed.pk))
    assert sorted(e.detail["status"] for e in denied) == [403, 404]
    failed.refresh_from_db()
    assert failed.status == "failed"

    assert api(site_admin).post(url).status_code == 200
    response = api(site_admin).post(url)  # it is pending now
    assert response.status_code == 409 and "Only a failed delivery" in response.json()["detail"]


def test_the_lists_are_site_scoped_and_audited(api, world, failed, clinician, outside_admin):
    own = api(clinician).get(reverse("api:delivery-list"), {"status": "failed"}).json()
    assert [row["id"] for row in own["results"]] == [failed.pk]
    assert api(outside_admin).get(reverse("api:delivery-list")).json()["results"] == []
    assert api(outside_admin).get(reverse("api:delivery-detail", args=[failed.pk])).status_code == 404
    assert api(outside_admin).get(reverse("api:prediction-deliveries", args=[world.prediction.pk])).status_code == 404
    rows = api(clinician).get(reverse("api:prediction-deliveries", args=[world.prediction.pk])).json()
    assert rows[0]["error"] == "No DICOM answer from 127.0.0.1:1." and rows[0]["attempts"] == 9
    views = AuditEvent.objects.filter(actor=clinician, action="view", object_type="resultdelivery")
    assert [(e.site_id, e.detail["count"]) for e in views.order_by("id")] == [(world.site.pk, 1), (world.site.pk, 1)]


# --- the sweep --------------------------------------------------------------------------------------------------


def test_the_sweep_resends_lost_messages_and_dead_workers_claims_only(world, empty_default_queue):
    _destination(world.site, 1)
    sr, sc = sorted(delivery.deliveries_for_prediction(prediction=world.prediction), key=lambda r: r.kind)
    now = timezone.now()
    long_ago = now - timezone.timedelta(seconds=settings.MEDSITE_RESULT_RESEND_AFTER + 1)
    ResultDelivery.objects.filter(pk=sr.pk).update(queued_at=long_ago)  # its message was lost
    assert requeue_stalled_deliveries_task() == 1
    assert _queued_delivery_pks() == [sr.pk]
    assert requeue_stalled_deliveries_task() == 0  # queued again just now

    dead = now - timezone.timedelta(seconds=delivery.claim_lease_s() + 1)
    ResultDelivery.objects.filter(pk=sc.pk).update(claimed_at=dead)  # its worker died while sending
    ResultDelivery.objects.filter(pk=sr.pk).update(claimed_at=now)  # being sent right now
    assert requeue_stalled_deliveries_task() == 1
    sc.refresh_from_db()
    assert sc.claimed_at is None and sorted(_queued_delivery_pks()) == sorted([sr.pk, sc.pk])


# --- FHIR, end to end against a local server --------------------------------------------------------------------


class FhirHandler(BaseHTTPRequestHandler):
    answers: list[int] = []
    requests: list[dict] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        FhirHandler.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        status = FhirHandler.answers.pop(0) if FhirHandler.answers else 200
        payload = json.dumps({"resourceType": "Bundle", "type": "transaction-response"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def fhir_server():
    if delivery.fhir is None:
        pytest.skip("diagnosis/fhir.py is not in this checkout")
    FhirHandler.answers, FhirHandler.requests = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FhirHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/fhir"
    server.shutdown()


def test_fhir_reports_are_pushed_preliminary_then_final(world, fhir_server, django_capture_on_commit_callbacks):
    FhirServer.objects.create(site=world.site, name="EHR", base_url=fhir_server, authorization="Bearer s3cret")
    FhirHandler.answers = [503, 200]  # the first try meets a busy server
    [row] = delivery.deliveries_for_prediction(prediction=world.prediction)

    row = _send(row)

    assert (row.status, row.peer_status, row.attempts) == ("sent", "200", 2)
    assert [r["auth"] for r in FhirHandler.requests] == ["Bearer s3cret"] * 2
    bundle = json.loads(FhirHandler.requests[-1]["body"])
    reports = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "DiagnosticReport"]
    assert [r["status"] for r in reports] == ["preliminary"]

    reader = with_totp(MembershipFactory(site=world.site, role=Role.RADIOLOGIST).user)
    FhirHandler.answers = [400]  # the server refuses the final one: not retried
    with django_capture_on_commit_callbacks(execute=True):
        review_submit(prediction=world.prediction, reviewer=reader, label="normal")
    final = _send(ResultDelivery.objects.get(review__isnull=False))
    assert (final.status, final.peer_status, final.attempts) == ("failed", "400", 1)
    assert "HTTP 400" in final.error
    bundle = json.loads(FhirHandler.requests[-1]["body"])
    assert [
        e["resource"]["status"] for e in bundle["entry"] if e["resource"]["resourceType"] == "DiagnosticReport"
    ] == ["final"]


# --- what people see --------------------------------------------------------------------------------------------


def test_the_study_page_says_where_each_result_went(client, world, clinician):
    failed = world.delivery
    ResultDelivery.objects.create(
        key="sc", site=world.site, destination=failed.destination, kind="sc", prediction=world.prediction,
        status="sent", attempts=1, peer_status="0x0000",
    )  # fmt: skip
    client.force_login(clinician)
    body = client.get(reverse("diagnosis:study_detail", args=[world.study.pk])).content.decode()
    assert "Sent to Main PACS:" in body
    assert "SR <strong>failed</strong> (No DICOM answer from 127.0.0.1:1.), heatmap ✓" in body

    ResultDelivery.objects.filter(pk=failed.pk).update(status="pending")  # Celery tries again
    body = client.get(reverse("diagnosis:study_results", args=[world.study.pk])).content.decode()
    assert "SR not yet (No DICOM answer from 127.0.0.1:1.) · retrying, heatmap ✓" in body


def test_a_study_page_without_destinations_says_nothing_of_sending(client, world, clinician):
    client.force_login(clinician)
    body = client.get(reverse("diagnosis:study_detail", args=[world.study.pk])).content.decode()
    assert 'data-testid="deliveries"' not in body


def _staff_site_admin(site):
    user = with_totp(MembershipFactory(site=site, role=Role.ADMIN, user__is_staff=True).user)
    user.user_permissions.add(Permission.objects.get(codename="view_resultdelivery"))
    return user


def test_a_site_admin_sends_failed_deliveries_again_from_django_admin(
    client, world, django_capture_on_commit_callbacks
):
    admin_user = _staff_site_admin(world.site)
    failed = world.delivery
    sent = ResultDelivery.objects.create(
        key="sc", site=world.site, destination=failed.destination, kind="sc", prediction=world.prediction,
        status="sent", attempts=1, peer_status="0x0000",
    )  # fmt: skip
    client.force_login(admin_user)
    url = reverse("admin:diagnosis_resultdelivery_changelist")
    assert client.get(url).status_code == 200

    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(url, {"action": "send_again", "_selected_action": [failed.pk, sent.pk]}, follow=True)
    body = response.content.decode()
    assert f"Delivery {failed.pk} is queued to be sent again." in body
    assert f"Delivery {sent.pk}: Only a failed delivery can be sent again; this one is sent." in body
    failed.refresh_from_db()
    assert failed.status == "pending" and len(callbacks) == 1
    event = AuditEvent.objects.get(action="send", actor=admin_user)
    assert (event.object_id, event.detail["status"]) == (str(failed.pk), "requested again")


def test_a_superuser_without_the_admin_role_cannot_send_again(client, world):
    superuser = with_totp(UserFactory(is_superuser=True, is_staff=True))
    MembershipFactory(site=world.site, user=superuser, role=Role.CLINICIAN)
    client.force_login(superuser)
    url = reverse("admin:diagnosis_resultdelivery_changelist")
    response = client.post(url, {"action": "send_again", "_selected_action": [world.delivery.pk]}, follow=True)
    assert "Only an admin of this site may send a result again." in response.content.decode()
    world.delivery.refresh_from_db()
    assert world.delivery.status == "failed"


def test_a_fhir_servers_authorization_is_never_shown_or_audited(client, site):
    superuser = with_totp(UserFactory(is_superuser=True, is_staff=True))
    client.force_login(superuser)
    form = {"site": site.pk, "name": "EHR", "base_url": "https://ehr.example.org/fhir", "enabled": "on"}
    response = client.post(reverse("admin:diagnosis_fhirserver_add"), form | {"authorization": "Bearer s3cret"})
    assert response.status_code == 302
    server = FhirServer.objects.get()
    assert server.authorization == "Bearer s3cret"

    change = reverse("admin:diagnosis_fhirserver_change", args=[server.pk])
    assert "s3cret" not in client.get(change).content.decode()
    assert client.post(change, form | {"name": "Main EHR", "authorization": ""}).status_code == 302
    server.refresh_from_db()
    assert (server.name, server.authorization) == ("Main EHR", "Bearer s3cret")  # blank keeps it
    assert client.post(change, form | {"authorization": "Bearer n3w"}).status_code == 302
    server.refresh_from_db()
    assert server.authorization == "Bearer n3w"
    assert client.post(change, form | {"clear_authorization": "on"}).status_code == 302
    server.refresh_from_db()
    assert server.authorization == ""

    events = AuditEvent.objects.filter(object_type="fhirserver").order_by("id")
    assert [e.action for e in events] == ["create", "update", "update", "update"]
    assert "s3cret" not in str([e.detail for e in events]) and "n3w" not in str([e.detail for e in events])
    assert events[0].detail["fields"]["authorization"] == "(changed)"
    assert "authorization" not in events[1].detail["fields"]  # left blank: unchanged


# --- settings ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MEDSITE_DICOM_SEND_TIMEOUT": "0"}, "MEDSITE_DICOM_SEND_TIMEOUT must be between 1 and 600 seconds"),
        ({"MEDSITE_DICOM_SEND_TIMEOUT": "ten"}, "MEDSITE_DICOM_SEND_TIMEOUT must be an integer"),
        ({"MEDSITE_RESULT_SEND_RETRIES": "-1"}, "MEDSITE_RESULT_SEND_RETRIES must be between 0 and 50"),
        ({"MEDSITE_RESULT_RESEND_AFTER": "60"}, "MEDSITE_RESULT_RESEND_AFTER must be at least 400 seconds"),
    ],
)
def test_malformed_sending_settings_are_refused(env, message):
    result = _manage("check", env=PRODUCTION_ENV | env)
    assert result.returncode != 0 and message in result.stderr


def test_a_long_send_timeout_lengthens_the_resend_wait_by_itself():
    result = _manage("shell", "-c", "from django.conf import settings; print(settings.MEDSITE_RESULT_RESEND_AFTER)",
                     env=PRODUCTION_ENV | {"MEDSITE_DICOM_SEND_TIMEOUT": "600"})  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == str(300 + 60 + 4 * 600)
