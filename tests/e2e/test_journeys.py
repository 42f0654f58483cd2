"""Each role's journeys in a real browser (Chromium through Playwright), against the live web server and Celery
worker of tests/e2e/conftest.py. Each journey leaves a screenshot in var/e2e/<journey>.png."""

import base64
import re
import time

import pytest
from playwright.sync_api import expect

from accounts.models import AuditEvent
from diagnosis.management.commands.seed_demo import DEMO_PASSWORD
from diagnosis.models import Image, ModelVersion, Patient, Prediction, Review
from tests.conftest import png_bytes
from tests.e2e.conftest import (
    ADMIN,
    CLINICIAN,
    PREDICTION_TIMEOUT,
    RADIOLOGIST,
    assert_no_page_errors,
    totp_now,
)

pytestmark = [pytest.mark.e2e, pytest.mark.live, pytest.mark.django_db, pytest.mark.timeout(300)]

# A drop as the browser makes it: a DataTransfer holding a File, built in the page from the PNG's bytes.
NEW_TRANSFER = """([name, data]) => {
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, { type: "image/png" }));
  return transfer;
}"""

# The grey level (R, G, B) at the centre of the viewer's canvas.
CANVAS_CENTRE = """() => {
  const canvas = document.querySelector("[data-viewer-canvas]");
  const [r, g, b] = canvas.getContext("2d").getImageData(canvas.width >> 1, canvas.height >> 1, 1, 1).data;
  return [r, g, b];
}"""


def canvas_centre_until(page, condition, timeout: float = 10) -> tuple[int, int, int]:
    """Poll the viewer canvas's centre pixel until condition(r, g, b) holds; the viewer draws on the next frame.
    (Playwright's wait_for_function compiles its predicate in the page, which the site's CSP rightly forbids.)"""
    deadline = time.monotonic() + timeout
    while not condition(*(pixel := tuple(page.evaluate(CANVAS_CENTRE)))):
        assert time.monotonic() < deadline, f"the canvas centre stayed {pixel}"
        page.wait_for_timeout(50)
    return pixel


def drop_png(page, name: str, **png) -> None:
    """Drag a PNG over the study page's drop zone and drop it, with the events a real drop fires."""
    area = page.locator("[data-dropzone-area]")
    transfer = page.evaluate_handle(NEW_TRANSFER, [name, base64.b64encode(png_bytes(**png)).decode()])
    area.dispatch_event("dragenter", {"dataTransfer": transfer})
    expect(area).to_have_class(re.compile(r"\bis-dragover\b"))
    area.dispatch_event("dragover", {"dataTransfer": transfer})
    area.dispatch_event("drop", {"dataTransfer": transfer})
    expect(area).not_to_have_class(re.compile(r"\bis-dragover\b"))


def upload_and_wait(page, study) -> Prediction:
    """Drop a PNG on the study's page and wait until its AI label is shown."""
    page.goto(f"/studies/{study.pk}/")
    drop_png(page, "chest.png")
    expect(page.get_by_test_id("ai-label")).to_be_visible(timeout=PREDICTION_TIMEOUT)
    return Prediction.objects.get(image__study=study)


@pytest.fixture(scope="package")
def predicted(browser, studies):
    """A chest study at the demo site with one image the worker has predicted, uploaded by the clinician."""
    return upload_and_wait(browser.as_user(CLINICIAN), studies["Petra Predicted"])


def test_login_with_totp(browser, site_live, screenshot):
    page = browser.new_page()
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.locator('input[name="login"]').fill(RADIOLOGIST)
    page.locator('input[name="password"]').fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()

    # The password alone does not sign a radiologist in: the second step asks for the authenticator's code.
    page.wait_for_url("**/accounts/2fa/authenticate/")
    expect(page.get_by_role("heading", name="Two-Factor Authentication")).to_be_visible()
    code = totp_now(site_live.secrets[RADIOLOGIST])
    page.locator('input[name="code"]').fill(f"{(int(code) + 1) % 1_000_000:06d}")
    page.get_by_role("button", name="Sign In").click()
    expect(page.get_by_text("Incorrect code.")).to_be_visible()
    screenshot(page, "code")

    page.locator('input[name="code"]').fill(code)
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url("**/worklist/")  # a radiologist starts on their worklist
    expect(page.get_by_role("heading", name="Worklist")).to_be_visible()
    expect(page.locator(".nav-user")).to_contain_text(f"{RADIOLOGIST} · Radiologist at Demo Hospital")
    expect(page.locator('[data-nav="worklist"]')).to_be_visible()
    screenshot(page)
    assert_no_page_errors(page)
    browser.pages.setdefault(RADIOLOGIST, page)  # signed in: the review journey goes on from here


