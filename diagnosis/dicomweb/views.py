"""DICOMweb (PS3.18): STOW-RS, QIDO-RS and WADO-RS over the studies of the user's sites.

Authenticated like the REST API (its API tokens, or the session), site-scoped by the same access helpers: another
site's study is a 404 and a DENIED audit event, every response that carries patient data writes one VIEW (or
DOWNLOAD) event, and every response is `no-store`. Storing goes through the import service of uploads and the
DICOM receiver (records.dicom_receive). See docs/dicom-conformance.md, "DICOMweb".
"""

import io
import json

import pydicom
from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse
from django.urls import reverse
from pydicom.uid import PYDICOM_ROOT_UID
from rest_framework import exceptions, serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from accounts.audit import Client
from accounts.models import AuditEvent, Role
from diagnosis import access, dicom_results
from diagnosis.api.base import IgnoreAcceptHeader
from diagnosis.dicomweb import instances, multipart, qido, stow
from diagnosis.dicomweb.instances import Instance
from diagnosis.models import Study

DICOM_JSON = "application/dicom+json"


class PayloadTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = "The request body is too large."


class DicomWebView(APIView):
    """What every DICOMweb view shares: the REST API's authentication, permission and throttling (its settings),
    errors as JSON whatever the client accepts, and a body read by the view itself (STOW-RS)."""

    renderer_classes = [JSONRenderer]
    parser_classes = []
    content_negotiation_class = IgnoreAcceptHeader
    schema = None  # not in the REST API's OpenAPI schema: PS3.18 defines it (docs/dicom-conformance.md)


def _find_study(request, uid: str) -> Study:
    """The study this DICOMweb UID names: at one of the user's sites if there is one (a UID may be at several sites),
    else anywhere, for the access check to refuse and audit. A UID MedSite derived (a study without one of its own)
    is found by deriving it again. Unchecked: _study and _instance check it."""
    candidates = list(Study.objects.filter(study_instance_uid=uid).values_list("pk", "patient__site"))
    mine = {site.pk for site in access.site_list_for(request.user)}
    if not candidates and uid.startswith(PYDICOM_ROOT_UID):  # the user's sites first: most often found there
        uidless = Study.objects.filter(study_instance_uid="")
        for studies in (uidless.filter(patient__site__in=mine), uidless.exclude(patient__site__in=mine)):
            pks = studies.values_list("pk", "patient__site")
            if candidates := [(pk, site) for pk, site in pks if dicom_results.stable_uid("study", pk) == uid]:
                break
    if not candidates:  # the words access's helpers answer for another site's record: no oracle of UIDs
        raise exceptions.NotFound("No such record.")
    pk = next((pk for pk, site in candidates if site in mine), candidates[0][0])
    return Study.objects.select_related("patient__site").get(pk=pk)


def _study(request, uid: str) -> Study:
    """The study, checked as the REST API checks one: another site's is a 404 and a DENIED event naming it."""
    return access.get_study_for_user(request, _find_study(request, uid).pk)


CHECKS = {
    instances.DICOM: access.get_image_for_user,
    instances.CAPTURE: access.get_image_for_user,
    instances.PREDICTION_SR: access.get_prediction_for_user,
    instances.PREDICTION_SC: access.get_prediction_for_user,
    instances.REVIEW_SR: access.get_review_for_user,
}


def _instance(request, study_uid: str, series_uid: str, instance_uid: str) -> tuple[Study, Instance]:
    """The instance, checked as the REST API checks the record it shows (an image, a prediction or a review):
    another site's is a 404 and a DENIED event naming that record."""
    study = _find_study(request, study_uid)
    try:
        (instance,) = _instances(study, series_uid, instance_uid)
    except exceptions.NotFound:  # another site's study answers as access does, whatever else is wrong (and audited)
        access.get_study_for_user(request, study.pk)
        raise
    CHECKS[instance.kind](request, instance.obj.pk)
    return study, instance


