"""The dark theme and the states that tell the truth (issue 23), in a real browser: the theme follows the system
until the toggle says otherwise and is remembered (cookie for the server's first paint, localStorage for the page);
the worklist and the reading view open dark; the results show each file as soon as it is stored; an MR study
without a model awaits a human read with an information box, not an error; the patient list and patient page flag
unread AI findings; the model page polls a queued evaluation, shows its alarms in words, and asks for a reason
before a promotion or a rollback. Every state is screenshotted in both themes at desktop and phone width, and axe
checks each."""

import re

import pytest
from playwright.sync_api import expect

from accounts.models import AuditEvent
from diagnosis.models import Image, LearningPolicy, ModelVersion, Study
from diagnosis.services.records import study_refresh_status
from diagnosis.services.training import model_register
from tests.conftest import png_bytes, train_tiny_bundle
from tests.diagnosis.test_learning import toy_npz
from tests.e2e.conftest import (
    ADMIN,
    CLINICIAN,
    PREDICTION_TIMEOUT,
    RADIOLOGIST,
    assert_accessible,
    assert_no_page_errors,
    phone,
)
from tests.e2e.test_reading import analysed_image
from tests.factories import PatientFactory, ReviewFactory, StudyFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.live, pytest.mark.django_db, pytest.mark.timeout(400)]

BACKGROUND = "() => getComputedStyle(document.body).backgroundColor"
DARK_BG = "rgb(15, 19, 24)"  # --bg of the dark theme
LIGHT_BG = "rgb(244, 246, 248)"  # --bg of the light theme


@pytest.fixture(scope="module")
def world(site_live, tmp_path_factory):
    """What the journeys read, written outside the tests' transactions (the web process and the worker see it):
    an MR knee study (no model reads it), a chest study to upload to, a patient whose unread AI result suggests a
    finding, five reviews of the package's first model that disagree with it (an alarm), and a learning policy whose
    held-out set is a tiny .npz (a real evaluation on the worker)."""
    knee = StudyFactory(
        patient=PatientFactory(site=site_live.site, name="Mara Magnet"), modality="MR", body_part="KNEE"
    )
    chest = StudyFactory(
        patient=PatientFactory(site=site_live.site, name="Hugo Held"), modality="DX", body_part="CHEST"
    )
    flagged = PatientFactory(site=site_live.site, name="Flora Flagged", mrn="E2E-FLAG-1")
    flagged_study = StudyFactory(patient=flagged, modality="DX", body_part="CHEST")
    analysed_image(flagged_study, site_live.active, site_live.media, 701, 0.93)
    analysed_image(flagged_study, site_live.active, site_live.media, 702, 0.08)
    study_refresh_status(study=flagged_study)  # as the worker does after each result: awaiting review
    alarm_study = StudyFactory(patient=PatientFactory(site=site_live.site, name="Alma Alarm"), modality="DX")
    reader = UserFactory(email="dr.alarm@demo.medsite")
    active = site_live.active
    flawed = ModelVersion.objects.create(  # a retired version of its own: the other journeys review the active one
        task=active.task, classes=active.classes, threshold=active.threshold, positive_class=active.positive_class,
        image_size=active.image_size, bundle_sha256="a1a2" * 16, status=ModelVersion.Status.RETIRED,
    )  # fmt: skip
    negative, positive = active.classes
    for n, truth in enumerate([positive, positive, positive, positive, negative]):
        prediction = analysed_image(alarm_study, flawed, site_live.media, 710 + n, 0.05)  # AI: negative
        decision = "confirm" if truth == prediction.label else "correct"
        ReviewFactory(prediction=prediction, reviewer=reader, label=truth, decision=decision)
    Study.objects.filter(pk=alarm_study.pk).update(status=Study.Status.COMPLETE)
    created_policy = not LearningPolicy.objects.filter(task=site_live.active.task).exists()
    if created_policy:
        holdout = toy_npz(tmp_path_factory.mktemp("holdout") / "holdout.npz")
        LearningPolicy.objects.create(task=site_live.active.task, base_dataset=str(holdout), drift_min_reviews=20)
    # A candidate of this module's own to evaluate, promote and roll back (which retires it): the package's
    # candidate stays unevaluated for test_journeys' gate, whichever module runs first.
    candidate = model_register(bundle_path=train_tiny_bundle(tmp_path_factory.mktemp("own-candidate"), seed=11))
    yield {
        "knee": knee,
        "chest": chest,
        "flagged": flagged,
        "flagged_study": flagged_study,
        "flawed": flawed,
        "candidate": candidate,
    }
    if created_policy:
        LearningPolicy.objects.filter(task=site_live.active.task).delete()


