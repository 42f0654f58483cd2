"""Every read of patient data is audited, and so is every refused attempt (issue 20, findings 2 and 7).

The walk at the bottom goes through the URL configuration: each web and API URL is declared here as a read of
patient data (READS), a write (WRITES: audited by its service, its refusals by the access helpers) or a page
without patient data (NO_PATIENT_DATA). A new URL in none of them fails the suite. Django admin is walked by its
own test (tests/diagnosis/test_admin*.py); allauth's account pages hold no patient data.

Each read, fetched by the right persona, writes exactly one VIEW (DOWNLOAD for files sent as attachments) event
naming what it showed; fetched by a member of another site (404) or by a role that may not see it (403), exactly
one DENIED event naming the record, and never the patient's details.
"""

import csv
import io
import re
from dataclasses import dataclass, field

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from accounts.models import ApiToken, AuditEvent
from diagnosis.api.review import _csv_cell
from diagnosis.services import review
from tests.diagnosis.test_permission_matrix import with_dicom_image
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

VIEW, DOWNLOAD, DENIED = AuditEvent.Action.VIEW, AuditEvent.Action.DOWNLOAD, AuditEvent.Action.DENIED


@pytest.fixture
def web_world(world, clinician):
    return with_dicom_image(world, clinician)


@dataclass(frozen=True)
class Read:
    """A URL that shows patient data. `target` names the record of `web_world` in the URL (None: a list, whose
    event names the kind of row and the count); `refused` lists (persona, status) who must be turned away."""

    url_name: str
    persona: str
    object_type: str
    target: str | None = None
    action: str = VIEW
    refused: tuple[tuple[str, int], ...] = ()
    method: str = "get"
    data: dict = field(default_factory=dict)
    detail: dict = field(default_factory=dict)  # what the event's detail must hold besides the count

    def call(self, client, world):
        target = getattr(world, self.target) if self.target else None
        url = reverse(self.url_name, args=[target.pk] if target else [])
        if self.method == "get":
            return client.get(url, self.data)
        return (
            client.post(url, self.data, format="json")
            if self.url_name.startswith("api:")
            else client.post(url, self.data)
        )