def _instances(study: Study, series_uid: str | None = None, instance_uid: str | None = None) -> list[Instance]:
    found = instances.study_instances(study, series_uid=series_uid, sop_uid=instance_uid)
    if not found and instance_uid is not None:
        raise exceptions.NotFound("No such instance in this series of the study.")
    if not found and series_uid is not None:
        raise exceptions.NotFound("No such series in this study.")
    return found


def _url(request, name: str, *uids: str) -> str:
    return request.build_absolute_uri(reverse(f"dicomweb:{name}", args=uids))


def _instance_url(request, study: Study, instance: Instance) -> str:
    return _url(request, "instance", instances.study_uid(study), instance.series_uid, instance.sop_uid)


def _json(body, *, status: int = 200, ignored: list[str] = (), more: bool = False) -> HttpResponse:
    response = HttpResponse(json.dumps(body), content_type=DICOM_JSON, status=status)
    warnings = []
    if ignored:
        warnings.append(f"These query keys are not supported and were ignored: {', '.join(sorted(ignored))[:500]}")
    if more:
        warnings.append("There are more results: ask for the next page with offset.")
    if warnings:
        response["Warning"] = ", ".join(f'299 MedSite "{text}"' for text in warnings)
    return response


def _query(request, keys) -> qido.Query:
    try:
        return qido.parse(request.query_params, keys)
    except qido.BadQuery as exc:
        raise serializers.ValidationError({"query": [str(exc)]}) from None


def _multipart(found: list[Instance]) -> StreamingHttpResponse:
    boundary = multipart.new_boundary()
    body = multipart.stream(
        (instances.part10_chunks(instance) for instance in found), boundary=boundary, part_type="application/dicom"
    )
    response = StreamingHttpResponse(
        body, content_type=f'multipart/related; type="application/dicom"; boundary={boundary}'
    )
    response["Cache-Control"] = "private, no-store"
    return response


# --- QIDO-RS and STOW-RS ----------------------------------------------------------------------------------------


class Studies(DicomWebView):
    """GET: QIDO-RS studies of the user's sites. POST: STOW-RS (see _store)."""

    def get(self, request):
        query = _query(request, qido.STUDY_KEYS)
        sites = access.site_list_for(request.user)
        studies = Study.objects.filter(patient__site__in=sites).select_related("patient__site")
        found = list(qido.filter_studies(studies, query).order_by("-created_at", "-id")[query.offset :][
            : query.limit + 1
        ])  # fmt: skip
        page = found[: query.limit]
        counts = qido.study_counts(page)
        site_ids = {study.patient.site_id for study in page}
        site = page[0].patient.site if len(site_ids) == 1 else None
        access.record_list(request, "study", len(page), site, detail={"dicomweb": "studies"})
        body = [qido.study_json(s, counts[s.pk], _url(request, "study", instances.study_uid(s))) for s in page]
        return _json(body, ignored=query.ignored, more=len(found) > query.limit)

    def post(self, request):
        return _store(request, None)


class StudySeries(DicomWebView):
    """QIDO-RS: the series of a study (its images' series, and one per AI result object)."""

    def get(self, request, study_uid):
        study = _study(request, study_uid)
        query = _query(request, qido.SERIES_KEYS)
        rows = qido.series_rows(qido.filter_series(instances.study_instances(study), query))
        page = rows[query.offset : query.offset + query.limit]
        access.record_view(request, study, study.site, detail={"dicomweb": "series", "count": len(page)})
        body = [qido.series_json(study, m, _url(request, "series", study_uid, m[0].series_uid)) for m in page]
        return _json(body, ignored=query.ignored, more=len(rows) > query.offset + query.limit)


