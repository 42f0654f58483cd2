"""The FHIR R4 (R4B, 4.3.0) read API at /fhir/: each AI result as a DiagnosticReport, with the Observations,
ImagingStudy, Patient, Device and Practitioner it references (built by diagnosis.fhir), and DiagnosticReport search.

Same authentication as /api/v1/ (an API token or a session) and the same access helpers: another site's resource is
404, audited as DENIED; each response that carries patient data writes one VIEW event. Errors are OperationOutcomes.
MRNs and StudyInstanceUIDs are never accepted in a URL (proxies log query strings, see docs/security.md, "Logs"):
they are searched with POST DiagnosticReport/_search. See docs/integration.md, "FHIR R4".
"""

import json
from urllib.parse import urlencode

from django.db.models import Exists, OuterRef, Prefetch, Q
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse
from rest_framework import exceptions, permissions, status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import BaseRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from diagnosis import access, fhir
from diagnosis.models import ModelVersion, Patient, Prediction, Review, Study

DEFAULT_COUNT, MAX_COUNT = 20, 100
REPORT_STATUSES = {
    "registered", "partial", "preliminary", "final", "amended", "corrected", "appended", "cancelled",
    "entered-in-error", "unknown",
}  # fmt: skip
SEARCH_PARAMS = {
    "patient": ("reference", "Patient/<id> or <id>; several, comma-separated, match any"),
    "subject": ("reference", "The same as patient (the subject is always a Patient)"),
    "patient.identifier": ("token", "[system|]MRN. POST _search only: never in a URL"),
    "status": ("token", "preliminary (AI only, or awaiting a second reader) or final; comma-separated"),
    "study": (
        "reference",
        "Custom: ImagingStudy/<id> or <id>; or urn:oid:<StudyInstanceUID> (POST _search only: never in a URL)",
    ),
    "_count": ("number", f"Page size, 1 to {MAX_COUNT} (default {DEFAULT_COUNT})"),
    "_offset": ("number", "Custom: how many matches to skip (the next/previous links carry it)"),
}
IN_BODY_ONLY = "patient.identifier"
OUTCOME_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    415: "not-supported",
    429: "throttled",
}


