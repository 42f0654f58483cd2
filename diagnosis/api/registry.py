"""The model registry over REST: every member reads it; only superusers (the admins who run the models)
promote, shadow, retire and roll back, as in Django admin."""

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, viewsets
from rest_framework.decorators import action
from rest_framework.filters import SearchFilter
from rest_framework.response import Response

from accounts.audit import Client
from diagnosis.api.conventions import ConditionalGetMixin
from diagnosis.filters import KnownParametersFilter, StrictOrderingFilter
from diagnosis.models import ModelVersion
from diagnosis.serializers import (
    LivePerformanceSerializer,
    ModelEvaluationSerializer,
    ModelPromoteSerializer,
    ModelRollbackSerializer,
    ModelStatusChangeSerializer,
    ModelVersionDetailSerializer,
)
from diagnosis.services import learning, registry


class IsSuperuserForWrites(permissions.BasePermission):
    message = "Only an administrator can change which model versions run."

    def has_permission(self, request, view) -> bool:
        return request.method in permissions.SAFE_METHODS or request.user.is_superuser


@extend_schema(tags=["models"])
class ModelVersionViewSet(
    ConditionalGetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Registered model versions: task, classes, metrics and operating threshold, and status
    (candidate, shadow, active, retired). Filter with `?task=` and `?status=`; `?search=` matches the task or the
    start of the bundle's sha256."""

    queryset = ModelVersion.objects.select_related("registered_by")
    serializer_class = ModelVersionDetailSerializer
    permission_classes = [permissions.IsAuthenticated, IsSuperuserForWrites]
    filterset_fields = ["task", "status"]
    filter_backends = [KnownParametersFilter, DjangoFilterBackend, StrictOrderingFilter, SearchFilter]
    search_fields = ["task", "^bundle_sha256"]
    ordering_fields = ["created_at", "activated_at"]
    ordering = ["-created_at", "-id"]
    lookup_value_converter = "int"

    @extend_schema(request=ModelPromoteSerializer, responses=ModelVersionDetailSerializer)
    @action(detail=True, methods=["post"])
    def promote(self, request, pk):
        """Make this version the active model of its task through the promotion gate; the previous one is
        retired. Needs a written `reason` (400 naming `reason` without one; audited). Refused (400, with the gate's
        findings) unless the version passed an evaluation against the active one on the held-out set, or
        `override` is true."""
        version = self.get_object()
        body = ModelPromoteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        version = registry.model_promote(
            model_version=version, actor=request.user, client=Client.from_request(request), **body.validated_data
        )
        return Response(ModelVersionDetailSerializer(version).data)

    @extend_schema(request=ModelStatusChangeSerializer, responses=ModelVersionDetailSerializer)
    @action(detail=True, methods=["post"])
    def shadow(self, request, pk):
        """Run this version in shadow: on every new image of its task, stored, never shown."""
        return self._change(request, registry.model_set_shadow)

    @extend_schema(request=ModelStatusChangeSerializer, responses=ModelVersionDetailSerializer)
    @action(detail=True, methods=["post"])
    def retire(self, request, pk):
        """Stop running a candidate or shadow version."""
        return self._change(request, registry.model_retire)

    @extend_schema(responses=LivePerformanceSerializer)
    @action(detail=True, methods=["get"])
    def performance(self, request, pk):
        """Live performance against the radiologists: agreement, sensitivity/specificity, confusion, weekly trend
        and the drift alert."""
        version = self.get_object()
        return Response(LivePerformanceSerializer(learning.live_performance(model_version=version)).data)

    @extend_schema(responses=ModelEvaluationSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])  # all of them, unfiltered
    def evaluations(self, request, pk):
        """Held-out evaluations of this version against the version active at the time, newest first."""
        version = self.get_object()
        return Response(ModelEvaluationSerializer(version.evaluations.all(), many=True).data)

    @extend_schema(request=None, responses={202: None})
    @action(detail=True, methods=["post"])
    def evaluate(self, request, pk):
        """Queue an evaluation of this version against the active one on the task's held-out set."""
        version = self.get_object()
        learning.model_evaluation_request(
            model_version=version, actor=request.user, client=Client.from_request(request)
        )
        return Response(status=202)

    @extend_schema(request=ModelRollbackSerializer, responses=ModelVersionDetailSerializer)
    @action(detail=False, methods=["post"])
    def rollback(self, request):
        """Make the task's previous active version active again. Needs a written `reason` (400 naming `reason`
        without one; audited)."""
        body = ModelRollbackSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        version = registry.model_rollback(
            actor=request.user, client=Client.from_request(request), **body.validated_data
        )
        return Response(ModelVersionDetailSerializer(version).data)

    def _change(self, request, change) -> Response:
        version = self.get_object()
        body = ModelStatusChangeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        version = change(
            model_version=version,
            actor=request.user,
            reason=body.validated_data["reason"],
            client=Client.from_request(request),
        )
        return Response(ModelVersionDetailSerializer(version).data)
