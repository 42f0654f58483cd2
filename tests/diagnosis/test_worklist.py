"""The study-level worklist (selectors.worklist_studies and friends) and the reading claim (services.worklist)."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from accounts.models import AuditEvent, Role
from diagnosis import selectors
from diagnosis.models import Image, ModelVersion, Study
from diagnosis.services.review import review_submit
from diagnosis.services.worklist import claim_holder, study_claim, study_release
from medsite.errors import DomainError
from tests.conftest import with_totp
from tests.factories import (
    ImageFactory,
    MembershipFactory,
    ModelVersionFactory,
    PatientFactory,
    PredictionFactory,
    StudyFactory,
)

pytestmark = pytest.mark.django_db


def radiologist_at(site):
    return with_totp(MembershipFactory(site=site, role=Role.RADIOLOGIST).user)


def waiting_study(site, *abnormalities, priority=Study.Priority.ROUTINE, **study):
    """A study at `site` with one analysed image per abnormality, each with an unread prediction."""
    made = StudyFactory(patient=PatientFactory(site=site), priority=priority, **study)
    for abnormality in abnormalities:
        PredictionFactory(image=ImageFactory(study=made), abnormality=abnormality, margin=abs(abnormality - 0.5))
    return made


def test_one_row_per_study_with_its_facts(site, radiologist):
    study = waiting_study(site, 0.2, 0.9, 0.4)
    study.patient.birth_date = date.today().replace(year=date.today().year - 40) - timedelta(days=1)
    study.patient.save()
    ImageFactory(study=study, status=Image.Status.QUEUED)  # counted as an image, not as waiting
    rows = list(selectors.worklist_studies(user=radiologist))
    assert rows == [study]
    row = rows[0]
    assert row.abnormality == pytest.approx(0.9)
    assert row.margin == pytest.approx(0.1)
    assert (row.image_count, row.unread_count) == (4, 3)
    assert row.top_label == "pneumonia" and row.top_task == "chest-xray"
    assert row.patient.age == 40
    assert row.waiting_since <= timezone.now()


def test_read_images_drop_out_and_a_fully_read_study_leaves(site, radiologist):
    study = waiting_study(site, 0.9, 0.3)
    first, second = study.image_list()
    review_submit(prediction=first.predictions.get(), reviewer=radiologist, label="pneumonia")
    row = selectors.worklist_studies(user=radiologist).get()
    assert (row.unread_count, row.abnormality) == (1, pytest.approx(0.3))
    assert selectors.worklist_first_waiting_image(user=radiologist, study=study) == second
    review_submit(prediction=second.predictions.get(), reviewer=radiologist, label="normal")
    assert list(selectors.worklist_studies(user=radiologist)) == []
    assert selectors.worklist_first_waiting_image(user=radiologist, study=study) is None


def test_triage_puts_stat_first_then_the_most_abnormal(site, radiologist):
    routine_high = waiting_study(site, 0.95)
    routine_low = waiting_study(site, 0.1)
    stat_low = waiting_study(site, 0.05, priority=Study.Priority.STAT)
    urgent = waiting_study(site, 0.5, priority=Study.Priority.URGENT)
    assert list(selectors.worklist_studies(user=radiologist)) == [stat_low, urgent, routine_high, routine_low]
    by_ai = list(selectors.worklist_studies(user=radiologist, filters={"order": "abnormal"}))
    assert by_ai == [routine_high, urgent, routine_low, stat_low]
    uncertain = list(selectors.worklist_studies(user=radiologist, filters={"order": "uncertain"}))
    assert uncertain[0] == urgent  # margin 0
    oldest = list(selectors.worklist_studies(user=radiologist, filters={"order": "oldest"}))
    assert oldest == [routine_high, routine_low, stat_low, urgent]
    assert list(selectors.worklist_studies(user=radiologist, filters={"order": "newest"})) == oldest[::-1]


def test_filters_narrow_and_bad_ones_are_reported_not_applied(site, other_site, radiologist):
    MembershipFactory(user=radiologist, site=other_site, role=Role.RADIOLOGIST)
    cr = waiting_study(site, 0.9)
    ct = waiting_study(other_site, 0.5, modality=Study.Modality.CT, priority=Study.Priority.URGENT)
    brain = ModelVersionFactory(task="brain-mri", classes=["no_tumor", "glioma"], positive_class="glioma")
    PredictionFactory(image=ImageFactory(study=ct), model_version=brain, label="glioma", abnormality=0.99)
    studies = selectors.worklist_studies
    assert list(studies(user=radiologist, filters={"site": str(other_site.pk)})) == [ct]
    assert list(studies(user=radiologist, filters={"modality": "CR"})) == [cr]
    assert list(studies(user=radiologist, filters={"priority": "urgent"})) == [ct]
    by_task = studies(user=radiologist, filters={"task": "chest-xray", "order": "abnormal"})
    assert list(by_task) == [cr, ct]
    assert by_task.get(pk=ct.pk).abnormality == pytest.approx(0.5)  # the brain result does not count here
    assert list(studies(user=radiologist, filters={"label": "glioma"})) == [ct]
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    assert list(studies(user=radiologist, filters={"created_after": tomorrow})) == []
    assert selectors.worklist_filter({"priority": "soon", "order": "sideways"}).errors.keys() == {"priority", "order"}
    assert len(studies(user=radiologist, filters={"priority": "soon"})) == 2


def test_second_reader_site_lists_what_waits_for_each_reader(site, study):
    site.second_reader = True
    site.save()
    first, second = radiologist_at(site), radiologist_at(site)
    prediction = PredictionFactory(image=ImageFactory(study=study))
    review_submit(prediction=prediction, reviewer=first, label="pneumonia")
    assert list(selectors.worklist_studies(user=first)) == []
    assert list(selectors.worklist_studies(user=second)) == [study]


def test_the_worklist_is_for_the_readers_own_sites_and_never_a_shadow(site, other_site, radiologist, clinician):
    waiting_study(other_site, 0.9)
    shadow = ModelVersionFactory(status=ModelVersion.Status.SHADOW)
    study = StudyFactory(patient=PatientFactory(site=site))
    PredictionFactory(image=ImageFactory(study=study), model_version=shadow, is_shadow=True)
    assert list(selectors.worklist_studies(user=radiologist)) == []
    assert list(selectors.worklist_studies(user=clinician)) == []


def test_a_claim_keeps_others_out_until_it_lapses(site, time_machine, settings):
    settings.MEDSITE_READING_CLAIM_MINUTES = 15
    time_machine.move_to(timezone.now(), tick=False)
    study = waiting_study(site, 0.9)
    mine, theirs = radiologist_at(site), radiologist_at(site)
    study_claim(study=study, reader=mine)
    assert claim_holder(Study.objects.get(pk=study.pk)) == mine
    with pytest.raises(DomainError) as refused:
        study_claim(study=study, reader=theirs)
    assert refused.value.kind == "conflict" and refused.value.code == "claimed"
    assert "Being read by" in refused.value.messages[0] and str(mine) in refused.value.messages[0]
    time_machine.shift(timedelta(minutes=10))
    study_claim(study=study, reader=mine)  # a refresh: 15 minutes from now
    time_machine.shift(timedelta(minutes=10))
    assert claim_holder(Study.objects.get(pk=study.pk)) == mine
    time_machine.shift(timedelta(minutes=6))
    assert claim_holder(Study.objects.get(pk=study.pk)) is None  # lapsed
    study_claim(study=study, reader=theirs)
    assert Study.objects.get(pk=study.pk).claimed_by == theirs


def test_claims_are_audited_once_and_release_only_ones_own(site):
    study = waiting_study(site, 0.9)
    mine, theirs = radiologist_at(site), radiologist_at(site)
    study_claim(study=study, reader=mine)
    study_claim(study=study, reader=mine)  # a refresh is not a new event
    study_release(study=study, reader=theirs)  # not theirs: nothing happens
    assert Study.objects.get(pk=study.pk).claimed_by == mine
    study_release(study=study, reader=mine)
    assert Study.objects.get(pk=study.pk).claimed_by is None
    events = AuditEvent.objects.filter(object_type="study", object_id=str(study.pk), action=AuditEvent.Action.UPDATE)
    assert [event.detail for event in events.order_by("id")] == [{"claim": "taken"}, {"claim": "released"}]


def test_claim_filter_and_next_study_skip_other_readers_claims(site, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    first, second, third = (waiting_study(site, p) for p in (0.9, 0.8, 0.7))
    mine, theirs = radiologist_at(site), radiologist_at(site)
    study_claim(study=second, reader=theirs)
    study_claim(study=third, reader=mine)
    studies = selectors.worklist_studies
    assert list(studies(user=mine, filters={"claimed": "mine"})) == [third]
    assert list(studies(user=mine, filters={"claimed": "others"})) == [second]
    assert list(studies(user=mine, filters={"claimed": "unclaimed"})) == [first]
    assert selectors.worklist_next_study(user=mine) == first
    assert selectors.worklist_next_study(user=mine, after=first) == third  # second is being read by them
    assert selectors.worklist_next_study(user=mine, after=third) == first  # round again from the top
    assert selectors.worklist_next_study(user=theirs, after=first) == second
    time_machine.shift(timedelta(minutes=16))
    assert selectors.worklist_next_study(user=mine, after=first) == second  # their claim lapsed


def test_reading_the_last_waiting_image_releases_the_claim(site):
    site.second_reader = True
    site.save()
    study = waiting_study(site, 0.9, 0.2)
    first, second = radiologist_at(site), radiologist_at(site)
    study_claim(study=study, reader=first)
    one, two = (image.predictions.get() for image in study.image_list())
    review_submit(prediction=one, reviewer=first, label="pneumonia")
    assert Study.objects.get(pk=study.pk).claimed_by == first  # an image still waits for them
    review_submit(prediction=two, reviewer=first, label="normal")
    assert Study.objects.get(pk=study.pk).claimed_by is None
    assert selectors.worklist_next_study(user=second) == study  # the second reader is not kept out
