"""The learning loop: the retraining queue, retraining runs, the held-out gate, promotion and live performance."""

import io
from datetime import timedelta

import numpy as np
import PIL.Image
import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent
from diagnosis.models import Image, LearningPolicy, ModelEvaluation, ModelVersion, RetrainingItem, Review, TrainingRun
from diagnosis.services import learning, registry
from diagnosis.services.inference import prediction_create
from diagnosis.services.records import image_upload
from diagnosis.services.review import review_submit
from diagnosis.services.training import model_register, training_run_execute
from medsite.errors import DomainError
from tests.diagnosis.conftest import passing_evaluation, png_file
from tests.factories import PatientFactory, StudyFactory

pytestmark = pytest.mark.django_db


def _predicted(site, clinician, version, label="pneumonia", *, bright=True, n=1):
    """n images of n new patients at site, each with a prediction of version."""
    made = []
    for i in range(n):
        study = StudyFactory(patient=PatientFactory(site=site))
        image = image_upload(study=study, file=png_file(f"x{i}.png", bright_centre=bright), uploaded_by=clinician)
        Image.objects.filter(pk=image.pk).update(status=Image.Status.DONE)  # as the worker leaves it
        p_pos = 0.8 if label == "pneumonia" else 0.2
        made.append(
            prediction_create(
                image=image,
                model_version=version,
                label=label,
                probabilities={"normal": 1 - p_pos, "pneumonia": p_pos},
                threshold=0.5,
                inference_ms=1.0,
            )
        )
    return made


def test_a_review_queues_a_deidentified_copy_with_a_pseudonym_and_later_reviews_supersede(
    site, clinician, radiologist, model_version
):
    (prediction,) = _predicted(site, clinician, model_version)
    review_submit(prediction=prediction, reviewer=radiologist, label="normal")
    item = RetrainingItem.objects.get()
    patient = prediction.image.study.patient
    assert (item.label, item.task) == ("normal", "chest-xray")
    assert item.image == prediction.image  # its metadata-free display PNG is what a run exports
    assert patient.mrn not in item.patient_key and item.patient_key == learning.patient_key(patient.pk)
    assert list(RetrainingItem.objects.usable()) == [item]

    review_submit(prediction=prediction, reviewer=radiologist, uncertain=True)  # no longer stands behind a label
    assert RetrainingItem.objects.count() == 1 and not RetrainingItem.objects.usable().exists()
    review_submit(prediction=prediction, reviewer=radiologist, label="pneumonia")
    assert [i.label for i in RetrainingItem.objects.usable()] == ["pneumonia"]


def test_exclusion_needs_a_reason_is_audited_and_keeps_the_item(site, clinician, radiologist, model_version, superuser):
    (prediction,) = _predicted(site, clinician, model_version)
    review_submit(prediction=prediction, reviewer=radiologist, label="pneumonia")
    item = RetrainingItem.objects.get()
    with pytest.raises(ValidationError, match="Say why"):
        learning.retraining_item_exclude(item=item, actor=superuser, reason="  ")
    learning.retraining_item_exclude(item=item, actor=superuser, reason="wrong laterality marker")
    with pytest.raises(ValidationError, match="already excluded"):
        learning.retraining_item_exclude(item=item, actor=superuser, reason="again")
    item.refresh_from_db()
    assert (item.excluded_by, item.exclusion_reason) == (superuser, "wrong laterality marker")
    assert not RetrainingItem.objects.usable().exists()
    event = AuditEvent.objects.get(action=AuditEvent.Action.EXCLUDE)
    assert event.detail["reason"] == "wrong laterality marker" and event.site == site


