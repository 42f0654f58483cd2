"""Radiologists' reviews, which also feed the retraining queue, and the site's second-reader switch."""

from celery import current_app
from django.db import transaction

from accounts.audit import SYSTEM, Client, audit_record
from accounts.models import AuditEvent, Site, User
from diagnosis import listings
from diagnosis.models import Prediction, Review, Study
from diagnosis.services.delivery import deliveries_for_review
from diagnosis.services.learning import retraining_item_create
from diagnosis.services.records import study_refresh_status
from diagnosis.services.worklist import study_release_when_read
from diagnosis.task_names import STATUS_REFRESH_TASK
from medsite.errors import DomainError


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
    """Record a radiologist's confirmation or correction, or mark the image uncertain / not diagnostic.

    The image joins the retraining queue once the radiologists' word on it is final with a label: at once on
    a one-reader site; on a site with a second reader, when two readers agree or a third adjudicates their
    disagreement (a radiologist who is neither reader; their review is the adjudication).
    """
    if uncertain:
        decision, label = Review.Decision.UNCERTAIN, ""
    else:
        classes = prediction.model_version.classes
        if label not in classes:
            raise DomainError(
                f"{label!r} is not one of this model's classes: {', '.join(classes)}",
                code="unknown_label",
                field="label",
            )
        decision = Review.Decision.CONFIRM if label == prediction.label else Review.Decision.CORRECT
    Prediction.objects.select_for_update().filter(pk=prediction.pk).first()  # reviews of one image take turns
    site = prediction.image.study.site
    state, _ = prediction.reading(second_reader=site.second_reader)
    adjudicates = state == Prediction.Reading.ADJUDICATION and reviewer.pk not in prediction.readers()
    review = Review.objects.create(
        prediction=prediction, reviewer=reviewer, decision=decision, label=label, note=note, is_adjudication=adjudicates
    )
    prediction = Prediction.objects.prefetch_related("reviews").get(pk=prediction.pk)
    state, deciding = prediction.reading(second_reader=site.second_reader)
    if state == Prediction.Reading.FINAL and deciding == review and review.decision != Review.Decision.UNCERTAIN:
        retraining_item_create(review=review)
    if state == Prediction.Reading.FINAL and deciding == review:
        deliveries_for_review(review=review)  # the final SR and report: rows with the review, sent on commit
    audit_record(
        actor=reviewer,
        action=AuditEvent.Action.REVIEW,
        obj=review,
        site=site,
        client=client,
        detail={"reading": state} if site.second_reader else {},
    )
    study_refresh_status(study=prediction.image.study)
    study_release_when_read(study=prediction.image.study, reader=reviewer, client=client)
    listings.results_changed(site.pk)
    return review


def site_second_reader_changed(*, site: Site) -> None:
    """After a site's second-reader switch changed (the caller saved and audited it): every result's reading state
    follows at once, since it is worked out when shown; the lists are marked out of date, and the stored statuses
    of the site's studies are worked out again by a worker once the change is committed."""
    listings.results_changed(site.pk)
    transaction.on_commit(lambda: current_app.send_task(STATUS_REFRESH_TASK, kwargs={"site_pk": site.pk}), robust=True)


def site_studies_refresh_status(*, site_pk: int) -> int:
    """Work out again the status of the site's studies whose results have been analysed (the only ones the
    second-reader switch can change); returns how many changed."""
    studies = Study.objects.filter(
        patient__site_id=site_pk,
        status__in=[Study.Status.AWAITING_REVIEW, Study.Status.AWAITING_READ, Study.Status.COMPLETE],
    ).select_related("patient__site")
    changed = sum(study_refresh_status(study=study) != study.status for study in studies.iterator(chunk_size=500))
    if changed:
        listings.studies_changed(site_pk)
    return changed