def test_clinician_registers_a_patient(browser, site_live, screenshot):
    page = browser.as_user(CLINICIAN)
    page.goto("/")
    page.get_by_role("link", name="Register patient").click()
    page.locator('input[name="mrn"]').fill("E2E-0001")
    page.locator('input[name="name"]').fill("Rosa Registered")
    page.locator('input[name="birth_date"]').fill("1961-04-12")
    page.locator('select[name="sex"]').select_option("F")
    page.get_by_role("button", name="Register").click()

    page.wait_for_url(re.compile(r"/patients/\d+/$"))
    expect(page.get_by_role("heading", name="Rosa Registered")).to_be_visible()
    expect(page.locator("dl.facts")).to_contain_text("E2E-0001")
    expect(page.locator("dl.facts")).to_contain_text("Demo Hospital")
    patient = Patient.objects.get(site=site_live.site, mrn="E2E-0001")
    assert (patient.name, str(patient.birth_date), patient.sex) == ("Rosa Registered", "1961-04-12", "F")
    assert page.url.endswith(f"/patients/{patient.pk}/")
    assert AuditEvent.objects.filter(actor__email=CLINICIAN, action=AuditEvent.Action.CREATE).exists()

    # Then the first study on the patient page.
    page.locator('select[name="modality"]').select_option("DX")
    page.locator('input[name="body_part"]').fill("CHEST")
    page.get_by_role("button", name="Create study").click()
    page.wait_for_url(re.compile(r"/studies/\d+/$"))
    expect(page.get_by_role("heading", name="Digital radiography (DX) · CHEST")).to_be_visible()
    assert patient.studies.get().modality == "DX"
    screenshot(page)
    assert_no_page_errors(page)


def test_drag_and_drop_upload(browser, studies, screenshot):
    study = studies["Dora Dropped"]
    page = browser.as_user(CLINICIAN)
    page.goto(f"/studies/{study.pk}/")
    expect(page.locator("form[data-dropzone]")).to_have_class(re.compile(r"\bis-enhanced\b"))  # upload.js is on

    drop_png(page, "dropped-chest.png", size=(96, 80))

    row = page.locator("[data-upload-list] li")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("dropped-chest.png")
    expect(row.locator(".upload-state")).to_have_text("Stored")
    expect(page.locator("[data-upload-summary]")).to_have_text("Finished: 1 of 1 file stored.")
    # The results area was refreshed in place: the new image's card is there, with its name.
    expect(page.locator("#results .image-card")).to_contain_text("dropped-chest.png")
    image = Image.objects.get(study=study)
    assert (image.original_name, image.format, image.width, image.height) == ("dropped-chest.png", "PNG", 96, 80)
    assert image.uploaded_by.email == CLINICIAN
    screenshot(page)
    assert_no_page_errors(page)


def test_prediction_arrives_without_reload(browser, studies, screenshot):
    study = studies["Ada Awaited"]
    page = browser.as_user(CLINICIAN)
    page.goto(f"/studies/{study.pk}/")
    expect(page.locator("#results")).to_contain_text("No images yet.")
    page.evaluate("() => { window.sameDocument = true; }")  # gone if the page were reloaded

    drop_png(page, "awaited.png")

    label = page.get_by_test_id("ai-label")
    expect(label).to_be_visible(timeout=PREDICTION_TIMEOUT)
    assert page.evaluate("() => window.sameDocument") is True
    prediction = Prediction.objects.get(image__study=study)
    expect(label).to_have_text(prediction.label)
    expect(page.get_by_test_id("study-status")).to_have_text("Awaiting review")
    expect(page.locator("#results")).not_to_have_attribute("hx-trigger", re.compile("."))  # polling has stopped
    expect(page.locator("#results-announcer")).to_contain_text(f"AI label {prediction.label}")
    screenshot(page)
    assert_no_page_errors(page)


