"""Train a model from a MedMNIST .npz file or a class-per-folder tree, and register it."""

import dataclasses
import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from diagnosis.services.records import BRAIN, CHEST_XRAY
from diagnosis.services.training import DATA_OPTIONS, training_run_create, training_run_execute
from mlcore.config import BACKBONES, ModelConfig


class Command(BaseCommand):
    help = "Train and register a model. The first model of a task becomes active."

    def add_arguments(self, parser):
        parser.add_argument(
            "source",
            nargs="?",
            default=None,
            help="A .npz file (MedMNIST layout) or a folder of class sub-folders (default: the config's source, "
            "else MEDSITE_STARTER_DATASET)",
        )
        parser.add_argument(
            "--config",
            type=Path,
            help="A recipe from mlcore/configs (e.g. mlcore/configs/brain-mri.json): every setting of the run; "
            "its source is relative to the file",
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
        source: str | None,
        config: Path | None,
        task: str,
        image_size: int | None,
        epochs: int,
        background: bool,
        backbone: str,
        weights: str,
        **options,
    ):
        if config is not None:
            recipe, source, task = recipe_from_file(config, source)
        else:
            recipe = {"epochs": epochs, "backbone": backbone, "weights": weights}
            recipe |= {"image_size": image_size} if image_size else {}
        path = Path(source or settings.MEDSITE_STARTER_DATASET).expanduser().resolve()
        if not path.exists():
            raise CommandError(f"{path} does not exist")
        run = training_run_create(task=task, source=path, config=recipe, queue=background)
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


def recipe_from_file(path: Path, source: str | None) -> tuple[dict, str, str]:
    """(run config, source, task) of an mlcore config file: ModelConfig fields and data options; the source is
    the one given, else the file's, relative to the file's folder."""
    try:
        spec = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise CommandError(f"cannot read {path}: {exc}") from exc
    fields = {f.name for f in dataclasses.fields(ModelConfig)} - {"task"}
    recipe = {key: value for key, value in spec.items() if key in fields or key in DATA_OPTIONS}
    if source is None:
        if "source" not in spec:
            raise CommandError(f"{path} names no source; give one")
        source = str((Path(path).parent / spec["source"]).resolve())
    return recipe, source, spec.get("task", CHEST_XRAY)
