"""The model registry: which version of each task's model is active."""

from django.db import transaction

from accounts.audit import audit_record
from accounts.models import AuditEvent, User
from diagnosis.models import ModelVersion


@transaction.atomic
def model_activate(*, model_version: ModelVersion, actor: User | None) -> ModelVersion:
    """Make this version the one active model of its task, retiring the previous one."""
    ModelVersion.objects.select_for_update().filter(task=model_version.task).exclude(pk=model_version.pk).filter(
        status=ModelVersion.Status.ACTIVE
    ).update(status=ModelVersion.Status.RETIRED)
    model_version.status = ModelVersion.Status.ACTIVE
    model_version.save(update_fields=["status"])
    audit_record(actor=actor, action=AuditEvent.Action.ACTIVATE, obj=model_version)
    return model_version