OUTSIDER = (("outsider", 404),)
OUTSIDE_RADIOLOGIST = (("outside_radiologist", 404),)
READS = [
    # the web UI
    Read("diagnosis:home", "clinician", "patient", detail={"search": False}),
    Read("diagnosis:home", "clinician", "patient", method="post", data={"q": "x"}, detail={"search": True}),
    Read("diagnosis:patient_detail", "clinician", "patient", "patient", refused=OUTSIDER),
    Read("diagnosis:patient_update", "clinician", "patient", "patient", refused=(*OUTSIDER, ("radiologist", 403))),
    Read("diagnosis:study_create", "clinician", "patient", "patient", refused=(*OUTSIDER, ("radiologist", 403))),
    Read("diagnosis:study_detail", "radiologist", "study", "study", refused=OUTSIDER),
    Read("diagnosis:study_update", "clinician", "study", "study", refused=(*OUTSIDER, ("site_admin", 403))),
    Read("diagnosis:study_results", "clinician", "study", "study", refused=OUTSIDER),
    Read("diagnosis:image_display", "clinician", "image", "image", refused=OUTSIDER),
    Read("diagnosis:image_original", "clinician", "image", "image", DOWNLOAD, refused=OUTSIDER),
    Read("diagnosis:image_deidentified", "radiologist", "image", "dicom_image", DOWNLOAD, refused=OUTSIDER),
    Read("diagnosis:prediction_heatmap", "radiologist", "prediction", "prediction", refused=OUTSIDE_RADIOLOGIST),
    Read("diagnosis:worklist", "radiologist", "worklist", refused=(("clinician", 403),)),
    Read("diagnosis:adjudication", "radiologist", "adjudication", refused=(("clinician", 403),)),
    Read("diagnosis:retraining_items", "superuser", "retrainingitem", "task", refused=(("site_admin", 403),)),
    # the REST API
    Read("api:patient-list", "clinician", "patient"),
    Read("api:patient-search", "clinician", "patient", method="post", data={"query": "x"}, detail={"search": True}),
    Read("api:patient-detail", "clinician", "patient", "patient", refused=OUTSIDER),
    Read("api:study-list", "clinician", "study"),
    Read("api:study-detail", "clinician", "study", "study", refused=OUTSIDER),
    Read("api:study-images", "clinician", "image", "study", refused=OUTSIDER),
    Read("api:image-detail", "clinician", "image", "image", refused=OUTSIDER),
    Read("api:image-file", "clinician", "image", "image", refused=OUTSIDER),
    Read("api:prediction-list", "radiologist", "prediction"),
    Read("api:prediction-detail", "radiologist", "prediction", "prediction", refused=OUTSIDE_RADIOLOGIST),
    Read("api:prediction-heatmap", "radiologist", "prediction", "prediction", refused=OUTSIDE_RADIOLOGIST),
    Read("api:review-list", "radiologist", "review"),
    Read("api:review-export", "radiologist", "review", action=DOWNLOAD),
    Read("api:retraining-item-list", "superuser", "retrainingitem", refused=(("site_admin", 403),)),
    Read(
        "api:retraining-item-detail", "superuser", "retrainingitem", "retraining_item", refused=(("site_admin", 403),)
    ),
]
# Writes: each is audited by its service (CREATE, UPDATE, REVIEW, EXCLUDE...), its refusals by the access helpers.
WRITES = {
    "diagnosis:study_upload",
    "diagnosis:review_submit",
    "diagnosis:training_start",
    "diagnosis:retraining_item_exclude",
    "diagnosis:model_promote",
    "diagnosis:model_evaluate",
    "diagnosis:model_rollback",
    "api:import-list",
    "api:retraining-item-exclude",
    "api:model-promote",
    "api:model-shadow",
    "api:model-retire",
    "api:model-rollback",
    "api:model-evaluate",
}
NO_PATIENT_DATA = {
    "diagnosis:patient_create": "a blank form: the user's sites only",
    "diagnosis:dicom_import": "a blank form; what an import stores is audited as CREATE events",
    "diagnosis:model_list": "the model registry",
    "diagnosis:model_detail": "a model's metrics: counts and rates over many patients",
    "diagnosis:learning": "counts per class of the retraining queues, and the training runs",
    "diagnosis:training_run": "a training run's progress, log and data manifest (file names and hashes)",
    "diagnosis:training_run_progress": "the same, polled",
    "api:model-list": "the model registry",
    "api:model-detail": "the model registry",
    "api:model-performance": "counts and rates over many patients",
    "api:model-evaluations": "held-out evaluations: metrics",
    "api:training-run-list": "training runs",
    "api:training-run-detail": "a training run",
    "api:audit-event-list": "the audit trail: ids, counts and staff emails, never patient details",
    "api:api-root": "links",
    "schema": "the OpenAPI schema",
    "api-docs": "the Swagger page",
    "accounts:invitation_accept": "an invitation",
    "accounts:api_tokens": "the user's own API tokens",
    "accounts:api_token_revoke": "revoking one of them",
}


def _routes(resolver: URLResolver | None = None, namespace: str = ""):
    """(name, callback) of every named URL outside Django admin."""
    for pattern in (resolver or get_resolver()).url_patterns:
        if isinstance(pattern, URLResolver):
            inner = ":".join(part for part in (namespace, pattern.namespace) if part)
            if inner != "admin":
                yield from _routes(pattern, inner)
        elif isinstance(pattern, URLPattern) and pattern.name:
            yield (f"{namespace}:{pattern.name}" if namespace else pattern.name), pattern.callback


def test_every_url_is_declared_a_read_a_write_or_free_of_patient_data():
    ours = {name for name, callback in _routes() if not callback.__module__.startswith("allauth.")}
    reads = {read.url_name for read in READS}
    assert not reads & WRITES and not reads & NO_PATIENT_DATA.keys() and not WRITES & NO_PATIENT_DATA.keys()
    missing = ours - reads - WRITES - NO_PATIENT_DATA.keys()
    assert not missing, f"URLs not declared in test_read_audit.py (is their patient data audited?): {sorted(missing)}"
    assert (reads | WRITES | NO_PATIENT_DATA.keys()) - ours == set(), "declared URLs that no longer exist"


def _client(user):
    client = APIClient()
    client.force_login(user)
    return client


def _events_after(mark: int):
    return list(AuditEvent.objects.filter(pk__gt=mark).select_related("actor", "site").order_by("pk"))


def _mark() -> int:
    return AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def _label(read: Read) -> str:
    return f"{read.method.upper()} {read.url_name}"


def _record(read: Read, world):
    """The record the URL names, or None for a list (or a URL that names a task)."""
    target = getattr(world, read.target) if read.target else None
    return target if hasattr(target, "_meta") else None


