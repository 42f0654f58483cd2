"""Real-browser fixtures: Debian's Chromium driven by Playwright against a live web server and a live Celery
worker (separate processes) on the test PostgreSQL database and Redis, with the seeded demo users.

The web process keeps the production MFA requirement (radiologists and admins need TOTP): MEDSITE_MFA_REQUIRED_ROLES
is not passed to it. The servers are started once for the whole package. What they must see (users, models,
studies) is written by package-scoped fixtures, outside any test's transaction, and committed; the tests
themselves (marked plain `django_db`) only read, and their transaction shows them what web and worker commit.
Once the package is done, the database is flushed, as pytest-django does after a `transaction=True` test.
"""

import contextlib
import io
import json
import re
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, generate_totp_secret, hotp_value
from django.conf import settings
from django.core.management import call_command
from django.db import connections
from django.test import override_settings
from playwright.sync_api import sync_playwright

from accounts.models import Site, User
from diagnosis.management.commands.seed_demo import DEMO_PASSWORD
from diagnosis.services.training import model_register
from tests import live
from tests.conftest import train_tiny_bundle
from tests.factories import PatientFactory, StudyFactory

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = live.ROOT / "var" / "e2e"
CLINICIAN = "clinician@demo.medsite"
RADIOLOGIST = "radiologist@demo.medsite"
ADMIN = "admin@demo.medsite"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}  # an iPhone 12-15 in CSS pixels, the width the screenshots used
AXE = live.ROOT / "node_modules" / "axe-core" / "axe.min.js"  # `make node` (make test runs it) installs it from npm
PREDICTION_TIMEOUT = 120_000  # ms; the first image also loads the model on the worker
_used_totp_steps: dict[str, int] = {}


def totp_now(secret: str) -> str:
    """The current TOTP code for `secret`, as an authenticator app shows it. allauth refuses a code twice, so when
    this secret's code for the current 30 s step was already used, wait for the next step; and a code is only
    handed out with at least 10 s of its step left, so that it is still valid when the browser submits it (a step
    that ended between reading the code and submitting it made the login journey flaky)."""
    period = mfa_settings.TOTP_PERIOD
    while (counter := int(time.time()) // period) == _used_totp_steps.get(secret) or time.time() % period > period - 10:
        time.sleep(0.5)
    _used_totp_steps[secret] = counter
    return format_hotp_value(hotp_value(secret, counter))


def assert_no_page_errors(page, allowed: str | None = None) -> None:
    """No JavaScript exception, CSP refusal or failed load on the page (except messages matching `allowed`)."""
    errors = [error for error in page.errors if not (allowed and re.search(allowed, error))]
    page.errors.clear()
    assert not errors, errors


def assert_accessible(page, context: str = "") -> None:
    """axe-core finds no violation of WCAG 2.1 A/AA (and axe's best practices) on the page as it is now: injected
    from node_modules, run on the whole document, every violation listed with its nodes in the failure."""
    assert AXE.exists(), f"{AXE} is missing: run `make node` (make test does) to install axe-core from npm"
    if not page.evaluate("() => typeof window.axe === 'object'"):
        # Evaluated over the DevTools protocol, which the pages' CSP (script-src 'self') does not govern; a <script>
        # tag would be refused, and bypass_csp would stop the journeys from catching CSP refusals.
        page.evaluate(AXE.read_text() + "\n;undefined")
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, {resultTypes: ["violations"]});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map(n => n.target.join(" ") + " :: " + n.failureSummary)}));
        }"""
    )
    assert not result, f"axe-core violations on {context or page.url}:\n" + json.dumps(result, indent=1)


@contextlib.contextmanager
def phone(page):
    """The page at a phone's width (390x844) for the block, then back at the desktop size."""
    page.set_viewport_size(PHONE)
    try:
        yield page
    finally:
        page.set_viewport_size(DESKTOP)


@pytest.fixture(scope="package")
def chromium():
    if not CHROMIUM.exists():
        pytest.skip(f"needs Debian's chromium at {CHROMIUM} (apt-get install chromium; .ci/run installs it)")
    # Playwright's sync API keeps an asyncio loop running in this thread, which Django's ORM takes for an async
    # context (and then keeps its connections per context, not per thread). The tests' ORM calls are plain
    # synchronous code, so allow them while the browser runs (the workaround Django's docs give), and only then.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="package")
