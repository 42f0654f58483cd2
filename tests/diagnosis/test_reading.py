"""The reading view (views.study_read), the review form's decisions and where a save goes next (views.review_submit),
and the result card (templates/diagnosis/_result_card.html) on the reading view and the study page."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.messages import get_messages
from django.urls import reverse

from accounts.models import AuditEvent, Role
from diagnosis.models import ModelVersion, Review, Study
from tests.conftest import with_totp
from tests.diagnosis.conftest import predicted_image
from tests.factories import ImageFactory, MembershipFactory, ModelVersionFactory, PredictionFactory, StudyFactory

pytestmark = pytest.mark.django_db


def read_url(study, image=None, **query) -> str:
    url = reverse("diagnosis:study_read", args=[study.pk])
    params = ({"image": image.pk} if image is not None else {}) | query
    return url + ("?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else "")


def review_url(prediction) -> str:
    return reverse("diagnosis:review_submit", args=[prediction.pk])


def form_of(html: str, prediction) -> str:
    """The review form of `prediction` in a page."""
    match = re.search(rf'<form [^>]*id="review-form-{prediction.pk}".*?</form>', html, re.S)
    assert match, f"no review form for prediction {prediction.pk}"
    return match.group(0)


def checked_values(form_html: str) -> list[tuple[str, str]]:
    """(name, value) of the checked radios of a form's HTML."""
    return [
        (re.search(r'name="(\w+)"', tag).group(1), re.search(r'value="([^"]*)"', tag).group(1))
        for tag in re.findall(r"<input [^>]*>", form_html)
        if re.search(r"\schecked\b", tag)
    ]


@pytest.fixture
def two_images(study, model_version):
    """Two analysed images of `study`, both waiting: pneumonia (0.8) then normal (0.9)."""
    first = PredictionFactory(image__study=study, image__original_name="1.png", model_version=model_version)
    second = predicted_image(study, model_version, 2)
    return first, second


# --- who may read -----------------------------------------------------------------------------------------------


def test_radiologist_opens_the_reading_view_and_claims_the_study(login, radiologist, prediction):
    study = prediction.image.study
    response = login(radiologist).get(read_url(study))
    assert response.status_code == 200
    page = response.content.decode()
    assert study.patient.name in page and study.patient.mrn in page
    assert "Image 1 of 1" in page
    study.refresh_from_db()
    assert study.claimed_by == radiologist
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.VIEW, actor=radiologist, object_type="study", object_id=str(study.pk)
    ).exists()


@pytest.mark.parametrize(("user_fixture", "status"), [("clinician", 403), ("site_admin", 403), ("outsider", 404)])
def test_reading_view_refused(request, login, prediction, user_fixture, status):
    user = request.getfixturevalue(user_fixture)
    study = prediction.image.study
    assert login(user).get(read_url(study)).status_code == status
    denied = AuditEvent.objects.filter(action=AuditEvent.Action.DENIED, actor=user)
    assert denied.count() == 1
    study.refresh_from_db()
    assert study.claimed_by is None


def test_reading_view_404_for_an_image_of_another_study(login, radiologist, prediction, study, model_version):
    elsewhere = PredictionFactory(image__study=StudyFactory(patient=study.patient), model_version=model_version)
    response = login(radiologist).get(read_url(study, elsewhere.image))
    assert response.status_code == 404


def test_another_readers_claim_is_shown_with_read_anyway(login, radiologist, site, prediction):
    other = with_totp(MembershipFactory(site=site, role=Role.RADIOLOGIST, user__email="dr.other@hospital.example").user)
    study = prediction.image.study
    login(other).get(read_url(study))
    page = login(radiologist).get(read_url(study)).content.decode()
    assert "Being read by dr.other@hospital.example" in page
    assert "Read anyway" in page
    assert f'id="review-form-{prediction.pk}"' not in page  # no decision under someone else's claim
    anyway = login(radiologist).get(read_url(study, prediction.image, anyway=1)).content.decode()
    assert f'id="review-form-{prediction.pk}"' in anyway
    study.refresh_from_db()
    assert study.claimed_by == other  # reading anyway does not take the claim away


def test_reading_view_opens_at_the_first_waiting_image(login, radiologist, two_images):
    first, second = two_images
    login(radiologist).post(review_url(first), {"decision": "agree"})
    page = login(radiologist).get(read_url(first.image.study)).content.decode()
    assert "Image 2 of 2" in page
    assert f'id="review-form-{second.pk}"' in page


# --- nothing preselected; the reader's own read once saved ---------------------------------------------------------


