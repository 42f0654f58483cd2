"""The learning loop over REST, for superusers: the retraining queue, training runs, held-out evaluations."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.audit import Client
from diagnosis import access
from diagnosis.api.conventions import IDEMPOTENCY_KEY, ConditionalGetMixin, created, idempotent
from diagnosis.models import RetrainingItem, TrainingRun
from diagnosis.serializers import (
    ExclusionSerializer,
    RetrainingItemSerializer,
    TrainingRunCreateSerializer,
    TrainingRunSerializer,
)
from diagnosis.services import learning


class IsSuperuser(permissions.BasePermission):
    message = "Only an administrator manages training and model promotion."

    def has_permission(self, request, view) -> bool:
        if request.user.is_superuser:
            return True
        # Audited as the web pages' refusals are (one DENIED event); DRF answers 403 with `message`.
        access.deny(request, view.queryset.model._meta.model_name, self.message)
        return False


@extend_schema(tags=["learning"])
class RetrainingItemViewSet(
    ConditionalGetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Reviewed images queued for training, newest first. Filter with `?task=` and `?label=`; an item is used
    by the next run unless excluded or superseded by a later review of its image (`superseded`); `used_in_runs`
    lists the training runs that trained on it."""

    queryset = RetrainingItem.objects.with_superseded().select_related("excluded_by", "image__study__patient__site")
    serializer_class = RetrainingItemSerializer
    permission_classes = [permissions.IsAuthenticated, IsSuperuser]
    filterset_fields = ["task", "label"]
    ordering = ["-created_at", "-id"]
    lookup_value_converter = "int"

    def list(self, request):
        response = super().list(request)
        access.record_list(request, "retrainingitem", len(response.data["results"]), None)  # pseudonyms of patients
        return response

    def retrieve(self, request, pk):
        item = self.get_object()
        access.record_view(request, item, item.image.study.site)
        return Response(RetrainingItemSerializer(item).data)

    @extend_schema(request=ExclusionSerializer, responses=RetrainingItemSerializer)
    @action(detail=True, methods=["post"])
    def exclude(self, request, pk):
        """Keep the item out of every later training run; the reason is kept and audited."""
        item = self.get_object()
        body = ExclusionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        item = learning.retraining_item_exclude(
            item=item, actor=request.user, reason=body.validated_data["reason"], client=Client.from_request(request)
        )
        return Response(RetrainingItemSerializer(item).data)


@extend_schema(tags=["learning"])
class TrainingRunViewSet(
    ConditionalGetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Training runs with live progress (epoch, losses), log, data manifest and the candidate produced.
    `POST` with a `task` trains a candidate from the active version's recipe on the base data plus the queue."""

    queryset = TrainingRun.objects.select_related("requested_by")
    serializer_class = TrainingRunSerializer
    permission_classes = [permissions.IsAuthenticated, IsSuperuser]
    filterset_fields = ["task", "status", "trigger"]
    ordering = ["-created_at", "-id"]
    lookup_value_converter = "int"

    # A retraining run's data manifest lists its queue items with their patients' pseudonyms: audited as reads.
    def list(self, request):
        response = super().list(request)
        access.record_list(request, "trainingrun", len(response.data["results"]), None)
        return response

    def retrieve(self, request, pk):
        run = self.get_object()
        access.record_view(request, run, None)
        return Response(TrainingRunSerializer(run).data)

    @extend_schema(
        request=TrainingRunCreateSerializer, responses={201: TrainingRunSerializer}, parameters=[IDEMPOTENCY_KEY]
    )
    @idempotent
    def create(self, request):
        body = TrainingRunCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        run = learning.retraining_run_create(
            task=body.validated_data["task"], requested_by=request.user, client=Client.from_request(request)
        )
        return created(request, TrainingRunSerializer(run).data, "training-run-detail", run.pk)
