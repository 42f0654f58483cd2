"""axe-core on every page of the site, as the user who works there, in both themes (light and dark) and at desktop
and phone widths: 0 violations of WCAG 2.1 A/AA and axe's best practices. Each page is one test; it visits the four
looks, screenshots each (var/e2e/<page>-<theme>[-phone].png) and fails with every violation of every look."""

import re
from types import SimpleNamespace

import pytest
from django.db import connections
from django.test import Client

from accounts.models import User
from diagnosis.models import TrainingRun
from tests.e2e.conftest import (
    ADMIN,
    CLINICIAN,
    DESKTOP,
    PHONE,
    RADIOLOGIST,
    assert_accessible,
    assert_no_page_errors,
)
from tests.e2e.test_reading import analysed_image
from tests.factories import PatientFactory, StudyFactory

pytestmark = [pytest.mark.e2e, pytest.mark.live, pytest.mark.django_db, pytest.mark.timeout(300)]

ANONYMOUS = ""


@pytest.fixture(scope="module")
def rows(site_live):
    """A patient with a study whose image has an AI result, and a finished training run (outside the tests'
    transactions, so that the web process sees them)."""
    patient = PatientFactory(site=site_live.site, name="Axel Audit", mrn="E2E-AXE-1")
    study = StudyFactory(patient=patient, modality="DX", body_part="CHEST", accession_number="ACC-AXE")
    prediction = analysed_image(study, site_live.active, site_live.media, 760, 0.81)
    run = TrainingRun.objects.create(
        task=site_live.active.task,
        source="/data/base.npz",
        status=TrainingRun.Status.SUCCEEDED,
        model_version=site_live.candidate,
        progress={"epoch": 2, "epochs": 2, "loss": 0.41, "val_loss": 0.44, "val_accuracy": 0.83},
        log="epoch 1/2: loss 0.52\nepoch 2/2: loss 0.41",
    )
    return SimpleNamespace(patient=patient, study=study, prediction=prediction, run=run, site=site_live)


# (name, user, path from the rows, HTTP status). The worklist, the reading view and the viewer belong to other
# parts of issue 23; they are here too, since the issue asks for 0 violations on every page.
PAGES = [
    ("login", ANONYMOUS, lambda r: "/accounts/login/", 200),
    ("password-reset", ANONYMOUS, lambda r: "/accounts/password/reset/", 200),
    ("patients", CLINICIAN, lambda r: "/patients/", 200),
    ("patient-new", CLINICIAN, lambda r: "/patients/new/", 200),
    ("patient", CLINICIAN, lambda r: f"/patients/{r.patient.pk}/", 200),
    ("study-with-results", CLINICIAN, lambda r: f"/studies/{r.study.pk}/", 200),
    ("import", CLINICIAN, lambda r: "/import/", 200),
    ("models", CLINICIAN, lambda r: "/models/", 200),
    ("model-detail", ADMIN, lambda r: f"/models/{r.site.candidate.pk}/", 200),
    ("learning", ADMIN, lambda r: "/learning/", 200),
    ("training-run", ADMIN, lambda r: f"/training-runs/{r.run.pk}/", 200),
    ("api-tokens", CLINICIAN, lambda r: "/accounts/tokens/", 200),
    ("two-factor", ADMIN, lambda r: "/accounts/2fa/", 200),
    ("password-change", CLINICIAN, lambda r: "/accounts/password/change/", 200),
    ("forbidden", CLINICIAN, lambda r: "/learning/", 403),
    ("not-found", CLINICIAN, lambda r: "/patients/999999999/", 404),
    ("worklist", RADIOLOGIST, lambda r: "/worklist/", 200),
    ("adjudication", RADIOLOGIST, lambda r: "/worklist/adjudication/", 200),
    ("reading-view", RADIOLOGIST, lambda r: f"/studies/{r.study.pk}/read/", 200),
]


def _set_theme(page, base: str, theme: str) -> None:
    page.context.add_cookies([{"name": "medsite_theme", "value": theme, "url": base}])


def _serve_production_404(page, path: str, email: str) -> None:
    """The live web process runs with DEBUG on, which answers a 404 with Django's technical page instead of the
    site's. So the site's 404 page is rendered here, with DEBUG off, for the same user and theme cookie, and served
    to the browser at `path` on the live origin (its CSS and scripts then load from the live server)."""

    def fulfil(route):
        client = Client()
        client.force_login(User.objects.get(email=email))
        theme = next((c["value"] for c in page.context.cookies() if c["name"] == "medsite_theme"), "")
        client.cookies["medsite_theme"] = theme
        response = client.get(path)
        # Playwright calls this in its own context, where Django opened a connection of its own: close it, or it
        # keeps the test database from being dropped at the end.
        connections.close_all()
        route.fulfill(status=response.status_code, body=response.content, content_type=response["Content-Type"])

    page.route(f"**{path}", fulfil)


@pytest.mark.parametrize(("name", "user", "path", "status"), PAGES, ids=[p[0] for p in PAGES])
def test_page_is_accessible_in_both_themes_and_widths(browser, site_live, rows, screenshot, name, user, path, status):
    page = browser.new_page() if user == ANONYMOUS else browser.as_user(user)
    url = path(rows)
    failures = []
    if status == 404:
        _serve_production_404(page, url, user)
    try:
        for theme in ("light", "dark"):
            _set_theme(page, site_live.base, theme)
            for width, size in (("desktop", DESKTOP), ("phone", PHONE)):
                page.set_viewport_size(size)
                response = page.goto(url)
                assert response.status == status, f"{url} answered {response.status}"
                assert page.locator("html").get_attribute("data-theme") == theme
                screenshot(page, f"{name}-{theme}" + ("-phone" if width == "phone" else ""))
                if name == "study-with-results":  # the viewer dialog, open
                    page.locator("[data-viewer-open]").first.click()
                    page.locator("dialog[open]").wait_for()
                    screenshot(page, f"{name}-viewer-{theme}" + ("-phone" if width == "phone" else ""))
                    try:
                        assert_accessible(page, f"{name} viewer ({theme}, {width})")
                    except AssertionError as exc:
                        failures.append(str(exc))
                    page.keyboard.press("Escape")
                try:
                    assert_accessible(page, f"{name} ({theme}, {width}): {url}")
                except AssertionError as exc:
                    failures.append(str(exc))
                if width == "phone":  # nothing may make the whole page scroll sideways (WCAG 1.4.10 Reflow)
                    # Signed in, the header folds behind "Menu"; signed out, the theme toggle alone shows.
                    menus = page.get_by_role("button", name="Menu", exact=True).count()
                    if user != ANONYMOUS and status < 400 and menus != 1 or user == ANONYMOUS and menus:
                        failures.append(f"{name} ({theme}, phone): {menus} Menu button(s) for {user}")
                    wide = page.evaluate("() => document.documentElement.scrollWidth")
                    if wide > PHONE["width"]:
                        failures.append(f"{name} ({theme}, phone): the page is {wide}px wide at {PHONE['width']}px")
        # No script error or CSP refusal on any look (the refusal page's own 403/404 is expected).
        assert_no_page_errors(page, allowed=f"status of {status}" if status >= 400 else None)
    finally:
        page.errors.clear()  # the package's signed-in pages are shared: the next journey starts clean
        page.set_viewport_size(DESKTOP)
        if status == 404:
            page.unroute(f"**{url}")
        page.evaluate("() => { document.cookie = 'medsite_theme=; Max-Age=0; Path=/'; }")
        if user == ANONYMOUS:
            page.context.close()
    assert not failures, "\n\n".join(re.sub(r"\n\s+", " ", f) for f in failures)
