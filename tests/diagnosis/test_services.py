import gc

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from diagnosis.models import Image, ModelVersion, Prediction, RetrainingItem, Review
from diagnosis.services.inference import image_run_inference
from diagnosis.services.records import image_upload, task_for_study
from diagnosis.services.registry import model_activate
from diagnosis.services.review import review_submit
from diagnosis.services.training import model_register
from tests.conftest import png_bytes
from tests.diagnosis.conftest import predicted_image
from tests.factories import StudyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def active_model(tiny_bundle):
    return model_register(bundle_path=tiny_bundle, activate=True)


def _upload(study, clinician, content=None):
    return image_upload(study=study, file=SimpleUploadedFile("x.png", content or png_bytes()), uploaded_by=clinician)


def test_model_register_copies_bundle_and_activates(active_model, settings):
    assert active_model.status == ModelVersion.Status.ACTIVE
    assert active_model.classes == ["normal", "pneumonia"]
    assert (settings.MEDSITE_MODEL_ROOT / active_model.bundle_sha256 / "model.keras").exists()


def test_inference_stores_prediction_from_real_model(active_model, study, clinician):
    image = _upload(study, clinician)
    image_run_inference(image_pk=image.pk)
    image.refresh_from_db()
    prediction = Prediction.objects.get(image=image)
    assert image.status == Image.Status.DONE
    assert prediction.model_version == active_model
    assert set(prediction.probabilities) == {"normal", "pneumonia"}
    assert sum(prediction.probabilities.values()) == pytest.approx(1.0, abs=1e-4)
    assert prediction.label in active_model.classes
    assert prediction.threshold == active_model.threshold
    assert prediction.inference_ms > 0


def test_inference_is_idempotent(active_model, study, clinician):
    image = _upload(study, clinician)
    image_run_inference(image_pk=image.pk)
    image_run_inference(image_pk=image.pk)
    Image.objects.filter(pk=image.pk).update(status=Image.Status.PROCESSING)  # a redelivered task after a crash
    image_run_inference(image_pk=image.pk)
    assert Prediction.objects.filter(image=image).count() == 1


def test_no_active_model_marks_image_plainly(study, clinician):
    image = _upload(study, clinician)
    image_run_inference(image_pk=image.pk)
    image.refresh_from_db()
    assert image.status == Image.Status.NO_MODEL
    assert "No active model" in image.failure_reason


def test_unrouted_study_gets_no_model(active_model, patient, clinician):
    study = StudyFactory(patient=patient, modality="OT", body_part="KNEE")
    assert task_for_study(study) is None
    image = _upload(study, clinician)
    image_run_inference(image_pk=image.pk)
    image.refresh_from_db()
    assert image.status == Image.Status.NO_MODEL


def test_unreadable_stored_file_fails_with_reason(active_model, study, clinician):
    image = _upload(study, clinician)
    with image.display_file.open("wb") as fh:
        fh.write(b"overwritten with garbage")
    image_run_inference(image_pk=image.pk)
    image.refresh_from_db()
    assert image.status == Image.Status.FAILED
    assert "could not be decoded" in image.failure_reason


def test_review_confirms_or_corrects_and_queues_retraining(active_model, study, clinician, radiologist):
    image = _upload(study, clinician)
    image_run_inference(image_pk=image.pk)
    prediction = Prediction.objects.get(image=image)
    other = next(c for c in active_model.classes if c != prediction.label)

    first = review_submit(prediction=prediction, reviewer=radiologist, label=prediction.label)
    second = review_submit(prediction=prediction, reviewer=radiologist, label=other, note="consolidation missed")
    assert (first.decision, second.decision) == (Review.Decision.CONFIRM, Review.Decision.CORRECT)
    assert prediction.reviews.count() == 2  # append-only
    assert prediction.current_review() == second
    assert list(RetrainingItem.objects.values_list("label", flat=True)) == [prediction.label, other]


def test_activating_a_model_retires_the_previous(active_model):
    newer = ModelVersion.objects.create(task="chest-xray", classes=["a", "b"], bundle_sha256="c" * 64, image_size=16)
    model_activate(model_version=newer, actor=None)
    active_model.refresh_from_db()
    assert active_model.status == ModelVersion.Status.RETIRED
    assert ModelVersion.objects.filter(task="chest-xray", status="active").get() == newer


def test_the_study_status_leaves_no_reference_cycles_to_collect(model_version, study):
    """A worker derives its study's status on every image it finishes. Cyclic garbage there piles up in the worker
    between the garbage collector's rare full passes (the 20-minute soak's memory creep): none may be made."""
    for n in range(6):
        predicted_image(study, model_version, n)
    study = type(study).objects.get(pk=study.pk)
    gc.collect()
    gc.disable()
    try:
        assert study.derived_status() == study.Status.AWAITING_REVIEW
        assert gc.collect() == 0
    finally:
        gc.enable()
