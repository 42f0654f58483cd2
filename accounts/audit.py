"""The audit trail: one function writes every event, linked by an HMAC to the one before in its chain.

Each link is HMAC-SHA256 under MEDSITE_AUDIT_KEY, computed here in Python: the key never reaches the database, so
whoever owns the database can delete or edit rows behind the append-only trigger's back but cannot recompute the
links. Signed checkpoints of the chain heads, written outside the database (accounts/audit_checkpoints.py), show
when a chain's newest events were removed.
"""

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Model

from accounts import audit_syslog
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


@dataclass(frozen=True)
class AuditKey:
    """An audit key and its fingerprint (stored with each event it links, so verification finds it after a
    rotation). The fingerprint is an HMAC of a fixed text, which tells nothing about the key."""

    id: str
    secret: bytes

    @classmethod
    def from_setting(cls, value: str) -> "AuditKey":
        secret = value.encode()
        return cls(id=hmac.new(secret, b"medsite audit key id", hashlib.sha256).hexdigest()[:16], secret=secret)

    def checkpoint_secret(self) -> bytes:
        """A key of its own for signing checkpoints, derived from this one."""
        return hmac.new(self.secret, b"medsite audit checkpoint", hashlib.sha256).digest()


@lru_cache(maxsize=4)
def _keys(current: str, old: tuple[str, ...]) -> tuple[AuditKey, dict[str, AuditKey]]:
    keys = [AuditKey.from_setting(value) for value in (current, *old)]
    return keys[0], {key.id: key for key in reversed(keys)}


def audit_keys() -> tuple[AuditKey, dict[str, AuditKey]]:
    """The key that links new events, and every configured key (current and old) by fingerprint."""
    return _keys(settings.MEDSITE_AUDIT_KEY, tuple(settings.MEDSITE_AUDIT_OLD_KEYS))


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
    key, _ = audit_keys()
    event.key_id = key.id
    with transaction.atomic():
        if connection.vendor == "postgresql":
            event.chain, event.prev_hash = _claim_chain_in_postgres()
        else:  # SQLite transactions here begin IMMEDIATE, which serialises writers: one chain
            last = AuditEvent.objects.filter(chain=0).order_by("-id").values_list("hash", flat=True).first()
            event.chain, event.prev_hash = 0, last or GENESIS
        event.hash = event.compute_hash(key.secret)
        event.save(force_insert=True)
    if settings.MEDSITE_AUDIT_SYSLOG_URL:
        transaction.on_commit(lambda: audit_syslog.send(event))
    return event


def _claim_chain_in_postgres() -> tuple[int, str]:
    """One statement (migration 0008's accounts_audit_claim_chain): the server takes the lock of a chain no other
    transaction is extending and returns it with its last hash. The lock lasts until the caller's transaction
    ends, so the HMAC and the INSERT that follow in it extend that chain alone: no fork, no gap."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_audit_claim_chain(%s, %s)", [_CHAIN_LOCK, CHAINS])
        chain, prev_hash = cursor.fetchone()
    return chain, prev_hash


@dataclass(frozen=True)
class ChainHead:
    """A chain's newest event and how many events the chain holds up to it."""

    chain: int
    last_id: int
    hash: str
    count: int


@dataclass(frozen=True)
class Checkpoint:
    """The chain heads as a signed checkpoint recorded them (``label`` says which, for messages)."""

    label: str
    heads: tuple[ChainHead, ...]


