"""The reading view in a real browser: a keyboard-only reader clears ten cases (timed, key presses counted), the
result card and the decision form at desktop and phone widths, another reader's claim, and a save on the study page
that returns to the image. The ten analysed images are rows made here (factories; display PNGs written where the live
web process serves its media), so the journey measures the reading, not the model."""

import io
import re
import statistics
import time
from datetime import timedelta

import numpy as np
import PIL.Image
import pytest
from django.db import connections
from django.utils import timezone
from playwright.sync_api import expect

from accounts.theme import COOKIE_NAME as THEME_COOKIE
from diagnosis.models import Review, Study
from tests.e2e.conftest import RADIOLOGIST, assert_accessible, assert_no_page_errors, phone
from tests.factories import ImageFactory, PatientFactory, PredictionFactory, StudyFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.live, pytest.mark.django_db, pytest.mark.timeout(300)]

CASES = 10
# (study, images) of the reading queue: every study STAT, so that they lead the worklist whatever else is on it.
LAYOUT = [("Rhea Reader", 3), ("Sol Second", 3), ("Tam Third", 2), ("Uma Last", 2)]
# P(pneumonia) of each case in reading order; the tiny model's threshold is compared by the card.
P_PNEUMONIA = [0.97, 0.91, 0.12, 0.88, 0.60, 0.05, 0.83, 0.71, 0.33, 0.02]


def chest_png(seed: int, size: int = 512) -> bytes:
    """A synthetic chest radiograph (two dark lung fields in a brighter body, a spine, ribs), 8-bit grey."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    body = 150 - 60 * ((x - 0.5) ** 2 + (y - 0.55) ** 2)
    lungs = sum(np.exp(-((((x - cx) / 0.15) ** 2 + ((y - 0.5) / 0.27) ** 2) ** 2)) for cx in (0.32, 0.68))
    ribs = 18 * (np.sin(y * 60) > 0.6) * lungs
    spine = 60 * np.exp(-(((x - 0.5) / 0.04) ** 2))
    pixels = body - 110 * lungs + ribs + spine + rng.normal(0, 6, (size, size))
    if seed % 3 == 0:  # a consolidation in the right lower zone
        pixels += 55 * np.exp(-(((x - 0.3) / 0.07) ** 2 + ((y - 0.62) / 0.06) ** 2))
    buffer = io.BytesIO()
    PIL.Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def analysed_image(study, version, media, n: int, p: float):
    """An analysed PNG of study with the active version's prediction (P(pneumonia) = p), its display file on disk."""
    name = f"e2e-reading-{n}.png"
    for folder in ("images", "display"):
        (media / folder).mkdir(parents=True, exist_ok=True)
        (media / folder / name).write_bytes(chest_png(n))
    image = ImageFactory(
        study=study, file=f"images/{name}", display_file=f"display/{name}", original_name=f"chest-{n}.png",
        width=512, height=512, sha256=f"{n:064x}",
    )  # fmt: skip
    negative, positive = version.classes
    threshold = version.threshold if version.threshold is not None else 0.5
    return PredictionFactory(
        image=image, model_version=version, probabilities={negative: 1 - p, positive: p},
        label=positive if p >= threshold else negative, threshold=version.threshold,
        abnormality=p, margin=abs(p - threshold), inference_ms=4.0,
    )  # fmt: skip


@pytest.fixture(scope="package")
def reading_queue(site_live):
    """Ten analysed, unread images in four STAT studies at the demo site, in the worklist's order."""
    version = site_live.active
    predictions, n = [], 0
    for name, count in LAYOUT:
        patient = PatientFactory(
            site=site_live.site, name=name, birth_date=timezone.localdate() - timedelta(days=365 * 58)
        )
        study = StudyFactory(
            patient=patient, modality="DX", body_part="CHEST", priority=Study.Priority.STAT,
            accession_number=f"ACC-{name.split()[0].upper()}", study_date=timezone.localdate(),
        )  # fmt: skip
        for _ in range(count):
            predictions.append(analysed_image(study, version, site_live.media, 100 + n, P_PNEUMONIA[n]))
            n += 1
    return predictions


@pytest.fixture(scope="package")
def claimed_study(site_live):
    """A study another radiologist opened a minute ago (a live claim)."""
    other = UserFactory(email="dr.okafor@demo.medsite")
    patient = PatientFactory(site=site_live.site, name="Cleo Claimed")
    study = StudyFactory(patient=patient, modality="DX", body_part="CHEST", claimed_by=other)
    Study.objects.filter(pk=study.pk).update(claimed_at=timezone.now() - timedelta(minutes=1))
    analysed_image(study, site_live.active, site_live.media, 300, 0.4)
    return study


