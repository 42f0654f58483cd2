from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from diagnosis.services.training import model_register
from mlcore.bundle import BundleError


class Command(BaseCommand):
    help = "Register a model bundle directory (model.keras + manifest.json)."

    def add_arguments(self, parser):
        parser.add_argument("bundle", help="Path to the bundle directory")
        parser.add_argument("--activate", action="store_true", help="Make it the active model of its task")

    def handle(self, *args, bundle: str, activate: bool, **options):
        try:
            version = model_register(bundle_path=Path(bundle), activate=activate)
        except (BundleError, FileNotFoundError) as exc:
            raise CommandError(f"Not a valid bundle: {exc}") from None
        self.stdout.write(
            self.style.SUCCESS(f"Registered {version.task} model {version.bundle_sha256} ({version.status})")
        )