def test_no_decision_is_preselected(login, radiologist, prediction):
    study = prediction.image.study
    client = login(radiologist)
    for url in (read_url(study), reverse("diagnosis:study_detail", args=[study.pk])):
        form = form_of(client.get(url).content.decode(), prediction)
        assert checked_values(form) == []
        assert "<select" not in form


def test_after_a_correction_the_form_shows_the_readers_label(login, radiologist, prediction):
    client = login(radiologist)
    client.post(review_url(prediction), {"decision": "disagree", "label": "normal", "then": "stay"})
    for url in (read_url(prediction.image.study), reverse("diagnosis:study_detail", args=[prediction.image.study_id])):
        form = form_of(client.get(url).content.decode(), prediction)
        assert checked_values(form) == [("decision", "disagree"), ("label", "normal")]
    # Saving again what the form shows keeps the correction (it used to revert to the AI's label).
    client.post(review_url(prediction), {"decision": "disagree", "label": "normal"})
    assert [r.label for r in Review.objects.filter(prediction=prediction)] == ["normal", "normal"]


def test_another_readers_decision_is_not_preselected(login, radiologist, site, prediction):
    other = with_totp(MembershipFactory(site=site, role=Role.RADIOLOGIST).user)
    login(other).post(review_url(prediction), {"decision": "agree"})
    form = form_of(login(radiologist).get(read_url(prediction.image.study, anyway=1)).content.decode(), prediction)
    assert checked_values(form) == []


# --- decisions --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("post", "decision", "label"),
    [
        ({"decision": "agree"}, Review.Decision.CONFIRM, "pneumonia"),
        ({"decision": "agree", "label": "normal"}, Review.Decision.CONFIRM, "pneumonia"),  # Agree is the AI's label
        ({"decision": "disagree", "label": "normal"}, Review.Decision.CORRECT, "normal"),
        ({"decision": "uncertain", "note": "motion"}, Review.Decision.UNCERTAIN, ""),
        ({"label": "normal"}, Review.Decision.CORRECT, "normal"),  # a bare label, as forms posted before
    ],
)
def test_decisions(login, radiologist, prediction, post, decision, label):
    response = login(radiologist).post(review_url(prediction), post)
    assert response.status_code == 302
    review = Review.objects.get(prediction=prediction)
    assert (review.decision, review.label, review.reviewer) == (decision, label, radiologist)


@pytest.mark.parametrize(
    "post",
    [
        {},  # no decision: nothing is assumed
        {"note": "only a note"},
        {"decision": "disagree"},  # Disagree needs the reader's label
        {"decision": "disagree", "label": "pneumonia"},  # ... one the AI did not give
        {"decision": "maybe"},
        {"decision": "disagree", "label": "fracture"},  # not one of the model's classes
    ],
)
def test_incomplete_decisions_are_refused(login, radiologist, prediction, post):
    response = login(radiologist).post(review_url(prediction), post)
    assert response.status_code == 400
    assert not Review.objects.exists()


@pytest.mark.parametrize(("user_fixture", "status"), [("clinician", 403), ("outsider", 404)])
def test_review_refused(request, login, prediction, user_fixture, status):
    response = login(request.getfixturevalue(user_fixture)).post(review_url(prediction), {"decision": "agree"})
    assert response.status_code == status
    assert not Review.objects.exists()


# --- where a save goes ------------------------------------------------------------------------------------------


def test_study_page_save_returns_to_the_image_with_a_saved_message(login, radiologist, prediction):
    response = login(radiologist).post(review_url(prediction), {"decision": "agree"})
    study_url = reverse("diagnosis:study_detail", args=[prediction.image.study_id])
    assert response["Location"] == f"{study_url}#image-{prediction.image_id}"
    image = prediction.image
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        f"Saved: Confirmed as pneumonia (image {image.original_name}, {image.study.patient.name})."
    ]


def test_save_stays_on_the_image(login, radiologist, prediction):
    response = login(radiologist).post(review_url(prediction), {"decision": "agree", "then": "stay"})
    assert response["Location"] == read_url(prediction.image.study, prediction.image)


