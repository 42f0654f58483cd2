"""Running models on images. Imports mlcore (and so TensorFlow): worker side only.

A worker that receives run_inference(image_pk) claims that image, then claims up to
MEDSITE_INFERENCE_BATCH_SIZE - 1 other waiting images of the same task and runs them together: one decode
each, one forward pass, one batched Grad-CAM. The other images' own messages find them claimed or done and
do nothing. A claim is a conditional UPDATE on the image's status, so two workers never both take an image
while its claim is fresh; the unique (image, model version) constraint makes a repeated run harmless anyway.

An image outside the active model's scope (mlcore.scope: smaller than it reads, or unlike the images it was trained
on) finishes as `unsuitable` with the reason, and gets no prediction, no heatmap and no shadow predictions.

Images whose worker died keep a stale claim; those whose message was lost (a broker restart) stay queued.
diagnosis.services.requeue.inference_requeue_stalled() sends both again: Celery beat runs it every minute,
and each worker runs it at start-up for the images its previous life held.
"""

import functools
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from celery import current_app
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from diagnosis.models import Image, ModelVersion, Prediction, Study
from diagnosis.services.delivery import deliveries_for_prediction
from diagnosis.services.records import file_save, study_refresh_status, task_for_study, task_study_filter
from diagnosis.services.requeue import CLAIM_LEASE_MARGIN_S
from diagnosis.task_names import INFERENCE_TASK
from mlcore.bundle import load_bundle
from mlcore.imaging import DataError, load_image
from mlcore.inference import Predictor, enable_gpu_memory_growth

logger = logging.getLogger(__name__)
enable_gpu_memory_growth()

NO_MODEL_REASON = "No active model handles this kind of image."


@functools.lru_cache(maxsize=4)
def _predictor(bundle_sha256: str) -> Predictor:
    """One loaded model per worker process and bundle; verified against its sha256 on load."""
    bundle = load_bundle(settings.MEDSITE_MODEL_ROOT / bundle_sha256, expected_sha256=bundle_sha256)
    return Predictor(bundle)


@dataclass
class _Work:
    """One claimed image on its way through the batch."""

    image: Image
    claimed_at: float  # time.time() of the claim
    pixels: np.ndarray | None = None  # decoded display rendition, uint8 (H, W)
    prepared: np.ndarray | None = None  # resized for the active model
    preprocess_ms: float = 0.0


def image_run_inference(*, image_pk: int, worker: str = "") -> list[Image]:
    """Predict this image, and other waiting images of its task, with the active model (and shadow models).

    Safe to run twice for an image: a finished or freshly claimed image is skipped. Returns the images this
    call finished (empty when it had nothing to do).
    """
    first = _claim(image_pk, worker)
    if first is None:
        return []
    task = task_for_study(first.image.study)
    active = ModelVersion.objects.filter(task=task, status=ModelVersion.Status.ACTIVE).first() if task else None
    if active is None:
        return [_finish(first, Image.Status.NO_MODEL, NO_MODEL_REASON)]
    batch = [first, *_claim_more(task, exclude=image_pk, worker=worker)]
    try:
        return _run_batch(batch, active, task)
    except BaseException:
        _release([w.image.pk for w in batch[1:]])  # batch mates go back to the queue; the caller handles the first
        raise


def image_fail(*, image_pk: int, reason: str) -> None:
    Image.objects.filter(pk=image_pk).exclude(status__in=[Image.Status.DONE, Image.Status.UNSUITABLE]).update(
        status=Image.Status.FAILED, failure_reason=reason[:500]
    )
    image = Image.objects.select_related("study").filter(pk=image_pk).first()
    if image is not None:
        study_refresh_status(study=image.study)


