"""Patients, studies, images and DICOM imports: the REST twins of the web UI's record pages."""

from django.db.models import F, prefetch_related_objects
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from accounts.audit import Client
from accounts.models import Role
from diagnosis import access, listings, selectors, serving
from diagnosis.api.base import (
    AuditedListMixin,
    IgnoreAcceptHeader,
    SiteScopedViewSet,
    pk_in_body,
    store_each,
)
from diagnosis.api.conventions import IDEMPOTENCY_KEY, IF_MATCH, created, idempotent, if_match
from diagnosis.filters import KnownParametersFilter, PatientFilter, StrictOrderingFilter, StudyFilter
from diagnosis.models import Image, Patient, Study, image_details, study_details
from diagnosis.serializers import (
    DicomImportSerializer,
    ImageSerializer,
    PatientCreateSerializer,
    PatientSearchSerializer,
    PatientSerializer,
    PatientUpdateSerializer,
    RenditionSerializer,
    StudyClaimSerializer,
    StudyCreateSerializer,
    StudySerializer,
    StudyUpdateSerializer,
    UploadResultSerializer,
    UploadSerializer,
)
from diagnosis.services import records, worklist

IMAGE_DETAILS = image_details()
STUDY_DETAILS = study_details()
# 400 is either the per-file result (some file was refused) or DRF's field errors (no files, no site...):
# messages by field, and by position for the files list.
_MESSAGES = {"type": "array", "items": {"type": "string"}}
UPLOAD_RESPONSES = {
    201: UploadResultSerializer,
    400: OpenApiResponse(
        response={
            "anyOf": [
                {"$ref": "#/components/schemas/UploadResult"},
                {"type": "object", "additionalProperties": {"anyOf": [_MESSAGES, {"additionalProperties": _MESSAGES}]}},
            ]
        },
        description="Some files were refused (the stored ones are listed), or the request itself was invalid "
        "(the field errors).",
    ),
    409: OpenApiResponse(
        response=UploadResultSerializer,
        description="Every refused file was already in its study: each error gives that image's id and URL "
        "(`image`, `existing`); files that were new are stored and listed.",
    ),
}


SEARCH_BY_POST = (
    'Search patients with POST /api/v1/patients/search/ and a JSON body {"query": ...}: names and MRNs in a '
    "URL reach proxy logs and browser history."
)


@extend_schema(tags=["patients"])
@extend_schema_view(list=extend_schema(summary="Patients of your sites (to search them, POST to search/)"))
class PatientViewSet(AuditedListMixin, SiteScopedViewSet):
    """Patients. Any member of the patient's site reads them; clinicians register and edit them. No delete."""

    queryset = Patient.objects.all()
    serializer_class = PatientSerializer
    site_field = "site"
    filter_backends = [KnownParametersFilter, DjangoFilterBackend, StrictOrderingFilter]  # searches: POST search/
    filterset_class = PatientFilter
    ordering_fields = ["created_at", "mrn", "name", "birth_date"]
    ordering = ["-created_at", "-id"]

    def list(self, request):
        if "search" in request.query_params:  # the old way: refused, so that clients move off it
            raise serializers.ValidationError({"search": [SEARCH_BY_POST]})
        return super().list(request)

    @extend_schema(
        request=PatientSearchSerializer,
        responses=PatientSerializer(many=True),
        summary="Search patients of your sites by MRN or name",
        description="The search term goes in the JSON body, so that it never appears in a URL (proxy and server "
        "logs, browser history, Referer headers). Pages as the list does (`?page=`); newest first. One VIEW "
        "audit event per page, with the count and never the term.",
    )
    @action(detail=False, methods=["post"], filter_backends=[])
    def search(self, request):
        body = PatientSearchSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        query = body.validated_data["query"].strip()
        page = self.paginate_queryset(selectors.patient_list(user=request.user, query=query))
        site_ids = {patient.site_id for patient in page}
        site = page[0].site if len(site_ids) == 1 else None
        access.record_list(request, "patient", len(page), site, detail={"search": True})
        return self.get_paginated_response(PatientSerializer(page, many=True).data)

    @extend_schema(request=PatientCreateSerializer, responses={201: PatientSerializer}, parameters=[IDEMPOTENCY_KEY])
    @idempotent
    def create(self, request):
        access.get_site_for_user(request, pk_in_body(request, "site"), roles=[Role.CLINICIAN])
        serializer = PatientCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        patient = records.patient_create(
            **serializer.validated_data, created_by=request.user, client=Client.from_request(request)
        )
        return created(request, PatientSerializer(patient).data, "patient-detail", patient.pk)

    def retrieve(self, request, pk):
        patient = access.get_patient_for_user(request, pk)
        access.record_view(request, patient, patient.site)
        return Response(PatientSerializer(patient).data)

    @extend_schema(request=PatientUpdateSerializer, responses=PatientSerializer, parameters=[IF_MATCH])
    def partial_update(self, request, pk):
        patient = access.get_patient_for_user(request, pk, roles=[Role.CLINICIAN])
        serializer = PatientUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        with if_match(request, patient, lambda current: PatientSerializer(current).data) as patient:
            records.patient_update(
                patient=patient,
                **serializer.validated_data,
                changed_by=request.user,
                client=Client.from_request(request),
            )
        return Response(PatientSerializer(patient).data)


