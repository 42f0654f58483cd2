"""MedSite's AI results as FHIR resources (issue 21, part 4): what an EHR stores beside the DICOM SR.

fhir.resources 8.x has no R4 package: the resources are built with its R4B classes (FHIR 4.3.0), whose
DiagnosticReport, Observation, ImagingStudy, Patient, Device and Practitioner are wire-compatible with R4 (4.0.1);
the CapabilityStatement says 4.3.0. Every resource is validated on construction (pydantic).

One report per prediction, following HL7's "DICOM SR to FHIR Resource Mapping" IG as far as R4 allows (the IG is
written for R5): the SR's AI measurement group (TID 1501) is an Observation whose members are one Observation per
class (the probability, SNOMED CT coded as in dicom_results.class_concept) and whose value is the AI's label; the
reviewed report adds the radiologist's finding as one more Observation. The report is `preliminary` until the
radiologists' word on the prediction is final (Prediction.reading: one reader, or two who agree, or an
adjudicator), then `final`, with the deciding review as its interpreter: the same review dicom_results.review_sr
turns into the VERIFIED SR, an "uncertain" one included (its conclusion code is then 99MEDSITE "uncertain").

Resource ids are `<namespace>-<primary key>[-<part>]`: the namespace is derived from SECRET_KEY (like the DICOM
UIDs in dicom_results), so two MedSite installations pushing to one FHIR server never overwrite each other's
resources, and a re-push of a result updates the resources it created before. Ids carry no patient data.
See docs/integration.md, "FHIR R4".
"""

import datetime
import hashlib
import hmac
import json
import re

import requests
from django.conf import settings
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.device import Device
from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from fhir.resources.R4B.imagingstudy import ImagingStudy
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.patient import Patient as FhirPatient
from fhir.resources.R4B.practitioner import Practitioner
from fhir.resources.R4B.resource import Resource

from accounts.models import User
from diagnosis import dicom_results
from diagnosis.models import FhirServer, Image, ModelVersion, Patient, Prediction, Review, Study

FHIR_VERSION = "4.3.0"  # R4B; see the module's docstring
FHIR_JSON = "application/fhir+json"
PUSH_TIMEOUT_S = 10

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
UCUM = "http://unitsofmeasure.org"
UMLS = "http://terminology.hl7.org/CodeSystem/umls"
LOCAL = "urn:medsite:codes"  # the 99MEDSITE coding scheme of dicom_results
RFC3986 = "urn:ietf:rfc:3986"
DICOM_UID = "urn:dicom:uid"
SYSTEMS = {"SCT": SNOMED, "DCM": DCM, "UCUM": UCUM, dicom_results.LOCAL_SCHEME: LOCAL}