def site_live(chromium, django_db_setup, django_db_blocker, tmp_path_factory, tiny_bundle):
    """Web + worker processes on the test database, seeded demo users with TOTP for the radiologist and the
    admin, an active chest X-ray model and a second, unevaluated candidate for the promotion gate."""
    var = tmp_path_factory.mktemp("e2e")
    dirs = SimpleNamespace(
        DATABASES=settings.DATABASES,
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        MEDIA_ROOT=var / "media",
        MEDSITE_MODEL_ROOT=var / "models",
    )
    env = live.postgres_redis_env(dirs, var / "var")
    if env is None:
        pytest.skip("needs DATABASE_URL=postgres://... and CELERY_BROKER_URL=redis://... (make test sets them)")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    candidate_bundle = train_tiny_bundle(var / "candidate", seed=7)
    with django_db_blocker.unblock(), override_settings(MEDSITE_MODEL_ROOT=dirs.MEDSITE_MODEL_ROOT):
        try:
            call_command("seed_demo", "--no-train", stdout=io.StringIO())
            secrets = {email: generate_totp_secret() for email in (RADIOLOGIST, ADMIN)}
            for email, secret in secrets.items():
                TOTP.activate(User.objects.get(email=email), secret)
            active = model_register(bundle_path=tiny_bundle, activate=True)
            candidate = model_register(bundle_path=candidate_bundle)
            port = live.free_port()
            with live.worker(env, var / "worker.log"), live.web(env, var / "web.log", port):
                yield SimpleNamespace(
                    base=f"http://127.0.0.1:{port}",
                    site=Site.objects.get(slug="demo"),
                    secrets=secrets,
                    active=active,
                    candidate=candidate,
                    media=dirs.MEDIA_ROOT,  # the web process's files: tests that make image rows write theirs here
                )
        finally:
            call_command("flush", interactive=False, verbosity=0)
            # While Playwright's loop runs, Django keeps this thread's connections apart from the ones it opened
            # before (see `chromium`): close them here, or the test database cannot be dropped at the end.
            connections.close_all()


class Browser:
    """One signed-in browser context per demo user, kept for the package (each TOTP code works once)."""

    def __init__(self, chromium, site):
        self.chromium = chromium
        self.site = site
        self.pages = {}

    def new_page(self):
        context = self.chromium.new_context(base_url=self.site.base, viewport=DESKTOP)
        context.set_default_timeout(30_000)
        page = context.new_page()
        page.errors = []  # what the page's console and scripts report: CSP refusals, JS exceptions, 404s
        page.on("console", lambda message: message.type == "error" and page.errors.append(message.text))
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        return page

    def as_user(self, email: str):
        if email not in self.pages:
            page = self.new_page()
            log_in(page, email, self.site.secrets.get(email))
            self.pages[email] = page
        return self.pages[email]


def log_in(page, email: str, totp_secret: str | None = None) -> None:
    page.goto("/accounts/login/")
    page.locator('input[name="login"]').fill(email)
    page.locator('input[name="password"]').fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    if totp_secret:
        page.wait_for_url("**/accounts/2fa/authenticate/")
        page.locator('input[name="code"]').fill(totp_now(totp_secret))
        page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(re.compile(r"^https?://[^/]+/(worklist/)?$"))  # the start page (a reader's is the worklist)


@pytest.fixture(scope="package")
def browser(chromium, site_live):
    return Browser(chromium, site_live)


@pytest.fixture
def screenshot(request):
    """screenshot(page[, step]): save the page to var/e2e/<journey>[-<step>].png, the journey being the test's name."""

    def _save(page, step: str = ""):
        name = request.node.name.removeprefix("test_") + (f"-{step}" if step else "")
        page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)

    return _save


@pytest.fixture(scope="package")
def studies(site_live):
    """A chest DX study at the demo site for each journey that uploads, by patient name. Made here, outside the
    tests' transactions, so that the web process sees them."""
    names = ("Dora Dropped", "Ada Awaited", "Petra Predicted")
    return {
        name: StudyFactory(patient=PatientFactory(site=site_live.site, name=name), modality="DX", body_part="CHEST")
        for name in names
    }
