"""Sending stalled images to inference again. No TensorFlow here: a worker's start-up hook and Celery beat
import this module, and TensorFlow must not initialise a GPU in a worker's parent process before it forks."""

import logging
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from diagnosis.models import Image
from diagnosis.task_names import INFERENCE_TASK

logger = logging.getLogger(__name__)
CLAIM_LEASE_MARGIN_S = 30  # a claim is stale this long after the inference hard time limit


def inference_requeue_stalled(*, worker: str | None = None) -> int:
    """Send run_inference again for images that will otherwise never finish; returns how many.

    With worker: the images that worker (a previous life of it, at start-up) had claimed. Always: images
    claimed longer ago than the inference time limit (their worker died), and images still queued
    MEDSITE_INFERENCE_REQUEUE_AFTER seconds after upload (their message was lost). A duplicate message is
    harmless: the claim lets only one run through.
    """
    now = timezone.now()
    stale_claim = now - timedelta(seconds=settings.CELERY_INFERENCE_TIME_LIMIT + CLAIM_LEASE_MARGIN_S)
    stale_queue = now - timedelta(seconds=settings.MEDSITE_INFERENCE_REQUEUE_AFTER)
    processing = Q(status=Image.Status.PROCESSING) & (Q(claimed_at__lt=stale_claim) | Q(claimed_at__isnull=True))
    if worker:
        processing |= Q(status=Image.Status.PROCESSING, claimed_by=worker)
    queued = Q(status=Image.Status.QUEUED, uploaded_at__lt=stale_queue) & (
        Q(claimed_at__isnull=True) | Q(claimed_at__lt=stale_queue)
    )
    pks = list(Image.objects.filter(processing | queued).values_list("pk", flat=True))
    if not pks:
        return 0
    Image.objects.filter(pk__in=pks).update(status=Image.Status.QUEUED, claimed_at=now, claimed_by="")
    for pk in pks:
        current_app.send_task(INFERENCE_TASK, kwargs={"image_pk": pk})
    logger.warning("Sent %d stalled image(s) to inference again", len(pks))
    return len(pks)
