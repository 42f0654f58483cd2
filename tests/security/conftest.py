"""The scripted attack run (`make test-security`): issue 20's reproductions, repeated against a live web server (a
separate process, `manage.py runserver`) on the test PostgreSQL database and Redis, with the seeded demo users and
a second hospital whose records the attackers go after. Like tests/e2e, what the server must see is committed by a
package-scoped fixture and flushed afterwards; the tests only talk HTTP to the server and read the audit trail.

The server runs as production would behind the hospital's reverse proxy: MEDSITE_TRUSTED_PROXIES is 127.0.0.1 and
the requests carry X-Forwarded-For, and the MFA requirement is the production one (radiologists, admins and
superusers need TOTP).
"""

import io
import re
from types import SimpleNamespace

import pytest
import requests
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.conf import settings
from django.core.management import call_command
from django.db import connections

from accounts.models import Membership, Role, Site, User
from diagnosis.management.commands.seed_demo import DEMO_PASSWORD
from tests import live
from tests.e2e.conftest import totp_now
from tests.factories import PatientFactory, StudyFactory

ADMIN = "admin@demo.medsite"
CLINICIAN = "clinician@demo.medsite"
OUTSIDER = "outsider@county.example"
PROMOTED = "promoted@demo.medsite"  # a clinician whom an admin makes site admin while they are signed in
PROMOTED_PASSWORD = "promoted-password-2026"
PROXY_CLIENT = "198.51.100.23"  # the workstation behind the proxy that the normal users sit at


@pytest.fixture(scope="package")
def server(django_db_setup, django_db_blocker, tmp_path_factory):
    var = tmp_path_factory.mktemp("attack")
    dirs = SimpleNamespace(
        DATABASES=settings.DATABASES,
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        MEDIA_ROOT=var / "media",
        MEDSITE_MODEL_ROOT=var / "models",
    )
    env = live.postgres_redis_env(dirs, var / "var")
    if env is None:
        pytest.skip("needs DATABASE_URL=postgres://... and CELERY_BROKER_URL=redis://... (make test sets them)")
    env.update(MEDSITE_TRUSTED_PROXIES="127.0.0.1")
    with django_db_blocker.unblock():
        try:
            call_command("seed_demo", "--no-train", stdout=io.StringIO())
            admin_secret = generate_totp_secret()
            TOTP.activate(User.objects.get(email=ADMIN), admin_secret)
            demo = Site.objects.get(slug="demo")
            county = Site.objects.create(name="County General", slug="county")
            outsider = User.objects.create_user(OUTSIDER, DEMO_PASSWORD)
            Membership.objects.create(user=outsider, site=county, role=Role.CLINICIAN)
            promoted = User.objects.create_user(PROMOTED, PROMOTED_PASSWORD)
            Membership.objects.create(user=promoted, site=demo, role=Role.CLINICIAN)
            ours = StudyFactory(patient=PatientFactory(site=demo, mrn="DEMO-ATTACK-1", name="Ada Ours"))
            theirs = StudyFactory(patient=PatientFactory(site=county, mrn="COUNTY-SECRET-7", name="Zed Theirs"))
            port = live.free_port()
            with live.web(env, var / "web.log", port):
                yield SimpleNamespace(
                    base=f"http://127.0.0.1:{port}",
                    admin_secret=admin_secret,
                    ours=ours,
                    theirs=theirs,
                    env=env,
                    var=var,
                    log=var / "web.log",
                )
        finally:
            call_command("flush", interactive=False, verbosity=0)
            connections.close_all()


class Browser(requests.Session):
    """A person at a workstation behind the hospital's proxy: every request says where it came from."""

    def __init__(self, base: str, address: str = PROXY_CLIENT):
        super().__init__()
        self.base = base
        self.headers["X-Forwarded-For"] = address

    def request(self, method, url, *args, **kwargs):
        kwargs.setdefault("allow_redirects", False)
        return super().request(method, url if url.startswith("http") else self.base + url, *args, **kwargs)

    def get(self, url, **kwargs):  # requests follows redirects on GET unless told not to: show them
        kwargs.setdefault("allow_redirects", False)
        return super().get(url, **kwargs)

    def csrf(self) -> str:
        if "csrftoken" not in self.cookies:
            self.get("/accounts/login/")
        return self.cookies["csrftoken"]

    def post_form(self, path: str, data: dict) -> requests.Response:
        return self.post(path, data={**data, "csrfmiddlewaretoken": self.csrf()}, headers={"Referer": self.base + path})

    def login(self, email: str, password: str = DEMO_PASSWORD, totp_secret: str | None = None) -> requests.Response:
        response = self.post_form("/accounts/login/", {"login": email, "password": password})
        if totp_secret and response.status_code == 302 and "2fa" in response.headers["Location"]:
            response = self.post_form(response.headers["Location"], {"code": totp_now(totp_secret)})
        return response


@pytest.fixture
def browser(server):
    def _open(address: str = PROXY_CLIENT) -> Browser:
        return Browser(server.base, address)

    return _open


def signed_in(response: requests.Response) -> bool:
    return response.status_code == 302 and not re.search(r"/accounts/(login|2fa)/", response.headers["Location"])