def prediction_create(
    *,
    image: Image,
    model_version: ModelVersion,
    probabilities: dict[str, float],
    label: str,
    threshold: float | None,
    inference_ms: float,
    is_shadow: bool = False,
    heatmap_png: bytes | None = None,
    queue_ms: float | None = None,
    preprocess_ms: float | None = None,
    heatmap_ms: float | None = None,
    batch_size: int = 1,
) -> Prediction:
    """Store a prediction (and its heatmap file); a second one for the same image and model returns the first.
    A non-shadow one goes to the site's PACS and FHIR servers (deliveries_for_prediction; once each, however often
    this runs)."""
    existing = Prediction.objects.filter(image=image, model_version=model_version).first()
    if existing is not None:
        _deliver(existing)  # a worker that died after storing it may not have queued its deliveries
        return existing
    prediction = Prediction(
        image=image,
        model_version=model_version,
        probabilities=probabilities,
        abnormality=model_version.abnormality(probabilities),
        margin=model_version.margin(probabilities),
        label=label,
        threshold=threshold,
        is_shadow=is_shadow,
        queue_ms=queue_ms,
        preprocess_ms=preprocess_ms,
        inference_ms=inference_ms,
        heatmap_ms=heatmap_ms,
        batch_size=batch_size,
    )
    if heatmap_png is not None:
        file_save(prediction.heatmap, f"{uuid.uuid4().hex}.png", ContentFile(heatmap_png))
    try:
        with transaction.atomic():
            prediction.save()
    except IntegrityError:
        if prediction.heatmap:
            prediction.heatmap.delete(save=False)
        return Prediction.objects.get(image=image, model_version=model_version)
    _deliver(prediction)
    return prediction


def _deliver(prediction: Prediction) -> None:
    if not prediction.is_shadow:
        transaction.on_commit(lambda: deliveries_for_prediction(prediction=prediction), robust=True)


# --- the batch -------------------------------------------------------------------------------------------


def _run_batch(batch: list[_Work], active: ModelVersion, task: str) -> list[Image]:
    predictor = _predictor(active.bundle_sha256)
    ready: list[_Work] = []
    finished: list[Image] = []
    for work in batch:
        started = time.perf_counter()
        try:
            with work.image.display_file.open("rb") as fh:
                work.pixels = load_image(fh)
        except DataError as exc:
            finished.append(_finish(work, Image.Status.FAILED, f"The image could not be decoded: {exc}"))
            continue
        except OSError:
            finished.append(_finish(work, Image.Status.FAILED, "The stored image file could not be read."))
            continue
        refusal = predictor.size_refusal(work.pixels)
        if refusal is not None:  # too small for the model: no forward pass
            finished.append(_unsuitable(work, active, refusal))
            continue
        work.prepared = predictor.prepare(work.pixels)
        work.preprocess_ms = (time.perf_counter() - started) * 1000
        ready.append(work)
    if not ready:
        return finished
    pairs = predictor.predict_with_gradcam([w.prepared for w in ready])  # forward pass and Grad-CAM together
    labelled: list[_Work] = []
    for work, (result, cam) in zip(ready, pairs, strict=True):
        if result.unsuitable is not None:  # unlike the images the model was trained on: no label, no heatmap
            finished.append(_unsuitable(work, active, result.unsuitable))
            continue
        started = time.perf_counter()
        png = cam.heatmap_png(_heatmap_shape(work.image))
        prediction_create(
            image=work.image,
            model_version=active,
            probabilities=result.probabilities,
            label=result.label,
            threshold=result.threshold,
            inference_ms=result.timings.inference_ms,
            heatmap_png=png,
            queue_ms=max(0.0, (work.claimed_at - work.image.uploaded_at.timestamp()) * 1000),
            preprocess_ms=work.preprocess_ms,
            heatmap_ms=(time.perf_counter() - started) * 1000,
            batch_size=result.timings.batch_size,
        )
        labelled.append(work)
    if labelled:
        _run_shadows(labelled, task)
    finished += [_finish(work, Image.Status.DONE, "") for work in labelled]
    return finished


def _unsuitable(work: _Work, model_version: ModelVersion, reason: str) -> Image:
    """Finish an image the model must not label (mlcore.scope): final, like done, with the reason for a person."""
    logger.info("Image %s is outside the scope of model %s; no label given", work.image.pk, model_version.short_sha)
    return _finish(work, Image.Status.UNSUITABLE, reason)


