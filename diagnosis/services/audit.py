"""The audit trail: who did what to which record, from where. Rows are only inserted."""

from dataclasses import dataclass

from django.db.models import Model

from accounts.models import Site, User
from diagnosis.models import AuditEvent


@dataclass(frozen=True)
class Client:
    """Where a request came from, for the audit trail."""

    ip: str | None = None
    user_agent: str = ""

    @classmethod
    def from_request(cls, request) -> "Client":
        return cls(ip=request.META.get("REMOTE_ADDR") or None, user_agent=request.META.get("HTTP_USER_AGENT", "")[:400])


SYSTEM = Client()


# --- audit -----------------------------------------------------------------------------------


def audit_record(
    *,
    actor: User | None,
    action: str,
    obj: Model | None = None,
    site: Site | None = None,
    client: Client = SYSTEM,
    actor_email: str = "",
) -> AuditEvent:
    return AuditEvent.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        actor_email=actor_email or (actor.email if actor is not None and actor.is_authenticated else ""),
        site=site,
        action=action,
        object_type=obj._meta.model_name if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        ip=client.ip,
        user_agent=client.user_agent,
    )