class Instances(DicomWebView):
    """QIDO-RS: the instances of a study, or of one of its series."""

    def get(self, request, study_uid, series_uid=None):
        study = _study(request, study_uid)
        query = _query(request, qido.INSTANCE_KEYS)
        found = qido.filter_instances(_instances(study, series_uid), query)
        page = found[query.offset : query.offset + query.limit]
        access.record_view(request, study, study.site, detail={"dicomweb": "instances", "count": len(page)})
        body = [qido.instance_json(study, i, _instance_url(request, study, i), query.includefield) for i in page]
        return _json(body, ignored=query.ignored, more=len(found) > query.offset + query.limit)


def _store(request, study_uid: str | None) -> HttpResponse:
    """STOW-RS into the site where the user is a clinician (?site=<id> when they are one at several): 200 all stored,
    202 some, 409 none; 400 a malformed body, 413 larger than the upload limit, 415 not multipart/related DICOM."""
    site = _stow_site(request)
    boundary = _boundary(request)
    length = request.META.get("CONTENT_LENGTH", "")
    length = int(length) if length.isdigit() else None  # none, or not a number: the limit holds while reading
    try:
        body = multipart.spool(request.stream or io.BytesIO(), length=length, limit=settings.MEDSITE_MAX_UPLOAD_BYTES)
    except multipart.BodyTooLarge:
        limit_mb = settings.MEDSITE_MAX_UPLOAD_BYTES // (1024 * 1024)
        message = f"The request is larger than the {limit_mb} MB upload limit: send fewer instances per request."
        raise PayloadTooLarge(message) from None
    with body:
        try:
            outcomes = stow.store(
                site=site, body=body, boundary=boundary, study_uid=study_uid, client=Client.from_request(request),
                uploaded_by=request.user,
            )  # fmt: skip
        except multipart.MalformedBody as exc:
            raise serializers.ValidationError({"body": [str(exc)]}) from None
    result, status = stow.answer(outcomes, study_uid, lambda name, *uids: _url(request, name, *uids))
    return _json(result, status=status)


def _stow_site(request):
    """Where STOW-RS stores: as the REST import, a site where the user is a clinician."""
    if "site" in request.query_params:
        pk = serializers.IntegerField(min_value=1).run_validation(request.query_params["site"])
        return access.get_site_for_user(request, pk, roles=[Role.CLINICIAN])
    sites = access.site_list_for(request.user, [Role.CLINICIAN])
    if not sites:
        raise access.deny(request, "image", "Only clinicians store images; your role at your sites does not allow it.")
    if len(sites) > 1:
        raise serializers.ValidationError({"site": ["You are a clinician at several sites: name one with ?site=<id>."]})
    return sites[0]


def _boundary(request) -> str:
    header = multipart.content_type(request.META.get("CONTENT_TYPE", ""))
    part_type = (header.get_param("type") or "application/dicom").lower()
    if header.get_content_type() != "multipart/related" or part_type != "application/dicom":
        raise exceptions.UnsupportedMediaType(
            request.META.get("CONTENT_TYPE", "")[:100],
            detail='STOW-RS here takes multipart/related; type="application/dicom": DICOM files, one per part.',
        )
    boundary = header.get_param("boundary")
    if not boundary or not isinstance(boundary, str):
        raise serializers.ValidationError({"body": ["The Content-Type names no boundary."]})
    return boundary


# --- WADO-RS ----------------------------------------------------------------------------------------------------


class Retrieve(DicomWebView):
    """WADO-RS: a study, a series or an instance as DICOM files (multipart/related; type="application/dicom"):
    originals as stored (the identified copy a clinician sees in MedSite), and the generated objects."""

    def get(self, request, study_uid, series_uid=None, instance_uid=None):
        if instance_uid is not None:
            study, instance = _instance(request, study_uid, series_uid, instance_uid)
            access.record_view(request, instance.obj, study.site, action=AuditEvent.Action.DOWNLOAD,
                               detail={"dicomweb": "instance"})  # fmt: skip
            return _multipart([instance])
        study = _study(request, study_uid)
        found = _instances(study, series_uid)
        access.record_view(request, study, study.site, action=AuditEvent.Action.DOWNLOAD,
                           detail={"dicomweb": "series" if series_uid else "study", "count": len(found)})  # fmt: skip
        return _multipart(found)