def test_save_and_next_goes_to_the_next_waiting_image_then_study_then_worklist(
    login, radiologist, patient, two_images, model_version
):
    first, second = two_images
    later = StudyFactory(patient=patient, priority=Study.Priority.ROUTINE)
    third = predicted_image(later, model_version, 3)
    client = login(radiologist)
    client.get(read_url(first.image.study))

    response = client.post(review_url(first), {"decision": "agree", "then": "next"})
    assert response["Location"] == read_url(first.image.study, second.image)

    response = client.post(review_url(second), {"decision": "disagree", "label": "pneumonia", "then": "next"})
    assert response["Location"] == read_url(later)
    first.image.study.refresh_from_db()
    assert first.image.study.claimed_by is None  # the finished study is released

    response = client.post(review_url(third), {"decision": "uncertain", "then": "next"})
    assert response["Location"] == reverse("diagnosis:worklist")
    shown = [str(m) for m in get_messages(response.wsgi_request)]  # no page was shown in between: all three saves
    assert shown[2].startswith("Saved: Marked uncertain / not diagnostic")
    assert shown[3] == "All caught up: nothing else on your worklist waits for a read."


def test_save_and_next_skips_a_study_another_reader_holds(login, radiologist, site, patient, prediction, model_version):
    held = predicted_image(StudyFactory(patient=patient), model_version, 5)
    free = predicted_image(StudyFactory(patient=patient), model_version, 6)
    other = with_totp(MembershipFactory(site=site, role=Role.RADIOLOGIST).user)
    login(other).get(read_url(held.image.study))
    response = login(radiologist).post(review_url(prediction), {"decision": "agree", "then": "next"})
    assert response["Location"] == read_url(free.image.study)


# --- the result card --------------------------------------------------------------------------------------------


def headline(html: str) -> str:
    match = re.search(r'<p class="read-headline ([\w-]+)"[^>]*data-testid="read-headline">(.*?)</p>', html, re.S)
    assert match, "no read headline"
    text = re.sub(r"<span class=\"visually-hidden\">.*?</span>", "", match.group(2))
    return match.group(1), " ".join(re.sub(r"<[^>]+>", " ", text).split()).replace(" :", ":")


def test_card_before_any_read_says_not_read_yet_and_shows_the_ai_suggestion(login, radiologist, prediction):
    page = login(radiologist).get(read_url(prediction.image.study)).content.decode()
    assert headline(page) == ("read-none", "Radiologist: not read yet")
    assert "AI suggestion" in page and 'data-testid="ai-label">pneumonia<' in page


def test_card_headline_is_the_radiologists_correction(login, radiologist, prediction, model_version):
    normal_ai = predicted_image(prediction.image.study, model_version, 9)  # the AI said normal
    client = login(radiologist)
    client.post(review_url(normal_ai), {"decision": "disagree", "label": "pneumonia"})
    client.post(review_url(prediction), {"decision": "disagree", "label": "normal"})
    for url in (read_url(normal_ai.image.study, normal_ai.image), read_url(normal_ai.image.study, prediction.image)):
        page = client.get(url).content.decode()
        kind, text = headline(page)
        assert text in ("Radiologist: pneumonia (corrected the AI)", "Radiologist: normal (corrected the AI)")
        # A finding is never success-styled; a normal read is neutral.
        assert kind == ("read-finding" if "pneumonia" in text else "read-normal")
        assert "status-done" not in page.split('data-testid="result-card"')[1]
    page = client.get(reverse("diagnosis:study_detail", args=[prediction.image.study_id])).content.decode()
    assert page.index("corrected the AI") < page.index("AI suggestion")  # the human read first


def test_card_shows_intended_use_and_input_size(login, radiologist, prediction):
    page = login(radiologist).get(read_url(prediction.image.study)).content.decode()
    use = re.search(r'data-testid="model-use">(.*?)</dl>', page, re.S).group(1)
    assert "chest-xray: tells normal, pneumonia" in use
    assert "16×16 px" in use


@pytest.mark.parametrize(
    ("p", "near"),
    [(0.133, True), (0.152, True), (0.175, True), (0.001, False), (0.30, False), (0.99, False)],
)
def test_near_the_threshold_within_the_validation_calibration_error(login, radiologist, study, p, near):
    version = ModelVersionFactory(task="xr-near", threshold=0.152, metrics={"val": {"ece_positive": 0.031}})
    prediction = PredictionFactory(
        image__study=study,
        model_version=version,
        threshold=0.152,
        label="pneumonia" if p >= 0.152 else "normal",
        probabilities={"normal": 1 - p, "pneumonia": p},
    )
    assert prediction.near_threshold is near
    page = login(radiologist).get(read_url(study)).content.decode()
    assert ('data-testid="near-threshold"' in page) is near
    assert 'data-testid="threshold-marker" x="15"' in page  # the marker at 0.152 on the 0-100 bar
    line = re.search(r'data-testid="threshold-line">(.*?)</p>', page, re.S).group(1)
    assert line.startswith(f"P(pneumonia) {p:.3f} against the operating threshold 0.152")
    assert ("within ±0.031, a close call" in line) is near