def test_queue_summary_counts_per_class_and_new_since_the_last_run(site, clinician, radiologist, model_version):
    predictions = _predicted(site, clinician, model_version, n=3)
    for prediction, label in zip(predictions, ["normal", "pneumonia", "pneumonia"], strict=True):
        review_submit(prediction=prediction, reviewer=radiologist, label=label)
    summary = learning.retraining_queue_summary(task="chest-xray")
    assert summary["by_class"] == {"normal": 1, "pneumonia": 2}
    assert (summary["usable"], summary["new_since_last_run"]) == (3, 3)
    TrainingRun.objects.create(task="chest-xray", source="x", retrain=True, status=TrainingRun.Status.SUCCEEDED)
    (later,) = _predicted(site, clinician, model_version)
    review_submit(prediction=later, reviewer=radiologist, label="normal")
    summary = learning.retraining_queue_summary(task="chest-xray")
    assert (summary["usable"], summary["new_since_last_run"]) == (4, 1)


def test_retraining_runs_need_a_policy_and_an_active_model_and_never_overlap(
    model_version, superuser, django_capture_on_commit_callbacks
):
    with pytest.raises(ValidationError, match="no learning policy"):
        learning.retraining_run_create(task="chest-xray", requested_by=superuser)
    LearningPolicy.objects.create(task="chest-xray", base_dataset="/data/base.npz")
    with django_capture_on_commit_callbacks() as callbacks:
        run = learning.retraining_run_create(task="chest-xray", requested_by=superuser)
    assert len(callbacks) == 1  # the message to the training queue goes once committed
    assert (run.status, run.retrain, run.base_version, run.trigger) == ("queued", True, model_version, "manual")
    assert AuditEvent.objects.filter(action=AuditEvent.Action.TRAIN, object_id=str(run.pk)).exists()
    with pytest.raises(ValidationError, match="already queued or running"):
        learning.retraining_run_create(task="chest-xray", requested_by=superuser)
    model_version.status = ModelVersion.Status.RETIRED
    model_version.save()
    run.status = TrainingRun.Status.FAILED
    run.save()
    with pytest.raises(ValidationError, match="no active model"):
        learning.retraining_run_create(task="chest-xray", requested_by=superuser)


def test_beat_starts_a_run_once_the_queue_reaches_the_policy_threshold(
    site, clinician, radiologist, model_version, django_capture_on_commit_callbacks
):
    LearningPolicy.objects.create(task="chest-xray", base_dataset="/data/base.npz", retrain_after=3)
    predictions = _predicted(site, clinician, model_version, n=3)
    for prediction in predictions[:2]:
        review_submit(prediction=prediction, reviewer=radiologist, label="normal")
    assert learning.retraining_due() == []
    review_submit(prediction=predictions[2], reviewer=radiologist, label="normal")
    with django_capture_on_commit_callbacks():
        (run,) = learning.retraining_due()
    assert run.trigger == TrainingRun.Trigger.QUEUE and run.requested_by is None
    assert learning.retraining_due() == []  # one run at a time, and its items are no longer new


def test_the_beat_sweep_sends_again_queued_runs_whose_message_was_lost(
    settings, model_version, superuser, django_capture_on_commit_callbacks
):
    LearningPolicy.objects.create(task="chest-xray", base_dataset="/data/base.npz")
    with django_capture_on_commit_callbacks(execute=True):
        run = learning.retraining_run_create(task="chest-xray", requested_by=superuser)
    run.refresh_from_db()
    assert run.sent_at is not None and learning.training_runs_resend_lost() == 0  # just sent
    long_ago = timezone.now() - timedelta(seconds=settings.MEDSITE_TRAINING_RESEND_AFTER + 5)
    TrainingRun.objects.filter(pk=run.pk).update(sent_at=long_ago)  # the broker restarted and lost it
    in_place = TrainingRun.objects.create(task="chest-xray-covid", source="x")  # manage.py train_model runs it itself
    TrainingRun.objects.filter(pk=in_place.pk).update(created_at=long_ago)
    assert learning.retraining_due() == []  # the sweep sent it again; it is still queued, so no second run starts
    run.refresh_from_db()
    in_place.refresh_from_db()
    assert run.status == "queued" and run.sent_at > long_ago and in_place.sent_at is None
    assert learning.training_runs_resend_lost() == 0  # sending restarts the clock: no storm of copies
    TrainingRun.objects.filter(pk=run.pk).update(status=TrainingRun.Status.RUNNING)  # the first copy claimed it
    assert training_run_execute(run_pk=run.pk) is None  # a later copy does nothing