@extend_schema(tags=["studies"])
class StudyViewSet(AuditedListMixin, SiteScopedViewSet):
    """Studies. Any member of the patient's site reads them; clinicians register, edit and upload images."""

    queryset = Study.objects.prefetch_related(*STUDY_DETAILS)
    serializer_class = StudySerializer
    cached_list = listings.STUDIES  # the list clients poll most
    site_field = "patient__site"
    filterset_class = StudyFilter
    ordering_fields = ["created_at", "study_date", "modality", "status"]
    ordering = ["-created_at", "-id"]

    def get_queryset(self):  # the web's read, from the same selector
        if getattr(self, "swagger_fake_view", False):  # schema generation: there is no user
            return Study.objects.none()
        return selectors.study_list(user=self.request.user).annotate(listed_site_id=F(self.site_field))

    @extend_schema(request=StudyCreateSerializer, responses={201: StudySerializer}, parameters=[IDEMPOTENCY_KEY])
    @idempotent
    def create(self, request):
        access.get_patient_for_user(request, pk_in_body(request, "patient"), roles=[Role.CLINICIAN])
        serializer = StudyCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        study = records.study_create(
            **serializer.validated_data, created_by=request.user, client=Client.from_request(request)
        )
        return created(request, StudySerializer(study).data, "study-detail", study.pk)

    def retrieve(self, request, pk):
        study = access.get_study_for_user(request, pk)
        prefetch_related_objects([study], *STUDY_DETAILS)
        access.record_view(request, study, study.site)
        return Response(StudySerializer(study).data)

    @extend_schema(request=StudyUpdateSerializer, responses=StudySerializer, parameters=[IF_MATCH])
    def partial_update(self, request, pk):
        study = access.get_study_for_user(request, pk, roles=[Role.CLINICIAN])
        serializer = StudyUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        with if_match(request, study, _study_representation) as study:
            records.study_update(
                study=study, **serializer.validated_data, changed_by=request.user, client=Client.from_request(request)
            )
        return Response(_study_representation(study))

    @extend_schema(
        request=None,
        responses={200: StudyClaimSerializer},
        summary="Claim the study for your read ('being read by' you), or refresh your claim",
        description="Radiologists. Others see the claim on the worklist until you release it, the last image "
        "waiting for you is read, or MEDSITE_READING_CLAIM_MINUTES pass without a refresh. 409 while another "
        "reader's claim is live (the problem's detail says whose, since when).",
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def claim(self, request, pk):
        study = access.get_study_for_user(request, pk, roles=[Role.RADIOLOGIST])
        study = worklist.study_claim(study=study, reader=request.user, client=Client.from_request(request))
        return Response(StudyClaimSerializer(worklist.claim_state(study)).data)

    @extend_schema(
        request=None,
        responses={200: StudyClaimSerializer},
        summary="Release your claim on the study (another reader's claim is left as it is)",
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def release(self, request, pk):
        study = access.get_study_for_user(request, pk, roles=[Role.RADIOLOGIST])
        study = worklist.study_release(study=study, reader=request.user, client=Client.from_request(request))
        return Response(StudyClaimSerializer(worklist.claim_state(study)).data)

    @extend_schema(methods=["GET"], responses=ImageSerializer(many=True), summary="The study's images", description="")
    @action(detail=True, methods=["get"], filter_backends=[], parser_classes=[MultiPartParser])
    def images(self, request, pk):
        study = access.get_study_for_user(request, pk)
        page = self.paginate_queryset(study.images.prefetch_related(*IMAGE_DETAILS).order_by("uploaded_at", "id"))
        access.record_list(request, "image", len(page), study.site, detail={"study": study.pk})
        return self.get_paginated_response(ImageSerializer(page, many=True).data)

    @extend_schema(
        request=UploadSerializer,
        responses=UPLOAD_RESPONSES,
        summary="Upload images (one or more files)",
        description="Each file is stored and queued for analysis, or refused with a message. Files that were "
        "stored stay stored when others are refused: the response is then 400 (409 when the refused ones were "
        "already in the study) and lists both. 201's Location is the image, or for several the study's images.",
        parameters=[IDEMPOTENCY_KEY],
    )
    @images.mapping.post
    @idempotent
    def upload_images(self, request, pk):
        study = access.get_study_for_user(request, pk, roles=[Role.CLINICIAN])
        serializer = UploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        client = Client.from_request(request)
        return store_each(
            request,
            serializer.validated_data["files"],
            lambda file: records.image_upload(study=study, file=file, uploaded_by=request.user, client=client),
        )


@extend_schema(tags=["images"])
class ImageViewSet(SiteScopedViewSet):
    """An image's metadata and files. Images are listed under their study."""

    queryset = Image.objects.all()
    serializer_class = ImageSerializer
    site_field = "study__patient__site"

    def retrieve(self, request, pk):
        image = access.get_image_for_user(request, pk)
        prefetch_related_objects([image], *IMAGE_DETAILS)
        access.record_view(request, image, image.study.site)
        return Response(ImageSerializer(image).data)

    @extend_schema(
        parameters=[RenditionSerializer],
        responses={
            (200, "image/png"): OpenApiTypes.BINARY,
            (200, "image/jpeg"): OpenApiTypes.BINARY,
            (200, "application/dicom"): OpenApiTypes.BINARY,
        },
        summary="Download an image file",
        description="display: the 8-bit PNG without metadata; original: the file as uploaded; deidentified: "
        "the de-identified DICOM (DICOM uploads only). Never cached; every download is audited.",
    )
    @action(detail=True, url_path="file", content_negotiation_class=IgnoreAcceptHeader)
    def file(self, request, pk):
        query = RenditionSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return serving.image_file(request, pk, rendition=query.validated_data["rendition"])

    @extend_schema(
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
        summary="The stored pixel values of a DICOM image (for windowing)",
        description="The displayed frame's stored values in MedSite's medsite-pixels/1 format (docs/api.md): "
        '"MSPX", a uint32 little-endian header length, a JSON header (rows, columns, dtype, rescale slope and '
        "intercept, units, photometric, the file's first VOI window, value range), then the values, little-endian. "
        "Sides over 2048 pixels are decimated (the header's step). gzip-compressed when the client accepts it. "
        "PNG/JPEG and colour images have none: 404. Never cached; audited as a view.",
    )
    @action(detail=True, url_path="pixels", content_negotiation_class=IgnoreAcceptHeader)
    def pixels(self, request, pk):
        return serving.image_pixels(request, pk)


@extend_schema(tags=["images"])
class DicomImportViewSet(viewsets.GenericViewSet):
    """DICOM files without a chosen study: their PatientID and StudyInstanceUID find or create the records."""

    serializer_class = DicomImportSerializer
    parser_classes = [MultiPartParser]

    @extend_schema(
        request=DicomImportSerializer,
        responses=UPLOAD_RESPONSES,
        summary="Import DICOM files",
        parameters=[IDEMPOTENCY_KEY],
    )
    @idempotent
    def create(self, request):
        site = access.get_site_for_user(request, pk_in_body(request, "site"), roles=[Role.CLINICIAN])
        serializer = DicomImportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        client = Client.from_request(request)
        return store_each(
            request,
            serializer.validated_data["files"],
            lambda file: records.dicom_import(site=site, file=file, uploaded_by=request.user, client=client),
        )


def _study_representation(study: Study) -> dict:
    prefetch_related_objects([study], *STUDY_DETAILS)
    return StudySerializer(study).data
