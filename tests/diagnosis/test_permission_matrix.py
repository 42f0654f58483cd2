"""Every web URL against three personas, and a check that no URL escapes the matrices.

The REST API has its own matrix in test_api.py. The test at the bottom walks the URL configuration, so a new
view or endpoint without a row in one of the two matrices fails the suite.
"""

from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from pydicom.data import get_testdata_file

from accounts.models import AuditEvent
from diagnosis.services import records
from tests.diagnosis.conftest import png_file
from tests.diagnosis.test_api import ENDPOINTS as API_ENDPOINTS
from tests.factories import PatientFactory, StudyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def web_world(world, clinician):
    return with_dicom_image(world, clinician)


def with_dicom_image(world, clinician):
    """The API matrix's records, plus a DICOM image (it has a de-identified rendition)."""
    path = Path(get_testdata_file("MR_small.dcm"))
    patient = PatientFactory(site=world.site, mrn=str(pydicom.dcmread(path).PatientID))
    study = StudyFactory(patient=patient, modality="MR", body_part="HEAD")
    upload = SimpleUploadedFile("mr.dcm", path.read_bytes())
    world.dicom_image = records.image_upload(study=study, file=upload, uploaded_by=clinician)
    return world


@dataclass(frozen=True)
class Page:
    url_name: str
    method: str = "get"
    target: str | None = None
    data: dict | None = None
    upload: bool = False

    def call(self, client, world):
        url = reverse(self.url_name, args=[getattr(world, self.target).pk] if self.target else [])
        if self.method == "get":
            return client.get(url)
        data = dict(self.data or {})
        if self.upload:
            data["files"] = png_file(size=(48, 40))
        return client.post(url, data)


# (page, (right role, status), (another role at the record's site, status), (same role at another site, status))
# Pages without a record (home, forms to create, lists) answer members of any site with their own sites' data.
MATRIX = [
    (Page("diagnosis:home"), ("clinician", 200), ("radiologist", 200), ("outsider", 200)),
    (Page("diagnosis:start"), ("clinician", 200), ("radiologist", 302), ("outsider", 200)),  # a reader: the worklist
    (Page("diagnosis:patient_create"), ("clinician", 200), ("radiologist", 403), ("outsider", 200)),
    (Page("diagnosis:patient_detail", target="patient"), ("clinician", 200), ("site_admin", 200), ("outsider", 404)),
    (Page("diagnosis:patient_update", target="patient"), ("clinician", 200), ("radiologist", 403), ("outsider", 404)),
    (Page("diagnosis:dicom_import"), ("clinician", 200), ("site_admin", 403), ("outsider", 200)),
    (
        Page("diagnosis:study_create", "post", "patient", {"modality": "CR", "body_part": "CHEST"}),
        ("clinician", 302),
        ("radiologist", 403),
        ("outsider", 404),
    ),
    (Page("diagnosis:study_detail", target="study"), ("clinician", 200), ("radiologist", 200), ("outsider", 404)),
    (Page("diagnosis:study_update", target="study"), ("clinician", 200), ("site_admin", 403), ("outsider", 404)),
    (Page("diagnosis:study_results", target="study"), ("clinician", 200), ("radiologist", 200), ("outsider", 404)),
    (
        Page("diagnosis:study_read", target="study"),
        ("radiologist", 200),
        ("clinician", 403),
        ("outside_radiologist", 404),
    ),
    (
        Page("diagnosis:study_upload", "post", "study", upload=True),
        ("clinician", 302),
        ("radiologist", 403),
        ("outsider", 404),
    ),
    (Page("diagnosis:image_display", target="image"), ("clinician", 200), ("radiologist", 200), ("outsider", 404)),
    (Page("diagnosis:image_original", target="image"), ("clinician", 200), ("site_admin", 200), ("outsider", 404)),
    (Page("diagnosis:image_pixels", target="dicom_image"), ("clinician", 200), ("radiologist", 200), ("outsider", 404)),
    (
        Page("diagnosis:image_deidentified", target="dicom_image"),
        ("clinician", 200),
        ("radiologist", 200),
        ("outsider", 404),
    ),
    (
        Page("diagnosis:review_submit", "post", "prediction", {"label": "normal"}),
        ("radiologist", 302),
        ("clinician", 403),
        ("outside_radiologist", 404),
    ),
    (Page("diagnosis:worklist"), ("radiologist", 200), ("clinician", 403), ("outside_radiologist", 200)),
    (
        Page("diagnosis:study_release", "post", "study"),
        ("radiologist", 302),
        ("clinician", 403),
        ("outside_radiologist", 404),
    ),
    (Page("diagnosis:adjudication"), ("radiologist", 200), ("clinician", 403), ("outside_radiologist", 200)),
    (
        Page("diagnosis:prediction_heatmap", target="prediction"),
        ("clinician", 200),
        ("radiologist", 200),
        ("outsider", 404),
    ),
    # The model registry is not patient data: every member may read what runs on the images.
    (Page("diagnosis:model_list"), ("clinician", 200), ("radiologist", 200), ("outsider", 200)),
    (
        Page("diagnosis:model_detail", target="model_version"),
        ("clinician", 200),
        ("site_admin", 200),
        ("outsider", 200),
    ),
]
# The learning loop (queue, training, promotion) serves every site's model: superusers only.
LEARNING = [
    (Page("diagnosis:learning"), ("superuser", 200), ("site_admin", 403), ("clinician", 403)),
    (Page("diagnosis:retraining_items", target="task"), ("superuser", 200), ("site_admin", 403), ("radiologist", 403)),
    (
        Page("diagnosis:retraining_item_exclude", "post", "retraining_item", {"reason": "blurred"}),
        ("superuser", 302),
        ("site_admin", 403),
        ("radiologist", 403),
    ),
    (Page("diagnosis:training_start", "post", "task"), ("superuser", 302), ("site_admin", 403), ("clinician", 403)),
    (
        Page("diagnosis:training_run", target="training_run"),
        ("superuser", 200),
        ("site_admin", 403),
        ("clinician", 403),
    ),
    (
        Page("diagnosis:training_run_progress", target="training_run"),
        ("superuser", 200),
        ("site_admin", 403),
        ("radiologist", 403),
    ),
    (Page("diagnosis:model_promote", "post", "candidate"), ("superuser", 302), ("site_admin", 403), ("clinician", 403)),
    (
        Page("diagnosis:model_evaluate", "post", "candidate"),
        ("superuser", 302),
        ("site_admin", 403),
        ("clinician", 403),
    ),
    (
        Page("diagnosis:model_rollback", "post", "model_version"),
        ("superuser", 302),
        ("site_admin", 403),
        ("radiologist", 403),
    ),
]
MATRIX += LEARNING
# A user's own API tokens (accounts.views): every signed-in user has the page; revoking names a token by its prefix
# in the body, and only the user's own is found (tests/accounts/test_tokens.py revokes real ones, and another's).
MATRIX += [
    (Page("accounts:api_tokens"), ("clinician", 200), ("radiologist", 200), ("outsider", 200)),
    (
        Page("accounts:api_token_revoke", "post", data={"prefix": "nosuchpf"}),
        ("clinician", 404),
        ("site_admin", 404),
        ("outsider", 404),
    ),
]
# Reachable without signing in, on purpose. The theme toggle's no-JavaScript form only sets a cookie on the caller's
# own browser (the login page has it too; tests/diagnosis/test_states_theme.py).
PUBLIC = {"accounts:invitation_accept", "accounts:theme_set"}
# The DRF root only lists the endpoint URLs; it is still behind authentication (checked below).
NO_DATA = {"api:api-root"}

