"""The audit trail, read-only, for site admins."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.permissions import BasePermission, IsAuthenticated

from accounts.models import AuditEvent, Role
from diagnosis import access
from diagnosis.filters import AuditEventFilter
from diagnosis.serializers import AuditEventSerializer


def sees_every_site(user) -> bool:
    return user.is_staff and user.is_superuser


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
        events = super().get_queryset()
        if getattr(self, "swagger_fake_view", False):  # schema generation: there is no user
            return events.none()
        if sees_every_site(self.request.user):
            return events
        return events.filter(site__in=access.sites_for(self.request.user, [Role.ADMIN]))
