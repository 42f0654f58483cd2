from django.core.management.base import BaseCommand, CommandError

from accounts.audit import audit_verify


class Command(BaseCommand):
    help = "Check the audit trail's hash chain and report the first broken link."

    def handle(self, *args, **options):
        checked, problem = audit_verify()
        if problem is not None:
            raise CommandError(
                f"Audit chain broken at event {problem.event_id}: {problem.reason}. "
                f"{checked} earlier events are intact."
            )
        self.stdout.write(self.style.SUCCESS(f"Audit chain intact: {checked} events verified."))