def other_class(prediction) -> tuple[str, str]:
    """The class the AI did not give, and its key in the Disagree list (the model's classes, numbered from 1)."""
    classes = prediction.model_version.classes
    name = next(c for c in classes if c != prediction.label)
    return name, str(classes.index(name) + 1)


def read_headline(label: str, relation: str) -> re.Pattern:
    """The card's headline, "Radiologist: <label> (<relation>)" (screen readers also hear the image's number)."""
    return re.compile(rf"Radiologist( read of image \d+)?\s*:\s*{label}\s*\({relation}\)")


class Keys:
    """The reader's keyboard: every press counted (the test never touches the mouse)."""

    def __init__(self, page):
        self.page, self.count = page, 0

    def press(self, key: str) -> None:
        self.page.keyboard.press(key)
        self.count += 1


@pytest.fixture(scope="package")
def colleague(site_live):
    """Another reader (committed, like the package's other rows)."""
    return UserFactory(email="dr.colleague@demo.medsite")


@pytest.fixture
def colleague_reads_the_rest(site_live, reading_queue, colleague):
    """While the test runs, every other study at the site (other journeys' studies, whichever ran first) is being
    read by a colleague, so "Save and next" skips them: the reader's queue is exactly the ten cases. The claims go
    through a connection of their own and are committed at once: written in the test's transaction, the web
    process would not see them, and would wait on their row locks."""
    mine = [prediction.image.study_id for prediction in reading_queue]
    connection = connections.create_connection("default")
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT s.id, s.claimed_by_id, s.claimed_at FROM diagnosis_study s"
                " JOIN diagnosis_patient p ON p.id = s.patient_id WHERE p.site_id = %s AND NOT (s.id = ANY(%s))",
                [site_live.site.pk, mine],
            )
            before = cursor.fetchall()  # a journey's own claims come back afterwards
            cursor.execute(
                "UPDATE diagnosis_study SET claimed_by_id = %s, claimed_at = %s WHERE id = ANY(%s)",
                [colleague.pk, timezone.now(), [pk for pk, _, _ in before]],
            )
        yield
        with connection.cursor() as cursor:
            restore = "UPDATE diagnosis_study SET claimed_by_id = %s, claimed_at = %s WHERE id = %s"
            cursor.executemany(restore, [(holder, at, pk) for pk, holder, at in before])
    finally:
        connection.close()


def focused(page) -> dict:
    return page.evaluate("() => ({name: document.activeElement.name || '', value: document.activeElement.value || ''})")


def test_keyboard_only_reader_clears_ten_cases(browser, reading_queue, colleague_reads_the_rest, screenshot):
    page = browser.as_user(RADIOLOGIST)
    first = reading_queue[0]
    page.goto(f"/studies/{first.image.study_id}/read/")
    expect(page.get_by_test_id("image-position")).to_have_text("Image 1 of 3")
    expect(page.get_by_test_id("read-headline")).to_contain_text("not read yet")
    assert focused(page)["name"] == "decision"  # focus starts on the decision controls
    save = page.get_by_role("button", name="Save and next")
    expect(save).to_be_disabled()  # nothing preselected: no decision, no save
    screenshot(page, "desktop")
    assert_accessible(page, "the reading view")

    keys = Keys(page)
    corrected_to, label_key = other_class(reading_queue[2])
    plan = {2: ["d", label_key], 5: ["u"]}  # case 3: disagree, with the reader's label; case 6: uncertain
    per_case, presses = [], []
    for case, prediction in enumerate(reading_queue):
        study = prediction.image.study
        expect(page).to_have_url(re.compile(rf"/studies/{study.pk}/read/"))
        expect(page.locator(f"#review-form-{prediction.pk}")).to_be_visible()
        assert focused(page)["name"] == "decision", f"case {case + 1}: focus is not on the decision"
        before, started = keys.count, time.perf_counter()
        for key in plan.get(case, ["a"]):
            keys.press(key)
        if case == 2:
            expect(page.locator(f"#review-form-{prediction.pk} [data-disagree-labels]")).to_be_visible()
            shot = time.perf_counter()
            screenshot(page, "disagree")
            started += time.perf_counter() - shot  # the screenshot is the test's, not the reader's time
        with page.expect_navigation():
            keys.press("Enter")
        page.wait_for_load_state()
        if case + 1 < CASES:
            expect(page.locator(f"#review-form-{reading_queue[case + 1].pk}")).to_be_visible()
        per_case.append(time.perf_counter() - started)
        presses.append(keys.count - before)
        expect(page.locator(".messages .message").first).to_contain_text("Saved:")
        if "/read/" in page.url:  # announced to screen readers, and focus is back on the decision
            expect(page.locator("[data-reading-announcer]")).to_contain_text("Saved:")

    reviews = {r.prediction_id: r for r in Review.objects.filter(prediction__in=reading_queue)}
    assert len(reviews) == CASES
    assert reviews[reading_queue[2].pk].decision == Review.Decision.CORRECT
    assert reviews[reading_queue[2].pk].label == corrected_to
    assert reviews[reading_queue[5].pk].decision == Review.Decision.UNCERTAIN
    assert all(
        reviews[p.pk].decision == Review.Decision.CONFIRM for i, p in enumerate(reading_queue) if i not in (2, 5)
    )
    assert max(presses) <= 3, presses
    print(  # the figures for docs/performance.md (pytest -s shows them)
        f"\nREADING {CASES} cases: key presses {presses} (total {sum(presses)}, {sum(presses) / CASES:.1f} a case); "
        f"seconds a case median {statistics.median(per_case):.3f}, max {max(per_case):.3f}, "
        f"total {sum(per_case):.2f}; per case {[round(s, 3) for s in per_case]}"
    )
    assert_no_page_errors(page)


