"""Radiologists' reviews, which also feed the retraining queue."""

from django.db import transaction

from accounts.audit import SYSTEM, Client, audit_record
from accounts.models import AuditEvent, User
from diagnosis.models import Prediction, Review
from diagnosis.services.learning import retraining_item_create
from diagnosis.services.records import study_refresh_status


@transaction.atomic
def review_submit(
    *,
    prediction: Prediction,
    reviewer: User,
    label: str = "",
    note: str = "",
    uncertain: bool = False,
    client: Client = SYSTEM,
) -> Review:
    """Record a radiologist's confirmation or correction, which queues the image for retraining; or mark the
    image uncertain / not diagnostic, which records the decision and queues nothing."""
    if uncertain:
        decision, label = Review.Decision.UNCERTAIN, ""
    else:
        classes = prediction.model_version.classes
        if label not in classes:
            raise ValueError(f"{label!r} is not one of this model's classes: {', '.join(classes)}")
        decision = Review.Decision.CONFIRM if label == prediction.label else Review.Decision.CORRECT
    review = Review.objects.create(prediction=prediction, reviewer=reviewer, decision=decision, label=label, note=note)
    if not uncertain:
        retraining_item_create(review=review)
    audit_record(
        actor=reviewer, action=AuditEvent.Action.REVIEW, obj=review, site=prediction.image.study.site, client=client
    )
    study_refresh_status(study=prediction.image.study)
    return review
