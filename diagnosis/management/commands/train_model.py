"""Train a model from a MedMNIST .npz file or a class-per-folder tree, and register it."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from diagnosis.services.records import BRAIN, CHEST_XRAY
from diagnosis.services.training import training_run_create, training_run_execute
from mlcore.config import BACKBONES


class Command(BaseCommand):
    help = "Train and register a model. The first model of a task becomes active."

    def add_arguments(self, parser):
        parser.add_argument(
            "source",
            nargs="?",
            default=str(settings.MEDSITE_STARTER_DATASET),
            help="A .npz file (MedMNIST layout) or a folder of class sub-folders",
        )
        parser.add_argument("--task", default=CHEST_XRAY, choices=[CHEST_XRAY, BRAIN])
        parser.add_argument("--image-size", type=int, help="Model input side (default: native for .npz, 64 else)")
        parser.add_argument("--epochs", type=int, default=8)
        parser.add_argument("--backbone", default="compact", choices=BACKBONES, help="Network (keras.applications)")
        parser.add_argument("--weights", default="none", help='"none", "imagenet" (needs a network) or a local file')
        parser.add_argument("--background", action="store_true", help="Queue on the training queue and return")

    def handle(
        self,
        *args,
        source: str,
        task: str,
        image_size: int | None,
        epochs: int,
        background: bool,
        backbone: str,
        weights: str,
        **options,
    ):
        path = Path(source).expanduser().resolve()
        if not path.exists():
            raise CommandError(f"{path} does not exist")
        config = {"epochs": epochs, "backbone": backbone, "weights": weights}
        config |= {"image_size": image_size} if image_size else {}
        run = training_run_create(task=task, source=path, config=config, queue=background)
        if background:
            self.stdout.write(f"Training run {run.pk} queued on the training queue.")
            return
        self.stdout.write(f"Training run {run.pk}: {task} from {path} ...")
        run = training_run_execute(run_pk=run.pk)
        version = run.model_version
        self.stdout.write(
            self.style.SUCCESS(
                f"Registered {version.task} model {version.bundle_sha256[:12]} ({version.status}); "
                f"validation metrics: {version.metrics.get('val', {})}"
            )
        )
