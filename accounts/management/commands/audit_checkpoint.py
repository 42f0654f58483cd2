from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.audit_checkpoints import CheckpointNotShipped, checkpoint_write


class Command(BaseCommand):
    help = (
        "Append a signed checkpoint of every audit chain's head to MEDSITE_AUDIT_CHECKPOINT_FILE (and to the Object "
        "Lock bucket MEDSITE_AUDIT_CHECKPOINT_S3_BUCKET, where set)."
    )

    def handle(self, *args, **options):
        try:
            record = checkpoint_write()
        except CheckpointNotShipped as exc:
            raise CommandError(str(exc)) from exc
        events = sum(chain["count"] for chain in record["chains"])
        self.stdout.write(
            self.style.SUCCESS(
                f"Checkpoint of {len(record['chains'])} chains ({events} events) appended to "
                f"{settings.MEDSITE_AUDIT_CHECKPOINT_FILE}."
            )
        )
