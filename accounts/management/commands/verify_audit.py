from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.audit import audit_verify_report
from accounts.audit_checkpoints import S3_PREFIX, checkpoint_read, checkpoint_read_s3
from accounts.models import AuditEvent


class Command(BaseCommand):
    help = (
        "Check the audit trail: every link (HMAC under the audit key), and every signed checkpoint of the chain "
        "heads in MEDSITE_AUDIT_CHECKPOINT_FILE. Exits non-zero on any break."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--checkpoints",
            metavar="PATH",
            help="Check against this checkpoint file (an off-host copy, an archived file) instead of "
            "MEDSITE_AUDIT_CHECKPOINT_FILE.",
        )
        parser.add_argument(
            "--checkpoints-s3",
            action="store_true",
            help="Check against the checkpoints in the Object Lock bucket (MEDSITE_AUDIT_CHECKPOINT_S3_BUCKET) "
            "instead of the file.",
        )
        parser.add_argument(
            "--require-checkpoints",
            action="store_true",
            help="Fail when there are events but no checkpoint file (without one, removing a chain's newest events "
            "goes unnoticed).",
        )

    def handle(self, *args, **options):
        if options["checkpoints_s3"]:
            if not settings.MEDSITE_AUDIT_CHECKPOINT_S3_BUCKET:
                raise CommandError("--checkpoints-s3 needs MEDSITE_AUDIT_CHECKPOINT_S3_BUCKET")
            path = f"s3://{settings.MEDSITE_AUDIT_CHECKPOINT_S3_BUCKET}/{S3_PREFIX}"
            found = checkpoint_read_s3()
        else:
            path = options["checkpoints"] or settings.MEDSITE_AUDIT_CHECKPOINT_FILE
            found = checkpoint_read(path=path)
        report = audit_verify_report(checkpoints=found.checkpoints)
        checked = report.checked
        problems = [f"Audit checkpoints {path}: {text}." for text in found.problems]
        problems += [
            f"Audit chain broken at event {problem.event_id}: {problem.reason}." for problem in report.checkpoint_breaks
        ]
        if report.link_break is not None:
            problems.insert(
                0,
                f"Audit chain broken at event {report.link_break.event_id}: {report.link_break.reason}. "
                f"{checked} earlier events are intact.",
            )
        if not found.exists and (checked or report.link_break) and options["require_checkpoints"]:
            problems.append(f"No audit checkpoints at {path}.")
        if problems:
            raise CommandError("\n".join(problems))
        if not found.exists:
            self.stderr.write(
                self.style.WARNING(
                    f"No audit checkpoints at {path}: removing a chain's newest events would go unnoticed."
                )
            )
        unkeyed = AuditEvent.objects.filter(key_id="").count()
        self.stdout.write(
            self.style.SUCCESS(
                f"Audit chain intact: {checked} events verified ({unkeyed} from before the keyed chain); "
                f"{len(found.checkpoints)} checkpoints match."
            )
        )
