"""AI predictions and radiologists' reviews of them."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.audit import Client
from accounts.models import Role
from diagnosis import access, views
from diagnosis.api.base import AuditedListMixin, IgnoreAcceptHeader, SiteScopedViewSet, audit_view, pk_in_body
from diagnosis.filters import PredictionFilter, with_prediction_facts
from diagnosis.models import Prediction, Review
from diagnosis.serializers import PredictionSerializer, ReviewCreateSerializer, ReviewSerializer
from diagnosis.services import review


@extend_schema(tags=["predictions"])
class PredictionViewSet(AuditedListMixin, SiteScopedViewSet):
    """Predictions on images of your sites, with the model version that made them and their reviews.

    Order by `created_at`, `max_probability` (the top class probability) or `abnormality` (1 - P(normal)).
    The radiologists' triage worklist is `?reviewed=false&ordering=-abnormality`. A shadow version's
    predictions are never listed: they are compared with the active model's on the model pages.
    """

    queryset = (
        Prediction.objects.filter(is_shadow=False).select_related("model_version").prefetch_related("reviews__reviewer")
    )
    serializer_class = PredictionSerializer
    site_field = "image__study__patient__site"
    filterset_class = PredictionFilter
    ordering_fields = ["created_at", "max_probability", "abnormality"]
    ordering = ["-created_at", "-id"]

    def get_queryset(self):
        return with_prediction_facts(super().get_queryset())

    def retrieve(self, request, pk):
        prediction = access.get_prediction_for_user(request, pk)
        audit_view(request, prediction, prediction.image.study.site)
        return Response(PredictionSerializer(prediction).data)

    @extend_schema(
        responses={(200, "image/png"): OpenApiTypes.BINARY},
        summary="The Grad-CAM heatmap (PNG, colour-mapped, the display image's aspect ratio)",
    )
    @action(detail=True, methods=["get"], content_negotiation_class=IgnoreAcceptHeader)
    def heatmap(self, request, pk):
        return views.prediction_heatmap(request, pk)


@extend_schema(tags=["reviews"])
class ReviewViewSet(AuditedListMixin, SiteScopedViewSet):
    """Radiologists' reviews. A new review of a prediction supersedes the older ones; none is ever changed."""

    queryset = Review.objects.select_related("reviewer")
    serializer_class = ReviewSerializer
    site_field = "prediction__image__study__patient__site"
    ordering_fields = ["created_at"]
    ordering = ["-created_at", "-id"]

    @extend_schema(request=ReviewCreateSerializer, responses={201: ReviewSerializer})
    def create(self, request):
        prediction = access.get_prediction_for_user(request, pk_in_body(request, "prediction"), [Role.RADIOLOGIST])
        serializer = ReviewCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            submitted = review.review_submit(
                prediction=prediction,
                reviewer=request.user,
                label=serializer.validated_data["label"],
                note=serializer.validated_data["note"],
                client=Client.from_request(request),
            )
        except ValueError as exc:  # a label that is not one of the model's classes
            raise serializers.ValidationError({"label": [str(exc)]}) from None
        return Response(ReviewSerializer(submitted).data, status=status.HTTP_201_CREATED)