def test_heatmap_toggle(browser, predicted, screenshot):
    page = browser.as_user(CLINICIAN)
    page.goto(f"/studies/{predicted.image.study_id}/")
    overlay = page.locator(f"#heatmap-{predicted.pk}")
    toggle = page.get_by_role("checkbox", name="AI heatmap of image 1")
    expect(overlay).to_be_hidden()  # off by default (issue 23): the image first
    expect(toggle).not_to_be_checked()

    toggle.check()
    expect(overlay).to_be_visible()
    expect(overlay).to_have_js_property("complete", True)
    assert page.evaluate("(img) => img.naturalWidth > 0", overlay.element_handle())
    toggle.uncheck()
    expect(overlay).to_be_hidden()
    toggle.check()
    page.locator(f"#heatmap-opacity-{predicted.pk}").press("End")
    expect(overlay).to_have_class(re.compile(r"\bheatmap-op-10\b"))

    # In the viewer the heatmap is off too; its checkbox (or h) lays the overlay over the grey image, and takes it
    # off again. (Whether the tiny model's map reaches the overlay's threshold at the centre is not this test's
    # business: tests/e2e/test_viewer.py checks the colour with a known map.)
    page.get_by_role("link", name="Open in viewer").click()
    dialog = page.locator("dialog[data-viewer]")
    expect(page.locator("[data-viewer-loading]")).to_be_hidden()
    r, g, b = canvas_centre_until(page, lambda r, g, b: r > 0)
    assert r == g == b, "grey before the heatmap is shown"
    expect(dialog).to_have_attribute("data-viewer-heatmap-shown", "false")
    page.get_by_label("Show heatmap").check()
    expect(dialog).to_have_attribute("data-viewer-heatmap-shown", "true")
    screenshot(page)
    page.get_by_label("Show heatmap").uncheck()
    expect(dialog).to_have_attribute("data-viewer-heatmap-shown", "false")
    canvas_centre_until(page, lambda r, g, b: r == g == b)
    assert_no_page_errors(page)


def test_window_level_in_viewer(browser, predicted, screenshot):
    page = browser.as_user(CLINICIAN)
    page.goto(f"/studies/{predicted.image.study_id}/")
    page.get_by_role("link", name="Open in viewer").click()
    viewer = page.locator("dialog[data-viewer]")
    expect(viewer).to_be_visible()
    expect(viewer.locator("[data-viewer-loading]")).to_be_hidden()
    before = canvas_centre_until(page, lambda r, g, b: r > 0)[0]
    expect(viewer.locator("[data-viewer-l]")).to_have_text("128")
    assert before > 150, "the bright centre of the test image at the full-range window"

    # Level all the way up: the same display value now sits low in the window, so it is drawn darker.
    level = page.get_by_label("Level (centre)")
    level.press("End")
    expect(viewer.locator("[data-viewer-l]")).to_have_text("255")
    expect(viewer.locator("[data-viewer-level-out]")).to_have_text("255")
    expect(page.locator("#viewer-preset")).to_have_value("custom")
    canvas_centre_until(page, lambda r, g, b: r < before - 50)
    # A narrow window around a low level: the centre saturates to white.
    level.press("Home")
    page.get_by_label("Window (width)").press("Home")
    expect(viewer.locator("[data-viewer-w]")).to_have_text("1")
    canvas_centre_until(page, lambda r, g, b: r == 255)
    screenshot(page)
    page.get_by_role("button", name="Reset view").click()
    expect(viewer.locator("[data-viewer-l]")).to_have_text("128")
    canvas_centre_until(page, lambda r, g, b: r == before)
    assert_no_page_errors(page)


