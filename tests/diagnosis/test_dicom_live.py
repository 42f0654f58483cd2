"""A study received over DICOM, end to end on RabbitMQ: the receiver (`manage.py dicom_listener`) and two inference
workers run as separate processes, as in production, on this test's PostgreSQL database and a real RabbitMQ broker
(docs/deployment.md offers it beside Redis). Two workers compete for one queue, duplicate task messages race them,
and every image of the study is still analysed exactly once."""

import os
import sys

import amqp
import kombu
import pydicom
import pytest
from celery import Celery
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import ComputedRadiographyImageStorage

from diagnosis.models import DicomNode, DicomPeer, Image, Prediction
from diagnosis.services.training import model_register
from diagnosis.task_names import INFERENCE_TASK
from tests import live
from tests.factories import SiteFactory

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

RABBITMQ_URL = os.environ.get("MEDSITE_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
QUEUES = ("default", "inference", "training")
PENDING = (Image.Status.HELD, Image.Status.QUEUED, Image.Status.PROCESSING)


@pytest.fixture
def rabbitmq_env(live_env):
    """live_env with RabbitMQ as the broker, its MedSite queues emptied first. Skipped where RabbitMQ does not answer,
    except in CI (.ci/run starts it)."""
    try:
        with kombu.Connection(RABBITMQ_URL, connect_timeout=5) as connection:
            connection.ensure_connection(max_retries=1)
            for name in QUEUES:
                with connection.channel() as channel:
                    try:
                        channel.queue_purge(name)
                    except amqp.exceptions.NotFound:
                        pass  # not declared yet: nothing to purge
    except OSError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"RabbitMQ does not answer at {RABBITMQ_URL}: {exc}")
    return {**live_env, "CELERY_BROKER_URL": RABBITMQ_URL, "MEDSITE_INFERENCE_BATCH_SIZE": "2"}


def _chest_radiographs(count: int) -> list[pydicom.Dataset]:
    """`count` CR instances of one chest study (pydicom's CT_small pixels, relabelled as computed radiography)."""
    study_uid, series_uid = generate_uid(), generate_uid()
    datasets = []
    for number in range(1, count + 1):
        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = ComputedRadiographyImageStorage
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.InstanceNumber = study_uid, series_uid, number
        ds.Modality, ds.BodyPartExamined = "CR", "CHEST"
        datasets.append(ds)
    return datasets


def test_a_study_received_over_dicom_is_analysed_exactly_once_by_two_workers_on_rabbitmq(
    rabbitmq_env, tmp_path, tiny_bundle
):
    model_register(bundle_path=tiny_bundle, activate=True)
    site = SiteFactory(name="Receiving Hospital")
    DicomNode.objects.create(ae_title="MEDSITE", site=site)
    DicomPeer.objects.create(site=site, ae_title="MODALITY", ip="127.0.0.1")
    port = live.free_port()
    receiver = [sys.executable, "manage.py", "dicom_listener", "--host", "127.0.0.1", "--port", str(port)]
    # Not the current app: the test process's own app (Redis, with the project's routes) stays what later tests use.
    producer = Celery(broker=RABBITMQ_URL, set_as_current=False)

    with (
        live.worker(rabbitmq_env, tmp_path / "worker-a.log", hostname="inference-a@%h"),
        live.worker(rabbitmq_env, tmp_path / "worker-b.log", hostname="inference-b@%h"),
        live.process(receiver, env=rabbitmq_env, log=tmp_path / "listener.log", ready="DICOM receiver listening"),
    ):
        ae = AE(ae_title="MODALITY")
        ae.add_requested_context(ComputedRadiographyImageStorage)
        assoc = ae.associate("127.0.0.1", port, ae_title="MEDSITE")
        assert assoc.is_established
        assert [assoc.send_c_store(ds).Status for ds in _chest_radiographs(6)] == [0x0000] * 6
        images = Image.objects.filter(study__patient__site=site)
        assert set(images.values_list("status", flat=True)) == {Image.Status.HELD}  # the study is still open
        assoc.release()

        # The release queued the study; a duplicate message per image races the two workers for it.
        live.wait_for(lambda: not images.filter(status=Image.Status.HELD).exists(), timeout=30, what="release")
        for pk in images.values_list("pk", flat=True):
            producer.send_task(INFERENCE_TASK, kwargs={"image_pk": pk}, queue="inference")
        live.wait_for(lambda: not images.filter(status__in=PENDING).exists(), timeout=180, what="the study analysed")
        with kombu.Connection(RABBITMQ_URL) as connection, connection.channel() as channel:
            live.wait_for(
                lambda: channel.queue_declare("inference", passive=True).message_count == 0,
                timeout=60,
                what="the duplicate messages consumed",
            )
        worker_logs = (tmp_path / "worker-a.log").read_text() + (tmp_path / "worker-b.log").read_text()
    producer.close()

    assert set(images.values_list("status", flat=True)) == {Image.Status.DONE}
    predictions = Prediction.objects.filter(image__in=images, is_shadow=False)
    assert sorted(predictions.values_list("image_id", flat=True)) == sorted(images.values_list("pk", flat=True))
    assert worker_logs.count(f"Task {INFERENCE_TASK}") >= 12  # the release's messages and the duplicates, all taken
    assert "Traceback" not in worker_logs
