"""The audit trail: one function writes every event, chained by hash to the one before."""

import json
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Model

from accounts.clientip import client_ip
from accounts.models import AuditEvent, Site, User

GENESIS = "0" * 64
_CHAIN_LOCK = 74_656_123  # pg_advisory_xact_lock(_CHAIN_LOCK, chain): one writer extends a chain at a time
# Parallel hash chains on PostgreSQL (migration 0006): more than the web processes that write at once, so a writer
# rarely waits. Lowering or raising it needs no migration; verify_audit checks whatever chains the rows name.
CHAINS = 8


@dataclass(frozen=True)
class Client:
    """Where a request came from, for the audit trail."""

    ip: str | None = None
    user_agent: str = ""

    @classmethod
    def from_request(cls, request) -> "Client":
        return cls(ip=client_ip(request), user_agent=request.META.get("HTTP_USER_AGENT", "")[:400])


SYSTEM = Client()


def audit_record(
    *,
    actor: User | None,
    action: str,
    obj: Model | None = None,
    object_type: str = "",
    site: Site | None = None,
    client: Client = SYSTEM,
    actor_email: str = "",
    detail: dict | None = None,
) -> AuditEvent:
    """Append one event about ``obj`` (or, for a list, rows of ``object_type``).

    Keep ``detail`` free of patient identifiers: ids and counts only.
    """
    signed_in = actor is not None and actor.is_authenticated
    event = AuditEvent(
        actor=actor if signed_in else None,
        actor_email=actor_email or (actor.email if signed_in else ""),
        site=site,
        action=action,
        object_type=obj._meta.model_name if obj is not None else object_type,
        object_id=str(obj.pk) if obj is not None else "",
        detail=detail or {},
        ip=client.ip,
        user_agent=client.user_agent,
    )
    if connection.vendor == "postgresql":
        _append_in_postgres(event)
        return event
    with transaction.atomic():  # SQLite transactions here begin IMMEDIATE, which serialises writers: one chain
        last = AuditEvent.objects.filter(chain=0).order_by("-id").values_list("hash", flat=True).first()
        event.chain, event.prev_hash = 0, last or GENESIS
        event.hash = event.compute_hash()
        event.save(force_insert=True)
    return event


def _append_in_postgres(event: AuditEvent) -> None:
    """One statement (migration 0006's accounts_audit_append): the server takes the lock of a chain no one else is
    extending, reads that chain's last hash and inserts, so no lock is held across round trips; inside a caller's
    transaction it is held, as any lock, until that transaction ends."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT * FROM accounts_audit_append(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                _CHAIN_LOCK,
                CHAINS,
                event.canonical_content(),
                event.at,
                event.actor_id,
                event.actor_email,
                event.site_id,
                event.action,
                event.object_type,
                event.object_id,
                json.dumps(event.detail),
                event.ip,
                event.user_agent,
            ],
        )
        event.pk, event.chain, event.prev_hash, event.hash = cursor.fetchone()
    event._state.adding, event._state.db = False, connection.alias


@dataclass(frozen=True)
class ChainBreak:
    event_id: int
    reason: str


def audit_verify() -> tuple[int, ChainBreak | None]:
    """Walk every chain in one pass in id order; return how many events were checked and the first break, if any."""
    last_hash: dict[int, str] = {}  # chain -> hash of its latest event so far
    checked = 0
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=2000):
        if event.prev_hash != last_hash.get(event.chain, GENESIS):
            return checked, ChainBreak(
                event.pk, f"it does not point at the event before it in chain {event.chain} (an event was removed)"
            )
        if event.compute_hash() != event.hash:
            return checked, ChainBreak(event.pk, "its contents no longer match its hash (it was edited)")
        last_hash[event.chain] = event.hash
        checked += 1
    return checked, None