def audit_chain_heads() -> list[ChainHead]:
    """Every chain's head and length, read in one statement (one snapshot)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.chain, c.last_id, e.hash, c.n FROM "
            "(SELECT chain, max(id) AS last_id, count(*) AS n FROM accounts_auditevent GROUP BY chain) AS c "
            "JOIN accounts_auditevent AS e ON e.id = c.last_id ORDER BY c.chain"
        )
        return [ChainHead(chain, last_id, hash_, count) for chain, last_id, hash_, count in cursor.fetchall()]


@dataclass(frozen=True)
class ChainBreak:
    event_id: int | None
    reason: str


@dataclass(frozen=True)
class AuditReport:
    """What `audit_verify_report` found: the links and the checkpoints are judged separately."""

    checked: int  # events whose links held, before the first that did not
    link_break: ChainBreak | None  # the first event whose link does not hold
    checkpoint_breaks: list[ChainBreak]  # per chain, the first place where the database contradicts a checkpoint

    def first_break(self) -> ChainBreak | None:
        return self.link_break or next(iter(self.checkpoint_breaks), None)


def audit_verify(*, checkpoints: Sequence[Checkpoint] = ()) -> tuple[int, ChainBreak | None]:
    """How many events were checked, and the first break (of a link, or else of a checkpoint), if any."""
    report = audit_verify_report(checkpoints=checkpoints)
    return report.checked, report.first_break()


def _link_problem(event: AuditEvent, previous: str, keys: dict[str, AuditKey], keyed: bool) -> str | None:
    """Why this event's link does not hold, or None. ``keyed``: its chain has had a keyed event before it."""
    if event.prev_hash != previous:
        return f"it does not point at the event before it in chain {event.chain} (an event was removed)"
    if not event.key_id:
        if keyed:
            return f"it is unkeyed (plain SHA-256) after keyed events in chain {event.chain}: a rewrite"
        if event.compute_hash() != event.hash:
            return "its contents no longer match its hash (it was edited)"
        return None
    key = keys.get(event.key_id)
    if key is None:
        return (
            f"it names audit key {event.key_id}, which is not configured (MEDSITE_AUDIT_KEY, MEDSITE_AUDIT_OLD_KEYS): "
            "forged, or an old key is missing"
        )
    if not hmac.compare_digest(event.compute_hash(key.secret), event.hash):
        return "its contents no longer match its HMAC (it was edited, or its chain recomputed without the audit key)"
    return None


def audit_verify_report(*, checkpoints: Sequence[Checkpoint] = ()) -> AuditReport:
    """Walk every chain in one pass in id order.

    Links: each must be the HMAC under the key its event names (or, for an event from before keys, the unkeyed
    SHA-256, never after a keyed event of its chain); the first that does not hold is reported. Checkpoints: each
    checkpointed head must still be there with the hash and the count the checkpoint recorded, and no chain may hold
    an unkeyed event newer than its head in the first checkpoint (every event since is keyed); for each chain the
    first contradiction is reported, whatever the links say (a chain relinked with a leaked key still shows here).
    """
    _, keys = audit_keys()
    expected: dict[int, list[tuple[str, ChainHead]]] = {}  # event id -> (label, head) of each distinct head
    for checkpoint in checkpoints:
        for head in checkpoint.heads:
            seen = expected.setdefault(head.last_id, [])
            if all(other != head for _, other in seen):
                seen.append((checkpoint.label, head))
    unkeyed_until = {head.chain: head.last_id for head in checkpoints[0].heads} if checkpoints else None
    last_hash: dict[int, str] = {}  # chain -> hash of its latest event so far
    keyed: set[int] = set()  # chains that have had a keyed event
    counts: dict[int, int] = {}
    checked, link_break = 0, None
    contradictions: dict[int, ChainBreak] = {}  # chain -> its first contradiction of a checkpoint

    def contradict(chain: int, event_id: int, reason: str) -> None:
        contradictions.setdefault(chain, ChainBreak(event_id, reason))

    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=2000):
        chain = event.chain
        if link_break is None:
            problem = _link_problem(event, last_hash.get(chain, GENESIS), keys, chain in keyed)
            if problem is None:
                checked += 1
            else:
                link_break = ChainBreak(event.pk, problem)
        if event.key_id:
            keyed.add(chain)
        elif unkeyed_until is not None and event.pk > unkeyed_until.get(chain, 0):
            contradict(
                chain,
                event.pk,
                f"it is unkeyed (plain SHA-256) but newer than chain {chain}'s head in the first checkpoint "
                f"({checkpoints[0].label}), after which every event is keyed: a rewrite",
            )
        last_hash[chain] = event.hash
        counts[chain] = counts.get(chain, 0) + 1
        for label, head in expected.pop(event.pk, ()):
            if (head.chain, head.hash) != (chain, event.hash):
                contradict(
                    head.chain,
                    event.pk,
                    f"the {label} recorded it as the head of chain {head.chain} with hash {head.hash}, "
                    f"but it is in chain {chain} with hash {event.hash} (the chain was rewritten)",
                )
            elif head.count != counts[chain]:
                contradict(
                    chain,
                    event.pk,
                    f"the {label} counted {head.count} events in chain {chain} up to it, the database "
                    f"holds {counts[chain]} (events were removed or inserted)",
                )
    for heads in sorted(expected.values(), key=lambda heads: heads[0][1].last_id):  # the oldest missing first
        label, head = heads[0]
        contradict(
            head.chain,
            head.last_id,
            f"it is missing: the {label} recorded it as the head of chain {head.chain} "
            f"({head.count} events), so that chain's newest events were removed",
        )
    return AuditReport(checked, link_break, [contradictions[chain] for chain in sorted(contradictions)])
