"""The inference pipeline with a live Celery worker process on PostgreSQL and Redis, real Keras models.

One worker serves several scenarios in turn (starting TensorFlow costs seconds): routing of both tasks and
"no model", a shadow version, a promotion picked up without a restart, the same task delivered twice, and
a worker killed with SIGKILL in the middle of a task, restarted under the same node name.
"""

import os
import signal

import pytest
from celery import current_app

from diagnosis.models import Image, ModelVersion, Prediction
from diagnosis.services import records, registry
from diagnosis.services.training import model_register
from diagnosis.task_names import INFERENCE_TASK
from tests import live
from tests.conftest import train_tiny_bundle
from tests.diagnosis.conftest import png_file
from tests.factories import PatientFactory, StudyFactory

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def _finished(*images: Image, timeout: float = 120) -> None:
    pks = [image.pk for image in images]
    live.wait_for(
        lambda: not Image.objects.filter(pk__in=pks, status__in=["queued", "processing"]).exists(),
        timeout=timeout,
        what=f"images {pks} to finish",
    )
    for image in images:
        image.refresh_from_db()


def _study(site, modality, body_part):
    return StudyFactory(patient=PatientFactory(site=site), modality=modality, body_part=body_part)


def _upload(study, user, name, size=(40, 40)):
    return records.image_upload(study=study, file=png_file(name, size=size), uploaded_by=user)


def test_live_worker_routes_shadows_promotes_and_is_idempotent(
    live_env, tmp_path, tiny_bundle, site, clinician, superuser
):
    chest = model_register(bundle_path=tiny_bundle, activate=True)
    brain_classes = ("glioma_tumor", "meningioma_tumor", "no_tumor", "pituitary_tumor")
    brain = model_register(
        bundle_path=train_tiny_bundle(tmp_path / "brain", task="brain-mri", classes=brain_classes), activate=True
    )
    shadow = model_register(bundle_path=train_tiny_bundle(tmp_path / "chest2", seed=7))
    registry.model_set_shadow(model_version=shadow, actor=superuser)
    log = tmp_path / "worker.log"
    with live.worker(live_env, log):
        # Routing: chest to the chest model, head MR to the brain model, a knee to nobody.
        chest_image = _upload(_study(site, "DX", "CHEST"), clinician, "chest.png")
        brain_image = _upload(_study(site, "MR", "HEAD"), clinician, "brain.png")
        knee_image = _upload(_study(site, "MR", "KNEE"), clinician, "knee.png")
        _finished(chest_image, brain_image, knee_image)
        assert chest_image.status == brain_image.status == Image.Status.DONE, log.read_text()
        assert chest_image.current_prediction().model_version == chest
        assert brain_image.current_prediction().model_version == brain
        assert set(brain_image.current_prediction().probabilities) == set(brain_classes)
        assert (knee_image.status, knee_image.failure_reason) == (
            Image.Status.NO_MODEL,
            "No active model handles this kind of image.",
        )
        # The shadow version ran on the chest image too: stored, flagged, not the shown result.
        assert Prediction.objects.get(image=chest_image, model_version=shadow).is_shadow
        assert chest_image.current_prediction().heatmap

        # Promotion while the worker runs: the next image uses the new version, no restart.
        registry.model_activate(model_version=shadow, actor=superuser)
        promoted = _upload(_study(site, "CR", "CHEST"), clinician, "after.png")
        _finished(promoted)
        assert promoted.current_prediction().model_version == shadow
        assert not Prediction.objects.filter(image=promoted, is_shadow=True).exists()  # no shadow any more

        # The same task delivered twice (and once more after it finished): one prediction.
        twice = _upload(_study(site, "CR", "CHEST"), clinician, "twice.png", size=(50, 40))
        current_app.send_task(INFERENCE_TASK, kwargs={"image_pk": twice.pk})
        _finished(twice)
        current_app.send_task(INFERENCE_TASK, kwargs={"image_pk": twice.pk})
        marker = _upload(_study(site, "CR", "CHEST"), clinician, "marker.png", size=(52, 40))
        _finished(marker)  # the queue is FIFO: the repeat was handled before this one
        assert Prediction.objects.filter(image=twice).count() == 1
    assert ModelVersion.objects.get(task="chest-xray", status="active") == shadow


def test_worker_killed_mid_task_predicts_exactly_once_after_restart(live_env, tmp_path, tiny_bundle, site, clinician):
    model_register(bundle_path=tiny_bundle, activate=True)
    study = _study(site, "CR", "CHEST")
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    with live.worker(live_env, first_log, hostname="inference-kill@test") as proc:
        # A big image: the first task also loads the model, so the claim is held for a good while.
        image = records.image_upload(study=study, file=png_file("big.png", size=(3000, 3000)), uploaded_by=clinician)
        live.wait_for(
            lambda: Image.objects.filter(pk=image.pk, status="processing").exists(),
            timeout=60,
            interval=0.02,
            what="the worker to claim the image",
        )
        os.killpg(proc.pid, signal.SIGKILL)  # the whole worker, main process and pool child, mid-task
        proc.wait(timeout=10)
    image.refresh_from_db()
    assert image.status == Image.Status.PROCESSING and not image.predictions.exists(), "the kill came too late"
    assert image.claimed_by == "inference-kill@test"

    # The restarted worker (same node name) sends back what its previous life held.
    with live.worker(live_env, second_log, hostname="inference-kill@test"):
        _finished(image)
    assert image.status == Image.Status.DONE, second_log.read_text()
    assert Prediction.objects.filter(image=image).count() == 1
    assert "Sent 1 stalled image(s) to inference again" in second_log.read_text()