def test_radiologist_reviews_from_worklist(browser, predicted, screenshot):
    page = browser.as_user(RADIOLOGIST)
    page.goto("/worklist/")
    row = page.get_by_test_id("worklist-row").filter(has_text="Petra Predicted")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(predicted.label)
    row.get_by_role("link", name=re.compile("^Open")).click()

    page.wait_for_url(re.compile(rf"/studies/{predicted.image.study_id}/read/"))
    corrected = next(name for name in predicted.model_version.classes if name != predicted.label)
    form = page.locator(f"#review-form-{predicted.pk}")
    expect(form.locator("input[type=radio]:checked")).to_have_count(0)  # nothing preselected, the AI's label least
    form.get_by_role("radio", name=re.compile("^Disagree")).check()
    form.get_by_role("radio", name=re.compile(f"^{corrected}$")).check()
    form.get_by_label("Note (optional)").fill("Seen in the browser test.")
    form.get_by_role("button", name="Save", exact=True).click()

    page.wait_for_url(re.compile(rf"/studies/{predicted.image.study_id}/read/\?image={predicted.image_id}$"))
    expect(page.locator(".messages")).to_contain_text(f"Saved: Corrected as {corrected}")
    expect(page.get_by_test_id("read-headline")).to_contain_text(re.compile(rf"{corrected}\s*\(corrected the AI\)"))
    page.goto(f"/studies/{predicted.image.study_id}/")
    current = page.locator(".review-list li.is-current")
    expect(current).to_contain_text(f"Corrected as {corrected}")
    expect(current).to_contain_text("by Ravi Radiologist")
    expect(current).to_contain_text("Seen in the browser test.")
    review = Review.objects.get(prediction=predicted)
    assert (review.decision, review.label, review.reviewer.email) == (Review.Decision.CORRECT, corrected, RADIOLOGIST)
    screenshot(page)

    page.goto("/worklist/")
    expect(page.get_by_test_id("worklist-row").filter(has_text="Petra Predicted")).to_have_count(0)
    assert_no_page_errors(page)


def test_admin_promotes_model_through_the_gate(browser, site_live, screenshot):
    candidate = site_live.candidate
    page = browser.as_user(ADMIN)
    page.goto(f"/models/{candidate.pk}/")
    status = page.get_by_test_id("model-status")
    expect(status).to_have_text("Candidate")
    expect(page.locator(".manage")).to_contain_text(
        "The gate refuses promotion now: It has not been evaluated against the active"
    )

    # Promotion is a second step with a written reason; without a held-out evaluation the gate refuses it.
    page.get_by_test_id("promote-step").locator("summary").click()
    page.get_by_label("Reason (required, kept in the audit trail)").fill("Browser test: tiny model.")
    page.get_by_test_id("promote").click()
    expect(page.locator(".message.error")).to_contain_text("The promotion gate refuses this version")
    expect(status).to_have_text("Candidate")
    screenshot(page, "refused")
    candidate.refresh_from_db()
    assert candidate.status == ModelVersion.Status.CANDIDATE

    # An override with a written reason promotes it.
    page.get_by_test_id("promote-step").locator("summary").click()
    page.get_by_label("Reason (required, kept in the audit trail)").fill(
        "Browser test: tiny model, accepted without evaluation."
    )
    page.get_by_label("Override the gate").check()
    page.get_by_test_id("promote").click()
    expect(page.locator(".message.success")).to_contain_text("is now the active chest-xray model")
    expect(status).to_have_text("Active")
    candidate.refresh_from_db()
    site_live.active.refresh_from_db()
    assert (candidate.status, site_live.active.status) == (ModelVersion.Status.ACTIVE, ModelVersion.Status.RETIRED)
    event = AuditEvent.objects.filter(action=AuditEvent.Action.ACTIVATE, actor__email=ADMIN).latest("at")
    assert event.detail["override"] is True and event.detail["gate_passed"] is False
    screenshot(page)
    assert_no_page_errors(page)


def test_clinician_refused_radiologist_page(browser, screenshot):
    page = browser.as_user(CLINICIAN)
    page.goto("/")
    expect(page.locator('[data-nav="worklist"]')).to_have_count(0)  # not offered in the menu
    response = page.goto("/worklist/")
    assert response.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(page.locator("main")).to_contain_text("The worklist is for radiologists.")
    screenshot(page)
    assert_no_page_errors(page, allowed="status of 403")