def choose_theme(page, theme: str) -> None:
    """Press the header toggle's button (theme.js switches at once and stores the choice)."""
    page.locator(f'[data-theme-value="{theme}"]').click()
    expect(page.locator("html")).to_have_attribute("data-theme", theme)


def forget_theme(page) -> None:
    """No stored choice any more (the shared signed-in pages of the package go back to the default)."""
    page.evaluate(
        "() => { localStorage.removeItem('medsite-theme'); document.cookie = 'medsite_theme=; Max-Age=0; Path=/'; }"
    )
    page.emulate_media(color_scheme="light")


def every_look(page, screenshot, step: str, *, axe: bool = True) -> None:
    """Screenshots of the page as it is now, light and dark, desktop and phone; axe on each."""
    for theme in ("light", "dark"):
        choose_theme(page, theme)
        screenshot(page, f"{step}-{theme}")
        if axe:
            assert_accessible(page, f"{step}, {theme}, desktop")
        with phone(page):
            screenshot(page, f"{step}-{theme}-phone")
            if axe:
                assert_accessible(page, f"{step}, {theme}, phone")


def test_theme_follows_the_system_and_the_toggle_is_remembered(browser, screenshot):
    page = browser.as_user(CLINICIAN)
    try:
        forget_theme(page)
        page.goto("/patients/")
        expect(page.locator("html")).to_have_attribute("data-theme", "system")
        expect(page.locator('[data-theme-value="system"]')).to_have_attribute("aria-pressed", "true")
        assert page.evaluate(BACKGROUND) == LIGHT_BG
        page.emulate_media(color_scheme="dark")  # the operating system turns dark: "System" follows it
        assert page.evaluate(BACKGROUND) == DARK_BG
        screenshot(page, "system-dark")
        assert_accessible(page, "patients, system theme, OS dark")

        page.emulate_media(color_scheme="light")
        choose_theme(page, "dark")  # an explicit choice beats the system's
        assert page.evaluate(BACKGROUND) == DARK_BG
        expect(page.locator('[data-theme-value="dark"]')).to_have_attribute("aria-pressed", "true")
        expect(page.locator('[data-theme-value="system"]')).to_have_attribute("aria-pressed", "false")
        assert page.evaluate("() => localStorage.getItem('medsite-theme')") == "dark"
        cookie = next(c for c in page.context.cookies() if c["name"] == "medsite_theme")
        assert (cookie["value"], cookie["sameSite"]) == ("dark", "Lax")

        # The server puts the choice on the first paint: the HTML as sent already says dark.
        response = page.goto("/patients/")
        assert re.search(r'<html lang="en" data-theme="dark">', response.text())
        screenshot(page, "dark")
        # A lost cookie comes back from localStorage.
        page.evaluate("() => { document.cookie = 'medsite_theme=; Max-Age=0; Path=/'; }")
        page.reload()
        expect(page.locator("html")).to_have_attribute("data-theme", "dark")
        assert any(c["name"] == "medsite_theme" and c["value"] == "dark" for c in page.context.cookies())

        choose_theme(page, "light")
        page.emulate_media(color_scheme="dark")
        assert page.evaluate(BACKGROUND) == LIGHT_BG  # light stays light on a dark system
        with phone(page):
            screenshot(page, "light-phone")
            assert_accessible(page, "patients, light, phone")

        # Without JavaScript the toggle is a form that posts, and the server sets the cookie.
        page.evaluate("() => { localStorage.removeItem('medsite-theme'); }")
        response = page.request.post(
            "/accounts/theme/",
            form={
                "theme": "dark",
                "next": "/patients/",
                "csrfmiddlewaretoken": page.locator('input[name="csrfmiddlewaretoken"]').first.input_value(),
            },
            headers={"Referer": page.url},
            max_redirects=0,
        )
        assert response.status == 302 and response.headers["location"] == "/patients/"
        assert "medsite_theme=dark" in response.headers["set-cookie"]
        assert_no_page_errors(page)
    finally:
        forget_theme(page)


