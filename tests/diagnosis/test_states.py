"""States that tell the truth (issue 23): a study without AI results awaits a human read, "no model" is information,
an evaluation in flight says so and polls, promotion and rollback need a written reason, alarms stand out, and the
patient list and patient page carry AI flags and unread counts computed in the selectors (no query per row)."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent
from diagnosis import selectors
from diagnosis.models import Image, LearningPolicy, ModelEvaluation, ModelVersion, Study, TrainingRun
from diagnosis.services import learning
from diagnosis.services.records import study_refresh_status
from tests.diagnosis.conftest import passing_evaluation
from tests.factories import (
    ImageFactory,
    ModelVersionFactory,
    PatientFactory,
    PredictionFactory,
    ReviewFactory,
    StudyFactory,
)

pytestmark = pytest.mark.django_db


# --- Study.derived_status ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [Image.Status.NO_MODEL, Image.Status.UNSUITABLE, Image.Status.FAILED])
def test_a_study_whose_images_have_no_ai_result_awaits_a_human_read(study, status):
    ImageFactory(study=study, status=status)
    assert study_refresh_status(study=study) == Study.Status.AWAITING_READ


def test_ai_results_to_review_come_first_then_the_human_read_and_never_complete(study, model_version, radiologist):
    ImageFactory(study=study, status=Image.Status.NO_MODEL)
    prediction = PredictionFactory(image=ImageFactory(study=study), model_version=model_version)
    assert study_refresh_status(study=study) == Study.Status.AWAITING_REVIEW
    ReviewFactory(prediction=prediction, reviewer=radiologist)
    assert study_refresh_status(study=study) == Study.Status.AWAITING_READ  # the MR/knee image still has no read


def test_a_study_is_complete_only_when_every_image_has_a_read_ai_result(study, model_version, radiologist):
    prediction = PredictionFactory(image=ImageFactory(study=study), model_version=model_version)
    ReviewFactory(prediction=prediction, reviewer=radiologist)
    assert study_refresh_status(study=study) == Study.Status.COMPLETE


def test_the_api_filters_and_shows_awaiting_read(api, clinician, study):
    ImageFactory(study=study, status=Image.Status.NO_MODEL)
    study_refresh_status(study=study)
    body = api(clinician).get(reverse("api:study-list"), {"status": "awaiting_read"}).json()
    assert [row["status"] for row in body["results"]] == ["awaiting_read"]


# --- the study page -------------------------------------------------------------------------------------------


def test_no_model_is_an_information_box_not_an_error(client, clinician, patient):
    study = StudyFactory(patient=patient, modality="MR", body_part="KNEE")
    ImageFactory(study=study, status=Image.Status.NO_MODEL, failure_reason="No model reads MR KNEE.")
    study_refresh_status(study=study)
    client.force_login(clinician)
    page = client.get(reverse("diagnosis:study_detail", args=[study.pk])).content.decode()
    assert 'class="notice info" data-testid="no-model"' in page
    assert "No AI analysis for this kind of image;</strong> read it without AI support." in page
    assert 'class="error"' not in page
    assert "Awaiting a human read (no AI analysis)" in page and 'data-testid="awaiting-read"' in page
    assert "Complete" not in page


# --- triage on the patient list and the patient page -------------------------------------------------------------


def _patient_with_results(site, model_version, reviewer, *, flagged: bool):
    patient = PatientFactory(site=site)
    study = StudyFactory(patient=patient)
    label, abnormality = ("pneumonia", 0.91) if flagged else ("normal", 0.1)
    PredictionFactory(
        image=ImageFactory(study=study), model_version=model_version, label=label, abnormality=abnormality
    )
    PredictionFactory(image=ImageFactory(study=study), model_version=model_version, label="pneumonia", abnormality=0.6)
    read = PredictionFactory(
        image=ImageFactory(study=study), model_version=model_version, label="pneumonia", abnormality=0.99
    )
    ReviewFactory(prediction=read, reviewer=reviewer, label="normal", decision="correct")  # read: no flag any more
    return patient, study


def test_the_selectors_count_unread_results_and_flag_the_most_abnormal_unread_one(
    site, radiologist, clinician, model_version
):
    patient, study = _patient_with_results(site, model_version, radiologist, flagged=True)
    ModelVersionFactory(status=ModelVersion.Status.SHADOW)
    quiet = PatientFactory(site=site)
    rows = {row.pk: row for row in selectors.patient_list(user=clinician)}
    assert (rows[patient.pk].unread_count, rows[patient.pk].ai_flag_label) == (2, "pneumonia")
    assert rows[patient.pk].ai_flag_abnormality == pytest.approx(0.91)  # 0.99 was read by a radiologist
    assert (rows[quiet.pk].unread_count, rows[quiet.pk].ai_flag_label) == (0, None)
    (row,) = selectors.study_list(user=clinician, filters={"patient": patient.pk})
    assert (row.pk, row.unread_count, row.ai_flag_label) == (study.pk, 2, "pneumonia")


def test_a_normal_label_raises_no_flag(site, radiologist, clinician, model_version):
    patient, _ = _patient_with_results(site, model_version, radiologist, flagged=False)
    (row,) = [row for row in selectors.patient_list(user=clinician) if row.pk == patient.pk]
    assert row.unread_count == 2 and row.ai_flag_label == "pneumonia"  # the 0.6 pneumonia is still unread
    assert row.ai_flag_abnormality == pytest.approx(0.6)


def test_the_patient_list_shows_flags_without_a_query_per_row(
    client, site, radiologist, clinician, model_version, django_assert_max_num_queries
):
    _patient_with_results(site, model_version, radiologist, flagged=True)
    client.force_login(clinician)
    client.get(reverse("diagnosis:home"))  # warm the session and caches
    with django_assert_max_num_queries(12) as one:
        client.get(reverse("diagnosis:home"))
    for _ in range(5):
        _patient_with_results(site, model_version, radiologist, flagged=True)
    with django_assert_max_num_queries(len(one.captured_queries)):
        page = client.get(reverse("diagnosis:home")).content.decode()
    assert page.count("AI: abnormal finding suggested") == 6
    assert "pneumonia · P(abnormal) 0.91" in page


def test_the_patient_page_shows_flags_and_unread_counts_per_study(
    client, site, radiologist, clinician, model_version, django_assert_max_num_queries
):
    patient, study = _patient_with_results(site, model_version, radiologist, flagged=True)
    client.force_login(clinician)
    url = reverse("diagnosis:patient_detail", args=[patient.pk])
    client.get(url)
    with django_assert_max_num_queries(30) as one:
        client.get(url)
    for _ in range(4):
        StudyFactory(patient=patient)
    with django_assert_max_num_queries(len(one.captured_queries)):
        page = client.get(url).content.decode()
    assert "AI: abnormal finding suggested" in page
    assert '<span class="unread-count">2<span class="visually-hidden"> unread AI results</span></span>' in page


# --- the model page ----------------------------------------------------------------------------------------------


def test_a_queued_evaluation_shows_and_polls_until_its_result_is_in(client, superuser, world, model_version):
    LearningPolicy.objects.create(task="chest-xray", base_dataset="/data/base.npz")
    client.force_login(superuser)
    url = reverse("diagnosis:model_detail", args=[world.candidate.pk])
    client.post(reverse("diagnosis:model_evaluate", args=[world.candidate.pk]))
    page = client.get(url).content.decode()
    assert 'data-testid="evaluation-pending"' in page and "Evaluation queued" in page
    assert 'hx-select="#holdout-section" hx-trigger="every 3s"' in page
    passing_evaluation(world.candidate, baseline=model_version)
    page = client.get(url).content.decode()
    assert 'data-testid="evaluation-pending"' not in page and "hx-trigger" not in page
    assert 'data-testid="evaluation"' in page


def test_an_evaluation_that_never_came_back_stops_polling_and_says_so(superuser, world):
    LearningPolicy.objects.create(task="chest-xray", base_dataset="/data/base.npz")
    learning.model_evaluation_request(model_version=world.candidate, actor=superuser)
    later = timezone.now() + timedelta(days=2)
    assert learning.model_evaluation_pending(model_version=world.candidate, now=later)["overdue"] is True
    assert learning.model_evaluation_pending(model_version=world.candidate)["overdue"] is False
    assert not ModelEvaluation.objects.exists()


def test_promotion_and_rollback_need_a_written_reason_which_is_audited(client, superuser, world, model_version):
    passing_evaluation(world.candidate, baseline=model_version)
    ModelVersion.objects.filter(pk=model_version.pk).update(activated_at=timezone.now())  # as model_activate does
    client.force_login(superuser)
    page = client.get(reverse("diagnosis:model_detail", args=[world.candidate.pk])).content.decode()
    assert '<summary class="button">Promote to active…</summary>' in page
    assert 'id="promote-reason" name="reason" rows="2" maxlength="500" required' in page
    promote = reverse("diagnosis:model_promote", args=[world.candidate.pk])
    refused = client.post(promote, {"reason": "   "}, follow=True).content.decode()
    assert "Not promoted: Write why" in refused
    world.candidate.refresh_from_db()
    assert world.candidate.status == ModelVersion.Status.CANDIDATE
    client.post(promote, {"reason": "better sensitivity on the held-out set"})
    world.candidate.refresh_from_db()
    assert world.candidate.status == ModelVersion.Status.ACTIVE
    event = AuditEvent.objects.get(action=AuditEvent.Action.ACTIVATE, object_id=str(world.candidate.pk))
    assert event.detail["reason"] == "better sensitivity on the held-out set"

    rollback = reverse("diagnosis:model_rollback", args=[world.candidate.pk])
    page = client.get(reverse("diagnosis:model_detail", args=[world.candidate.pk])).content.decode()
    assert "Roll back to the previous active version…</summary>" in page
    assert "Not rolled back: Write why" in client.post(rollback, {}, follow=True).content.decode()
    world.candidate.refresh_from_db()
    assert world.candidate.status == ModelVersion.Status.ACTIVE
    client.post(rollback, {"reason": "false negatives reported by the ward"})
    model_version.refresh_from_db()
    assert model_version.status == ModelVersion.Status.ACTIVE
    events = AuditEvent.objects.filter(object_id=str(model_version.pk), action=AuditEvent.Action.ROLLBACK)
    assert events.latest("at").detail["reason"] == "false negatives reported by the ward"


def test_low_agreement_and_zero_sensitivity_are_alarms_in_words(client, clinician, site, radiologist, model_version):
    LearningPolicy.objects.create(task="chest-xray", base_dataset="x", drift_min_reviews=20)
    study = StudyFactory(patient=PatientFactory(site=site))
    truths = ["pneumonia", "pneumonia", "pneumonia", "pneumonia", "normal"]  # the AI said normal on all five
    for truth in truths:
        prediction = PredictionFactory(
            image=ImageFactory(study=study), model_version=model_version, label="normal", abnormality=0.1
        )
        ReviewFactory(prediction=prediction, reviewer=radiologist, label=truth, decision="confirm")
    client.force_login(clinician)
    page = client.get(reverse("diagnosis:model_detail", args=[model_version.pk])).content.decode()
    assert '<div class="alarms" role="alert" data-testid="model-alarms">' in page
    assert (
        '<strong>Low agreement:</strong> radiologists agreed with this model on only <span class="alarm-value">0.200'
        in page
    )
    assert "fewer than the 20 reviews" in page
    assert "<strong>Missed findings:</strong> live sensitivity" in page and ">0.000</span>" in page


def test_a_model_in_good_standing_raises_no_alarm(client, clinician, model_version):
    client.force_login(clinician)
    page = client.get(reverse("diagnosis:model_detail", args=[model_version.pk])).content.decode()
    assert 'data-testid="model-alarms"' not in page


@pytest.mark.parametrize(
    ("status", "polls"), [("queued", True), ("running", True), ("succeeded", False), ("failed", False)]
)
def test_training_progress_refreshes_itself_until_the_run_ends(client, superuser, status, polls):
    run = TrainingRun.objects.create(task="chest-xray", source="x", status=status)
    client.force_login(superuser)
    page = client.get(reverse("diagnosis:training_run", args=[run.pk])).content.decode()
    progress = reverse("diagnosis:training_run_progress", args=[run.pk])
    assert (f'hx-get="{progress}" hx-trigger="every 2s"' in page) is polls
    partial = client.get(progress).content.decode()
    assert ('hx-trigger="every 2s"' in partial) is polls and "<html" not in partial
