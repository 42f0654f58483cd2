"""Radiologists' reviews, which also feed the retraining queue."""

from django.db import transaction

from accounts.audit import SYSTEM, Client, audit_record
from accounts.models import AuditEvent, User
from diagnosis.models import Prediction, RetrainingItem, Review
from diagnosis.services.records import study_refresh_status


@transaction.atomic
def review_submit(
    *, prediction: Prediction, reviewer: User, label: str, note: str = "", client: Client = SYSTEM
) -> Review:
    """Record a radiologist's confirmation or correction and queue the image for retraining."""
    classes = prediction.model_version.classes
    if label not in classes:
        raise ValueError(f"{label!r} is not one of this model's classes: {', '.join(classes)}")
    decision = Review.Decision.CONFIRM if label == prediction.label else Review.Decision.CORRECT
    review = Review.objects.create(prediction=prediction, reviewer=reviewer, decision=decision, label=label, note=note)
    RetrainingItem.objects.create(
        image=prediction.image, review=review, task=prediction.model_version.task, label=label
    )
    audit_record(
        actor=reviewer, action=AuditEvent.Action.REVIEW, obj=review, site=prediction.image.study.site, client=client
    )
    study_refresh_status(study=prediction.image.study)
    return review