def test_reading_view_after_a_correction_and_at_phone_width(browser, reading_queue, screenshot):
    corrected = reading_queue[2]  # the previous journey corrected it
    label, _ = other_class(corrected)
    page = browser.as_user(RADIOLOGIST)
    page.goto(f"/studies/{corrected.image.study_id}/read/?image={corrected.image_id}&anyway=1")
    headline = page.get_by_test_id("read-headline")
    expect(headline).to_contain_text(read_headline(label, "corrected the AI"))
    finding = label != corrected.model_version.normal_class
    expect(headline).to_have_class(re.compile(r"\bread-finding\b" if finding else r"\bread-normal\b"))  # never green
    form = page.locator(f"#review-form-{corrected.pk}")
    expect(form.locator('[data-decision="disagree"]')).to_be_checked()  # the reader's own read, not the AI's
    expect(form.get_by_role("radio", name=re.compile(f"^{label}"))).to_be_checked()
    expect(form.get_by_role("button", name="Save and next")).to_be_enabled()
    expect(page.get_by_test_id("threshold-marker")).to_have_count(1)
    expect(page.get_by_test_id("model-use")).to_contain_text("resized to")
    screenshot(page, "corrected")
    menu = page.get_by_role("button", name="Menu")
    expect(menu).to_be_hidden()  # wide: the navigation is always there
    expect(page.locator('[data-nav="worklist"]')).to_be_visible()
    with phone(page):
        # On a phone the navigation and the theme fold behind "Menu"; Escape closes it and gives focus back.
        expect(page.locator('[data-nav="worklist"]')).to_be_hidden()
        menu.click()
        expect(menu).to_have_attribute("aria-expanded", "true")
        expect(page.locator('[data-nav="worklist"]')).to_be_visible()
        screenshot(page, "phone-menu")
        assert_accessible(page, "the reading view at phone width, menu open")
        page.keyboard.press("Escape")
        expect(menu).to_have_attribute("aria-expanded", "false")
        expect(menu).to_be_focused()
        expect(page.locator('[data-nav="worklist"]')).to_be_hidden()
        # The decision follows the image and its result, not the viewer's controls: within two screens of the top.
        agree_top = form.locator('[data-decision="agree"]').evaluate("(e) => e.getBoundingClientRect().top + scrollY")
        assert agree_top < 2 * 844, f"the decision is {agree_top:.0f} px down the page on a phone"
        print(f"\nPHONE the decision (Agree) starts {agree_top:.0f} px from the top at 390x844")  # docs/performance.md
        page.keyboard.press("?")
        expect(page.locator("[data-key-legend]")).to_have_attribute("open", "")
        screenshot(page, "phone")
        assert_accessible(page, "the reading view at phone width")
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 390, f"the reading view scrolls sideways on a phone ({width} px)"
    assert_no_page_errors(page)


