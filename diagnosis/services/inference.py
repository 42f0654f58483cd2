"""Running the active model on an image. Imports mlcore (and so TensorFlow): worker side only."""

import functools
import time

from django.conf import settings
from django.db import IntegrityError, transaction

from diagnosis.models import Image, ModelVersion, Prediction
from diagnosis.services.records import study_refresh_status, task_for_study
from mlcore.bundle import load_bundle
from mlcore.imaging import DataError, load_image
from mlcore.inference import Predictor


@functools.lru_cache(maxsize=4)
def _predictor(bundle_sha256: str) -> Predictor:
    """One loaded model per worker process and bundle; verified against its sha256 on load."""
    bundle = load_bundle(settings.MEDSITE_MODEL_ROOT / bundle_sha256, expected_sha256=bundle_sha256)
    return Predictor(bundle)


def image_run_inference(*, image_pk: int) -> Image | None:
    """Predict one image with the active model for its task. Safe to run twice."""
    claimed = Image.objects.filter(pk=image_pk, status__in=[Image.Status.QUEUED, Image.Status.PROCESSING]).update(
        status=Image.Status.PROCESSING
    )
    if not claimed:
        return None  # already finished, or gone
    image = Image.objects.select_related("study").get(pk=image_pk)
    task = task_for_study(image.study)
    model_version = ModelVersion.objects.filter(task=task, status=ModelVersion.Status.ACTIVE).first()
    if model_version is None:
        return _image_finish(image, Image.Status.NO_MODEL, "No active model handles this kind of image.")
    try:
        with image.display_file.open("rb") as fh:
            pixels = load_image(fh)
        started = time.perf_counter()
        result = _predictor(model_version.bundle_sha256).predict([pixels])[0]
        inference_ms = (time.perf_counter() - started) * 1000
    except DataError as exc:
        return _image_finish(image, Image.Status.FAILED, f"The image could not be decoded: {exc}")
    prediction_create(
        image=image,
        model_version=model_version,
        probabilities=result.probabilities,
        label=result.label,
        threshold=result.threshold,
        inference_ms=inference_ms,
    )
    return _image_finish(image, Image.Status.DONE, "")


def image_fail(*, image_pk: int, reason: str) -> None:
    Image.objects.filter(pk=image_pk).exclude(status=Image.Status.DONE).update(
        status=Image.Status.FAILED, failure_reason=reason[:500]
    )
    image = Image.objects.select_related("study").filter(pk=image_pk).first()
    if image is not None:
        study_refresh_status(study=image.study)


def _image_finish(image: Image, status: str, reason: str) -> Image:
    image.status, image.failure_reason = status, reason
    image.save(update_fields=["status", "failure_reason"])
    study_refresh_status(study=image.study)
    return image


def prediction_create(
    *,
    image: Image,
    model_version: ModelVersion,
    probabilities: dict[str, float],
    label: str,
    threshold: float | None,
    inference_ms: float,
) -> Prediction:
    """Store a prediction; a second one for the same image and model returns the first."""
    try:
        with transaction.atomic():
            return Prediction.objects.create(
                image=image,
                model_version=model_version,
                probabilities=probabilities,
                label=label,
                threshold=threshold,
                inference_ms=inference_ms,
            )
    except IntegrityError:
        return Prediction.objects.get(image=image, model_version=model_version)
