"""AI predictions and radiologists' reviews of them (the agreement ledger)."""

import csv
import io
import json
import re

from django.db.models import F
from django.http import Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.audit import Client, audit_record
from accounts.models import AuditEvent, Role, Site
from diagnosis import access, dicom_results, selectors, serving
from diagnosis.api.base import AuditedListMixin, IgnoreAcceptHeader, SiteScopedViewSet, pk_in_body
from diagnosis.api.conventions import IDEMPOTENCY_KEY, created, idempotent
from diagnosis.filters import PredictionFilter, ReviewFilter
from diagnosis.models import Prediction, ResultDelivery, Review
from diagnosis.serializers import (
    HeatmapStyleSerializer,
    LedgerEntrySerializer,
    PredictionSerializer,
    ResultDeliverySerializer,
    ReviewCreateSerializer,
    ReviewSerializer,
)
from diagnosis.services import review


@extend_schema(tags=["predictions"])
class PredictionViewSet(AuditedListMixin, SiteScopedViewSet):
    """Predictions on images of your sites, with the model version that made them and their reviews.

    Order by `created_at`, `max_probability` (the top class probability) or `abnormality` (1 - P(normal)).
    The radiologists' triage worklist is `?reviewed=false&ordering=-abnormality`; `?ordering=margin` puts the
    least certain first (active learning: the labels the model learns most from). A shadow version's
    predictions are never listed: they are compared with the active model's on the model pages.
    """

    queryset = Prediction.objects.all()  # the rows listed: selectors.prediction_list (get_queryset)
    serializer_class = PredictionSerializer
    site_field = "image__study__patient__site"
    filterset_class = PredictionFilter
    ordering_fields = ["created_at", "max_probability", "abnormality", "margin"]
    ordering = ["-created_at", "-id"]

    def get_queryset(self):  # the web's read, from the same selector
        if getattr(self, "swagger_fake_view", False):  # schema generation: there is no user
            return Prediction.objects.none()
        return selectors.prediction_list(user=self.request.user).annotate(listed_site_id=F(self.site_field))

    def retrieve(self, request, pk):
        prediction = access.get_prediction_for_user(request, pk)
        access.record_view(request, prediction, prediction.image.study.site)
        return Response(PredictionSerializer(prediction).data)

    @extend_schema(
        parameters=[HeatmapStyleSerializer],
        responses={(200, "image/png"): OpenApiTypes.BINARY},
        summary="The Grad-CAM heatmap (PNG, the display image's aspect ratio): an overlay, or the CAM itself",
    )
    @action(detail=True, methods=["get"], content_negotiation_class=IgnoreAcceptHeader)
    def heatmap(self, request, pk):
        query = HeatmapStyleSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return serving.prediction_heatmap(request, pk, style=query.validated_data["style"])

    @extend_schema(
        responses={(200, "application/dicom"): OpenApiTypes.BINARY},
        summary="The AI's preliminary DICOM SR (TID 1500), in the image's study; carries the patient's identifiers",
    )
    @action(detail=True, methods=["get"], content_negotiation_class=IgnoreAcceptHeader)
    def sr(self, request, pk):
        prediction = access.get_prediction_for_user(request, pk)
        return serving.dicom_download(
            request, prediction, prediction.image.study.site, dicom_results.prediction_sr(prediction)
        )

    @extend_schema(
        responses={(200, "application/dicom"): OpenApiTypes.BINARY},
        summary="The Grad-CAM heatmap over the image as a DICOM Secondary Capture, in the image's study (AI output)",
    )
    @action(detail=True, methods=["get"], content_negotiation_class=IgnoreAcceptHeader)
    def sc(self, request, pk):
        prediction = access.get_prediction_for_user(request, pk)
        if not prediction.heatmap:
            raise Http404("This prediction has no heatmap.")
        return serving.dicom_download(
            request, prediction, prediction.image.study.site, dicom_results.prediction_sc(prediction)
        )

    @extend_schema(
        responses=ResultDeliverySerializer(many=True),
        summary="Where this result was sent: each SR, heatmap and FHIR report per PACS or FHIR server, with status",
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])  # all of them, as a list
    def deliveries(self, request, pk):
        prediction = access.get_prediction_for_user(request, pk)
        rows = list(ResultDelivery.objects.filter(prediction=prediction).select_related("destination", "fhir_server"))
        site = prediction.image.study.site
        access.record_list(request, "resultdelivery", len(rows), site, detail={"prediction": prediction.pk})
        return Response(ResultDeliverySerializer(rows, many=True).data)