class BadSearch(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "Bad search parameters."


class FhirJSONRenderer(BaseRenderer):
    media_type = fhir.FHIR_JSON
    format = "json"
    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if hasattr(data, "model_dump_json"):
            return data.model_dump_json().encode()
        return json.dumps(data).encode()


class FhirNegotiation(DefaultContentNegotiation):
    """FHIR JSON whatever the Accept header names (application/json, application/fhir+json, */*...)."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class FhirView(APIView):
    """Errors as OperationOutcome, with the status DRF's handler chose (401s counted against the address)."""

    schema = None  # not in the OpenAPI schema of /api/: the FHIR API describes itself (GET /fhir/metadata)
    renderer_classes = [FhirJSONRenderer]
    parser_classes = [FormParser, MultiPartParser]
    content_negotiation_class = FhirNegotiation

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        detail = response.data.get("detail") if isinstance(response.data, dict) else None
        message = str(detail or "The request could not be answered.")
        response.data = fhir.operation_outcome(message, OUTCOME_CODES.get(response.status_code, "exception"))
        return response


def _base(request) -> str:
    return request.build_absolute_uri(reverse("fhir:metadata")).rsplit("/", 1)[0]


def _pk(value: str, parts: tuple[str, ...] = ("",)) -> tuple[int, str]:
    parsed = fhir.parse_id(value)
    if parsed is None or not (parsed[1] in parts or ("c" in parts and parsed[1][:1] == "c")):
        raise Http404("No such resource on this server.")
    return parsed


class MetadataView(FhirView):
    """The CapabilityStatement: no patient data, so no sign-in (FHIR clients read it before authenticating); a bad
    token is still a 401, and a signed-in browser's POST still needs the CSRF token, as everywhere."""

    permission_classes = [permissions.AllowAny]

    def get(self, request):
        return Response(fhir.capability_statement(base_url=_base(request), search_params=SEARCH_PARAMS))


class DiagnosticReportView(FhirView):
    def get(self, request, id):
        prediction = access.get_prediction_for_user(request, _pk(id)[0])
        access.record_view(request, prediction, prediction.image.study.site, detail={"fhir": "DiagnosticReport"})
        return Response(fhir.diagnostic_report_resource(prediction, fhir.final_review(prediction)))


class ObservationView(FhirView):
    def get(self, request, id):
        pk, _ = _pk(id, ("ai", "reader", "c"))
        prediction = access.get_prediction_for_user(request, pk)
        found = [o for o in fhir.observation_resources(prediction, fhir.final_review(prediction)) if o.id == id]
        if not found:  # e.g. the reader's finding of a report not yet final
            raise Http404("No such resource on this server.")
        access.record_view(request, prediction, prediction.image.study.site, detail={"fhir": "Observation"})
        return Response(found[0])


class ImagingStudyView(FhirView):
    def get(self, request, id):
        study = access.get_study_for_user(request, _pk(id)[0])
        access.record_view(request, study, study.site, detail={"fhir": "ImagingStudy"})
        return Response(fhir.imaging_study_resource(study))


class PatientView(FhirView):
    def get(self, request, id):
        patient = access.get_patient_for_user(request, _pk(id)[0])
        access.record_view(request, patient, patient.site, detail={"fhir": "Patient"})
        return Response(fhir.patient_resource(patient))


class DeviceView(FhirView):
    """A model version: the model registry, which every member reads (no patient data)."""

    def get(self, request, id):
        return Response(fhir.device_resource(get_object_or_404(ModelVersion, pk=_pk(id)[0])))


class PractitionerView(FhirView):
    """A radiologist named by a report: found only by members of a site the radiologist belongs to."""

    def get(self, request, id):
        sites = access.sites_for(request.user)
        user = User.objects.filter(pk=_pk(id)[0], memberships__site__in=sites).distinct().first()
        if user is None:
            raise Http404("No such resource on this server.")
        return Response(fhir.practitioner_resource(user))


class DiagnosticReportSearchView(FhirView):
    """GET DiagnosticReport?... and POST DiagnosticReport/_search (form body): a searchset of the user's sites'
    reports, newest first, with self/first/previous/next links."""

    def get(self, request):
        return self._search(request, _params(request.query_params))

    def post(self, request):
        if IN_BODY_ONLY in request.query_params or _uid_in(request.query_params.get("study", "")):
            raise BadSearch("MRNs and StudyInstanceUIDs go in the form body of POST _search, never in the URL.")
        in_url, in_body = _params(request.query_params), _params(request.data)
        if in_url.keys() & in_body.keys():
            raise BadSearch("Give each parameter once: in the URL or in the body.")
        return self._search(request, in_url | in_body)

    def _search(self, request, params: dict[str, str]):
        sites = access.site_list_for(request.user)
        search = _Search(params, sites, in_url=request.method == "GET")
        total = search.rows.count()
        page = list(search.rows[search.offset : search.offset + search.count])
        access.record_list(
            request, "prediction", len(page), sites[0] if len(sites) == 1 else None, {"fhir": "DiagnosticReport"}
        )
        base = _base(request)
        reports = [fhir.diagnostic_report_resource(p, fhir.final_review(p)) for p in page]
        return Response(fhir.searchset(reports, total=total, links=search.links(base, total), base_url=base))


def _params(data) -> dict[str, str]:
    params = {}
    for name in data:
        if name not in SEARCH_PARAMS:
            raise BadSearch(f"Unknown search parameter {name!r}; supported: {', '.join(SEARCH_PARAMS)}.")
        values = data.getlist(name) if hasattr(data, "getlist") else [data[name]]
        if len(values) != 1 or not isinstance(values[0], str):
            raise BadSearch(f"Give {name!r} once (comma-separate values to match any of them).")
        if "\x00" in values[0]:  # PostgreSQL refuses NUL in a query
            raise BadSearch(f"{name!r} holds a NUL character.")
        params[name] = values[0].strip()
    return params


def _uid_in(value: str) -> bool:
    return any(v.strip().startswith("urn:oid:") or v.strip().replace(".", "").isdigit() for v in value.split(","))


class _Search:
    """The parsed parameters, the matching rows and the links. Identifiers (MRN, StudyInstanceUID) are resolved to
    this server's Patient and ImagingStudy ids, and the links carry those: never the identifiers themselves."""

    def __init__(self, params: dict[str, str], sites, *, in_url: bool):
        self.count = _number(params, "_count", DEFAULT_COUNT, 1, MAX_COUNT)
        self.offset = _number(params, "_offset", 0, 0, 10**9)
        self.statuses = self._statuses(params.get("status"))
        if in_url and (IN_BODY_ONLY in params or _uid_in(params.get("study", ""))):
            raise BadSearch("Search by MRN or StudyInstanceUID with POST DiagnosticReport/_search (a form body): "
                            "identifiers never go in a URL, which proxies log.")  # fmt: skip
        patients = Patient.objects.filter(site__in=sites)
        self.patients = _ids_of(params, ("patient", "subject"), "Patient", patients)
        if IN_BODY_ONLY in params:
            by_mrn = _by_mrn(params[IN_BODY_ONLY], patients)
            self.patients = by_mrn if self.patients is None else self.patients & by_mrn
        self.studies = self._studies(params.get("study"), Study.objects.filter(patient__site__in=sites))
        rows = (
            Prediction.objects.filter(is_shadow=False, image__study__patient__site__in=sites)
            .select_related("image__study__patient__site", "model_version")
            .prefetch_related(Prefetch("reviews", to_attr="prefetched_reviews"))
            .order_by("-created_at", "-pk")
        )
        if self.patients is not None:
            rows = rows.filter(image__study__patient__in=self.patients)
        if self.studies is not None:
            rows = rows.filter(image__study__in=self.studies)
        self.rows = _with_status(rows, self.statuses) if self.statuses is not None else rows

    @staticmethod
    def _statuses(value: str | None) -> set[str] | None:
        if value is None:
            return None
        statuses = {s.strip() for s in value.split(",")}
        unknown = statuses - REPORT_STATUSES
        if unknown:
            raise BadSearch(f"Unknown DiagnosticReport status {sorted(unknown)[0]!r}.")
        return statuses

    @staticmethod
    def _studies(value: str | None, studies) -> set[int] | None:
        if value is None:
            return None
        uids = [v.strip().removeprefix("urn:oid:") for v in value.split(",") if _uid_in(v)]
        refs = ",".join(v for v in value.split(",") if not _uid_in(v))
        found = _ids_of({"study": refs}, ("study",), "ImagingStudy", studies) if refs else set()
        if uids:
            found |= set(studies.filter(study_instance_uid__in=uids).values_list("pk", flat=True))
        return found

    def links(self, base: str, total: int) -> dict[str, str]:
        query = {"_count": str(self.count)}
        if self.patients is not None:
            query["patient"] = ",".join(fhir.resource_id(pk) for pk in sorted(self.patients))
        if self.studies is not None:
            query["study"] = ",".join(fhir.resource_id(pk) for pk in sorted(self.studies))
        if self.statuses is not None:
            query["status"] = ",".join(sorted(self.statuses))
        if "" in (query.get("patient"), query.get("study")):  # an identifier that matched nothing: no link says it
            return {}

        def url(offset: int) -> str:
            return f"{base}/DiagnosticReport?{urlencode({**query, '_offset': str(offset)})}"

        links = {"self": url(self.offset), "first": url(0)}
        if self.offset > 0:
            links["previous"] = url(max(0, self.offset - self.count))
        if self.offset + self.count < total:
            links["next"] = url(self.offset + self.count)
        return links


def _number(params, name: str, default: int, low: int, high: int) -> int:
    if name not in params:
        return default
    try:
        value = int(params[name])
    except ValueError:
        raise BadSearch(f"{name} must be a whole number.") from None
    if not low <= value <= high:
        raise BadSearch(f"{name} must be between {low} and {high}.")
    return value


def _ids_of(params, names, resource_type: str, allowed) -> set[int] | None:
    """The primary keys named by references (Type/<id> or <id>) in params[names], among `allowed`."""
    given = [params[n] for n in names if n in params]
    if not given:
        return None
    found: set[int] | None = None
    for value in given:
        pks = set()
        for ref in value.split(","):
            ref = ref.strip().removeprefix(f"{resource_type}/")
            parsed = fhir.parse_id(ref)
            if parsed is None or parsed[1]:
                raise BadSearch(f"{resource_type} references look like {resource_type}/{fhir.resource_id(1)}.")
            pks.add(parsed[0])
        found = pks if found is None else found & pks
    return set(allowed.filter(pk__in=found).values_list("pk", flat=True))


def _by_mrn(value: str, patients) -> set[int]:
    """Patients (among `patients`) with this MRN; with a system, only at the site that system names."""
    system, bar, mrn = value.rpartition("|")
    if not bar:
        system = ""
    if not mrn:
        raise BadSearch("patient.identifier needs an MRN: [system|]value.")
    found = patients.filter(mrn=mrn).select_related("site")
    return {p.pk for p in found if not system or system == fhir.mrn_system(p)}


def _with_status(rows, statuses: set[str]):
    """Rows whose report has one of statuses: final once the radiologists' word is (Prediction.reading): at a
    one-reader site, any review; at a second-reader site, worked out per reviewed prediction."""
    reviewed = Exists(Review.objects.filter(prediction=OuterRef("pk")))
    two_readers = rows.filter(reviewed, image__study__patient__site__second_reader=True)
    final_there = [p.pk for p in two_readers if p.reading(second_reader=True)[0] == Prediction.Reading.FINAL]
    final = (Q(reviewed) & Q(image__study__patient__site__second_reader=False)) | Q(pk__in=final_there)
    wanted = Q(pk__in=[])
    if fhir.FINAL in statuses:
        wanted |= final
    if fhir.PRELIMINARY in statuses:
        wanted |= ~final
    return rows.filter(wanted)


class UnknownView(FhirView):
    """Any other path under /fhir/: a FHIR client gets an OperationOutcome, not an HTML page."""

    permission_classes = [permissions.AllowAny]

    def get(self, request):
        raise Http404("This server has no such resource type or operation; see /fhir/metadata.")

    post = put = delete = patch = get