RADIOLOGY = {"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "RAD", "display": "Radiology"}
IMAGING = {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "imaging"}
MEASUREMENT_GROUP = {"system": DCM, "code": "125007", "display": "Measurement Group"}
QUALITATIVE_EVALUATION = {"system": UMLS, "code": "C0034375", "display": "Qualitative Evaluations"}
REPORT_CODE = [
    {"system": LOINC, "code": "18748-4", "display": "Diagnostic imaging study"},
    {"system": DCM, "code": "126000", "display": "Imaging Measurement Report"},  # TID 1500's document title
]
FINDING = {"system": DCM, "code": "121071", "display": "Finding"}
MRN_TYPE = {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR", "display": "Medical record number"}
ACCESSION_TYPE = {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "ACSN", "display": "Accession ID"}
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
POSITIVE = {"system": INTERPRETATION, "code": "POS", "display": "Positive"}
NEGATIVE = {"system": INTERPRETATION, "code": "NEG", "display": "Negative"}
GENDER = {"F": "female", "M": "male", "O": "other", "U": "unknown"}

PRELIMINARY, FINAL = "preliminary", "final"
AI_GROUP, READER = "ai", "reader"  # the parts of an Observation id besides c<class index>
ID = re.compile(r"^(?P<ns>ms[0-9a-f]{8})-(?P<pk>[1-9][0-9]{0,17})(?:-(?P<part>ai|reader|c[0-9]{1,3}))?$")


class PushError(Exception):
    """A push the FHIR server refused or never answered. The message names no patient; status is the HTTP status
    (None when there was no answer)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.status = status


# --- ids and references ---------------------------------------------------------------------------------------


def namespace() -> str:
    """This installation's prefix of every resource id (from SECRET_KEY: stable, and unlike another's)."""
    return "ms" + hmac.new(settings.SECRET_KEY.encode(), b"medsite-fhir-ids", hashlib.sha256).hexdigest()[:8]


def resource_id(pk: int, part: str = "") -> str:
    return f"{namespace()}-{pk}" + (f"-{part}" if part else "")


def parse_id(value: str) -> tuple[int, str] | None:
    """(primary key, part) of one of this installation's ids; None for anything else."""
    match = ID.match(value)
    if match is None or match["ns"] != namespace():
        return None
    return int(match["pk"]), match["part"] or ""


def reference(resource_type: str, pk: int, part: str = "", display: str = "") -> dict:
    ref = {"reference": f"{resource_type}/{resource_id(pk, part)}"}
    return ref | ({"display": display} if display else {})


def final_review(prediction: Prediction) -> Review | None:
    """The review that makes the radiologists' word on the prediction final (see Prediction.reading), if any."""
    state, deciding = prediction.reading(second_reader=prediction.image.study.site.second_reader)
    return deciding if state == Prediction.Reading.FINAL else None


def _coding(concept) -> dict:
    """A highdicom/pydicom coded concept as a FHIR Coding."""
    system = SYSTEMS.get(concept.scheme_designator, f"urn:medsite:scheme:{concept.scheme_designator}")
    return {"system": system, "code": concept.value, "display": concept.meaning}


def _class_coding(name: str) -> dict:
    return _coding(dicom_results.class_concept(name))


def _instant(when: datetime.datetime) -> str:
    return when.astimezone(datetime.UTC).isoformat()


def _uid(uid: str) -> dict:
    return {"system": DICOM_UID, "value": f"urn:oid:{uid}"}


# --- the resources --------------------------------------------------------------------------------------------


def mrn_system(patient: Patient) -> str:
    """The identifier system of the MRNs of the patient's site."""
    return f"urn:medsite:site:{patient.site.slug}:mrn"


def human_name(text: str) -> dict | None:
    """A HumanName from a name as MedSite stores it: DICOM's Family^Given, or "Given Family"; None when blank
    (FHIR strings are never empty)."""
    text = text.strip()
    if not text:
        return None
    family, given = "", ""
    if "^" in text:
        family, _, rest = text.partition("^")
        given = rest.split("^")[0]
    elif " " in text:
        given, family = text.rsplit(" ", 1)
    name = {"text": text}
    if family.strip():
        name["family"] = family.strip()
    if given.strip():
        name["given"] = [given.strip()]
    return name


def patient_resource(patient: Patient) -> FhirPatient:
    name = human_name(patient.name)
    mrn = {
        "use": "usual",
        "type": {"coding": [MRN_TYPE]},
        "system": mrn_system(patient),
        "value": patient.mrn,
        "assigner": {"display": patient.site.name},
    }
    return FhirPatient(
        id=resource_id(patient.pk),
        identifier=[mrn] if patient.mrn.strip() else None,
        name=[name] if name else None,
        gender=GENDER.get(patient.sex, "unknown"),
        birthDate=patient.birth_date,
    )


def _instances(study: Study) -> list[tuple[Image, object]]:
    """The study's images that are DICOM instances a PACS holds, with their UIDs and SOP class (the SR's view)."""
    found = []
    for image in study.images.order_by("uploaded_at", "pk"):
        source, is_dicom = dicom_results.source_dataset(image)
        if is_dicom:
            found.append((image, source))
    return found


def imaging_study_resource(study: Study) -> ImagingStudy:
    """The study with its DICOM instances (PNG/JPEG uploads are no DICOM instances: the study then has no series)."""
    modality = {"system": DCM, "code": study.modality}
    series: dict[str, dict] = {}
    instances = _instances(study)
    for number, (_, source) in enumerate(instances, 1):
        entry = series.setdefault(
            str(source.SeriesInstanceUID),
            {"uid": str(source.SeriesInstanceUID), "modality": modality, "instance": []},
        )
        entry["instance"].append(
            {
                "uid": str(source.SOPInstanceUID),
                "sopClass": {"system": RFC3986, "code": f"urn:oid:{source.SOPClassUID}"},
                "number": number,
            }
        )
    for entry in series.values():
        entry["numberOfInstances"] = len(entry["instance"])
    study_uid = str(instances[0][1].StudyInstanceUID) if instances else dicom_results.study_instance_uid(study)
    return ImagingStudy(
        id=resource_id(study.pk),
        identifier=[{"system": RFC3986, "value": f"urn:oid:{study_uid}"}, *_accession(study)],
        status="available",
        modality=[modality],
        subject=reference("Patient", study.patient_id),
        started=study.study_date,
        numberOfSeries=len(series),
        numberOfInstances=len(instances),
        description=study.description or None,
        series=list(series.values()) or None,
    )


def _accession(study: Study) -> list[dict]:
    if not study.accession_number.strip():
        return []
    return [{"type": {"coding": [ACCESSION_TYPE]}, "value": study.accession_number.strip()}]


def device_resource(version: ModelVersion) -> Device:
    """The algorithm, as the SR's Algorithm Identification and device observer name it: name, version (the
    bundle's sha256) and the DeviceObserverUID."""
    name = f"MedSite {version.task}"[:64]
    return Device(
        id=resource_id(version.pk),
        identifier=[
            {"system": RFC3986, "value": f"urn:oid:{dicom_results.stable_uid('model', version.bundle_sha256)}"}
        ],
        manufacturer=dicom_results.MANUFACTURER,
        deviceName=[{"name": name, "type": "model-name"}],
        modelNumber=f"{version.task} {version.short_sha}"[:64],
        serialNumber=version.bundle_sha256,
        type={"text": "AI image analysis algorithm"},
        version=[{"type": {"text": "bundle sha256"}, "value": version.bundle_sha256}],
        property=[{"type": {"text": "backbone"}, "valueCode": [{"text": version.backbone}]}]
        if version.backbone
        else None,
    )


def practitioner_resource(user: User) -> Practitioner:
    name = human_name(user.get_full_name() or "") or human_name(user.email.split("@")[0])
    return Practitioner(
        id=resource_id(user.pk),
        name=[name] if name else None,
        telecom=[{"system": "email", "value": user.email, "use": "work"}] if user.email else None,
    )


def _threshold(prediction: Prediction) -> float | None:
    threshold = prediction.threshold if prediction.threshold is not None else prediction.model_version.threshold
    return None if threshold is None else float(threshold)


def _effective(prediction: Prediction):
    """When the images were taken: the study's date, else when the image came in."""
    return prediction.image.study.study_date or _instant(prediction.image.uploaded_at)


def _observation_common(prediction: Prediction, status: str, issued) -> dict:
    study = prediction.image.study
    return {
        "status": status,
        "subject": reference("Patient", study.patient_id),
        "partOf": [reference("ImagingStudy", study.pk)],
        "derivedFrom": [reference("ImagingStudy", study.pk)],
        "effectiveDateTime": _effective(prediction),
        "issued": issued,
    }


def observation_resources(prediction: Prediction, review: Review | None = None) -> list[Observation]:
    """The AI's measurement group (TID 1501: value = the AI's label, a component for the threshold, members = one
    Observation per class: the probability, Positive for the class the AI chose), then the reader's finding when
    `review` is the final one."""
    status = FINAL if review else PRELIMINARY
    issued = _instant(review.created_at if review else prediction.created_at)
    common = _observation_common(prediction, status, issued)
    device = reference("Device", prediction.model_version_id, display=f"MedSite {prediction.model_version}")
    classes = [(n, c) for n, c in enumerate(prediction.model_version.classes) if c in prediction.probabilities]
    members = [
        Observation(
            id=resource_id(prediction.pk, f"c{index}"),
            category=[{"coding": [IMAGING]}],
            code={"coding": [_class_coding(name)], "text": f"Probability of {name}"},
            valueQuantity=_unitless(float(prediction.probabilities[name])),
            interpretation=[{"coding": [POSITIVE if name == prediction.label else NEGATIVE]}],
            device=device,
            **common,
        )
        for index, name in classes  # c<n>: the class's position in the model's classes
    ]
    threshold = _threshold(prediction)
    group = Observation(
        id=resource_id(prediction.pk, AI_GROUP),
        identifier=[_uid(dicom_results.stable_uid("prediction-group", prediction.pk))],  # the SR's tracking UID
        category=[{"coding": [IMAGING]}, {"coding": [MEASUREMENT_GROUP]}],
        code={"coding": [FINDING], "text": "AI result"},
        valueCodeableConcept={"coding": [_class_coding(prediction.label)], "text": prediction.label},
        method={"coding": [_coding(dicom_results.AI_LABEL)]},
        component=[{"code": {"coding": [_coding(dicom_results.THRESHOLD)]}, "valueQuantity": _unitless(threshold)}]
        if threshold is not None
        else None,
        hasMember=[{"reference": f"Observation/{m.id}"} for m in members],
        device=device,
        **common,
    )
    observations = [group, *members]
    if review is not None:
        observations.append(_reader_observation(prediction, review, common))
    return observations


def _unitless(value: float) -> dict:
    return {"value": value, "unit": "1", "system": UCUM, "code": "1"}


def _reader_concept(review: Review):
    uncertain = review.decision == Review.Decision.UNCERTAIN
    return dicom_results.UNCERTAIN if uncertain else dicom_results.class_concept(review.label)


def _reader_observation(prediction: Prediction, review: Review, common: dict) -> Observation:
    """The radiologist's finding: the SR's reader group (a qualitative evaluation)."""
    return Observation(
        id=resource_id(prediction.pk, READER),
        identifier=[_uid(dicom_results.stable_uid("review-group", review.pk))],
        category=[{"coding": [IMAGING]}, {"coding": [QUALITATIVE_EVALUATION]}],
        code={"coding": [_coding(dicom_results.READER_LABEL)]},
        valueCodeableConcept={"coding": [_coding(_reader_concept(review))], "text": review.summary},
        performer=[reference("Practitioner", review.reviewer_id)],
        **common,
    )


def diagnostic_report_resource(prediction: Prediction, review: Review | None = None) -> DiagnosticReport:
    """The report: preliminary with the AI's result; final, with the radiologist as interpreter, when `review` is
    the review that made the radiologists' word final (final_review)."""
    if review is not None and review.prediction_id != prediction.pk:
        raise ValueError("The review is not of this prediction.")
    version = prediction.model_version
    status = FINAL if review else PRELIMINARY
    observations = observation_resources(prediction, review)
    probability = float(prediction.probabilities.get(prediction.label, 0.0))
    ai = f"AI result: {prediction.label} ({probability:.0%}) by MedSite {version.task} {version.short_sha}"
    identifiers = [_uid(dicom_results.stable_uid("prediction-sr", "instance", prediction.pk))]  # the SRs' UIDs
    if review is None:
        conclusion, concept = f"{ai}, not yet reviewed by a radiologist.", dicom_results.class_concept(prediction.label)
        issued, people = prediction.created_at, {}
    else:
        conclusion, concept = f"{review.summary} by a radiologist. {ai}.", _reader_concept(review)
        identifiers.append(_uid(dicom_results.stable_uid("review-sr", "instance", review.pk)))
        issued = review.created_at
        interpreter = [reference("Practitioner", review.reviewer_id)]
        people = {"performer": interpreter, "resultsInterpreter": interpreter}
    study = prediction.image.study
    return DiagnosticReport(
        id=resource_id(prediction.pk),
        identifier=identifiers,
        status=status,
        category=[{"coding": [RADIOLOGY]}],
        code={"coding": REPORT_CODE, "text": "AI-assisted imaging report"},
        subject=reference("Patient", study.patient_id),
        effectiveDateTime=_effective(prediction),
        issued=_instant(issued),
        imagingStudy=[reference("ImagingStudy", study.pk)],
        result=[{"reference": f"Observation/{o.id}"} for o in observations],
        conclusion=conclusion,
        conclusionCode=[{"coding": [_coding(concept)]}],
        **people,
    )


def report_resources(prediction: Prediction, review: Review | None = None) -> list[Resource]:
    """Every resource of one report, the report last: each reference of each resource resolves among them."""
    study = prediction.image.study
    resources: list[Resource] = [
        patient_resource(study.patient),
        imaging_study_resource(study),
        device_resource(prediction.model_version),
    ]
    if review is not None:
        resources.append(practitioner_resource(review.reviewer))
    return [*resources, *observation_resources(prediction, review), diagnostic_report_resource(prediction, review)]


def report_bundle(prediction: Prediction, review: Review | None = None, *, base_url: str = "") -> Bundle:
    """The report and everything it references, as a `collection` (for reading). With base_url, each entry's
    fullUrl is the resource's address there."""
    return Bundle(
        id=resource_id(prediction.pk),
        type="collection",
        timestamp=_instant(datetime.datetime.now(datetime.UTC)),
        entry=[_entry(resource, base_url) for resource in report_resources(prediction, review)],
    )


def transaction_bundle(prediction: Prediction, review: Review | None = None, *, base_url: str = "") -> Bundle:
    """The same resources as a `transaction` of PUTs with MedSite's ids: a re-push updates, never duplicates."""
    entries = []
    for resource in report_resources(prediction, review):
        entry = _entry(resource, base_url)
        entry["request"] = {"method": "PUT", "url": f"{resource.get_resource_type()}/{resource.id}"}
        entries.append(entry)
    return Bundle(type="transaction", entry=entries)


def _entry(resource: Resource, base_url: str) -> dict:
    entry = {"resource": resource}
    if base_url:
        entry["fullUrl"] = f"{base_url.rstrip('/')}/{resource.get_resource_type()}/{resource.id}"
    return entry


def searchset(resources: list[Resource], *, total: int, links: dict[str, str], base_url: str) -> Bundle:
    return Bundle(
        type="searchset",
        total=total,
        link=[{"relation": relation, "url": url} for relation, url in links.items()],
        entry=[{**_entry(r, base_url), "search": {"mode": "match"}} for r in resources],
    )


def operation_outcome(message: str, code: str = "processing", severity: str = "error") -> OperationOutcome:
    return OperationOutcome(issue=[{"severity": severity, "code": code, "diagnostics": message}])


def capability_statement(*, base_url: str, search_params: dict[str, tuple[str, str]]) -> CapabilityStatement:
    """What this server does: reads of the resources a report references, and DiagnosticReport search
    (search_params: name -> (type, documentation))."""
    read = [{"code": "read"}]
    resources = [
        {
            "type": "DiagnosticReport",
            "interaction": [*read, {"code": "search-type"}],
            "searchParam": [
                {"name": name, "type": kind, "documentation": doc} for name, (kind, doc) in search_params.items()
            ],
        },
        *(
            {"type": kind, "interaction": read}
            for kind in ("Observation", "ImagingStudy", "Patient", "Device", "Practitioner")
        ),
    ]
    return CapabilityStatement(
        status="active",
        date=datetime.date.today(),
        kind="instance",
        software={"name": "MedSite"},
        implementation={"description": "MedSite AI results", "url": base_url},
        fhirVersion=FHIR_VERSION,
        format=["json"],
        rest=[
            {
                "mode": "server",
                "documentation": "Authorization: Token <token>, or a signed-in session. Site-scoped: another site's "
                "resource is not found. MRNs and StudyInstanceUIDs are searched with POST "
                "DiagnosticReport/_search only (never in a URL).",
                "security": {"service": [{"text": "Token"}], "description": "MedSite API tokens (docs/integration.md)"},
                "resource": resources,
            }
        ],
    )


# --- push -----------------------------------------------------------------------------------------------------


def push(server: FhirServer, prediction: Prediction, review: Review | None = None) -> int:
    """POST the report's transaction Bundle to server.base_url; the HTTP status when the server took it (2xx),
    else PushError (its message names no patient: the status and the OperationOutcome's issue codes only).

    The report sent is the report as it stands now (final_review), whichever review (or none) triggered the
    delivery: the PUTs replace what the server holds, so a late retry of the preliminary delivery must not put the
    AI-only report back over the final one, nor a superseded review's report over the newer one's. `review`, when
    given, must be of this prediction."""
    if review is not None and review.prediction_id != prediction.pk:
        raise ValueError("The review is not of this prediction.")
    review = final_review(prediction)
    base = server.base_url.rstrip("/")
    body = transaction_bundle(prediction, review, base_url=base).model_dump_json()
    headers = {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON}
    if server.authorization:
        headers["Authorization"] = server.authorization
    try:
        response = requests.post(
            base, data=body.encode(), headers=headers, timeout=PUSH_TIMEOUT_S, allow_redirects=False
        )
    except requests.RequestException as exc:
        raise PushError(f"The FHIR server could not be reached ({type(exc).__name__}).") from None
    if 200 <= response.status_code < 300:
        return response.status_code
    raise PushError(
        f"The FHIR server answered HTTP {response.status_code}{_issue_codes(response)}.", response.status_code
    )


def _issue_codes(response: requests.Response) -> str:
    """The OperationOutcome's issue codes (e.g. 'invalid'), never its diagnostics, which may quote the data."""
    try:
        body = json.loads(response.content)
        codes = sorted({str(issue.get("code", ""))[:32] for issue in body.get("issue", []) if isinstance(issue, dict)})
    except (ValueError, AttributeError, TypeError):
        return ""
    codes = [c for c in codes if re.fullmatch(r"[a-z-]+", c)]
    return f" (issues: {', '.join(codes)})" if codes else ""