@pytest.mark.parametrize("read", READS, ids=_label)
def test_each_read_of_patient_data_writes_one_view_event(request, web_world, read):
    user = request.getfixturevalue(read.persona)
    client = _client(user)
    mark = _mark()
    response = read.call(client, web_world)
    assert response.status_code == 200, response.content[:300]
    events = _events_after(mark)
    if response.streaming:
        response.close()  # after reading the events: closing it ends the request (and its database connection)
    reads = [event for event in events if event.action in (VIEW, DOWNLOAD)]
    assert len(reads) == 1, [(e.action, e.object_type, e.object_id) for e in events]
    (event,) = reads
    assert (event.action, event.object_type, event.actor) == (read.action, read.object_type, user)
    record = _record(read, web_world)
    if record is not None and record._meta.model_name == read.object_type:
        assert event.object_id == str(record.pk)
    else:  # a list: the kind of row and how many, no id
        assert event.object_id == "" and isinstance(event.detail["count"], int)
    assert read.detail.items() <= event.detail.items()
    assert not [e for e in events if e.action == DENIED]


REFUSALS = [
    pytest.param(read, persona, status, id=f"{_label(read)} as {persona}")
    for read in READS
    for persona, status in read.refused
]


@pytest.mark.parametrize(("read", "persona", "status"), REFUSALS)
def test_each_refused_read_writes_one_denied_event(request, web_world, read, persona, status):
    user = request.getfixturevalue(persona)
    client = _client(user)
    mark = _mark()
    response = read.call(client, web_world)
    assert response.status_code == status
    events = _events_after(mark)
    assert [e.action for e in events] == [DENIED], [(e.action, e.object_type, e.object_id) for e in events]
    (event,) = events
    record = _record(read, web_world)
    if record is not None and read.persona != "superuser":  # the access helpers name the record they refused
        assert (event.object_type, event.object_id) == (record._meta.model_name, str(record.pk))
        assert event.site == web_world.site  # the record's site: its admins see who tried
    else:  # a list, or the learning loop, refused before any record is looked up
        assert event.object_type == read.object_type
    assert (event.actor, event.detail["status"]) == (user, status)
    written = str((event.object_type, event.object_id, event.detail, event.user_agent))
    assert web_world.patient.name not in written and web_world.patient.mrn not in written


def test_a_denied_read_is_written_even_though_the_answer_is_404(client, outsider, patient):
    """The 404 tells the outsider nothing; the trail tells the site's admins that someone tried."""
    client.force_login(outsider)
    assert client.get(reverse("diagnosis:patient_detail", args=[patient.pk])).status_code == 404
    event = AuditEvent.objects.get(action=DENIED)
    assert (event.actor, event.site, event.object_type, event.object_id) == (
        outsider,
        patient.site,
        "patient",
        str(patient.pk),
    )
    assert client.get(reverse("diagnosis:patient_detail", args=[patient.pk + 1000])).status_code == 404
    assert AuditEvent.objects.filter(action=DENIED).count() == 1  # no such record: nothing was protected


# --- finding 7: search terms never in a URL ------------------------------------------------------------------

MRN, NAME = "MRN-QS-55123", "Quentin Querystring"


def _links(html: str) -> list[str]:
    return re.findall(r'(?:href|action|src|hx-get|hx-post)="([^"]*)"', html)


def test_web_patient_search_is_posted_and_the_term_never_reaches_a_url(client, clinician, site):
    wanted = PatientFactory(site=site, mrn=MRN, name=NAME)
    PatientFactory(site=site, name="Someone Else")
    client.force_login(clinician)
    page = client.get(reverse("diagnosis:home")).content.decode()
    assert re.search(r'<form method="post" class="search"', page)  # the form POSTs: no ?q= in history or logs
    response = client.post(reverse("diagnosis:home"), {"q": MRN.lower()})
    assert response.status_code == 200 and not response.has_header("Location")
    html = response.content.decode()
    assert NAME in html and "Someone Else" not in html
    assert [link for link in _links(html) if MRN.lower() in link.lower() or "Quentin" in link] == []
    assert reverse("diagnosis:patient_detail", args=[wanted.pk]) in _links(html)
    # An old bookmark with ?q= searches nothing: the term in a URL is never used.
    ignored = client.get(reverse("diagnosis:home"), {"q": MRN}).content.decode()
    assert "Someone Else" in ignored
    assert not AuditEvent.objects.filter(detail__icontains=MRN).exists()