def test_reading_view_in_the_light_theme(browser, reading_queue, screenshot):
    """A reader who chose the light theme (the theme cookie) gets it here too, and it passes axe (contrast)."""
    signed_in = browser.as_user(RADIOLOGIST).context.storage_state()
    context = browser.chromium.new_context(base_url=browser.site.base, storage_state=signed_in)
    context.add_cookies([{"name": THEME_COOKIE, "value": "light", "url": browser.site.base}])
    page = context.new_page()
    page.errors = []
    page.on("console", lambda message: message.type == "error" and page.errors.append(message.text))
    corrected = reading_queue[2]
    try:
        page.goto(f"/studies/{corrected.image.study_id}/read/?image={corrected.image_id}&anyway=1")
        expect(page.locator("html")).to_have_attribute("data-theme", "light")
        expect(page.get_by_test_id("read-headline")).to_contain_text("corrected the AI")
        screenshot(page)
        assert_accessible(page, "the reading view, light theme")
        assert_no_page_errors(page)
    finally:
        context.close()


def test_reading_view_without_javascript(browser, reading_queue, screenshot):
    """No script: the radios and buttons still decide and save (the Disagree labels are simply always shown)."""
    signed_in = browser.as_user(RADIOLOGIST).context.storage_state()
    context = browser.chromium.new_context(
        base_url=browser.site.base, storage_state=signed_in, java_script_enabled=False
    )
    page = context.new_page()
    prediction = reading_queue[5]  # marked uncertain by the keyboard journey
    try:
        page.goto(f"/studies/{prediction.image.study_id}/read/?image={prediction.image_id}&anyway=1")
        form = page.locator(f"#review-form-{prediction.pk}")
        expect(form.locator("[data-disagree-labels]")).to_be_visible()
        expect(form.locator('[data-decision="uncertain"]')).to_be_checked()  # the reader's own saved read
        form.get_by_role("radio", name=re.compile("^Agree")).check()
        form.get_by_role("button", name="Save", exact=True).click()
        page.wait_for_url(re.compile(rf"\?image={prediction.image_id}&anyway=1$"))
        expect(page.locator(".messages")).to_contain_text(f"Saved: Confirmed as {prediction.label}")
        expect(page.get_by_test_id("read-headline")).to_contain_text(
            read_headline(prediction.label, "agreed with the AI")
        )
        screenshot(page)
    finally:
        context.close()


def test_another_readers_claim(browser, claimed_study, screenshot):
    page = browser.as_user(RADIOLOGIST)
    page.goto(f"/studies/{claimed_study.pk}/read/")
    notice = page.get_by_test_id("claimed-by-other")
    expect(notice).to_contain_text("Being read by dr.okafor@demo.medsite since")
    expect(page.locator("[data-review-form]")).to_have_count(0)
    screenshot(page)
    assert_accessible(page, "the reading view under another reader's claim")
    page.get_by_role("link", name="Read anyway").click()
    expect(page.locator("[data-review-form]")).to_have_count(1)
    claimed_study.refresh_from_db()
    assert claimed_study.claimed_by.email == "dr.okafor@demo.medsite"
    assert_no_page_errors(page)


def test_study_page_save_returns_to_the_image_with_saved(browser, claimed_study, screenshot):
    prediction = claimed_study.images.get().predictions.get()
    page = browser.as_user(RADIOLOGIST)
    page.goto(f"/studies/{claimed_study.pk}/")
    label, _ = other_class(prediction)
    form = page.locator(f"#review-form-{prediction.pk}")
    expect(form.get_by_role("button", name=re.compile("^Save review"))).to_be_disabled()
    form.get_by_role("radio", name=re.compile("^Disagree")).check()
    form.get_by_role("radio", name=re.compile(f"^{label}$")).check()
    form.get_by_role("button", name=re.compile("^Save review")).click()
    page.wait_for_url(f"**/studies/{claimed_study.pk}/#image-{prediction.image_id}")
    expect(page.locator(".messages")).to_contain_text(f"Saved: Corrected as {label}")
    expect(page.locator(".messages")).to_be_in_viewport()  # sticky: seen at the image's anchor
    expect(page.locator(f"#image-{prediction.image_id}")).to_be_in_viewport()
    expect(page.get_by_test_id("read-headline")).to_contain_text(read_headline(label, "corrected the AI"))
    screenshot(page)
    assert_accessible(page, "the study page after a save")
    assert_no_page_errors(page)
