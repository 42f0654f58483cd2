from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from diagnosis.services import registry
from diagnosis.services.records import TASK_ROUTES
from diagnosis.services.training import model_register
from mlcore.bundle import BundleError


class Command(BaseCommand):
    help = "Register a model bundle directory (model.keras + manifest.json) as a candidate, shadow or active version."

    def add_arguments(self, parser):
        parser.add_argument("bundle", help="Path to the bundle directory")
        parser.add_argument(
            "--task", help=f"Registry task to file it under (default: the manifest's); routed: {', '.join(TASK_ROUTES)}"
        )
        state = parser.add_mutually_exclusive_group()
        state.add_argument("--activate", action="store_true", help="Make it the active model of its task")
        state.add_argument("--shadow", action="store_true", help="Run it in shadow beside the active model")

    def handle(self, *args, bundle: str, task: str | None, activate: bool, shadow: bool, **options):
        try:
            version = model_register(bundle_path=Path(bundle), activate=activate, task=task)
        except (BundleError, FileNotFoundError) as exc:
            raise CommandError(f"Not a valid bundle: {exc}") from None
        if shadow:
            version = registry.model_set_shadow(model_version=version, actor=None)
        self.stdout.write(
            self.style.SUCCESS(f"Registered {version.task} model {version.bundle_sha256} ({version.status})")
        )
        if version.task not in TASK_ROUTES:
            self.stderr.write(
                self.style.WARNING(
                    f"No study is routed to task {version.task!r}, so this model will not read images; "
                    f"register it with --task {' or --task '.join(TASK_ROUTES)} to use it."
                )
            )
