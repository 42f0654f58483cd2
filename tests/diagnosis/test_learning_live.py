"""The whole learning loop with a live Celery worker on PostgreSQL and Redis, and real Keras models:

predictions are made, a radiologist corrects some, the queue threshold (checked by the beat task) starts a
training run on the training queue, the candidate is scored against the active model on the held-out set,
an admin promotes it through the gate, the next upload is predicted by the new version, and a rollback
restores the old one. Every step leaves audit events.
"""

import pytest
from celery import current_app
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import AuditEvent
from diagnosis.models import Image, LearningPolicy, ModelEvaluation, ModelVersion, TrainingRun
from diagnosis.services import records
from diagnosis.services.review import review_submit
from diagnosis.services.training import model_register
from tests import live
from tests.diagnosis.conftest import png_file
from tests.diagnosis.test_learning import toy_npz
from tests.factories import PatientFactory, StudyFactory

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def _predicted(site, clinician, *, bright: bool) -> Image:
    study = StudyFactory(patient=PatientFactory(site=site), modality="CR", body_part="CHEST")
    image = records.image_upload(study=study, file=png_file(bright_centre=bright), uploaded_by=clinician)
    live.wait_for(
        lambda: Image.objects.filter(pk=image.pk, status="done").exists(), timeout=120, what=f"image {image.pk}"
    )
    image.refresh_from_db()
    return image


def test_the_learning_loop_end_to_end(live_env, tmp_path, tiny_bundle, site, clinician, radiologist, superuser):
    active = model_register(bundle_path=tiny_bundle, activate=True)
    # Tiny models on toy data: a tolerance of 0.05 keeps one epoch's noise from deciding the test.
    LearningPolicy.objects.create(
        task="chest-xray", base_dataset=str(toy_npz(tmp_path / "base.npz")), retrain_after=4, gate_tolerance=0.05
    )
    admin = APIClient()
    admin.force_login(superuser)
    with live.worker(live_env, tmp_path / "worker.log"):
        # 1-2. Predictions, then the radiologist's word on each: dark images are normal, bright ones pneumonia.
        images = [_predicted(site, clinician, bright=bright) for bright in (True, False, True, False)]
        for image in images:
            truth = "pneumonia" if images.index(image) % 2 == 0 else "normal"
            review_submit(prediction=image.current_prediction(), reviewer=radiologist, label=truth)

        # 3. The beat task sees 4 new items (the policy's threshold) and starts a run on the training queue.
        current_app.send_task("diagnosis.tasks.retraining_due_task")
        run = live.wait_for(
            lambda: TrainingRun.objects.filter(retrain=True, status__in=["succeeded", "failed"]).first(),
            timeout=300,
            what="the training run",
        )
        assert run.status == "succeeded", f"{run.error}\n{(tmp_path / 'worker.log').read_text()[-3000:]}"
        assert run.trigger == TrainingRun.Trigger.QUEUE and len(run.data_manifest) == 4
        candidate = run.model_version

        # 4. Candidate and active model on the same held-out set.
        evaluation = ModelEvaluation.objects.get(candidate=candidate)
        assert evaluation.baseline == active and evaluation.holdout_size == 24
        assert evaluation.gate_passed, evaluation.gate_reasons
        assert candidate.status == ModelVersion.Status.CANDIDATE  # no automatic promotion in this policy

        # 5. Gated promotion: one call (no override, a written reason) for the admin.
        promoted = admin.post(reverse("api:model-promote", args=[candidate.pk]), {"reason": "gate"}, format="json")
        assert promoted.status_code == 200, promoted.json()

        # 6. The next upload is predicted by the new version; a rollback restores the old one.
        after = _predicted(site, clinician, bright=True)
        assert after.current_prediction().model_version == candidate
        back = admin.post(reverse("api:model-rollback"), {"task": "chest-xray", "reason": "drift"}, format="json")
        assert back.status_code == 200 and back.json()["id"] == active.pk
        restored = _predicted(site, clinician, bright=True)
        assert restored.current_prediction().model_version == active

    actions = set(AuditEvent.objects.values_list("action", flat=True))
    for step in ("create", "review", "train", "evaluate", "activate", "rollback"):
        assert step in actions, f"no {step} audit event"
    activation = AuditEvent.objects.get(action="activate", object_id=str(candidate.pk))
    assert activation.detail["gate_passed"] is True and activation.detail["evaluation"] == evaluation.pk
