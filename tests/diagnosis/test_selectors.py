"""The reads the web pages and the API share: site-scoped, and the adjudication list decided in the database."""

from datetime import timedelta

import factory
import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import AuditEvent, Role, User
from diagnosis import selectors
from diagnosis.models import Image, ModelVersion, Prediction, Review
from diagnosis.services.review import review_submit
from tests.conftest import with_totp
from tests.factories import (
    ImageFactory,
    MembershipFactory,
    ModelVersionFactory,
    PredictionFactory,
    ReviewFactory,
    StudyFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def readers(site):
    site.second_reader = True
    site.save()
    return [with_totp(MembershipFactory(site=site, role=Role.RADIOLOGIST).user) for _ in range(3)]


def _reading(prediction) -> str:
    return Prediction.objects.prefetch_related("reviews").get(pk=prediction.pk).reading(second_reader=True)[0]


def test_adjudication_shows_a_new_disagreement_however_many_older_ones_wait(client, site, study, readers):
    """The page used to judge the 1,000 oldest reviewed predictions in Python: the 1,001st never showed."""
    first, second, third = readers
    version = ModelVersionFactory()
    older = 1001
    images = Image.objects.bulk_create(ImageFactory.build_batch(older, study=study))
    predictions = Prediction.objects.bulk_create(
        PredictionFactory.build_batch(older, image=factory.Iterator(images, cycle=False), model_version=version)
    )
    Review.objects.bulk_create(
        [ReviewFactory.build(prediction=p, reviewer=first, label="pneumonia") for p in predictions]
        + [ReviewFactory.build(prediction=p, reviewer=second, label="normal") for p in predictions]
    )
    Review.objects.update(created_at=timezone.now() - timedelta(days=1))
    newest = PredictionFactory(image=ImageFactory(study=study), model_version=version)
    review_submit(prediction=newest, reviewer=first, label="pneumonia")
    review_submit(prediction=newest, reviewer=second, label="normal")

    client.force_login(third)
    page = client.get(reverse("diagnosis:adjudication")).context["page"]
    assert page.object_list[0].pk == newest.pk  # the newest disagreement first
    assert page.paginator.count == older + 1
    assert len(page.object_list) == 50


# Each case: the reads in order, as (reader index, label or "?" for uncertain, adjudication?).
READ_SEQUENCES = {
    "unread": [],
    "one read": [(0, "pneumonia", False)],
    "same reader twice": [(0, "pneumonia", False), (0, "normal", False)],
    "agree": [(0, "pneumonia", False), (1, "pneumonia", False)],
    "disagree": [(0, "pneumonia", False), (1, "normal", False)],
    "both uncertain": [(0, "?", False), (1, "?", False)],
    "uncertain against a label": [(0, "?", False), (1, "normal", False)],
    "adjudicated": [(0, "pneumonia", False), (1, "normal", False), (2, "normal", True)],
    "read again after adjudication": [
        (0, "pneumonia", False),
        (1, "normal", False),
        (2, "normal", True),
        (0, "pneumonia", False),
    ],  # fmt: skip
    "first reader changes mind to agree": [(0, "pneumonia", False), (1, "normal", False), (0, "normal", False)],
}


def test_adjudication_list_agrees_with_each_predictions_reading(site, study, readers):
    """The database's selection and Prediction.reading() (what the study page shows) say the same of each case."""
    version = ModelVersionFactory()
    outsider = with_totp(MembershipFactory(site=site, role=Role.RADIOLOGIST).user)
    start = timezone.now() - timedelta(hours=1)
    cases = {}
    for name, reads in READ_SEQUENCES.items():
        prediction = PredictionFactory(image=ImageFactory(study=study), model_version=version)
        for minute, (who, label, adjudication) in enumerate(reads):
            review = ReviewFactory(
                prediction=prediction,
                reviewer=readers[who],
                decision=Review.Decision.UNCERTAIN if label == "?" else Review.Decision.CONFIRM,
                label="" if label == "?" else label,
                is_adjudication=adjudication,
            )
            Review.objects.filter(pk=review.pk).update(created_at=start + timedelta(minutes=minute))
        cases[prediction.pk] = name
    listed = {cases[p.pk] for p in selectors.adjudication_list(user=outsider)}
    expected = {name for pk, name in cases.items() if _reading(Prediction(pk=pk)) == Prediction.Reading.ADJUDICATION}
    assert listed == expected == {"disagree", "uncertain against a label", "read again after adjudication"}
    # A reader of the case never adjudicates it; a one-reader site has nothing to adjudicate.
    assert not selectors.adjudication_list(user=readers[0]).exists()
    site.second_reader = False
    site.save()
    assert not selectors.adjudication_list(user=User.objects.get(pk=outsider.pk)).exists()


def test_lists_hold_the_users_sites_only(site, other_site, clinician, outsider, site_admin):
    here = PredictionFactory(image=ImageFactory(study=StudyFactory(patient__site=site)))
    PredictionFactory(image=ImageFactory(study=StudyFactory(patient__site=other_site)))
    PredictionFactory(
        image=here.image, model_version=ModelVersionFactory(status=ModelVersion.Status.SHADOW), is_shadow=True
    )
    assert list(selectors.prediction_list(user=clinician)) == [here]
    assert list(selectors.study_list(user=clinician)) == [here.image.study]
    assert here.image.study not in selectors.study_list(user=outsider)
    for where in (site, other_site, None):
        audit_record(actor=None, action=AuditEvent.Action.VIEW, object_type="patient", site=where)
    assert {event.site for event in selectors.audit_event_list(user=site_admin)} == {site}


def test_worklist_holds_what_waits_for_this_reader(site, readers, study):
    first, second, _ = readers
    waiting = PredictionFactory(image=ImageFactory(study=study))
    PredictionFactory(image=ImageFactory(study=study, status=Image.Status.QUEUED))
    review_submit(prediction=waiting, reviewer=first, label="pneumonia")
    assert list(selectors.worklist_studies(user=first)) == []  # their own read drops out
    assert list(selectors.worklist_studies(user=second)) == [study]  # a second read is due
    assert list(selectors.worklist_studies(user=second, filters={"label": "normal"})) == []