def test_promotion_gate_needs_a_passing_evaluation_against_the_current_active_version(model_version, world, superuser):
    candidate = world.candidate
    with pytest.raises(ValidationError, match="not been evaluated against the active version"):
        registry.model_promote(model_version=candidate, actor=superuser, reason="better")
    failing = passing_evaluation(candidate, baseline=model_version, passed=False)
    with pytest.raises(ValidationError, match="ROC AUC is worse"):
        registry.model_promote(model_version=candidate, actor=superuser, reason="better")
    with pytest.raises(DomainError, match="Write why") as refused:
        registry.model_promote(model_version=candidate, actor=superuser, override=True)
    assert (refused.value.code, refused.value.field) == ("required", "reason")
    failing.delete()
    older = ModelVersion.objects.create(
        task="chest-xray", classes=["normal", "pneumonia"], bundle_sha256="e" * 64, image_size=16
    )
    passing_evaluation(candidate, baseline=older)  # judged against a version that is not active: does not count
    with pytest.raises(ValidationError):
        registry.model_promote(model_version=candidate, actor=superuser, reason="better")
    evaluation = passing_evaluation(candidate, baseline=model_version)
    registry.model_promote(model_version=candidate, actor=superuser, reason="better")
    candidate.refresh_from_db()
    assert candidate.status == ModelVersion.Status.ACTIVE
    event = AuditEvent.objects.get(action=AuditEvent.Action.ACTIVATE, object_id=str(candidate.pk))
    assert event.detail["gate_passed"] is True and event.detail["evaluation"] == evaluation.pk


def test_promotion_and_rollback_refuse_a_blank_reason_in_the_service(model_version, world, superuser):
    """One rule for the web, the API, the admin and the automatic promotion: the registry refuses without a
    written reason, changes nothing and audits nothing."""
    ModelVersion.objects.filter(pk=model_version.pk).update(activated_at=timezone.now() - timedelta(days=30))
    passing_evaluation(world.candidate, baseline=model_version)
    for blank in ("", "   \n"):
        with pytest.raises(DomainError, match="Write why: the reason is kept in the audit trail.") as refused:
            registry.model_promote(model_version=world.candidate, actor=superuser, reason=blank)
        assert (refused.value.code, refused.value.field, refused.value.status) == ("required", "reason", 400)
    world.candidate.refresh_from_db()
    assert world.candidate.status == ModelVersion.Status.CANDIDATE
    promoted = registry.model_promote(model_version=world.candidate, actor=superuser, reason="  passed the gate ")
    assert promoted.status == ModelVersion.Status.ACTIVE
    with pytest.raises(DomainError, match="Write why") as refused:
        registry.model_rollback(task="chest-xray", actor=superuser)
    assert refused.value.field == "reason"
    model_version.refresh_from_db()
    assert model_version.status == ModelVersion.Status.RETIRED
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.ROLLBACK).exists()
    registry.model_rollback(task="chest-xray", actor=superuser, reason="false negatives")
    events = AuditEvent.objects.filter(
        action__in=[AuditEvent.Action.ACTIVATE, AuditEvent.Action.ROLLBACK], object_type="modelversion"
    ).order_by("pk")
    assert [e.detail.get("reason") for e in events] == ["passed the gate", "false negatives"]


def test_an_override_promotes_a_refused_candidate_and_is_audited_with_the_reason(model_version, world, superuser):
    passing_evaluation(world.candidate, baseline=model_version, passed=False)
    registry.model_promote(
        model_version=world.candidate, actor=superuser, override=True, reason="sensitivity matters more here"
    )
    event = AuditEvent.objects.get(action=AuditEvent.Action.ACTIVATE, object_id=str(world.candidate.pk))
    assert event.detail["override"] is True and event.detail["gate_passed"] is False
    assert event.detail["reason"] == "sensitivity matters more here" and event.actor == superuser