class StudyResource(Retrieve):
    """GET: the study (WADO-RS). POST: STOW-RS of instances of this study (another study's are refused)."""

    def post(self, request, study_uid):
        return _store(request, study_uid)


class Metadata(DicomWebView):
    """WADO-RS metadata: the instances' attributes as DICOM JSON, without pixel data."""

    def get(self, request, study_uid, series_uid=None, instance_uid=None):
        if instance_uid is not None:
            study, instance = _instance(request, study_uid, series_uid, instance_uid)
            target, found = instance.obj, [instance]
        else:
            study = target = _study(request, study_uid)
            found = _instances(study, series_uid)
        access.record_view(request, target, study.site, detail={"dicomweb": "metadata", "count": len(found)})
        return _json([instances.metadata(instance) for instance in found])


class Frames(DicomWebView):
    """WADO-RS frames: uncompressed, little endian, one part each (multipart/related; application/octet-stream)."""

    def get(self, request, study_uid, series_uid, instance_uid, frames):
        study, instance = _instance(request, study_uid, series_uid, instance_uid)
        numbers = [int(n) for n in frames.split(",")]
        if not instance.has_pixels or not all(1 <= n <= instance.frames for n in numbers):
            raise exceptions.NotFound(f"This instance has {instance.frames or 0} frame(s); ask for 1 to its count.")
        access.record_view(request, instance.obj, study.site, detail={"dicomweb": "frames", "count": len(numbers)})
        ds = instances.dataset(instance)
        boundary = multipart.new_boundary()
        part_type = f"application/octet-stream; transfer-syntax={pydicom.uid.ExplicitVRLittleEndian}"
        try:
            pieces = [[instances.frame(instance, ds, n)] for n in numbers]
        except instances.NoFrames:
            raise exceptions.NotFound("This instance holds no pixel data.") from None
        body = b"".join(multipart.stream(pieces, boundary=boundary, part_type=part_type))
        content_type = f'multipart/related; type="application/octet-stream"; boundary={boundary}'
        return HttpResponse(body, content_type=content_type)


RENDERED_TYPES = ("image/jpeg", "image/png")


class Rendered(DicomWebView):
    """WADO-RS rendered: an instance (its displayed frame) or one frame, as image/jpeg (the default) or image/png."""

    def get(self, request, study_uid, series_uid, instance_uid, frame=None):
        study, instance = _instance(request, study_uid, series_uid, instance_uid)
        media_type = _rendered_type(request.META.get("HTTP_ACCEPT", ""))
        number = int(frame) if frame is not None else None
        if not instance.has_pixels or (number is not None and not 1 <= number <= instance.frames):
            raise exceptions.NotFound("This instance has no such frame to render (an SR has none).")
        access.record_view(request, instance.obj, study.site, detail={"dicomweb": "rendered"})
        return HttpResponse(instances.encode(instances.rendered(instance, number), media_type), content_type=media_type)


def _rendered_type(accept: str) -> str:
    """The first of image/jpeg and image/png the Accept header takes (by quality, then order); jpeg for */*."""
    offers = []
    for position, item in enumerate(accept.split(",")):
        parsed = multipart.content_type(item.strip() or "*/*")
        try:
            quality = float(parsed.get_param("q") or 1)
        except ValueError:
            quality = 1.0
        media = parsed.get_content_type()
        for candidate in RENDERED_TYPES:
            if quality > 0 and media in (candidate, "image/*", "*/*"):
                offers.append((-quality, position, RENDERED_TYPES.index(candidate), candidate))
    if not accept.strip():
        return RENDERED_TYPES[0]
    if not offers:
        raise exceptions.NotAcceptable("Rendered images are image/jpeg or image/png.")
    return min(offers)[3]
