"""The AI result as FHIR (issue 21, part 4): the resources diagnosis.fhir builds (validated, round-tripped,
preliminary and final, coded as the DICOM SR is), the /fhir/ read and search API with its personas, audit and
OperationOutcomes, and the push of a transaction Bundle to a FHIR server (a small local HTTP server)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pydicom
import pytest
from django.urls import reverse
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle

from accounts.models import AuditEvent, Role
from diagnosis import dicom_results, fhir
from diagnosis.models import FhirServer, Prediction
from diagnosis.services.inference import prediction_create
from diagnosis.services.review import review_submit
from tests.conftest import png_bytes
from tests.diagnosis.conftest import predicted_image
from tests.diagnosis.test_permission_matrix import with_dicom_image
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

SCT = "http://snomed.info/sct"
VIEW, DENIED = AuditEvent.Action.VIEW, AuditEvent.Action.DENIED


@pytest.fixture
def reader(world):
    member = MembershipFactory(site=world.site, role=Role.RADIOLOGIST, user__first_name="Ada", user__last_name="Reader")
    return member.user


@pytest.fixture
def dicom_prediction(world, clinician, model_version):
    """A prediction on a DICOM upload (MR_small.dcm: it has real Study/Series/SOP Instance UIDs)."""
    image = with_dicom_image(world, clinician).dicom_image
    return prediction_create(
        image=image,
        model_version=model_version,
        label="pneumonia",
        probabilities={"normal": 0.2, "pneumonia": 0.8},
        threshold=0.5,
        inference_ms=3.0,
        heatmap_png=png_bytes(size=(20, 20)),
    )


def _by_type(bundle: Bundle) -> dict[str, list]:
    found: dict[str, list] = {}
    for entry in bundle.entry:
        found.setdefault(entry.resource.get_resource_type(), []).append(entry.resource)
    return found


def _codes(concept) -> set[tuple[str, str]]:
    return {(c.system, c.code) for c in concept.coding}


def _references(value) -> set[str]:
    """Every Reference.reference in a resource's JSON."""
    if isinstance(value, dict):
        found = {value["reference"]} if isinstance(value.get("reference"), str) else set()
        return found.union(*(_references(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_references(v) for v in value))
    return set()


# --- the resources --------------------------------------------------------------------------------------------


def test_every_resource_of_a_report_validates_and_round_trips(world, reader):
    for review in (None, review_submit(prediction=world.prediction, reviewer=reader, label="normal")):
        bundle = fhir.report_bundle(world.prediction, review, base_url="https://medsite.example/fhir")
        again = Bundle.model_validate_json(bundle.model_dump_json())
        assert again.model_dump_json() == bundle.model_dump_json()
        ids = set()
        for entry in bundle.entry:
            resource = entry.resource
            cls = get_fhir_model_class(resource.get_resource_type())
            assert cls.model_validate_json(resource.model_dump_json()).model_dump() == resource.model_dump()
            assert entry.fullUrl == f"https://medsite.example/fhir/{resource.get_resource_type()}/{resource.id}"
            ids.add(f"{resource.get_resource_type()}/{resource.id}")
        for entry in bundle.entry:  # the bundle is closed: each reference is one of its resources
            assert _references(json.loads(entry.resource.model_dump_json())) <= ids


def test_the_ai_result_is_a_preliminary_report_coded_as_the_sr_is(world):
    found = _by_type(fhir.report_bundle(world.prediction))
    (report,) = found["DiagnosticReport"]
    assert report.status == "preliminary" and not report.resultsInterpreter and not report.performer
    assert ("http://loinc.org", "18748-4") in _codes(report.code)
    assert _codes(report.category[0]) == {("http://terminology.hl7.org/CodeSystem/v2-0074", "RAD")}
    assert _codes(report.conclusionCode[0]) == {(SCT, "233604007")}  # pneumonia
    assert "not yet reviewed" in report.conclusion
    assert report.imagingStudy[0].reference == f"ImagingStudy/{fhir.resource_id(world.study.pk)}"
    assert report.subject.reference == f"Patient/{fhir.resource_id(world.patient.pk)}"
    group, *members = found["Observation"]
    assert {o.status for o in found["Observation"]} == {"preliminary"}
    assert ("http://dicom.nema.org/resources/ontology/DCM", "125007") in _codes(group.category[1])
    assert _codes(group.valueCodeableConcept) == {(SCT, "233604007")}
    assert group.component[0].valueQuantity.value == 0.5  # the operating threshold
    assert [m.reference for m in group.hasMember] == [f"Observation/{m.id}" for m in members]
    probabilities = {
        next(iter(_codes(m.code))): (float(m.valueQuantity.value), m.interpretation[0].coding[0].code) for m in members
    }
    assert probabilities == {(SCT, "17621005"): (0.2, "NEG"), (SCT, "233604007"): (0.8, "POS")}
    assert [r.reference for r in report.result] == [f"Observation/{o.id}" for o in found["Observation"]]
    # the same SNOMED CT concepts as the SR's
    sr_codes = {item.ConceptCodeSequence[0].CodeValue for item in _walk(dicom_results.prediction_sr(world.prediction))
                if item.ValueType == "CODE"}  # fmt: skip
    assert "233604007" in sr_codes
    assert "Practitioner" not in found


def _walk(ds):
    for item in ds.get("ContentSequence", []):
        yield item
        yield from _walk(item)


def test_a_radiologists_review_makes_the_report_final(world, reader):
    review = review_submit(prediction=world.prediction, reviewer=reader, label="normal")
    assert fhir.final_review(Prediction.objects.get(pk=world.prediction.pk)) == review
    found = _by_type(fhir.report_bundle(world.prediction, review))
    (report,) = found["DiagnosticReport"]
    assert report.status == "final"
    interpreter = f"Practitioner/{fhir.resource_id(reader.pk)}"
    assert [r.reference for r in report.resultsInterpreter] == [interpreter]
    assert _codes(report.conclusionCode[0]) == {(SCT, "17621005")}  # corrected to normal
    assert report.conclusion.startswith("Corrected as normal by a radiologist")
    reader_obs = found["Observation"][-1]
    assert (reader_obs.id, reader_obs.performer[0].reference) == (
        fhir.resource_id(world.prediction.pk, "reader"),
        interpreter,
    )
    assert _codes(reader_obs.valueCodeableConcept) == {(SCT, "17621005")}
    assert {o.status for o in found["Observation"]} == {"final"}
    (practitioner,) = found["Practitioner"]
    assert (practitioner.name[0].family, practitioner.name[0].given) == ("Reader", ["Ada"])
    # the report names the two SRs it stands beside: the preliminary SR and the final (verified) one
    uids = {i.value for i in report.identifier}
    sr_uids = {
        dicom_results.prediction_sr(world.prediction).SOPInstanceUID,
        dicom_results.review_sr(review).SOPInstanceUID,
    }
    assert uids == {f"urn:oid:{uid}" for uid in sr_uids}


def test_an_uncertain_review_is_final_with_the_uncertain_code_as_the_final_sr(world, reader):
    review = review_submit(prediction=world.prediction, reviewer=reader, uncertain=True)
    report = fhir.diagnostic_report_resource(world.prediction, review)
    assert report.status == "final"
    assert _codes(report.conclusionCode[0]) == {("urn:medsite:codes", "uncertain")}
    sr_codes = {item.ConceptCodeSequence[0].CodeValue for item in _walk(dicom_results.review_sr(review))
                if item.ValueType == "CODE"}  # fmt: skip
    assert "uncertain" in sr_codes


def test_at_a_second_reader_site_the_report_stays_preliminary_until_two_readers_agree(world, reader):
    world.site.second_reader = True
    world.site.save()
    second = MembershipFactory(site=world.site, role=Role.RADIOLOGIST).user
    review_submit(prediction=world.prediction, reviewer=reader, label="pneumonia")
    assert fhir.final_review(Prediction.objects.get(pk=world.prediction.pk)) is None
    deciding = review_submit(prediction=world.prediction, reviewer=second, label="pneumonia")
    assert fhir.final_review(Prediction.objects.get(pk=world.prediction.pk)) == deciding


def test_the_device_is_the_algorithm_the_sr_identifies(world, model_version):
    device = fhir.device_resource(model_version)
    assert device.serialNumber == model_version.bundle_sha256 == device.version[0].value
    assert device.deviceName[0].name == "MedSite chest-xray" and device.manufacturer == "MedSite"
    sr = dicom_results.prediction_sr(world.prediction)
    observer_uid = next(
        str(i.UID) for i in _walk(sr) if i.ValueType == "UIDREF" and i.ConceptNameCodeSequence[0].CodeValue == "121012"
    )
    assert device.identifier[0].value == f"urn:oid:{observer_uid}"
    group = fhir.observation_resources(world.prediction)[0]
    assert group.device.reference == f"Device/{device.id}"


def test_the_imaging_study_lists_the_dicom_instances_with_their_uids(world, dicom_prediction):
    image = dicom_prediction.image
    with image.file.open("rb") as fh:
        header = pydicom.dcmread(fh, stop_before_pixels=True)
    study = fhir.imaging_study_resource(image.study)
    assert study.identifier[0].value == f"urn:oid:{header.StudyInstanceUID}"
    (series,) = study.series
    assert (series.uid, series.modality.code) == (str(header.SeriesInstanceUID), "MR")
    (instance,) = series.instance
    assert (instance.uid, instance.sopClass.code) == (str(header.SOPInstanceUID), f"urn:oid:{header.SOPClassUID}")
    assert (study.numberOfSeries, study.numberOfInstances) == (1, 1)
    assert get_fhir_model_class("ImagingStudy").model_validate_json(study.model_dump_json()) == study
    image.study.accession_number = "ACC42"
    accession = fhir.imaging_study_resource(image.study).identifier[1]
    assert (accession.type.coding[0].code, accession.value) == ("ACSN", "ACC42")
    png_study = fhir.imaging_study_resource(world.study)  # a PNG upload is no DICOM instance anyone holds
    assert png_study.series is None and png_study.numberOfInstances == 0
    assert png_study.identifier[0].value == f"urn:oid:{dicom_results.study_instance_uid(world.study)}"


def test_class_observations_are_numbered_by_the_models_class_list(world):
    world.prediction.probabilities = {"pneumonia": 0.8}  # a class missing from the stored probabilities
    ids = [o.id for o in fhir.observation_resources(world.prediction)]
    assert ids == [fhir.resource_id(world.prediction.pk, part) for part in ("ai", "c1")]


def test_names_as_stored_become_human_names_and_blank_ones_none(world):
    assert fhir.human_name("Doe^Jane^M") == {"text": "Doe^Jane^M", "family": "Doe", "given": ["Jane"]}
    assert fhir.human_name("Jane Q Doe") == {"text": "Jane Q Doe", "family": "Doe", "given": ["Jane Q"]}
    assert fhir.human_name("^Jane") == {"text": "^Jane", "given": ["Jane"]}
    assert fhir.human_name("  ") is None
    world.patient.name = ""
    assert fhir.patient_resource(world.patient).name is None  # FHIR has no empty strings: left out, no error


def test_the_patient_carries_the_mrn_with_the_site_as_assigner(world):
    patient = fhir.patient_resource(world.patient)
    (identifier,) = patient.identifier
    assert (identifier.value, identifier.system) == (world.patient.mrn, f"urn:medsite:site:{world.site.slug}:mrn")
    assert identifier.assigner.display == world.site.name and identifier.type.coding[0].code == "MR"
    assert patient.gender == "female" and patient.name[0].text == world.patient.name


def test_ids_are_stable_namespaced_and_free_of_patient_data(world, settings):
    bundle = fhir.report_bundle(world.prediction)
    ids = [e.resource.id for e in bundle.entry]
    assert ids == [e.resource.id for e in fhir.report_bundle(world.prediction).entry]
    for resource_id in ids:
        assert fhir.parse_id(resource_id) is not None
        assert world.patient.mrn not in resource_id and world.patient.name not in resource_id
    settings.SECRET_KEY = "another installation's key " * 2
    assert fhir.parse_id(ids[0]) is None and fhir.resource_id(world.patient.pk) != ids[0]


def test_the_transaction_puts_each_resource_at_its_own_id(world):
    bundle = fhir.transaction_bundle(world.prediction, base_url="https://ehr.example/fhir/")
    assert bundle.type == "transaction"
    for entry in bundle.entry:
        path = f"{entry.resource.get_resource_type()}/{entry.resource.id}"
        assert (entry.request.method, entry.request.url) == ("PUT", path)
        assert entry.fullUrl == f"https://ehr.example/fhir/{path}"


# --- the API --------------------------------------------------------------------------------------------------


def _url(name: str, resource_id: str | None = None) -> str:
    return reverse(f"fhir:{name}", args=[resource_id] if resource_id else [])


READS = {
    "diagnosticreport-detail": ("prediction", lambda w: (w.prediction, "")),
    "observation-detail": ("prediction", lambda w: (w.prediction, "ai")),
    "imagingstudy-detail": ("study", lambda w: (w.study, "")),
    "patient-detail": ("patient", lambda w: (w.patient, "")),
}


@pytest.mark.parametrize("name", READS)
def test_reads_for_the_right_site_another_site_and_no_one(api, world, clinician, outsider, name):
    object_type, target = READS[name]
    record, part = target(world)
    url = _url(name, fhir.resource_id(record.pk, part))
    response = api(clinician).get(url)
    assert response.status_code == 200 and response["Content-Type"] == "application/fhir+json"
    body = response.json()
    assert body["id"] == fhir.resource_id(record.pk, part)
    event = AuditEvent.objects.get(action=VIEW)
    assert (event.actor, event.object_type, event.object_id) == (clinician, object_type, str(record.pk))

    response = api(outsider).get(url)
    assert response.status_code == 404 and response.json()["resourceType"] == "OperationOutcome"
    denied = AuditEvent.objects.get(action=DENIED)
    assert (denied.actor, denied.object_type, denied.object_id) == (outsider, object_type, str(record.pk))
    assert world.patient.mrn not in response.content.decode() and world.patient.name not in response.content.decode()

    response = api().get(url)
    assert response.status_code == 401
    assert response.json()["issue"][0]["code"] == "login"
    assert AuditEvent.objects.filter(action=VIEW).count() == 1


def test_every_reference_resolves_on_this_server(api, world, clinician, reader):
    review_submit(prediction=world.prediction, reviewer=reader, label="pneumonia")
    client = api(clinician)
    seen, todo = set(), {f"DiagnosticReport/{fhir.resource_id(world.prediction.pk)}"}
    while todo:
        ref = todo.pop()
        seen.add(ref)
        response = client.get(f"/fhir/{ref}")
        assert response.status_code == 200, (ref, response.content[:300])
        todo |= _references(response.json()) - seen
    kinds = {ref.split("/")[0] for ref in seen}
    assert kinds == {"DiagnosticReport", "Observation", "ImagingStudy", "Patient", "Device", "Practitioner"}


def test_unknown_ids_and_paths_are_404_operation_outcomes(api, world, clinician):
    client = api(clinician)
    for url in (
        _url("diagnosticreport-detail", fhir.resource_id(world.prediction.pk + 1000)),
        _url("patient-detail", str(world.patient.pk)),  # a bare key is not one of this server's ids
        _url("observation-detail", fhir.resource_id(world.prediction.pk, "reader")),  # not reviewed yet
        _url("observation-detail", fhir.resource_id(world.prediction.pk, "c7")),
        "/fhir/Encounter/1",
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert response.json()["issue"][0]["code"] == "not-found"
    assert not AuditEvent.objects.filter(action=VIEW).exists()


def test_the_capability_statement_needs_no_sign_in(api):
    response = api().get(_url("metadata"))
    assert response.status_code == 200 and response["Content-Type"] == "application/fhir+json"
    body = response.json()
    assert (body["resourceType"], body["fhirVersion"]) == ("CapabilityStatement", "4.3.0")
    resources = {r["type"] for r in body["rest"][0]["resource"]}
    assert resources == {"DiagnosticReport", "Observation", "ImagingStudy", "Patient", "Device", "Practitioner"}


def test_device_and_practitioner(api, world, clinician, outsider, reader):
    device = _url("device-detail", fhir.resource_id(world.model_version.pk))
    assert api(outsider).get(device).status_code == 200  # the model registry: every member reads it
    practitioner = _url("practitioner-detail", fhir.resource_id(reader.pk))
    assert api(clinician).get(practitioner).json()["name"][0]["family"] == "Reader"
    assert api(outsider).get(practitioner).status_code == 404  # shares no site with the reader


# --- search ---------------------------------------------------------------------------------------------------


def _search(client, **params):
    return client.get(_url("diagnosticreport-list"), params)


def test_search_by_patient_and_status_with_paging(api, world, clinician, reader, other_world):
    more = [predicted_image(world.study, world.model_version, n) for n in (101, 102)]
    review_submit(prediction=more[0], reviewer=reader, label="normal")
    client = api(clinician)
    patient = f"Patient/{fhir.resource_id(world.patient.pk)}"
    body = _search(client, patient=patient, _count=2).json()
    assert (body["type"], body["total"], len(body["entry"])) == ("searchset", 3, 2)
    links = {link["relation"]: link["url"] for link in body["link"]}
    assert "next" in links and "previous" not in links
    page2 = client.get(links["next"]).json()
    assert len(page2["entry"]) == 1 and "previous" in {link["relation"] for link in page2["link"]}
    ids = {e["resource"]["id"] for e in body["entry"] + page2["entry"]}
    assert ids == {fhir.resource_id(p.pk) for p in (world.prediction, *more)}

    final = _search(client, subject=patient, status="final").json()
    assert [e["resource"]["id"] for e in final["entry"]] == [fhir.resource_id(more[0].pk)]
    assert final["entry"][0]["resource"]["status"] == "final"
    assert _search(client, status="preliminary,final").json()["total"] == 3  # never another site's
    event = AuditEvent.objects.filter(action=VIEW).latest("pk")
    assert (event.object_type, event.detail["count"]) == ("prediction", 3)
    assert _search(api(other_world.patient.site.memberships.first().user), patient=patient).json()["total"] == 0


def test_search_by_study_id(api, world, clinician):
    body = _search(api(clinician), study=f"ImagingStudy/{fhir.resource_id(world.study.pk)}").json()
    assert [e["resource"]["id"] for e in body["entry"]] == [fhir.resource_id(world.prediction.pk)]


def test_identifiers_are_searched_by_post_only_and_never_put_in_links(api, world, clinician, dicom_prediction):
    client = api(clinician)
    mrn = dicom_prediction.image.study.patient.mrn
    assert _search(client, **{"patient.identifier": mrn}).status_code == 400
    search = _url("diagnosticreport-search")
    assert client.post(f"{search}?patient.identifier={mrn}").status_code == 400
    assert client.post(f"{search}?status=final", {"status": "preliminary"}).status_code == 400  # which one?
    response = client.post(search, {"patient.identifier": mrn}, format="multipart")
    assert response.status_code == 200, response.content
    body = response.json()
    assert [e["resource"]["id"] for e in body["entry"]] == [fhir.resource_id(dicom_prediction.pk)]
    assert mrn not in json.dumps(body["link"])
    assert f"patient={fhir.resource_id(dicom_prediction.image.study.patient_id)}" in body["link"][0]["url"]
    assert client.post(search, {"patient.identifier": "MRN\x00"}).status_code == 400  # not a 500
    as_json = client.post(search, {"patient.identifier": mrn}, format="json")  # FHIR's _search body is a form
    assert (as_json.status_code, as_json.json()["issue"][0]["code"]) == (415, "not-supported")
    wrong_system = client.post(search, {"patient.identifier": f"urn:other|{mrn}"}).json()
    assert wrong_system["total"] == 0 and "link" not in wrong_system
    study = dicom_prediction.image.study
    with dicom_prediction.image.file.open("rb") as fh:
        study.study_instance_uid = str(pydicom.dcmread(fh, stop_before_pixels=True).StudyInstanceUID)
    study.save()  # as a DICOM import or the receiver stores it
    body = client.post(search, {"study": f"urn:oid:{study.study_instance_uid}"}).json()
    assert [e["resource"]["id"] for e in body["entry"]] == [fhir.resource_id(dicom_prediction.pk)]
    assert study.study_instance_uid not in json.dumps(body["link"])
    assert _search(client, study=f"urn:oid:{study.study_instance_uid}").status_code == 400


@pytest.mark.parametrize(
    "params",
    [
        {"name": "x"},
        {"status": "done"},
        {"_count": "0"},
        {"_count": "many"},
        {"patient": "Observation/1"},
        {"_offset": "-1"},
    ],  # fmt: skip
)
def test_bad_search_parameters_are_400_operation_outcomes(api, world, clinician, params):
    response = _search(api(clinician), **params)
    assert response.status_code == 400
    body = response.json()
    assert body["resourceType"] == "OperationOutcome" and body["issue"][0]["code"] == "invalid"
    assert body["issue"][0]["diagnostics"]


def test_search_without_sign_in_is_401(api, world):
    assert _search(api()).status_code == 401


# --- push -----------------------------------------------------------------------------------------------------


class _FhirServer(BaseHTTPRequestHandler):
    """A FHIR server stand-in: records each request and answers with server.answer (status, body)."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
        status, answer = self.server.answer
        self.send_response(status)
        self.send_header("Content-Type", "application/fhir+json")
        self.end_headers()
        self.wfile.write(json.dumps(answer).encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def ehr():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FhirServer)
    server.requests = []
    server.answer = (200, {"resourceType": "Bundle", "type": "transaction-response", "entry": []})
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _fhir_server(world, ehr) -> FhirServer:
    return FhirServer.objects.create(
        site=world.site, name="EHR", base_url=f"http://127.0.0.1:{ehr.server_port}/fhir/", authorization="Bearer s3"
    )


def test_push_posts_the_transaction_and_a_repush_puts_the_same_ids(world, reader, ehr):
    server = _fhir_server(world, ehr)
    assert fhir.push(server, world.prediction) == 200
    review = review_submit(prediction=world.prediction, reviewer=reader, label="pneumonia")
    assert fhir.push(server, world.prediction, review) == 200
    first, second = ehr.requests
    assert first["path"] == "/fhir" and first["headers"]["Content-Type"] == "application/fhir+json"
    assert first["headers"]["Authorization"] == "Bearer s3"
    bundles = [Bundle.model_validate_json(r["body"]) for r in (first, second)]
    assert [b.type for b in bundles] == ["transaction", "transaction"]
    urls = [{e.request.url for e in b.entry} for b in bundles]
    assert urls[0] < urls[1]  # the final report adds the reader's finding and the radiologist
    statuses = [
        next(e.resource.status for e in b.entry if e.resource.get_resource_type() == "DiagnosticReport")
        for b in bundles
    ]
    assert statuses == ["preliminary", "final"]


def test_a_late_retry_of_the_preliminary_push_sends_the_report_as_it_now_stands(world, reader, ehr):
    server = _fhir_server(world, ehr)
    review_submit(prediction=world.prediction, reviewer=reader, label="normal")
    fhir.push(server, Prediction.objects.get(pk=world.prediction.pk))  # the preliminary delivery, retried late
    bundle = Bundle.model_validate_json(ehr.requests[0]["body"])
    (report,) = [e.resource for e in bundle.entry if e.resource.get_resource_type() == "DiagnosticReport"]
    assert report.status == "final"  # never the AI-only report over the radiologist's


def test_a_refused_push_raises_without_patient_data(world, ehr):
    server = _fhir_server(world, ehr)
    echo = f"Patient {world.patient.name} ({world.patient.mrn}) is invalid"
    ehr.answer = (
        500,
        {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "exception", "diagnostics": echo}],
        },
    )
    with pytest.raises(fhir.PushError) as refused:
        fhir.push(server, world.prediction)
    assert refused.value.status == 500
    assert "500" in refused.value.message and "exception" in refused.value.message
    assert world.patient.name not in str(refused.value) and world.patient.mrn not in str(refused.value)


def test_an_unreachable_server_raises(world, ehr):
    server = _fhir_server(world, ehr)
    ehr.shutdown()
    ehr.server_close()
    server.base_url = f"http://127.0.0.1:{ehr.server_port}/fhir"
    with pytest.raises(fhir.PushError) as refused:
        fhir.push(server, world.prediction)
    assert refused.value.status is None and "could not be reached" in refused.value.message
