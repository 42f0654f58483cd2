"""Celery tasks: short, keyword-only primary keys, a status guard in the service."""

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import OperationalError

from diagnosis.services import inference, training

logger = logging.getLogger(__name__)


@shared_task(bind=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def run_inference_task(self, *, image_pk: int) -> None:
    try:
        inference.image_run_inference(image_pk=image_pk)
    except OperationalError:
        raise  # transient database trouble: Celery retries
    except SoftTimeLimitExceeded:
        inference.image_fail(image_pk=image_pk, reason="Inference took too long and was stopped.")
    except Exception:
        logger.exception("Inference failed for image %s", image_pk)
        inference.image_fail(
            image_pk=image_pk, reason="Inference failed because of an internal error; an admin can see the worker log."
        )


@shared_task
def train_model_task(*, run_pk: int) -> None:
    training.training_run_execute(run_pk=run_pk)
