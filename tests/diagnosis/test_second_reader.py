"""Sites that require a second reader: two radiologists must agree, or a third adjudicates."""

import pytest
from django.urls import reverse

from accounts.models import Role
from diagnosis.models import Prediction, RetrainingItem, Study
from diagnosis.services import learning, review
from diagnosis.services.review import review_submit
from tests.conftest import with_totp
from tests.diagnosis.test_learning import _predicted
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def readers(site):
    site.second_reader = True
    site.save()
    return [with_totp(MembershipFactory(site=site, role=Role.RADIOLOGIST).user) for _ in range(3)]


def _state(prediction):
    prediction = Prediction.objects.prefetch_related("reviews").get(pk=prediction.pk)
    return prediction.reading(second_reader=True)[0]


def _worklist(client, user):
    client.force_login(user)
    return client.get(reverse("diagnosis:worklist")).context["studies"]


def test_two_agreeing_readers_make_it_final_and_queue_it_once(client, site, clinician, model_version, readers):
    first, second, _ = readers
    (prediction,) = _predicted(site, clinician, model_version)
    review_submit(prediction=prediction, reviewer=first, label="pneumonia")
    assert _state(prediction) == "second_read" and not RetrainingItem.objects.exists()
    assert list(_worklist(client, first)) == [] and list(_worklist(client, second)) == [prediction.image.study]
    prediction.image.study.refresh_from_db()
    assert prediction.image.study.status == Study.Status.AWAITING_REVIEW

    review_submit(prediction=prediction, reviewer=second, label="pneumonia")
    assert _state(prediction) == "final"
    assert list(RetrainingItem.objects.values_list("label", "review__reviewer")) == [("pneumonia", second.pk)]
    assert list(_worklist(client, readers[2])) == []
    prediction.image.study.refresh_from_db()
    assert prediction.image.study.status == Study.Status.COMPLETE


def test_a_disagreement_goes_to_a_third_radiologist_whose_review_decides(
    client, site, clinician, model_version, readers
):
    first, second, third = readers
    (prediction,) = _predicted(site, clinician, model_version)
    review_submit(prediction=prediction, reviewer=first, label="pneumonia")
    review_submit(prediction=prediction, reviewer=second, label="normal")
    assert _state(prediction) == "adjudication" and not RetrainingItem.objects.exists()

    client.force_login(first)
    assert list(client.get(reverse("diagnosis:adjudication")).context["predictions"]) == []  # not their own case
    client.force_login(third)
    page = client.get(reverse("diagnosis:adjudication"))
    assert [p.pk for p in page.context["predictions"]] == [prediction.pk]
    study = client.get(reverse("diagnosis:study_detail", args=[prediction.image.study_id])).content.decode()
    assert "Readers disagree: awaiting adjudication" in study

    adjudication = review_submit(prediction=prediction, reviewer=third, label="normal")
    assert adjudication.is_adjudication and _state(prediction) == "final"
    assert list(RetrainingItem.objects.usable().values_list("label", flat=True)) == ["normal"]


def test_one_reader_sites_are_unchanged(site, clinician, model_version, radiologist):
    (prediction,) = _predicted(site, clinician, model_version)
    review_submit(prediction=prediction, reviewer=radiologist, label="normal")
    assert RetrainingItem.objects.count() == 1


def test_live_performance_counts_only_decided_readings(site, clinician, model_version, readers):
    first, second, _ = readers
    predictions = _predicted(site, clinician, model_version, n=2)
    review_submit(prediction=predictions[0], reviewer=first, label="normal")  # one read: not decided yet
    review_submit(prediction=predictions[1], reviewer=first, label="pneumonia")
    review_submit(prediction=predictions[1], reviewer=second, label="pneumonia")
    live = learning.live_performance(model_version=model_version)
    assert (live["reviews"], live["agreed"]) == (1, 1)


def _study_status(prediction) -> str:
    return Study.objects.get(pk=prediction.image.study_id).status


def test_switching_the_second_reader_works_out_the_sites_study_statuses_again(
    site, other_site, clinician, model_version
):
    reader = with_totp(MembershipFactory(site=site, role=Role.RADIOLOGIST).user)
    (read_once,) = _predicted(site, clinician, model_version)
    review_submit(prediction=read_once, reviewer=reader, label="pneumonia")
    elsewhere = _predicted(other_site, MembershipFactory(site=other_site, role=Role.CLINICIAN).user, model_version)[0]
    review_submit(prediction=elsewhere, reviewer=reader, label="pneumonia")
    assert [_study_status(p) for p in (read_once, elsewhere)] == ["complete", "complete"]

    site.second_reader = True
    site.save()
    assert review.site_studies_refresh_status(site_pk=site.pk) == 1
    assert _study_status(read_once) == "awaiting_review"  # one read no longer decides it
    assert _study_status(elsewhere) == "complete"  # another site's studies are left alone
    assert review.site_studies_refresh_status(site_pk=site.pk) == 0

    site.second_reader = False
    site.save()
    assert review.site_studies_refresh_status(site_pk=site.pk) == 1
    assert _study_status(read_once) == "complete"


def test_the_site_admin_queues_the_status_refresh_only_when_the_switch_changes(
    client, site, superuser, django_capture_on_commit_callbacks
):
    client.force_login(superuser)
    url = reverse("admin:accounts_site_change", args=[site.pk])
    form = {"name": site.name, "slug": site.slug}
    with django_capture_on_commit_callbacks() as renamed:
        assert client.post(url, form | {"name": "Renamed"}).status_code == 302
    with django_capture_on_commit_callbacks() as switched:
        assert client.post(url, form | {"name": "Renamed", "second_reader": "on"}).status_code == 302
    site.refresh_from_db()
    assert site.second_reader and site.name == "Renamed"
    assert not _sends_refresh(renamed) and _sends_refresh(switched)


def _sends_refresh(callbacks) -> bool:
    """Whether the on-commit callbacks include the message that sends the status refresh to a worker."""
    return any("site_second_reader_changed" in callback.__qualname__ for callback in callbacks)