@extend_schema(tags=["reviews"])
class ReviewViewSet(AuditedListMixin, SiteScopedViewSet):
    """The agreement ledger: every radiologist decision with the AI output it judged (label, probabilities, model
    version, threshold), who decided and when. A new review of a prediction supersedes older ones; none is ever
    changed. Filter by `task`, `model_version`, `decision`, `reviewer` (email), `created_after`/`created_before`;
    `export/` gives the same rows as CSV."""

    queryset = Review.objects.select_related("reviewer", "prediction__model_version")
    serializer_class = LedgerEntrySerializer
    site_field = "prediction__image__study__patient__site"
    filterset_class = ReviewFilter
    ordering_fields = ["created_at"]
    ordering = ["-created_at", "-id"]

    @extend_schema(
        responses={(200, "text/csv"): OpenApiTypes.BINARY}, summary="The ledger as CSV (same filters as the list)"
    )
    @action(detail=False, methods=["get"], content_negotiation_class=IgnoreAcceptHeader)
    def export(self, request):
        rows = list(self.filter_queryset(self.get_queryset()).order_by("created_at", "id"))
        fields = LedgerEntrySerializer.Meta.fields
        buffer = io.StringIO()
        writer = csv.writer(buffer, quoting=csv.QUOTE_ALL)
        writer.writerow(fields)
        for row in LedgerEntrySerializer(rows, many=True).data:
            writer.writerow([_csv_cell(row[field]) for field in fields])
        site_ids = {row.listed_site_id for row in rows}
        audit_record(
            actor=request.user,
            action=AuditEvent.Action.DOWNLOAD,
            object_type="review",
            site=Site.objects.get(pk=site_ids.pop()) if len(site_ids) == 1 else None,
            client=Client.from_request(request),
            detail={"count": len(rows), "format": "csv"},
        )
        response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="agreement-ledger.csv"'
        response["Cache-Control"] = "private, no-store"
        return response

    @extend_schema(
        responses={(200, "application/dicom"): OpenApiTypes.BINARY},
        summary="The final DICOM SR of this review: VERIFIED, the reader as observer, with the AI's result",
    )
    @action(detail=True, methods=["get"], content_negotiation_class=IgnoreAcceptHeader)
    def sr(self, request, pk):
        found = access.get_review_for_user(request, pk)
        return serving.dicom_download(request, found, found.prediction.image.study.site, dicom_results.review_sr(found))

    @extend_schema(responses=LedgerEntrySerializer, summary="One review, as the ledger lists it")
    def retrieve(self, request, pk):
        found = access.get_review_for_user(request, pk)
        access.record_view(request, found, found.prediction.image.study.site)
        return Response(LedgerEntrySerializer(found).data)

    @extend_schema(request=ReviewCreateSerializer, responses={201: ReviewSerializer}, parameters=[IDEMPOTENCY_KEY])
    @idempotent
    def create(self, request):
        prediction = access.get_prediction_for_user(request, pk_in_body(request, "prediction"), [Role.RADIOLOGIST])
        serializer = ReviewCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        submitted = review.review_submit(
            prediction=prediction,
            reviewer=request.user,
            label=serializer.validated_data["label"],
            note=serializer.validated_data["note"],
            uncertain=serializer.validated_data["uncertain"],
            client=Client.from_request(request),
        )
        return created(request, ReviewSerializer(submitted).data, "review-detail", submitted.pk)


# A spreadsheet reads a cell as a formula when it starts with one of these (after any spaces or quotes). The file
# is comma-separated with every cell quoted, but an import that splits on ";", tabs or "|" (many locales do), or
# that ignores the quotes, starts a new cell after each separator: so every piece between separators is checked.
FORMULA_TRIGGERS = ("=", "+", "-", "@")
SEPARATOR = re.compile(r"([,;\t\r\n|])")  # captured, so that re.split keeps the separators
PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _csv_cell(value):
    """JSON for dicts. In text, every piece between separators (, ; tab | line breaks, and the start) that would
    start a formula (= + - @, after any spaces or quotes) gets a leading ', which makes the spreadsheet show it as
    text: "=1+1" becomes "'=1+1" and "ok;=2+5" becomes "ok;'=2+5". A plain number, such as -2 or +1.5e3, is left
    alone: it runs nothing, and stays a number."""
    if isinstance(value, dict):
        value = json.dumps(value, sort_keys=True)
    if not isinstance(value, str):
        return value
    parts = SEPARATOR.split(value)  # piece, separator, piece, ...
    for i in range(0, len(parts), 2):
        bare = parts[i].strip().lstrip("\"'").lstrip()
        if bare.startswith(FORMULA_TRIGGERS) and not PLAIN_NUMBER.fullmatch(bare):
            parts[i] = "'" + parts[i]
    return "".join(parts)
