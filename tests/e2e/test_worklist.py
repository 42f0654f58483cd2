"""The worklist in a real browser: a radiologist starts on it, reaches the first row in two Tab presses, moves with
j/k, arrows, Home/End and opens a row with Enter (no mouse), sees another reader's claim and releases their own;
desktop and phone screenshots, axe-core on both. The studies are rows made here (factories), with display files."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from diagnosis.models import Study
from tests.e2e.conftest import RADIOLOGIST, assert_accessible, assert_no_page_errors, phone
from tests.e2e.test_reading import analysed_image
from tests.factories import PatientFactory, StudyFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.live, pytest.mark.django_db, pytest.mark.timeout(300)]

# (patient, priority, P(abnormal) of each image, accession)
QUEUE = [
    ("Wren Routine", Study.Priority.ROUTINE, [0.93, 0.20], "WL-101"),
    ("Wade Stat", Study.Priority.STAT, [0.31], "WL-102"),
    ("Wilma Urgent", Study.Priority.URGENT, [0.64, 0.08, 0.12], "WL-103"),
    ("Walt Low", Study.Priority.ROUTINE, [0.04], "WL-104"),
]
CLAIMED = "Willa Claimed"


@pytest.fixture(scope="package")
def worklist_queue(site_live):
    """Four studies waiting at the demo site (eight analysed images), and a fifth that Dr Okoro opened a minute ago."""
    studies, n = {}, 500
    for name, priority, abnormalities, accession in QUEUE:
        patient = PatientFactory(
            site=site_live.site, name=name, birth_date=timezone.localdate() - timedelta(days=365 * 47 + 20)
        )
        study = StudyFactory(
            patient=patient, modality="DX", body_part="CHEST", priority=priority, accession_number=accession,
        )  # fmt: skip
        for p in abnormalities:
            analysed_image(study, site_live.active, site_live.media, n, p)
            n += 1
        studies[name] = study
    other = UserFactory(email="dr.okoro@demo.medsite", first_name="Ada", last_name="Okoro")
    claimed = StudyFactory(patient=PatientFactory(site=site_live.site, name=CLAIMED), modality="DX", body_part="CHEST")
    analysed_image(claimed, site_live.active, site_live.media, n, 0.55)
    Study.objects.filter(pk=claimed.pk).update(claimed_by=other, claimed_at=timezone.now() - timedelta(minutes=1))
    studies[CLAIMED] = claimed
    return studies


def row_order(page) -> list[str]:
    return page.locator('[data-testid="worklist-row"]').evaluate_all("rows => rows.map(r => r.dataset.study)")


def current(page) -> str:
    """The study of the row that has the row focus (aria-current) and the keyboard focus."""
    return page.evaluate(
        """() => {
            const row = document.activeElement.closest('tr');
            return row && row.getAttribute('aria-current') === 'true' ? row.dataset.study : '';
        }"""
    )


def test_radiologist_works_the_worklist_by_keyboard(browser, worklist_queue, screenshot):
    page = browser.as_user(RADIOLOGIST)
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/worklist/$"))  # a radiologist starts on the worklist
    wade, wilma, wren = (str(worklist_queue[name].pk) for name in ("Wade Stat", "Wilma Urgent", "Wren Routine"))
    order = row_order(page)
    assert order.index(wade) < order.index(wilma) < order.index(wren)  # STAT, urgent, then the most abnormal
    row = page.get_by_test_id("worklist-row").filter(has_text="Wilma Urgent")
    for shown in ("WL-103", "Urgent", "0.64", "3 / 3", "47 y · F"):
        expect(row).to_contain_text(shown)
    claimed = page.get_by_test_id("worklist-row").filter(has_text=CLAIMED)
    expect(claimed).to_contain_text("Being read by Ada Okoro since")
    expect(claimed).to_have_class(re.compile(r"\bclaimed-other\b"))
    expect(page.get_by_test_id("worklist")).to_have_attribute("aria-keyshortcuts", re.compile("ArrowDown"))
    screenshot(page, "desktop")
    assert_accessible(page, "the worklist")

    # From the top of the page: Tab to the skip link, Enter, Tab: the first row.
    page.evaluate("() => { document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0); }")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("Skip to content")
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.closest('tr')?.dataset.study") == order[0]

    page.keyboard.press("j")
    assert current(page) == order[1]
    page.keyboard.press("ArrowDown")
    assert current(page) == order[2]
    page.keyboard.press("k")
    page.keyboard.press("ArrowUp")
    assert current(page) == order[0]
    page.keyboard.press("End")
    assert current(page) == order[-1]
    page.keyboard.press("Home")
    assert current(page) == order[0]
    expect(page.locator('tr[aria-current="true"]')).to_have_count(1)
    screenshot(page, "row-focus")

    label = page.get_by_label("AI label")  # a form field keeps its keys
    label.focus()
    page.keyboard.type("jk")
    expect(label).to_have_value("jk")
    label.fill("")

    target = order.index(wilma)
    page.locator('[data-testid="worklist-row"] a.wl-open').nth(0).focus()
    for _ in range(target):
        page.keyboard.press("j")
    assert current(page) == wilma
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/studies/{wilma}/read/"))  # the reading view, which claims the study
    assert_no_page_errors(page)

    page.goto("/worklist/")
    mine = page.get_by_test_id("worklist-row").filter(has_text="Wilma Urgent")
    expect(mine).to_contain_text("Claimed by you")
    expect(mine.get_by_test_id("open")).to_contain_text("Continue")
    mine.get_by_test_id("release").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.locator(".messages")).to_contain_text("Released:")
    expect(page.get_by_test_id("worklist-row").filter(has_text="Wilma Urgent")).not_to_contain_text("Claimed by you")
    assert Study.objects.get(pk=wilma).claimed_by is None
    assert_no_page_errors(page)


def test_worklist_on_a_phone_and_a_filter_it_does_not_take(browser, worklist_queue, screenshot):
    page = browser.as_user(RADIOLOGIST)
    page.goto("/worklist/")
    with phone(page):
        screenshot(page, "phone")
        assert_accessible(page, "the worklist at phone width")
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 390, f"the worklist scrolls sideways on a phone ({width} px)"
        for card in page.get_by_test_id("worklist-row").all():
            open_button = card.get_by_test_id("open")
            expect(open_button).to_be_visible()
            box = open_button.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["height"] >= 40
    # The light theme too (set on this page only, so that nothing is remembered for the other journeys).
    page.evaluate("() => { document.documentElement.dataset.theme = 'light'; }")
    expect(page.get_by_test_id("worklist-row").filter(has_text=CLAIMED)).to_contain_text("Being read by Ada Okoro")
    screenshot(page, "light")
    assert_accessible(page, "the worklist in the light theme")
    response = page.goto("/worklist/?reviewed=true")
    assert response.status == 400  # says what is wrong, never a 500
    expect(page.get_by_test_id("worklist-errors")).to_contain_text("reviewed: The worklist has no such filter")
    expect(page.get_by_test_id("worklist-row").first).to_be_visible()
    page.goto("/worklist/?priority=stat")
    expect(page.get_by_test_id("worklist-row").filter(has_text="Wade Stat")).to_have_count(1)
    expect(page.get_by_test_id("worklist-row").filter(has_text="Wren Routine")).to_have_count(0)
    screenshot(page, "filtered")
    assert_no_page_errors(page, allowed="400")
