from drf_spectacular.utils import extend_schema
from rest_framework.decorators import api_view
from rest_framework.response import Response

from accounts.audit import Client, audit_record
from accounts.models import AuditEvent
from diagnosis import access
from diagnosis.serializers import StudySerializer


@extend_schema(responses=StudySerializer)
@api_view(["GET"])
def study_detail(request, pk: int):
    """A study with its images, their predictions and reviews."""
    study = access.get_study_for_user(request, pk)
    audit_record(
        actor=request.user,
        action=AuditEvent.Action.VIEW,
        obj=study,
        site=study.site,
        client=Client.from_request(request),
    )
    return Response(StudySerializer(study).data)
