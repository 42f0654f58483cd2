"""Django admin's model registry in a real browser (issue 23 follow-up): rolling back or promoting opens a
confirmation page that names what changes and asks for a written reason; the browser will not send it blank, the
server shows the page again with the registry's message when it comes blank anyway, and "No, take me back"
changes nothing. Screenshotted at desktop and phone width; axe checks each state.

Nothing is applied here: the package's other journeys promote and roll back the live site's models."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from diagnosis.models import ModelVersion
from diagnosis.services.registry import rollback_target
from tests.e2e.conftest import ADMIN, assert_accessible, assert_no_page_errors, phone

pytestmark = [pytest.mark.e2e, pytest.mark.live, pytest.mark.django_db, pytest.mark.timeout(300)]

REQUIRED = "Write why: the reason is kept in the audit trail."


def _run_action(page, version: ModelVersion, action: str) -> None:
    page.goto("/admin/diagnosis/modelversion/")
    page.locator(f'input[name="_selected_action"][value="{version.pk}"]').check()
    page.locator('select[name="action"]').select_option(action)
    page.get_by_role("button", name="Go").click()


def _look(page, screenshot, step: str) -> None:
    screenshot(page, step)
    assert_accessible(page, context=f"admin {step}")
    with phone(page):
        screenshot(page, f"{step}-phone")
        assert_accessible(page, context=f"admin {step} at phone width")


@pytest.fixture(scope="module")
def earlier_version(site_live):
    """A version that was active a year ago, so that a rollback always has somewhere to go while this module runs
    (older than any the other journeys activate: where they ran first, it goes back to theirs). Made outside the
    tests' transactions, so that the web process sees it; removed afterwards."""
    earlier = ModelVersion.objects.create(
        task="chest-xray",
        classes=["normal", "pneumonia"],
        bundle_sha256="e2e0" * 16,
        image_size=16,
        status=ModelVersion.Status.RETIRED,
        activated_at=timezone.now() - timedelta(days=365),
    )
    yield earlier
    earlier.delete()


def test_admin_rollback_and_promotion_ask_for_a_reason(browser, site_live, earlier_version, screenshot):
    active = ModelVersion.objects.get(task="chest-xray", status=ModelVersion.Status.ACTIVE)
    _, earlier = rollback_target(task="chest-xray")  # this module's year-old version, or one another journey made
    page = browser.as_user(ADMIN)
    _run_action(page, active, "rollback")
    expect(page.locator("h1")).to_have_text("Roll back chest-xray")
    expect(page.locator("#content-main")).to_contain_text(f"goes back to version {earlier}")
    expect(page.locator("#content-main")).to_contain_text(f"The active version {active} is retired")
    reason = page.get_by_label("Reason (kept in the audit trail)")
    expect(reason).to_be_visible()
    _look(page, screenshot, "rollback")

    # The browser will not send it blank; sent blank anyway, the registry refuses and the page says why.
    page.get_by_role("button", name="Roll back and record the reason").click()
    assert reason.evaluate("el => el.validity.valueMissing") is True
    reason.evaluate("el => el.removeAttribute('required')")
    page.get_by_role("button", name="Roll back and record the reason").click()
    expect(page.locator(".errorlist")).to_have_text(REQUIRED)
    expect(page.locator("h1")).to_have_text("Roll back chest-xray")
    _look(page, screenshot, "rollback-refused")

    page.get_by_role("link", name="No, take me back").click()
    expect(page).to_have_url(f"{site_live.base}/admin/diagnosis/modelversion/")
    active.refresh_from_db()
    assert active.status == ModelVersion.Status.ACTIVE

    # Promotion: the same page, with the gate's verdict (a candidate that was never evaluated: refused).
    candidate = ModelVersion.objects.filter(task="chest-xray", status=ModelVersion.Status.CANDIDATE).first()
    if candidate is not None:
        _run_action(page, candidate, "promote")
        expect(page.locator("h1")).to_have_text(f"Promote {candidate} to active")
        expect(page.locator("#content-main")).to_contain_text("The promotion gate")
        expect(page.locator("#content-main")).to_contain_text("refuses it, so there is nothing to confirm here")
        expect(page.get_by_label("Reason (kept in the audit trail)")).to_have_count(0)
        _look(page, screenshot, "promote-refused")
        page.get_by_role("link", name="No, take me back").click()
    # Django admin's pages link no icon, so Chromium asks for /favicon.ico and logs its 404: every admin page
    # does this, not these ones.
    assert_no_page_errors(page, allowed=r"status of 404 \(Not Found\)")