def test_live_performance_agreement_confusion_trend_and_drift_alert(site, clinician, radiologist, model_version):
    LearningPolicy.objects.create(
        task="chest-xray", base_dataset="x", drift_agreement=0.8, drift_min_reviews=4, drift_window_days=30
    )
    positives = _predicted(site, clinician, model_version, "pneumonia", n=3)
    negatives = _predicted(site, clinician, model_version, "normal", n=2)
    for prediction, label in zip(
        positives + negatives, ["pneumonia", "pneumonia", "normal", "normal", "pneumonia"], strict=True
    ):
        review_submit(prediction=prediction, reviewer=radiologist, label=label)
    old = Review.objects.order_by("pk").first()
    Review.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=60))  # an earlier week
    live = learning.live_performance(model_version=model_version)
    assert (live["reviews"], live["agreed"]) == (5, 3)
    assert live["confusion"] == [[1, 1], [1, 2]]  # rows: radiologist normal / pneumonia; columns: AI
    assert live["operating"]["sensitivity"] == pytest.approx(2 / 3)
    assert live["operating"]["specificity"] == pytest.approx(1 / 2)
    assert len(live["trend"]) == 2 and sum(week["reviews"] for week in live["trend"]) == 5
    drift = live["drift"]
    assert drift["alert"] and drift["reviews"] == 4 and drift["rate"] == pytest.approx(2 / 4)


def test_live_performance_without_enough_reviews_raises_no_alert(site, clinician, radiologist, model_version):
    LearningPolicy.objects.create(task="chest-xray", base_dataset="x", drift_min_reviews=20)
    (prediction,) = _predicted(site, clinician, model_version)
    review_submit(prediction=prediction, reviewer=radiologist, label="normal")
    live = learning.live_performance(model_version=model_version)
    assert live["agreement"] == 0.0 and live["drift"]["alert"] is False


# --- the worker side, in process (real Keras models, tiny data) ----------------------------------------------


