"""The DICOM receiver, live: the listener runs in this process on a free port, and a pynetdicom SCU (and dcmtk's
storescu/echoscu, when installed) sends to it over TCP. Rows are committed (transaction=True) so that the
listener's association threads, on their own database connections, see them."""

import shutil
import subprocess
import threading
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pydicom
import pytest
from django.db import connection
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import BasicTextSRStorage, CTImageStorage, Verification

from accounts.models import AuditEvent
from diagnosis import dicom_listener
from diagnosis.models import DicomNode, DicomPeer, Image, Patient, Study
from diagnosis.services import records
from tests.factories import SiteFactory
from tests.live import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

CT_SMALL = get_testdata_file("CT_small.dcm")


@pytest.fixture
def queued(monkeypatch):
    """The image_pks sent to the inference queue (instead of the broker)."""
    sent: list[int] = []
    monkeypatch.setattr(
        records, "current_app", SimpleNamespace(send_task=lambda name, kwargs: sent.append(kwargs["image_pk"]))
    )
    return sent


@pytest.fixture
def receiver(queued):
    """A site reached as MEDSITE, STORESCU allowed from 127.0.0.1, and the listener on a free port."""
    site = SiteFactory(name="Receiving Hospital")
    DicomNode.objects.create(ae_title="MEDSITE", site=site)
    DicomPeer.objects.create(site=site, ae_title="STORESCU", ip="127.0.0.1")
    ae = dicom_listener.build_ae()
    server = dicom_listener.start(ae, "127.0.0.1", 0, block=False)
    yield SimpleNamespace(site=site, port=server.server_address[1])
    ae.shutdown()


def _associate(port, *, calling="STORESCU", called="MEDSITE", contexts=(Verification, CTImageStorage)):
    ae = AE(ae_title=calling)
    for context in contexts:
        ae.add_requested_context(context)
    return ae.associate("127.0.0.1", port, ae_title=called)


def _store(port, ds) -> int:
    assoc = _associate(port)
    assert assoc.is_established
    try:
        return assoc.send_c_store(ds).Status
    finally:
        assoc.release()


def test_echo_succeeds(receiver):
    assoc = _associate(receiver.port)
    assert assoc.is_established
    assert assoc.send_c_echo().Status == 0x0000
    assoc.release()


def test_a_stored_instance_is_imported_under_its_site_patient_and_study_once(receiver, queued):
    ds = pydicom.dcmread(CT_SMALL)
    assert _store(receiver.port, ds) == 0x0000

    image = Image.objects.get()
    assert image.sop_instance_uid == ds.SOPInstanceUID
    assert image.study.study_instance_uid == ds.StudyInstanceUID
    assert image.study.patient.mrn == ds.PatientID and image.study.patient.site == receiver.site
    assert image.deidentified_file.name
    wait_for(lambda: queued == [image.pk], timeout=10, what="the study released with the association")
    image.refresh_from_db()
    assert image.status == Image.Status.QUEUED
    event = AuditEvent.objects.get(object_type="image", object_id=str(image.pk))
    assert event.actor is None and "STORESCU" in event.user_agent and event.ip == "127.0.0.1"

    # Resent: a success, and nothing new.
    assert _store(receiver.port, pydicom.dcmread(CT_SMALL)) == 0x0000
    assert Image.objects.count() == 1 and Study.objects.count() == 1 and Patient.objects.count() == 1
    assert queued == [image.pk]


@pytest.mark.parametrize(
    ("calling", "called"),
    [("INTRUDER", "MEDSITE"), ("STORESCU", "ELSEWHERE")],
    ids=["unknown calling AE", "unknown called AE"],
)
def test_an_unknown_ae_title_is_rejected_at_association(receiver, calling, called):
    assoc = _associate(receiver.port, calling=calling, called=called)
    assert assoc.is_rejected and not assoc.is_established


def test_an_allowed_caller_from_another_address_is_rejected(receiver):
    DicomPeer.objects.filter(ae_title="STORESCU").update(ip="10.9.9.9")
    assert _associate(receiver.port).is_rejected


def test_a_non_image_sop_class_is_not_negotiated(receiver):
    assoc = _associate(receiver.port, contexts=(BasicTextSRStorage,))
    try:
        assert [cx.abstract_syntax for cx in assoc.rejected_contexts] == [BasicTextSRStorage]
        assert not assoc.accepted_contexts
    finally:
        assoc.release()


def _without_pixel_data():
    ds = pydicom.dcmread(CT_SMALL)
    del ds.PixelData
    ds.SOPInstanceUID = generate_uid()
    return ds


def _without_patient_id():
    ds = pydicom.dcmread(CT_SMALL)
    del ds.PatientID
    ds.SOPInstanceUID = generate_uid()
    return ds


@pytest.mark.parametrize(
    ("make", "status"),
    [(_without_pixel_data, 0xA900), (_without_patient_id, 0xC000)],
    ids=["no pixel data", "no PatientID"],
)
def test_a_refused_instance_gets_a_failure_status_stores_nothing_and_the_listener_goes_on(
    receiver, settings, make, status
):
    assert _store(receiver.port, make()) == status
    assert not Image.objects.exists() and not Patient.objects.exists()
    assert not [path for path in Path(settings.MEDIA_ROOT).rglob("*") if path.is_file()]

    assert _store(receiver.port, pydicom.dcmread(CT_SMALL)) == 0x0000  # the next association is served
    assert Image.objects.count() == 1