def test_near_margin_comes_from_validation_else_a_documented_default():
    assert ModelVersion(threshold=0.3, metrics={"val": {"ece_positive": 0.07}}).near_margin == pytest.approx(0.07)
    assert ModelVersion(threshold=0.3, metrics={"val": {"ece_positive": 0.0}}).near_margin == 0.02  # the floor
    assert ModelVersion(threshold=0.3, metrics={}).near_margin == ModelVersion.NEAR_MARGIN_DEFAULT == 0.05
    assert ModelVersion(threshold=None, metrics={"val": {"ece": 0.04, "ece_positive": 0.5}}).near_margin == 0.04


def test_second_reader_card_keeps_the_reading_state(login, radiologist, site, prediction):
    site.second_reader = True
    site.save()
    client = login(radiologist)
    client.post(review_url(prediction), {"decision": "agree"})
    page = client.get(read_url(prediction.image.study, prediction.image)).content.decode()
    assert 'data-testid="reading">Awaiting a second reader<' in page
    assert headline(page) == ("read-none", "Radiologist: not final")


NODE = shutil.which("node")
READING_JS = Path(settings.BASE_DIR) / "diagnosis" / "static" / "js" / "reading.js"
COMPLETE = """
const vm = require("vm"), fs = require("fs");
const context = {window: {}};
vm.createContext(context);
vm.runInContext(fs.readFileSync(process.argv[1], "utf8"), context);
const complete = context.window.MedSiteReading.complete;
console.log(JSON.stringify([["", ""], ["agree", ""], ["uncertain", ""], ["disagree", ""], ["disagree", "normal"],
  ["maybe", "normal"]].map(([d, l]) => complete(d, l))));
"""


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_reading_js_enables_save_only_for_a_whole_decision():
    result = subprocess.run([NODE, "-e", COMPLETE, str(READING_JS)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [False, True, True, False, True, False]


def test_reading_view_without_images_is_404_and_an_image_without_ai_result_says_so(login, radiologist, study):
    client = login(radiologist)
    assert client.get(read_url(study)).status_code == 404
    ImageFactory(study=study, status="unsuitable", failure_reason="The image is too small (8 px).")
    page = client.get(read_url(study)).content.decode()
    assert 'data-testid="no-ai-result"' in page and "The image is too small (8 px)." in page
    assert "data-review-form" not in page  # nothing to agree or disagree with


def test_read_anyway_is_kept_when_moving_between_images(login, radiologist, site, two_images):
    first, second = two_images
    other = with_totp(MembershipFactory(site=site, role=Role.RADIOLOGIST).user)
    login(other).get(read_url(first.image.study))
    page = login(radiologist).get(read_url(first.image.study, first.image, anyway=1)).content.decode()
    assert f'href="?image={second.image.pk}&amp;anyway=1" aria-keyshortcuts="n"' in page


def test_a_multi_class_close_call(login, radiologist, study):
    version = ModelVersionFactory(
        task="brain-mri", classes=["glioma", "meningioma", "no_tumor"], threshold=None, positive_class="",
        metrics={"val": {"ece": 0.04}},
    )  # fmt: skip
    PredictionFactory(
        image__study=study, model_version=version, threshold=None, label="glioma",
        probabilities={"glioma": 0.46, "meningioma": 0.43, "no_tumor": 0.11},
    )  # fmt: skip
    page = login(radiologist).get(read_url(study)).content.decode()
    assert 'data-testid="near-threshold"' in page
    assert "The top two classes are within 0.040 of each other: a close call." in page
    assert 'data-testid="threshold-marker"' not in page  # no operating threshold to mark


def test_a_save_while_reading_anyway_stays_reading_anyway(login, radiologist, site, two_images):
    first, second = two_images
    other = with_totp(MembershipFactory(site=site, role=Role.RADIOLOGIST).user)
    login(other).get(read_url(first.image.study))
    client = login(radiologist)
    form = form_of(client.get(read_url(first.image.study, first.image, anyway=1)).content.decode(), first)
    assert '<input type="hidden" name="anyway" value="1">' in form
    response = client.post(review_url(first), {"decision": "agree", "then": "stay", "anyway": "1"})
    assert response["Location"] == read_url(first.image.study, first.image, anyway=1)
    response = client.post(review_url(first), {"decision": "agree", "then": "next", "anyway": "1"})
    assert response["Location"] == read_url(first.image.study, second.image, anyway=1)
    first.image.study.refresh_from_db()
    assert first.image.study.claimed_by == other