def test_api_patient_search_is_posted_and_the_term_never_reaches_a_url(clinician, site):
    PatientFactory.create_batch(51, site=site, name=NAME)
    PatientFactory(site=site, name="Someone Else")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {ApiToken.objects.create(user=clinician, name='test')[1]}")
    url = reverse("api:patient-search")
    first = client.post(url, {"query": "quentin"}, format="json")
    assert first.status_code == 200, first.content
    body = first.json()
    assert body["count"] == 51 and {row["name"] for row in body["results"]} == {NAME}
    assert "quentin" not in body["next"].lower() and body["next"].startswith("http")
    second = client.post(body["next"], {"query": "quentin"}, format="json").json()
    assert len(second["results"]) == 1
    events = AuditEvent.objects.filter(action=VIEW, object_type="patient")
    assert [event.detail for event in events.order_by("pk")] == [
        {"count": 50, "search": True},
        {"count": 1, "search": True},
    ]
    assert not AuditEvent.objects.filter(detail__icontains="quentin").exists()


def test_api_patient_search_in_the_query_string_is_refused_with_the_way_to_do_it(api, clinician, site):
    PatientFactory(site=site, mrn=MRN)
    response = api(clinician).get(reverse("api:patient-list"), {"search": MRN})
    assert response.status_code == 400
    assert "POST /api/v1/patients/search/" in response.json()["search"][0]
    assert not AuditEvent.objects.filter(action=VIEW).exists()  # nothing was shown


def test_the_schema_documents_search_by_post_and_no_search_parameter(client):
    schema = client.get(reverse("schema"), {"format": "json"}).json()
    search = schema["paths"]["/api/v1/patients/search/"]
    assert "post" in search and "get" not in search
    body = search["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert "PatientSearch" in body
    parameters = [p["name"] for p in schema["paths"]["/api/v1/patients/"]["get"].get("parameters", [])]
    assert "search" not in parameters


# --- finding 7: Cache-Control: no-store on every signed-in response ---------------------------------------------


def test_signed_in_pages_json_and_errors_are_never_stored(client, clinician, patient, other_world):
    client.force_login(clinician)
    for url, status in [
        (reverse("diagnosis:home"), 200),
        (reverse("diagnosis:patient_detail", args=[patient.pk]), 200),
        (reverse("diagnosis:patient_detail", args=[other_world.patient.pk]), 404),
        ("/no-such-page/", 404),
        (reverse("api:patient-list"), 200),
        (reverse("api:patient-detail", args=[other_world.patient.pk]), 404),
        (reverse("diagnosis:worklist"), 403),
    ]:
        response = client.get(url)
        assert response.status_code == status, url
        assert "no-store" in response["Cache-Control"], url


def test_token_requests_are_never_stored_and_files_stay_private(clinician, web_world):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {ApiToken.objects.create(user=clinician, name='test')[1]}")
    assert client.get(reverse("api:patient-list"))["Cache-Control"] == "no-store"
    assert client.get(reverse("api:patient-detail", args=[10**6]))["Cache-Control"] == "no-store"
    response = client.get(reverse("api:image-file", args=[web_world.image.pk]))
    assert response["Cache-Control"] == "private, no-store"
    response.close()


# --- finding 7: CSV cells that a spreadsheet would run ------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("=1+1", "'=1+1"),
        ("ok;=2+5", "ok;'=2+5"),  # a spreadsheet importing with ";" as the separator starts a cell at "="
        ("a,=b", "a,'=b"),
        ("x\t@SUM(A1)", "x\t'@SUM(A1)"),
        ("a|=cmd|' /C calc'!A0", "a|'=cmd|' /C calc'!A0"),
        (" =1", "' =1"),
        ('"=1"', '\'"=1"'),
        ("-2+3", "'-2+3"),
        ("note\n+A1", "note\n'+A1"),
        ("-2", "-2"),  # plain numbers stay numbers
        ("+1.5e3", "+1.5e3"),
        ("ok;-2", "ok;-2"),
        ("no formula here", "no formula here"),
        ({"normal": 0.2, "pneumonia": 0.8}, '{"normal": 0.2, "pneumonia": 0.8}'),
        (0.5, 0.5),
    ],
)
def test_csv_cells_are_neutralised_after_every_separator(cell, written):
    assert _csv_cell(cell) == written


def test_the_ledger_export_quotes_every_cell(api, radiologist, world):
    review.review_submit(prediction=world.prediction, reviewer=radiologist, label="normal", note="ok;=2+5")
    response = api(radiologist).get(reverse("api:review-export"))
    text = response.content.decode()
    header, row = text.splitlines()[:2]
    assert header.startswith('"id",') and row.startswith('"')
    (parsed,) = csv.DictReader(io.StringIO(text))
    assert parsed["note"] == "ok;'=2+5"
    # Split on ";" ignoring the quotes, as a careless import would: still no cell starts a formula.
    assert not [cell for cell in re.split(r"[;,\t]", text) if cell.strip().lstrip('"').startswith(("=", "@"))]