def toy_npz(path, *, n=24, size=16):
    """A tiny .npz like MedMNIST: class 1 has a bright centre, as png_bytes(bright_centre=True) has."""

    def split(n, seed):
        rng = np.random.default_rng(seed)
        images = rng.integers(0, 60, size=(2 * n, size, size), dtype=np.uint8)
        images[n:, size // 4 : -size // 4, size // 4 : -size // 4] = 220
        return images, np.repeat([0, 1], n).reshape(-1, 1)

    arrays = {}
    for name, count, seed in (("train", n, 1), ("val", n // 2, 2), ("test", n // 2, 3)):
        arrays[f"{name}_images"], arrays[f"{name}_labels"] = split(count, seed)
    np.savez_compressed(path, **arrays)
    return path


@pytest.fixture
def learning_task(tmp_path, tiny_bundle, site, clinician, radiologist):
    """An active chest-xray model, a policy over a toy base dataset, and six reviewed images in the queue."""
    active = model_register(bundle_path=tiny_bundle, activate=True)
    policy = LearningPolicy.objects.create(task="chest-xray", base_dataset=str(toy_npz(tmp_path / "base.npz")))
    for bright, truth in ((True, "pneumonia"), (False, "normal")):  # the AI said pneumonia to all six
        for prediction in _predicted(site, clinician, active, "pneumonia", bright=bright, n=3):
            review_submit(prediction=prediction, reviewer=radiologist, label=truth)
    return active, policy


def test_a_retraining_run_trains_evaluates_on_the_held_out_set_and_leaves_promotion_to_an_admin(
    learning_task, superuser, django_capture_on_commit_callbacks
):
    active, policy = learning_task
    with django_capture_on_commit_callbacks():
        run = learning.retraining_run_create(task="chest-xray", requested_by=superuser)
    run = training_run_execute(run_pk=run.pk)
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert len(run.data_manifest) == 6 and run.data_sha256 and "epoch 1/" in run.log
    assert {row["patient_id"] for row in run.data_manifest} <= set(
        RetrainingItem.objects.values_list("patient_key", flat=True)
    )
    candidate = run.model_version
    assert candidate.status == ModelVersion.Status.CANDIDATE  # policy.auto_promote is off
    evaluation = ModelEvaluation.objects.get(candidate=candidate)
    assert evaluation.baseline == active and evaluation.holdout_size == 24
    assert evaluation.candidate_metrics["operating"]["kind"] == "binary"
    assert evaluation.baseline_metrics["roc_auc"] is not None
    passed, reasons, _ = registry.promotion_check(model_version=candidate)
    assert passed == evaluation.gate_passed and reasons == evaluation.gate_reasons
    assert AuditEvent.objects.filter(action=AuditEvent.Action.EVALUATE, object_id=str(candidate.pk)).exists()
    assert training_run_execute(run_pk=run.pk) is None  # a duplicate delivery does nothing


def test_queue_items_identical_to_held_out_images_are_never_trained_on(learning_task, site, clinician, radiologist):
    active, policy = learning_task
    held_out = np.load(policy.base_dataset)["test_images"][0]
    buffer = io.BytesIO()
    PIL.Image.fromarray(held_out).save(buffer, format="PNG")
    study = StudyFactory(patient=PatientFactory(site=site))  # someone uploads a held-out image; it is reviewed
    image = image_upload(study=study, file=SimpleUploadedFile("h.png", buffer.getvalue()), uploaded_by=clinician)
    prediction = prediction_create(
        image=image,
        model_version=active,
        label="normal",
        probabilities={"normal": 0.6, "pneumonia": 0.4},
        threshold=0.5,
        inference_ms=1.0,
    )
    review_submit(prediction=prediction, reviewer=radiologist, label="normal")
    run = TrainingRun.objects.create(task="chest-xray", source=policy.base_dataset, retrain=True, base_version=active)
    run = training_run_execute(run_pk=run.pk)
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert "7 reviewed images; 1 dropped as copies of held-out images" in run.log


def test_auto_promotion_promotes_a_candidate_that_passes_the_gate(learning_task):
    active, policy = learning_task
    policy.auto_promote, policy.gate_tolerance = True, 1.0  # any candidate passes: the path is what is tested
    policy.save()
    run = TrainingRun.objects.create(task="chest-xray", source=policy.base_dataset, retrain=True, base_version=active)
    run = training_run_execute(run_pk=run.pk)
    run.model_version.refresh_from_db()
    assert run.model_version.status == ModelVersion.Status.ACTIVE
    assert "promoted automatically" in run.log
    event = AuditEvent.objects.get(action=AuditEvent.Action.ACTIVATE, object_id=str(run.model_version.pk))
    assert event.actor is None and event.detail["gate_passed"] is True


# --- pages ---------------------------------------------------------------------------------------------------


def test_learning_pages_show_the_queue_runs_and_the_gate(client, world, superuser, model_version):
    LearningPolicy.objects.create(task="chest-xray", base_dataset="/data/base.npz", retrain_after=50)
    ModelVersion.objects.filter(pk=model_version.pk).update(activated_at=timezone.now())  # as model_activate does
    item = world.retraining_item
    client.force_login(superuser)
    page = client.get(reverse("diagnosis:learning")).content.decode()
    assert 'data-testid="queue-usable">1<' in page and "pneumonia: <strong>1</strong>" in page
    items = client.get(reverse("diagnosis:retraining_items", args=["chest-xray"])).content.decode()
    assert "Used in the next run" in items and world.patient.mrn not in items and world.patient.name not in items
    client.post(reverse("diagnosis:retraining_item_exclude", args=[item.pk]), {"reason": "motion blur"})
    item.refresh_from_db()
    assert item.exclusion_reason == "motion blur"

    passing_evaluation(world.candidate, baseline=model_version, passed=False)
    detail = client.get(reverse("diagnosis:model_detail", args=[world.candidate.pk])).content.decode()
    assert 'data-testid="gate-verdict">refused<' in detail and 'name="override"' in detail
    client.post(reverse("diagnosis:model_promote", args=[world.candidate.pk]), {"reason": ""})
    world.candidate.refresh_from_db()
    assert world.candidate.status == ModelVersion.Status.CANDIDATE
    client.post(reverse("diagnosis:model_promote", args=[world.candidate.pk]), {"reason": "urgent", "override": "on"})
    world.candidate.refresh_from_db()
    assert world.candidate.status == ModelVersion.Status.ACTIVE
    client.post(reverse("diagnosis:model_rollback", args=[world.candidate.pk]), {"reason": "back to the known version"})
    model_version.refresh_from_db()
    assert model_version.status == ModelVersion.Status.ACTIVE


def test_model_page_shows_live_performance_trend_and_drift_alert(client, site, clinician, radiologist, model_version):
    LearningPolicy.objects.create(task="chest-xray", base_dataset="x", drift_min_reviews=2)
    for i, prediction in enumerate(_predicted(site, clinician, model_version, n=3)):
        review = review_submit(prediction=prediction, reviewer=radiologist, label="normal")
        Review.objects.filter(pk=review.pk).update(created_at=timezone.now() - timedelta(days=7 * i))
    client.force_login(clinician)
    page = client.get(reverse("diagnosis:model_detail", args=[model_version.pk])).content.decode()
    assert 'data-testid="drift-alert"' in page and 'data-testid="trend-plot"' in page
    assert 'data-testid="live-agreement">0.000' in page
    assert 'name="override"' not in page  # a clinician sees the figures, not the controls


def test_api_runs_items_and_performance(api, world, superuser, model_version):
    client = api(superuser)
    LearningPolicy.objects.create(task="chest-xray", base_dataset="/data/base.npz")
    item = world.retraining_item
    listed = client.get(reverse("api:retraining-item-list"), {"task": "chest-xray"}).json()
    assert [row["id"] for row in listed["results"]] == [item.pk] and "mrn" not in listed["results"][0]
    refused = client.post(reverse("api:retraining-item-exclude", args=[item.pk]), {}, format="json")
    assert refused.status_code == 400
    created = client.post(reverse("api:training-run-list"), {"task": "chest-xray"}, format="json")
    assert created.status_code == 201 and created.json()["trigger"] == "manual"
    again = client.post(reverse("api:training-run-list"), {"task": "chest-xray"}, format="json")
    assert again.status_code == 409 and "already queued" in again.json()["detail"]
    performance = client.get(reverse("api:model-performance", args=[model_version.pk])).json()
    assert performance["reviews"] == 1 and performance["agreement"] == 1.0


def test_the_beat_sweep_fails_runs_whose_worker_died_and_a_failure_waits_for_new_labels(
    settings, site, clinician, radiologist, model_version, django_capture_on_commit_callbacks
):
    LearningPolicy.objects.create(task="chest-xray", base_dataset="/data/base.npz", retrain_after=1)
    (prediction,) = _predicted(site, clinician, model_version)
    review_submit(prediction=prediction, reviewer=radiologist, label="normal")
    long_ago = timezone.now() - timedelta(seconds=settings.CELERY_TRAINING_TIME_LIMIT + 3600)
    stuck = TrainingRun.objects.create(
        task="chest-xray", source="x", retrain=True, status=TrainingRun.Status.RUNNING, started_at=long_ago
    )
    RetrainingItem.objects.update(created_at=long_ago)  # the stuck run saw the item
    assert learning.retraining_due() == []  # the stuck run is failed, and there is nothing new since it
    stuck.refresh_from_db()
    assert stuck.status == TrainingRun.Status.FAILED and "training worker stopped" in stuck.error
    (later,) = _predicted(site, clinician, model_version)
    review_submit(prediction=later, reviewer=radiologist, label="normal")
    with django_capture_on_commit_callbacks():
        assert len(learning.retraining_due()) == 1
