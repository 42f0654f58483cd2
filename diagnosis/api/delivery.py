"""Results routing: where each AI result was sent (PACS over DICOM, FHIR servers), and sending a failed one again."""

from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.audit import Client
from accounts.models import Role
from diagnosis import access
from diagnosis.api.base import AuditedListMixin, SiteScopedViewSet
from diagnosis.models import ResultDelivery
from diagnosis.serializers import ResultDeliverySerializer
from diagnosis.services import delivery


@extend_schema(tags=["results routing"])
class ResultDeliveryViewSet(AuditedListMixin, SiteScopedViewSet):
    """Result objects sent, or being sent, to your sites' PACS and FHIR servers: the AI's preliminary SR and heatmap
    Secondary Capture, the final SR after review, and FHIR DiagnosticReports. Filter by `status` (pending, sent,
    failed), `kind` (sr, sc, final_sr, fhir) or `prediction`. A prediction's own are also at
    /api/v1/predictions/{id}/deliveries/."""

    queryset = ResultDelivery.objects.select_related("destination", "fhir_server")
    serializer_class = ResultDeliverySerializer
    site_field = "site"
    filterset_fields = ["status", "kind", "prediction"]
    ordering_fields = ["created_at", "sent_at"]
    ordering = ["-created_at", "-id"]

    def retrieve(self, request, pk):
        found = access.get_delivery_for_user(request, pk)
        access.record_view(request, found, found.site)
        return Response(ResultDeliverySerializer(found).data)

    @extend_schema(request=None, responses={200: ResultDeliverySerializer})
    @action(detail=True, methods=["post"])
    def retry(self, request, pk):
        """Send a failed delivery again (an admin of its site). 409 when it is not failed."""
        found = access.get_delivery_for_user(request, pk, [Role.ADMIN])
        again = delivery.delivery_retry(delivery=found, user=request.user, client=Client.from_request(request))
        return Response(ResultDeliverySerializer(again).data)
