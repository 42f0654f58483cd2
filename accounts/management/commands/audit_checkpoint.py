from django.conf import settings
from django.core.management.base import BaseCommand

from accounts.audit_checkpoints import checkpoint_write


class Command(BaseCommand):
    help = "Append a signed checkpoint of every audit chain's head to MEDSITE_AUDIT_CHECKPOINT_FILE."

    def handle(self, *args, **options):
        record = checkpoint_write()
        events = sum(chain["count"] for chain in record["chains"])
        self.stdout.write(
            self.style.SUCCESS(
                f"Checkpoint of {len(record['chains'])} chains ({events} events) appended to "
                f"{settings.MEDSITE_AUDIT_CHECKPOINT_FILE}."
            )
        )
