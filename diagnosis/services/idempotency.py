"""Idempotent creates: the first answer to a POST with an `Idempotency-Key` is kept 24 hours and given again to a
retry with the same key from the same user (see diagnosis.api.base.idempotent, and docs/api.md)."""

import enum
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from diagnosis.models import IdempotencyRecord

KEPT_FOR = timedelta(hours=24)


class Claim(enum.Enum):
    NEW = "new"  # this request is the first: run it, then idempotency_complete
    REPLAY = "replay"  # answered before: give record's answer again
    IN_PROGRESS = "in_progress"  # the first is still running
    MISMATCH = "mismatch"  # the key was used for another request (method, path or body)


@dataclass(frozen=True)
class Claimed:
    outcome: Claim
    record: IdempotencyRecord | None


def idempotency_claim(*, user: User, key: str, method: str, path: str, request_hash: str) -> Claimed:
    """Take the key for this request, or find who has it. The row is committed before the request runs (its own
    transaction), so a concurrent retry meets the unique constraint and is told IN_PROGRESS rather than creating."""
    IdempotencyRecord.objects.filter(user=user, key=key, created_at__lt=timezone.now() - KEPT_FOR).delete()
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(
                user=user, key=key, method=method, path=path[:500], request_hash=request_hash
            )
        return Claimed(Claim.NEW, record)
    except IntegrityError:
        pass
    record = IdempotencyRecord.objects.filter(user=user, key=key).first()
    if record is None:  # the first request failed and let the key go in between: the client may simply retry
        return Claimed(Claim.IN_PROGRESS, None)
    if record.request_hash != request_hash:
        return Claimed(Claim.MISMATCH, record)
    if record.status is None:
        return Claimed(Claim.IN_PROGRESS, record)
    return Claimed(Claim.REPLAY, record)


def idempotency_complete(*, record: IdempotencyRecord, status: int, body, headers: dict[str, str]) -> None:
    """Keep the answer the first request got."""
    IdempotencyRecord.objects.filter(pk=record.pk).update(status=status, body=body, headers=headers)


def idempotency_release(*, record: IdempotencyRecord) -> None:
    """The first request raised (its error answer depends on nothing stored): a retry runs it again."""
    IdempotencyRecord.objects.filter(pk=record.pk, status=None).delete()


def idempotency_records_purge(*, now=None) -> int:
    """Delete answers older than 24 hours (Celery beat, with the other sweeps)."""
    now = now or timezone.now()
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=now - KEPT_FOR).delete()
    return deleted
