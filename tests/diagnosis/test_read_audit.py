"""Every read of patient data is audited, and so is every refused attempt (issue 20, finding 2: web and API).

The walk at the bottom goes through the URL configuration: each web and API URL is declared here as a read of
patient data (READS), a write (WRITES: audited by its service, its refusals by the access helpers) or a page
without patient data (NO_PATIENT_DATA). A new URL in none of them fails the suite. Django admin is walked by its
own test (tests/diagnosis/test_admin*.py); allauth's account pages hold no patient data.

Each read, fetched by the right persona, writes exactly one VIEW (DOWNLOAD for files sent as attachments) event
naming what it showed; fetched by a member of another site (404) or by a role that may not see it (403), exactly
one DENIED event naming the record, and never the patient's details.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from operator import attrgetter

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from accounts.models import AuditEvent
from diagnosis import fhir
from diagnosis.dicomweb.instances import image_uids, study_uid
from tests.diagnosis.test_permission_matrix import with_dicom_image

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
    fhir_part: str = ""  # /fhir/ URLs name the record by its FHIR id (diagnosis.fhir.resource_id)
    args: Callable | None = None  # the URL's arguments from the world: /dicomweb/ URLs name UIDs

    def call(self, client, world):
        target = attrgetter(self.target)(world) if self.target else None
        arg = fhir.resource_id(target.pk, self.fhir_part) if target and self.url_name.startswith("fhir:") else None
        url = reverse(self.url_name, args=self.args(world) if self.args else [arg or target.pk] if target else [])
        if self.method == "get":
            return client.get(url, self.data)
        return (
            client.post(url, self.data, format="json")
            if self.url_name.startswith("api:")
            else client.post(url, self.data)
        )


OUTSIDER = (("outsider", 404),)
OUTSIDE_RADIOLOGIST = (("outside_radiologist", 404),)


def _study_uids(world):  # DICOMweb: world's PNG study (a derived UID)
    return [study_uid(world.study)]


def _series_uids(world):
    return [study_uid(world.study), image_uids(world.image)[0]]


def _instance_uids(world):  # DICOMweb: the DICOM image (MR_small, in a study registered without a UID)
    return [study_uid(world.dicom_image.study), *image_uids(world.dicom_image)]


READS = [
    # the web UI
    Read("diagnosis:home", "clinician", "patient", detail={"search": False}),
    Read("diagnosis:start", "clinician", "patient", detail={"search": False}),  # a radiologist is sent on to /worklist/
    Read("diagnosis:home", "clinician", "patient", method="post", data={"q": "x"}, detail={"search": True}),
    Read("diagnosis:patient_detail", "clinician", "patient", "patient", refused=OUTSIDER),
    Read("diagnosis:patient_update", "clinician", "patient", "patient", refused=(*OUTSIDER, ("radiologist", 403))),
    Read("diagnosis:study_create", "clinician", "patient", "patient", refused=(*OUTSIDER, ("radiologist", 403))),
    Read("diagnosis:study_detail", "radiologist", "study", "study", refused=OUTSIDER),
    Read("diagnosis:study_update", "clinician", "study", "study", refused=(*OUTSIDER, ("site_admin", 403))),
    Read("diagnosis:study_results", "clinician", "study", "study", refused=OUTSIDER),
    Read(
        "diagnosis:study_read",
        "radiologist",
        "study",
        "study",
        refused=(*OUTSIDER, ("clinician", 403)),
        detail={"part": "reading"},
    ),  # fmt: skip  (opening it also takes the reading claim: an UPDATE event, not a read)
    Read("diagnosis:image_display", "clinician", "image", "image", refused=OUTSIDER),
    Read("diagnosis:image_original", "clinician", "image", "image", DOWNLOAD, refused=OUTSIDER),
    Read("diagnosis:image_pixels", "clinician", "image", "dicom_image", refused=OUTSIDER),
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
    Read("api:image-pixels", "radiologist", "image", "dicom_image", refused=OUTSIDER),
    Read("api:prediction-list", "radiologist", "prediction"),
    Read("api:worklist-list", "radiologist", "worklist", refused=(("clinician", 403),)),
    Read("api:prediction-detail", "radiologist", "prediction", "prediction", refused=OUTSIDE_RADIOLOGIST),
    Read("api:prediction-heatmap", "radiologist", "prediction", "prediction", refused=OUTSIDE_RADIOLOGIST),
    Read("api:prediction-sr", "radiologist", "prediction", "prediction", DOWNLOAD, refused=OUTSIDE_RADIOLOGIST),
    Read("api:prediction-sc", "clinician", "prediction", "prediction", DOWNLOAD, refused=OUTSIDER),
    Read("api:review-sr", "radiologist", "review", "retraining_item.review", DOWNLOAD, refused=OUTSIDE_RADIOLOGIST),
    Read("api:review-list", "radiologist", "review"),
    Read("api:review-detail", "radiologist", "review", "retraining_item.review", refused=OUTSIDE_RADIOLOGIST),
    Read("api:prediction-deliveries", "clinician", "resultdelivery", "prediction", refused=OUTSIDER),
    Read("api:delivery-list", "clinician", "resultdelivery"),
    Read("api:delivery-detail", "radiologist", "resultdelivery", "delivery", refused=OUTSIDE_RADIOLOGIST),
    Read("api:review-export", "radiologist", "review", action=DOWNLOAD),
    Read("api:retraining-item-list", "superuser", "retrainingitem", refused=(("site_admin", 403),)),
    Read(
        "api:retraining-item-detail", "superuser", "retrainingitem", "retraining_item", refused=(("site_admin", 403),)
    ),
    # FHIR (diagnosis.api.fhir)
    Read("fhir:diagnosticreport-detail", "clinician", "prediction", "prediction", refused=OUTSIDER),
    Read("fhir:observation-detail", "radiologist", "prediction", "prediction", refused=OUTSIDER, fhir_part="ai"),
    Read("fhir:imagingstudy-detail", "clinician", "study", "study", refused=OUTSIDER),
    Read("fhir:patient-detail", "clinician", "patient", "patient", refused=OUTSIDER),
    Read("fhir:diagnosticreport-list", "clinician", "prediction", detail={"fhir": "DiagnosticReport"}),
    Read("fhir:diagnosticreport-search", "clinician", "prediction", method="post", data={"status": "preliminary"}),
    # a retraining run's data manifest lists queue items with patient pseudonyms
    Read("api:training-run-list", "superuser", "trainingrun", refused=(("clinician", 403),)),
    Read("api:training-run-detail", "superuser", "trainingrun", "training_run", refused=(("site_admin", 403),)),
    # DICOMweb (its POSTs to dicomweb:studies and dicomweb:study are STOW-RS: writes, audited by the import service)
    Read("dicomweb:studies", "clinician", "study", detail={"dicomweb": "studies"}),
    Read("dicomweb:study", "radiologist", "study", "study", DOWNLOAD, refused=OUTSIDER, args=_study_uids),
    Read("dicomweb:study-metadata", "clinician", "study", "study", refused=OUTSIDER, args=_study_uids),
    Read("dicomweb:study-series", "clinician", "study", "study", refused=OUTSIDER, args=_study_uids),
    Read("dicomweb:study-instances", "site_admin", "study", "study", refused=OUTSIDER, args=_study_uids),
    Read("dicomweb:series", "clinician", "study", "study", DOWNLOAD, refused=OUTSIDER, args=_series_uids),
    Read("dicomweb:series-metadata", "clinician", "study", "study", refused=OUTSIDER, args=_series_uids),
    Read("dicomweb:series-instances", "clinician", "study", "study", refused=OUTSIDER, args=_series_uids),
    Read("dicomweb:instance", "clinician", "image", "dicom_image", DOWNLOAD, refused=OUTSIDER, args=_instance_uids),
    Read("dicomweb:instance-metadata", "radiologist", "image", "dicom_image", refused=OUTSIDER, args=_instance_uids),
    Read("dicomweb:instance-rendered", "clinician", "image", "dicom_image", refused=OUTSIDER, args=_instance_uids),
    Read(
        "dicomweb:frames",
        "clinician",
        "image",
        "dicom_image",
        refused=OUTSIDER,
        args=lambda world: [*_instance_uids(world), "1"],
    ),  # fmt: skip
    Read(
        "dicomweb:frame-rendered",
        "clinician",
        "image",
        "dicom_image",
        refused=OUTSIDER,
        args=lambda world: [*_instance_uids(world), 1],
    ),  # fmt: skip
]
# Writes: each is audited by its service (CREATE, UPDATE, REVIEW, EXCLUDE...), its refusals by the access helpers.
WRITES = {
    "diagnosis:study_upload",
    "diagnosis:review_submit",
    "diagnosis:study_release",  # the reading claim: UPDATE events (services.worklist)
    "api:study-claim",
    "api:study-release",
    "diagnosis:training_start",
    "diagnosis:retraining_item_exclude",
    "diagnosis:model_promote",
    "diagnosis:model_evaluate",
    "diagnosis:model_rollback",
    "api:import-list",
    "api:delivery-retry",
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
    "diagnosis:training_run": "a training run's progress and log, and how many queue items it used (no pseudonyms)",
    "diagnosis:training_run_progress": "the same, polled",
    "api:model-list": "the model registry",
    "api:model-detail": "the model registry",
    "api:model-performance": "counts and rates over many patients",
    "api:model-evaluations": "held-out evaluations: metrics",
    "api:audit-event-list": "the audit trail: ids, counts and staff emails, never patient details",
    "api:api-root": "links",
    "fhir:metadata": "the FHIR CapabilityStatement",
    "fhir:device-detail": "a model version as a FHIR Device: the model registry",
    "fhir:practitioner-detail": "a radiologist's name and email, for members of the radiologist's sites",
    "fhir:unknown": "a 404 OperationOutcome for any other path under /fhir/",
    "schema": "the OpenAPI schema",
    "api-docs": "the Swagger page",
    "accounts:invitation_accept": "an invitation",
    "accounts:api_tokens": "the user's own API tokens",
    "accounts:api_token_revoke": "revoking one of them",
    "accounts:theme_set": "the colour theme cookie (light, dark or system)",
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
    target = attrgetter(read.target)(world) if read.target else None
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