def test_worklist_and_reading_view_open_dark_until_the_reader_chooses(browser, screenshot):
    page = browser.as_user(RADIOLOGIST)
    try:
        forget_theme(page)
        page.goto("/worklist/")
        expect(page.locator("html")).to_have_attribute("data-theme", "dark")
        assert page.evaluate(BACKGROUND) == DARK_BG  # on a light system too
        screenshot(page, "worklist")
        page.goto("/patients/")
        expect(page.locator("html")).to_have_attribute("data-theme", "system")  # other pages follow the system
        choose_theme(page, "light")
        page.goto("/worklist/")
        expect(page.locator("html")).to_have_attribute("data-theme", "light")  # the reader's choice wins
        assert page.evaluate(BACKGROUND) == LIGHT_BG
        assert_no_page_errors(page)
    finally:
        forget_theme(page)


def test_results_show_each_file_as_soon_as_it_is_stored(browser, world, screenshot):
    """Reproduces "No images yet" beside a file marked Stored: while a second upload is still in flight, the first
    stored file is already in the results (before, the list waited for the whole batch)."""
    study = world["chest"]
    page = browser.as_user(CLINICIAN)
    held = []

    def hold_second(route):
        if held or not route.request.post_data_buffer or b"second.png" not in route.request.post_data_buffer:
            route.continue_()
        else:
            held.append(route)

    page.route(re.compile(r".*/api/v1/studies/\d+/images/$"), hold_second)
    try:
        page.goto(f"/studies/{study.pk}/")
        expect(page.locator("#results")).to_contain_text("No images yet.")
        page.get_by_label("Choose files…").set_input_files(
            [
                {"name": "first.png", "mimeType": "image/png", "buffer": png_bytes(size=(64, 64))},
                {"name": "second.png", "mimeType": "image/png", "buffer": png_bytes(size=(72, 64))},
            ]
        )
        rows = page.locator("[data-upload-list] li")
        expect(rows.filter(has_text="first.png").locator(".upload-state")).to_have_text("Stored")
        expect(page.locator("#results .image-card")).to_have_count(1)  # at once, while second.png is in flight
        expect(page.locator("#results")).not_to_contain_text("No images yet.")
        expect(rows.filter(has_text="second.png").locator(".upload-state")).not_to_have_text("Stored")
        screenshot(page, "one-stored-one-in-flight")
        assert held, "second.png's upload was not held"
        held[0].continue_()
        expect(page.locator("[data-upload-summary]")).to_have_text("Finished: 2 of 2 files stored.")
        expect(page.locator("#results .image-card")).to_have_count(2)
        assert_no_page_errors(page)
    finally:
        page.unroute(re.compile(r".*/api/v1/studies/\d+/images/$"))


def test_an_mr_study_without_a_model_awaits_a_human_read(browser, world, screenshot):
    study = world["knee"]
    page = browser.as_user(CLINICIAN)
    try:
        page.goto(f"/studies/{study.pk}/")
        page.get_by_label("Choose files…").set_input_files(
            [{"name": "knee-mr.png", "mimeType": "image/png", "buffer": png_bytes(size=(96, 96))}]
        )
        notice = page.get_by_test_id("no-model")
        expect(notice).to_be_visible(timeout=PREDICTION_TIMEOUT)
        expect(notice).to_contain_text("No AI analysis for this kind of image; read it without AI support.")
        expect(page.locator("#results .error")).to_have_count(0)  # information, not a red error
        expect(page.get_by_test_id("study-status")).to_have_text("Awaiting a human read (no AI analysis)")
        expect(page.get_by_test_id("awaiting-read")).to_contain_text("A person reads this study without AI support.")
        expect(page.locator("#results")).not_to_have_attribute("hx-trigger", re.compile("."))  # final: no polling
        assert Image.objects.get(study=study).status == Image.Status.NO_MODEL
        assert Study.objects.get(pk=study.pk).status == Study.Status.AWAITING_READ
        every_look(page, screenshot, "no-model")
        page.goto(f"/patients/{study.patient_id}/")
        expect(page.locator("tbody .badge")).to_have_text("Awaiting a human read (no AI analysis)")
        assert_no_page_errors(page)
    finally:
        forget_theme(page)


