"""Celery tasks: short, keyword-only primary keys, a status guard in the service.

Each task takes its name from diagnosis/task_names.py (which also says its queue) and declares its time limits
here, once. Importing this module stays light: the web, Celery beat and the DICOM
listener import it (the app's autodiscovery) only to send tasks, so TensorFlow, which services/inference.py and
services/training.py load, is imported inside the bodies of the tasks that run models, by the workers that run them.
"""

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_ready
from django.conf import settings
from django.db import InterfaceError, OperationalError

from diagnosis import task_names
from diagnosis.models import ModelVersion
from diagnosis.services import delivery, idempotency, learning, requeue, review
from diagnosis.services.records import STORAGE_FULL, study_release_held

logger = logging.getLogger(__name__)


class StorageFullError(Exception):
    """The image storage had no room for a heatmap: as transient as a database restart, so retried."""


# The database restarting or unreachable for a moment, or the image storage full for a while.
TRANSIENT = (OperationalError, InterfaceError, StorageFullError)


def _limits(seconds: int) -> dict:
    """A hard time limit and the soft one at 0.9 of it (the task's chance to record why it stopped)."""
    return {"time_limit": seconds, "soft_time_limit": int(seconds * 0.9)}


@shared_task(
    name=task_names.INFERENCE_TASK,
    **_limits(settings.CELERY_INFERENCE_TIME_LIMIT),
    bind=True,
    autoretry_for=TRANSIENT,
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=8,
)
def run_inference_task(self, *, image_pk: int) -> None:
    from diagnosis.services import inference  # TensorFlow: imported by inference workers only, on first use

    try:
        inference.image_run_inference(image_pk=image_pk, worker=self.request.hostname or "")
    except TRANSIENT:
        raise  # Celery retries
    except SoftTimeLimitExceeded:
        inference.image_fail(image_pk=image_pk, reason="Inference took too long and was stopped.")
    except Exception as exc:
        if isinstance(exc, OSError) and exc.errno in STORAGE_FULL:
            # The image keeps its claim: the retry (on this worker) retakes it, or the sweep once it is stale.
            raise StorageFullError(f"No room to store the heatmap of image {image_pk}") from exc
        logger.exception("Inference failed for image %s", image_pk)
        inference.image_fail(
            image_pk=image_pk, reason="Inference failed because of an internal error; an admin can see the worker log."
        )


@shared_task(name=task_names.REQUEUE_INFERENCE_TASK)
def requeue_stalled_inference_task() -> int:
    """Run by Celery beat: send images whose worker died or whose message was lost to inference again."""
    return requeue.inference_requeue_stalled()


@shared_task(name=task_names.RELEASE_QUIET_STUDIES_TASK)
def release_quiet_studies_task() -> int:
    """Run by Celery beat: queue the held images of studies received over DICOM that went quiet."""
    return len(study_release_held(quiet_seconds=settings.MEDSITE_DICOM_STUDY_QUIET_SECONDS))


@shared_task(
    name=task_names.SEND_TASK,
    **_limits(settings.RESULT_SEND_TIME_LIMIT),
    bind=True,
    autoretry_for=(delivery.DeliveryRetry, OperationalError, InterfaceError),
    retry_backoff=True,
    retry_backoff_max=settings.RESULT_SEND_BACKOFF_MAX,
    max_retries=settings.MEDSITE_RESULT_SEND_RETRIES,
)
def send_result_task(self, *, delivery_pk: int) -> None:
    """One attempt to send a result to a PACS or FHIR server; passing failures are retried with backoff, and the
    last try fails the delivery (it stays visible for a site admin to send again)."""
    delivery.delivery_send(
        delivery_pk=delivery_pk,
        worker=self.request.hostname or "",
        last_try=self.request.retries >= self.max_retries,
    )


@shared_task(name=task_names.REQUEUE_DELIVERIES_TASK)
def requeue_stalled_deliveries_task() -> int:
    """Run by Celery beat: send pending result deliveries whose message was lost or whose worker died again."""
    return delivery.deliveries_requeue_stalled()


@shared_task(name=task_names.PURGE_IDEMPOTENCY_TASK)
def purge_idempotency_records_task() -> int:
    """Run by Celery beat: forget the API's Idempotency-Key answers once they are 24 hours old."""
    return idempotency.idempotency_records_purge()


@shared_task(name=task_names.TRAINING_TASK, **_limits(settings.CELERY_TRAINING_TIME_LIMIT))
def train_model_task(*, run_pk: int) -> None:
    from diagnosis.services import training  # TensorFlow: imported by training workers only

    training.training_run_execute(run_pk=run_pk)


@shared_task(name=task_names.EVALUATE_TASK, **_limits(settings.CELERY_TRAINING_TIME_LIMIT))
def evaluate_model_task(*, model_version_pk: int) -> None:
    """Score a candidate against the active version on the task's held-out set (the promotion gate)."""
    from diagnosis.services import training  # TensorFlow: imported by training workers only

    training.model_evaluate(candidate=ModelVersion.objects.get(pk=model_version_pk))


@shared_task(name=task_names.STATUS_REFRESH_TASK)
def site_studies_refresh_status_task(*, site_pk: int) -> int:
    """After a site's second-reader switch changed: its studies' stored statuses, worked out again."""
    return review.site_studies_refresh_status(site_pk=site_pk)


@shared_task(name=task_names.RETRAINING_DUE_TASK)
def retraining_due_task() -> int:
    """Run by Celery beat: start training for every task whose queue reached its policy's threshold."""
    return len(learning.retraining_due())


@worker_ready.connect
def _requeue_own_stalled_images(sender, **kwargs) -> None:
    """At start-up, a worker re-sends the images a previous life of it (same node name) was holding."""
    if "inference" not in set(sender.app.amqp.queues.consume_from or ()):
        return
    try:  # services/requeue.py is light: no TensorFlow in the worker's parent process
        requeue.inference_requeue_stalled(worker=sender.hostname)
    except Exception:  # never keep a worker from starting; the periodic sweep catches up
        logger.exception("Could not requeue the images this worker held before it restarted")