def _run_shadows(ready: list[_Work], task: str) -> None:
    """Shadow versions predict the same images; their output is stored, never shown. Their failures are logged,
    never the image's. An image outside a shadow's own scope gets no prediction from it, as from the active one."""
    for shadow in ModelVersion.objects.filter(task=task, status=ModelVersion.Status.SHADOW):
        try:
            predictor = _predictor(shadow.bundle_sha256)
            works = [w for w in ready if predictor.size_refusal(w.pixels) is None]
            if not works:
                continue
            results = predictor.predict([predictor.prepare(w.pixels) for w in works])
            for work, result in zip(works, results, strict=True):
                if result.unsuitable is not None:
                    continue
                prediction_create(
                    image=work.image,
                    model_version=shadow,
                    probabilities=result.probabilities,
                    label=result.label,
                    threshold=result.threshold,
                    inference_ms=result.timings.inference_ms,
                    is_shadow=True,
                    batch_size=result.timings.batch_size,
                )
        except Exception:
            logger.exception("Shadow model %s failed on a batch of %d image(s)", shadow.short_sha, len(ready))


def _heatmap_shape(image: Image) -> tuple[int, int]:
    """The display image's aspect ratio, the longer side at most MEDSITE_HEATMAP_MAX_SIDE."""
    scale = min(1.0, settings.MEDSITE_HEATMAP_MAX_SIDE / max(image.width, image.height))
    return max(1, round(image.height * scale)), max(1, round(image.width * scale))


# --- claims ----------------------------------------------------------------------------------------------


def _claimable(worker: str) -> Q:
    """Queued; or processing under a claim older than the inference time limit (its worker died); or claimed
    by this very worker: an inference worker runs one task at a time (concurrency 1), so its own earlier claim
    belongs to an attempt that died (a pool process killed, and the message redelivered)."""
    stale = timezone.now() - timedelta(seconds=settings.CELERY_INFERENCE_TIME_LIMIT + CLAIM_LEASE_MARGIN_S)
    claimable = Q(status=Image.Status.QUEUED) | Q(status=Image.Status.PROCESSING, claimed_at__lt=stale)
    if worker:
        claimable |= Q(status=Image.Status.PROCESSING, claimed_by=worker[:255])
    return claimable


def _claim(image_pk: int, worker: str) -> _Work | None:
    now = timezone.now()
    claimed = Image.objects.filter(_claimable(worker), pk=image_pk).update(
        status=Image.Status.PROCESSING, claimed_at=now, claimed_by=worker[:255]
    )
    if not claimed:
        return None  # finished, being processed elsewhere, or gone
    return _Work(Image.objects.select_related("study").get(pk=image_pk), now.timestamp())


def _claim_more(task: str, *, exclude: int, worker: str) -> list[_Work]:
    """Claim up to BATCH_SIZE - 1 other queued images of the task, oldest first."""
    wanted = settings.MEDSITE_INFERENCE_BATCH_SIZE - 1
    if wanted <= 0:
        return []
    studies = Study.objects.filter(task_study_filter(task))
    candidates = (
        Image.objects.filter(status=Image.Status.QUEUED, study__in=studies)
        .exclude(pk=exclude)
        .order_by("uploaded_at")
        .values_list("pk", flat=True)[: wanted * 2]
    )
    claimed: list[_Work] = []
    for pk in candidates:
        work = _claim(pk, worker)
        if work is not None:
            claimed.append(work)
            if len(claimed) == wanted:
                break
    return claimed


def _release(pks: list[int]) -> None:
    """Give claimed images back to the queue and send their messages again."""
    if not pks:
        return
    try:
        released = list(Image.objects.filter(pk__in=pks, status=Image.Status.PROCESSING).values_list("pk", flat=True))
        Image.objects.filter(pk__in=released).update(status=Image.Status.QUEUED, claimed_by="")
        for pk in released:
            current_app.send_task(INFERENCE_TASK, kwargs={"image_pk": pk})
    except Exception:  # the database or broker may be what failed; the periodic sweep sends them later
        logger.exception("Could not release %d claimed image(s); the sweep will requeue them", len(pks))


def _finish(work: _Work, status: str, reason: str) -> Image:
    """The image's status and its study's change in one transaction: a poll of the study page never sees the
    image finished (and stops polling) while the study still reads "being analysed". Finishes of one study take
    turns on its row, so that each derives the study's status from the others' committed results."""
    image = work.image
    with transaction.atomic():
        Study.objects.select_for_update(no_key=True).filter(pk=image.study_id).first()
        image.status, image.failure_reason = status, reason[:500]
        image.save(update_fields=["status", "failure_reason"])
        study_refresh_status(study=image.study)
    return image
