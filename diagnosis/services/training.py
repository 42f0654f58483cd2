"""Training and registering model bundles. Imports mlcore (and so TensorFlow): worker and CLI only."""

import csv
import dataclasses
import json
import logging
import shutil
import tempfile
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import AuditEvent, User
from diagnosis.models import LearningPolicy, ModelEvaluation, ModelVersion, RetrainingItem, TrainingRun
from diagnosis.services.learning import patient_key, training_run_send
from diagnosis.services.registry import model_activate, model_promote
from mlcore.bundle import Manifest, load_bundle, read_manifest, save_bundle
from mlcore.config import ModelConfig
from mlcore.data import Split, add_manifest, drop_duplicates_of, load_source
from mlcore.gate import holdout_metrics, promotion_gate
from mlcore.train import EpochProgress, train

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class HoldOut:
    """A task's fixed held-out set: the test split of its policy's holdout (or base) dataset."""

    split: Split
    sha256: str
    source: str


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
            operating_point=manifest.operating_point,
            calibration=manifest.calibration,
            scope=manifest.scope,
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
            transaction.on_commit(lambda: training_run_send(run.pk))
    return run


def training_run_execute(*, run_pk: int) -> TrainingRun | None:
    """Train a model for the run, save its bundle and register it.

    A plain run trains on its source and becomes active if the task has none. A retraining run trains the
    active version's recipe on the base dataset plus the retraining queue, registers the candidate, scores it
    and the active version on the task's fixed held-out set, and promotes it only where the task's policy
    says so and the gate passes.
    """
    claimed = TrainingRun.objects.filter(pk=run_pk, status=TrainingRun.Status.QUEUED).update(
        status=TrainingRun.Status.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        return None
    run = TrainingRun.objects.get(pk=run_pk)
    try:
        version = _retrain(run) if run.retrain else _train_from_source(run)
    except Exception as exc:
        logger.exception("Training run %s failed", run.pk)
        _log(run.pk, f"failed: {type(exc).__name__}: {exc}")
        TrainingRun.objects.filter(pk=run.pk).update(
            status=TrainingRun.Status.FAILED, error=f"{type(exc).__name__}: {exc}", finished_at=timezone.now()
        )
        raise
    TrainingRun.objects.filter(pk=run.pk).update(
        status=TrainingRun.Status.SUCCEEDED, model_version=version, finished_at=timezone.now()
    )
    run.refresh_from_db()
    return run


# Keys of a run's config that say how to read its source, not how to build the model (see mlcore.data.load_source).
DATA_OPTIONS = ("dedup_pool", "patient_pattern")


def _train_from_source(run: TrainingRun) -> ModelVersion:
    options = {key: run.config[key] for key in DATA_OPTIONS if key in run.config}
    fields = {key: value for key, value in run.config.items() if key not in DATA_OPTIONS}
    classes = tuple(fields.pop("classes", ())) or None
    data = load_source(Path(run.source), image_size=fields.get("image_size", 64), classes=classes, **options)
    image_size = fields.get("image_size") or int(data.train.images.shape[1])
    config = ModelConfig(task=run.task, classes=data.classes, **{**fields, "image_size": image_size})
    result = train(config, data, progress=lambda p: _training_progress(run.pk, p))
    ref = save_bundle(result, settings.MEDSITE_MODEL_ROOT)
    has_active = ModelVersion.objects.filter(task=run.task, status=ModelVersion.Status.ACTIVE).exists()
    return model_register(bundle_path=ref.path, registered_by=run.requested_by, activate=not has_active)


def _retrain(run: TrainingRun) -> ModelVersion:
    policy = LearningPolicy.objects.get(task=run.task)
    base_version = run.base_version
    if base_version is None:
        raise ValueError("the run has no base version whose recipe to reuse")
    recipe = read_manifest(settings.MEDSITE_MODEL_ROOT / base_version.bundle_sha256).config
    config = ModelConfig(**{**recipe, "classes": tuple(base_version.classes), "task": run.task})
    holdout = _holdout(policy, config.image_size, base_version.classes)
    base = load_source(Path(policy.base_dataset), image_size=config.image_size, classes=config.classes)
    if base.classes != config.classes:
        raise ValueError(
            f"the base dataset's classes {list(base.classes)} differ from the model's {list(config.classes)}"
        )
    _log(run.pk, f"base dataset: {len(base.train.labels)} train, {len(base.val.labels)} val images")
    with tempfile.TemporaryDirectory(prefix="medsite-retrain-") as folder:
        manifest, rows = _export_queue(run.task, Path(folder))
        TrainingRun.objects.filter(pk=run.pk).update(data_manifest=rows, config=dataclasses.asdict(config))
        data = add_manifest(base, manifest, seed=config.seed) if rows else dataclasses.replace(base, test=None)
    data, dropped = drop_duplicates_of(data, holdout.split.images)
    _log(run.pk, f"queue: {len(rows)} reviewed images; {dropped} dropped as copies of held-out images")
    TrainingRun.objects.filter(pk=run.pk).update(data_sha256=data.source_sha256)
    result = train(config, data, progress=lambda p: _training_progress(run.pk, p))
    ref = save_bundle(result, settings.MEDSITE_MODEL_ROOT)
    candidate = model_register(bundle_path=ref.path, registered_by=run.requested_by)
    _log(run.pk, f"candidate {candidate.short_sha} registered; threshold {result.threshold}")
    evaluation = model_evaluate(candidate=candidate, run=run)
    _log(run.pk, f"gate {'passed' if evaluation.gate_passed else 'refused'}: {' '.join(evaluation.gate_reasons)}")
    if policy.auto_promote and evaluation.gate_passed:
        model_promote(model_version=candidate, actor=None, reason="automatic promotion: the gate passed")
        _log(run.pk, f"candidate {candidate.short_sha} promoted automatically")
    return candidate


def _holdout(policy: LearningPolicy, image_size: int, classes: list[str]) -> HoldOut:
    source = Path(policy.holdout_dataset or policy.base_dataset)
    data = load_source(source, image_size=image_size, classes=tuple(classes))
    if data.test is None:
        raise ValueError(f"{source} has no test split to hold out")
    return HoldOut(split=data.test, sha256=data.source_sha256, source=str(source))


def _export_queue(task: str, folder: Path) -> tuple[Path, list[dict]]:
    """Write the task's usable queue items as PNGs plus a manifest CSV (path,label,patient_id,split)."""
    rows = []
    items = RetrainingItem.objects.filter(task=task).usable().select_related("image__study").order_by("pk")
    for item in items:
        name = f"{item.pk}.png"
        with item.image.display_file.open("rb") as src:
            (folder / name).write_bytes(src.read())
        key = item.patient_key or patient_key(item.image.study.patient_id)
        rows.append({"item": item.pk, "path": name, "label": item.label, "patient_id": key})
    manifest = folder / "manifest.csv"
    with manifest.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["path", "label", "patient_id", "split"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows({**row, "split": ""} for row in rows)
    return manifest, rows


def model_evaluate(*, candidate: ModelVersion, run: TrainingRun | None = None) -> ModelEvaluation:
    """Score the candidate and the task's active version on the policy's fixed held-out set, each at its own
    stored threshold, and record the gate's verdict. Audited."""
    policy = LearningPolicy.objects.get(task=candidate.task)
    active = ModelVersion.objects.filter(task=candidate.task, status=ModelVersion.Status.ACTIVE).first()
    holdout = _holdout(policy, candidate.image_size, candidate.classes)
    scores = {}
    for version in (candidate, active):
        if version is not None and version.pk not in scores:
            bundle = load_bundle(
                settings.MEDSITE_MODEL_ROOT / version.bundle_sha256, expected_sha256=version.bundle_sha256
            )
            scores[version.pk] = _plain(holdout_metrics(bundle, holdout.split, normal_class=version.normal_class))
    baseline = scores.get(active.pk) if active is not None and active != candidate else None
    gate = promotion_gate(scores[candidate.pk], baseline, tolerance=policy.gate_tolerance)
    evaluation = ModelEvaluation.objects.create(
        candidate=candidate,
        baseline=active if baseline is not None else None,
        training_run=run,
        holdout=holdout.source,
        holdout_sha256=holdout.sha256,
        holdout_size=len(holdout.split.labels),
        candidate_metrics=scores[candidate.pk],
        baseline_metrics=baseline,
        gate_passed=gate.passed,
        gate_reasons=list(gate.reasons),
        tolerance=policy.gate_tolerance,
    )
    audit_record(
        actor=None,
        action=AuditEvent.Action.EVALUATE,
        obj=candidate,
        detail={"evaluation": evaluation.pk, "gate_passed": gate.passed, "holdout_sha256": holdout.sha256},
    )
    return evaluation


def _plain(metrics: dict) -> dict:
    """JSON-safe copy (numpy scalars become floats)."""
    return json.loads(json.dumps(metrics, default=float))


def _log(run_pk: int, line: str) -> None:
    stamp = timezone.now().strftime("%H:%M:%S")
    TrainingRun.objects.filter(pk=run_pk).update(log=Concat(F("log"), Value(f"{stamp} {line}\n")))


def _training_progress(run_pk: int, progress: EpochProgress) -> None:
    TrainingRun.objects.filter(pk=run_pk).update(
        progress={
            "epoch": progress.epoch,
            "epochs": progress.epochs,
            "stage": progress.stage,
            "loss": round(progress.loss, 4),
            "val_loss": round(progress.val_loss, 4),
            "val_accuracy": round(progress.val_accuracy, 4),
        }
    )
    _log(
        run_pk,
        f"epoch {progress.epoch}/{progress.epochs}: loss {progress.loss:.4f}, val_loss {progress.val_loss:.4f}, "
        f"val_accuracy {progress.val_accuracy:.4f}",
    )