def test_patient_list_and_patient_page_flag_unread_ai_findings(browser, world, screenshot):
    page = browser.as_user(CLINICIAN)
    try:
        page.goto("/patients/")
        row = page.locator("tbody tr").filter(has_text="Flora Flagged")
        expect(row.locator(".flag-abnormal")).to_have_text("AI: abnormal finding suggested")
        positive = world["flagged_study"].images.first().predictions.first().model_version.classes[1]
        expect(row.locator(".flag-detail")).to_have_text(f"{positive} · P(abnormal) 0.93")
        expect(row.locator(".unread-count")).to_have_text("2 unread AI results")
        every_look(page, screenshot, "patient-list")
        row.get_by_role("link", name="Flora Flagged").click()
        study_row = page.locator("tbody tr").first
        expect(study_row.locator(".badge").first).to_have_text("Awaiting review")
        expect(study_row.locator(".flag-abnormal")).to_be_visible()
        expect(study_row.locator(".unread-count")).to_have_text("2 unread AI results")
        every_look(page, screenshot, "patient-page")
        assert_no_page_errors(page)
    finally:
        forget_theme(page)


def test_model_page_evaluation_alarms_and_reasoned_promotion_and_rollback(browser, site_live, world, screenshot):
    page = browser.as_user(ADMIN)
    active = ModelVersion.objects.get(task=site_live.active.task, status=ModelVersion.Status.ACTIVE)
    other = world["candidate"]
    try:
        # Alarms: a version radiologists contradicted on 4 of 5 reads (a drift alert instead of the low-agreement
        # alarm when a learning policy made earlier asks for 5 reviews or fewer).
        page.goto(f"/models/{world['flawed'].pk}/")
        alarms = page.get_by_test_id("model-alarms")
        expect(alarms).to_have_attribute("role", "alert")
        low = page.locator('[data-testid="agreement-alarm"], [data-testid="drift-alert"]')
        expect(low).to_contain_text(re.compile(r"(Low agreement|Drift alarm):.* 0\.200"))
        expect(page.get_by_test_id("sensitivity-alarm")).to_contain_text("Missed findings")
        every_look(page, screenshot, "alarms")

        # A queued evaluation says so and the page follows it until the worker's result is in.
        page.goto(f"/models/{other.pk}/")
        page.get_by_test_id("evaluate").click()
        pending = page.get_by_test_id("evaluation-pending")
        expect(pending).to_contain_text("Evaluation queued")
        expect(page.locator("#holdout-section")).to_have_attribute("hx-trigger", "every 3s")
        every_look(page, screenshot, "evaluation-queued", axe=False)
        assert_accessible(page, "evaluation queued")
        expect(page.get_by_test_id("evaluation").first).to_be_visible(timeout=PREDICTION_TIMEOUT)
        expect(pending).to_have_count(0)
        expect(page.locator("#holdout-section")).not_to_have_attribute("hx-trigger", re.compile("."))
        screenshot(page, "evaluation-done")

        # Promotion: a second step; the reason is required (the browser will not send the form without it).
        page.reload()
        page.get_by_test_id("promote-step").locator("summary").click()
        reason = page.get_by_label("Reason (required, kept in the audit trail)")
        page.get_by_test_id("promote").click()
        assert page.evaluate("() => document.querySelector('#promote-reason').validity.valueMissing") is True
        other.refresh_from_db()
        assert other.status != ModelVersion.Status.ACTIVE
        reason.fill("e2e: the candidate scored on the held-out set")
        override = page.get_by_label("Override the gate")
        if override.count():
            override.check()
        every_look(page, screenshot, "promote-step")
        page.get_by_test_id("promote").click()
        expect(page.locator(".message.success")).to_contain_text("is now the active")
        other.refresh_from_db()
        assert other.status == ModelVersion.Status.ACTIVE
        event = AuditEvent.objects.filter(action=AuditEvent.Action.ACTIVATE, object_id=str(other.pk)).latest("at")
        assert event.detail["reason"] == "e2e: the candidate scored on the held-out set"

        # Rollback: the same second step, back to the version that was active before.
        page.get_by_test_id("rollback-step").locator("summary").click()
        page.get_by_label("Reason (required, kept in the audit trail)").fill("e2e: back to the earlier version")
        every_look(page, screenshot, "rollback-step")
        page.get_by_test_id("rollback").click()
        expect(page.locator(".message.success")).to_contain_text("Rolled back")
        active.refresh_from_db()
        assert active.status == ModelVersion.Status.ACTIVE
        event = AuditEvent.objects.filter(action=AuditEvent.Action.ROLLBACK, object_id=str(active.pk)).latest("at")
        assert event.detail["reason"] == "e2e: back to the earlier version"
        assert_no_page_errors(page)
    finally:
        forget_theme(page)