def test_a_full_disk_answers_out_of_resources_and_stores_nothing(receiver, settings, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(records, "file_save", full)
    assert _store(receiver.port, pydicom.dcmread(CT_SMALL)) == 0xA700
    assert not Image.objects.exists()
    assert not [path for path in Path(settings.MEDIA_ROOT).rglob("*") if path.is_file()]


@pytest.mark.skipif(not shutil.which("storescu"), reason="dcmtk is not installed (apt-get install dcmtk)")
def test_dcmtk_echoscu_and_storescu_as_an_independent_client(receiver):
    port = str(receiver.port)
    aets = ["-aet", "STORESCU", "-aec", "MEDSITE"]
    subprocess.run(["echoscu", *aets, "127.0.0.1", port], check=True, timeout=30)
    subprocess.run(["storescu", *aets, "127.0.0.1", port, CT_SMALL], check=True, timeout=30)
    assert Image.objects.get().sop_instance_uid == pydicom.dcmread(CT_SMALL).SOPInstanceUID
    refused = subprocess.run(["echoscu", "-aet", "INTRUDER", "-aec", "MEDSITE", "127.0.0.1", port], timeout=30)
    assert refused.returncode != 0


def test_instances_of_one_study_on_one_association_land_in_one_study(receiver, queued):
    first, second = pydicom.dcmread(CT_SMALL), pydicom.dcmread(CT_SMALL)
    second.SOPInstanceUID = generate_uid()
    assoc = _associate(receiver.port)
    assert [assoc.send_c_store(ds).Status for ds in (first, second)] == [0x0000, 0x0000]
    assoc.release()
    assert Study.objects.get().images.count() == 2
    wait_for(lambda: len(queued) == 2, timeout=10, what="both images queued at release")


def test_associations_beyond_the_limit_are_rejected(receiver, settings):
    settings.MEDSITE_DICOM_MAX_ASSOCIATIONS = 1
    ae = dicom_listener.build_ae()
    server = dicom_listener.start(ae, "127.0.0.1", 0, block=False)
    port = server.server_address[1]
    try:
        held = _associate(port)
        assert held.is_established
        extra = _associate(port)
        assert extra.is_rejected
        held.release()
    finally:
        ae.shutdown()


# --- a study is analysed when it is complete ---------------------------------------------------------------------


def _instances(count: int, *, study_uid: str | None = None) -> list[pydicom.Dataset]:
    study_uid = study_uid or generate_uid()
    datasets = []
    for _ in range(count):
        ds = pydicom.dcmread(CT_SMALL)
        ds.StudyInstanceUID, ds.SOPInstanceUID = study_uid, generate_uid()
        datasets.append(ds)
    return datasets


def test_instances_wait_while_the_association_is_open_and_go_to_inference_at_release(receiver, queued):
    assoc = _associate(receiver.port)
    assert [assoc.send_c_store(ds).Status for ds in _instances(3)] == [0x0000] * 3
    images = Image.objects.order_by("pk")
    assert [image.status for image in images] == [Image.Status.HELD] * 3 and queued == []
    assert Study.objects.get().derived_status() == Study.Status.ANALYSING  # pending, as the study page shows it

    assoc.release()
    wait_for(lambda: sorted(queued) == [image.pk for image in images], timeout=10, what="release queues the study")
    assert set(images.values_list("status", flat=True)) == {Image.Status.QUEUED}


def test_an_open_association_that_goes_quiet_is_released_by_the_sweeper(receiver, queued, settings):
    settings.MEDSITE_DICOM_STUDY_QUIET_SECONDS = 2
    stop = dicom_listener.start_quiet_sweeper()
    try:
        assoc = _associate(receiver.port)
        assert assoc.send_c_store(_instances(1)[0]).Status == 0x0000
        image = Image.objects.get()
        wait_for(lambda: queued == [image.pk], timeout=15, what="the quiet-period sweep")
        assoc.release()  # nothing more to release: the image is queued once
        assert queued == [image.pk]
    finally:
        stop.set()


def test_an_aborted_association_releases_nothing_until_its_study_goes_quiet(receiver, queued, settings):
    assoc = _associate(receiver.port)
    assert assoc.send_c_store(_instances(1)[0]).Status == 0x0000
    assoc.abort()
    image = Image.objects.get()
    assert records.study_release_held(quiet_seconds=60) == [] and queued == []  # it may still be resent

    settings.MEDSITE_DICOM_STUDY_QUIET_SECONDS = 0
    from diagnosis.tasks import release_quiet_studies_task  # Celery beat's backstop: the same service

    assert release_quiet_studies_task() == 1 and queued == [image.pk]
    image.refresh_from_db()
    assert image.status == Image.Status.QUEUED


def test_a_study_still_arriving_is_not_released_by_the_quiet_sweep(receiver, queued):
    study_uid = generate_uid()
    assoc = _associate(receiver.port)
    for ds in _instances(2, study_uid=study_uid):
        assert assoc.send_c_store(ds).Status == 0x0000
    first = Image.objects.order_by("pk").first()
    Image.objects.filter(pk=first.pk).update(uploaded_at=first.uploaded_at - timedelta(minutes=5))
    # One instance is old, but the study's latest is new: the whole study waits.
    assert records.study_release_held(quiet_seconds=60) == []
    assoc.release()
    wait_for(lambda: len(queued) == 2, timeout=10, what="release")


def test_two_releasers_queue_each_image_once(receiver, queued):
    assoc = _associate(receiver.port)
    for ds in _instances(4):
        assert assoc.send_c_store(ds).Status == 0x0000
    study_pk = Study.objects.get().pk
    results: list[list[int]] = []

    def release():
        try:
            results.append(records.study_release_held(study_pks=[study_pk]))
        finally:
            connection.close()

    threads = [threading.Thread(target=release) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assoc.release()
    assert sorted(pk for result in results for pk in result) == sorted(Image.objects.values_list("pk", flat=True))
    assert sorted(queued) == sorted(Image.objects.values_list("pk", flat=True))
