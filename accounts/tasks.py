"""Celery tasks of the accounts app: short, no arguments beyond keyword-only primary keys."""

from celery import shared_task

from accounts.audit_checkpoints import checkpoint_write


@shared_task
def audit_checkpoint_task() -> None:
    """Append a signed checkpoint of the audit chains' heads (Celery beat, every MEDSITE_AUDIT_CHECKPOINT_SECONDS)."""
    checkpoint_write()