CASES = [
    pytest.param(page, persona, status, id=f"{page.url_name} as {persona}")
    for page, *personas in MATRIX
    for persona, status in personas
]


def _writes() -> int:
    """Events other than reads and refusals (which test_read_audit.py checks): the writes of services."""
    return AuditEvent.objects.exclude(action__in=[AuditEvent.Action.VIEW, AuditEvent.Action.DENIED]).count()


@pytest.mark.parametrize(("page", "persona", "status"), CASES)
def test_web_permission_matrix(request, client, web_world, page, persona, status):
    client.force_login(request.getfixturevalue(persona))
    before = _writes()
    response = page.call(client, web_world)
    assert response.status_code == status
    if status >= 400:
        assert _writes() == before, "a refused request changed something"


@pytest.mark.parametrize("page", [page for page, *_ in MATRIX], ids=lambda page: page.url_name)
def test_anonymous_is_sent_to_login(client, web_world, page):
    response = page.call(client, web_world)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_api_root_needs_authentication(client):
    assert client.get(reverse("api:api-root")).status_code == 401


def _url_names(resolver: URLResolver, namespace: str = "") -> set[str]:
    names = set()
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}:{pattern.namespace}" if namespace and pattern.namespace else pattern.namespace
            names |= _url_names(pattern, inner or namespace)
        elif isinstance(pattern, URLPattern) and pattern.name:
            names.add(f"{namespace}:{pattern.name}" if namespace else pattern.name)
    return names


def test_every_project_url_is_in_a_permission_matrix():
    project = {name for name in _url_names(get_resolver()) if name.split(":")[0] in ("diagnosis", "api", "accounts")}
    covered = {page.url_name for page, *_ in MATRIX} | {endpoint.url_name for endpoint in API_ENDPOINTS}
    missing = project - covered - PUBLIC - NO_DATA
    assert not missing, f"URLs without a row in a permission matrix: {sorted(missing)}"
    assert covered - project == set(), "matrix rows for URLs that no longer exist"
