"""The audit trail, read-only, for site admins."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.permissions import BasePermission, IsAuthenticated

from accounts.models import AuditEvent, Role
from diagnosis import access, selectors
from diagnosis.filters import AuditEventFilter
from diagnosis.selectors import sees_every_site
from diagnosis.serializers import AuditEventSerializer


class IsSiteAdmin(BasePermission):
    message = "The audit trail is for site admins."

    def has_permission(self, request, view) -> bool:
        return sees_every_site(request.user) or access.sites_for(request.user, [Role.ADMIN]).exists()


@extend_schema(tags=["audit"])
class AuditEventViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Audit events of the sites where you are an admin (staff superusers see every event, including those
    that belong to no site, such as failed logins)."""

    queryset = AuditEvent.objects.all()
    serializer_class = AuditEventSerializer
    permission_classes = [IsAuthenticated, IsSiteAdmin]
    filterset_class = AuditEventFilter
    ordering_fields = ["at", "id"]
    ordering = ["-id"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: there is no user
            return AuditEvent.objects.none()
        return selectors.audit_event_list(user=self.request.user)
