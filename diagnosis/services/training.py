"""Training and registering model bundles. Imports mlcore (and so TensorFlow): worker and CLI only."""

import dataclasses
import logging
import shutil
from pathlib import Path

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import AuditEvent, User
from diagnosis.models import ModelVersion, TrainingRun
from diagnosis.services.registry import model_activate
from mlcore.bundle import Manifest, load_bundle, read_manifest, save_bundle
from mlcore.config import ModelConfig
from mlcore.data import load_source
from mlcore.train import EpochProgress, train

logger = logging.getLogger(__name__)
TRAINING_TASK = "diagnosis.tasks.train_model_task"


def model_register(
    *, bundle_path: Path, registered_by: User | None = None, activate: bool = False, task: str | None = None
) -> ModelVersion:
    """Register a bundle directory: copy it into the model root (immutable, by sha256) and add a row.

    task: the registry task to file it under (default: the manifest's), e.g. when a bundle was trained under
    another name. The slow part (loading the model to verify it, copying files) happens before the transaction.
    """
    bundle_path = Path(bundle_path)
    manifest = read_manifest(bundle_path)
    if task:
        manifest = dataclasses.replace(manifest, task=task)
    sha256 = load_bundle(bundle_path).ref.sha256  # verifies the files against the manifest
    target = settings.MEDSITE_MODEL_ROOT / sha256
    if not target.exists():
        settings.MEDSITE_MODEL_ROOT.mkdir(parents=True, exist_ok=True)
        shutil.copytree(bundle_path, target)
    with transaction.atomic():
        return _model_version_record(sha256, manifest, registered_by=registered_by, activate=activate)


def _model_version_record(
    sha256: str, manifest: Manifest, *, registered_by: User | None, activate: bool
) -> ModelVersion:
    version, created = ModelVersion.objects.get_or_create(
        bundle_sha256=sha256,
        defaults=dict(
            task=manifest.task,
            classes=list(manifest.classes),
            image_size=manifest.image_size,
            threshold=manifest.threshold,
            positive_class=manifest.positive_class or "",
            metrics=manifest.metrics,
            backbone=manifest.backbone,
            data_sha256=manifest.data_sha256,
            registered_by=registered_by,
        ),
    )
    if created:
        audit_record(actor=registered_by, action=AuditEvent.Action.CREATE, obj=version)
    if activate:
        model_activate(model_version=version, actor=registered_by)
    return version


def training_run_create(
    *, task: str, source: Path, config: dict | None = None, requested_by: User | None = None, queue: bool = True
) -> TrainingRun:
    """Record a training run; with ``queue`` it runs on the training queue once committed."""
    with transaction.atomic():
        run = TrainingRun.objects.create(task=task, source=str(source), config=config or {}, requested_by=requested_by)
        if queue:
            transaction.on_commit(lambda: current_app.send_task(TRAINING_TASK, kwargs={"run_pk": run.pk}))
    return run


def training_run_execute(*, run_pk: int) -> TrainingRun | None:
    """Train a model for the run, save its bundle and register it (active if the task has none)."""
    claimed = TrainingRun.objects.filter(pk=run_pk, status=TrainingRun.Status.QUEUED).update(
        status=TrainingRun.Status.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        return None
    run = TrainingRun.objects.get(pk=run_pk)
    try:
        data = load_source(Path(run.source), image_size=run.config.get("image_size", 64))
        image_size = run.config.get("image_size") or int(data.train.images.shape[1])
        config = ModelConfig(task=run.task, classes=data.classes, **{**run.config, "image_size": image_size})
        result = train(config, data, progress=lambda p: _training_progress(run.pk, p))
        ref = save_bundle(result, settings.MEDSITE_MODEL_ROOT)
        has_active = ModelVersion.objects.filter(task=run.task, status=ModelVersion.Status.ACTIVE).exists()
        version = model_register(bundle_path=ref.path, registered_by=run.requested_by, activate=not has_active)
    except Exception as exc:
        logger.exception("Training run %s failed", run.pk)
        TrainingRun.objects.filter(pk=run.pk).update(
            status=TrainingRun.Status.FAILED, error=f"{type(exc).__name__}: {exc}", finished_at=timezone.now()
        )
        raise
    TrainingRun.objects.filter(pk=run.pk).update(
        status=TrainingRun.Status.SUCCEEDED, model_version=version, finished_at=timezone.now()
    )
    run.refresh_from_db()
    return run


def _training_progress(run_pk: int, progress: EpochProgress) -> None:
    TrainingRun.objects.filter(pk=run_pk).update(
        progress={
            "epoch": progress.epoch,
            "epochs": progress.epochs,
            "loss": round(progress.loss, 4),
            "val_loss": round(progress.val_loss, 4),
            "val_accuracy": round(progress.val_accuracy, 4),
        }
    )
