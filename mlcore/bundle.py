"""Immutable model bundles: root/<sha256>/{model.keras, manifest.json}, addressed by the manifest's sha256."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import keras

from mlcore import __version__
from mlcore.data import sha256_file
from mlcore.scope import SCOPE_FILE, Scope
from mlcore.train import TrainResult

MODEL_FILE = "model.keras"
MANIFEST_FILE = "manifest.json"
# Fields that bundles written before them lack; they read as None.
OPTIONAL_FIELDS = frozenset({"scope", "calibration", "operating_point"})


class BundleError(Exception):
    """A bundle is missing, malformed or does not match its hashes."""


@dataclass(frozen=True)
class Manifest:
    """What a bundle's model is and how it was made."""

    task: str
    classes: tuple[str, ...]
    image_size: int
    backbone: str
    mean: float
    std: float
    threshold: float | None
    positive_class: str | None
    metrics: dict[str, Any]
    data_sha256: str
    code_version: str
    created_at: str  # ISO 8601, UTC
    model_sha256: str
    config: dict[str, Any]  # the whole ModelConfig (weights, fine-tuning, seed...), to reproduce the run
    # The input domain (mlcore.scope.Scope.manifest_entry): images outside it get no label. None: no check.
    scope: dict[str, Any] | None = None
    # How the probabilities were calibrated on validation, e.g. {"method": "temperature", "temperature": 1.7}.
    calibration: dict[str, Any] | None = None
    # How the threshold was chosen, e.g. {"rule": "sensitivity", "target": 0.95, "split": "val"}.
    operating_point: dict[str, Any] | None = None

    def to_json(self) -> str:
        """Canonical JSON: sorted keys, two-space indent."""
        return json.dumps(asdict(self), sort_keys=True, indent=2)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """Parse to_json() output; BundleError on anything else."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BundleError(f"manifest is not valid JSON: {exc}") from exc
        expected = {f.name for f in fields(cls)}
        if not isinstance(data, dict) or not expected - OPTIONAL_FIELDS <= set(data) <= expected:
            got = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise BundleError(f"manifest fields {got} differ from {sorted(expected)}")
        return cls(**{**data, "classes": tuple(data["classes"])})


@dataclass(frozen=True)
class BundleRef:
    """Where a saved bundle lives; path is root/<sha256>."""

    sha256: str
    path: Path


@dataclass(frozen=True, eq=False)
class Bundle:
    """A verified bundle with its loaded model."""

    ref: BundleRef
    manifest: Manifest
    model: keras.Model
    scope: Scope | None = None


def save_bundle(result: TrainResult, root: Path | str) -> BundleRef:
    """Write result as root/<sha256 of manifest.json>/; an existing bundle with that hash is kept as is."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-bundle-", dir=root))
    try:
        result.model.save(tmp / MODEL_FILE)
        cfg = result.config
        scope = None
        if result.scope is not None:
            npz_sha = None
            if result.scope.has_features:
                (tmp / SCOPE_FILE).write_bytes(result.scope.arrays_npz())
                npz_sha = sha256_file(tmp / SCOPE_FILE)
            scope = result.scope.manifest_entry(npz_sha)
        binary = len(cfg.classes) == 2
        manifest = Manifest(
            task=cfg.task,
            classes=tuple(cfg.classes),
            image_size=cfg.image_size,
            backbone=cfg.backbone,
            mean=float(result.mean),
            std=float(result.std),
            threshold=result.threshold,
            positive_class=cfg.classes[1] if binary else None,
            metrics=result.metrics,
            data_sha256=result.data_sha256,
            code_version=__version__,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            model_sha256=sha256_file(tmp / MODEL_FILE),
            config=json.loads(json.dumps(asdict(cfg))),
            scope=scope,
            calibration=result.calibration,
            operating_point=result.operating_point,
        )
        payload = manifest.to_json().encode("utf-8")
        (tmp / MANIFEST_FILE).write_bytes(payload)
        sha = hashlib.sha256(payload).hexdigest()
        final = root / sha
        if not final.exists():
            try:
                os.rename(tmp, final)
            except OSError:
                if not final.exists():  # not a concurrent save of the same bundle
                    raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone already when the rename succeeded
    return BundleRef(sha256=sha, path=final)


def read_manifest(path: Path | str) -> Manifest:
    """Read and verify a bundle directory's manifest (its sha256 must be the directory name); no Keras load."""
    path = Path(path)
    try:
        payload = (path / MANIFEST_FILE).read_bytes()
    except OSError as exc:
        raise BundleError(f"cannot read {path / MANIFEST_FILE}: {exc}") from exc
    actual = hashlib.sha256(payload).hexdigest()
    if actual != path.name:
        raise BundleError(f"manifest sha256 {actual} does not match bundle directory {path.name}")
    try:
        return Manifest.from_json(payload.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise BundleError(f"manifest is not UTF-8: {exc}") from exc


def load_bundle(path: Path | str, *, expected_sha256: str | None = None) -> Bundle:
    """Verify hashes (directory name, expected_sha256, model file) and load the model for inference."""
    path = Path(path)
    if expected_sha256 is not None and expected_sha256.lower() != path.name:
        raise BundleError(f"bundle {path.name} is not the expected {expected_sha256}")
    manifest = read_manifest(path)
    model_path = path / MODEL_FILE
    try:
        model_sha = sha256_file(model_path)
    except OSError as exc:
        raise BundleError(f"cannot read {model_path}: {exc}") from exc
    if model_sha != manifest.model_sha256:
        raise BundleError(f"{MODEL_FILE} sha256 {model_sha} does not match the manifest's {manifest.model_sha256}")
    try:
        model = keras.saving.load_model(model_path, compile=False)
    except Exception as exc:  # Keras raises many types for a corrupt archive
        raise BundleError(f"cannot load {model_path}: {exc}") from exc
    if model.output_shape[-1] != len(manifest.classes):
        raise BundleError(f"model has {model.output_shape[-1]} outputs for {len(manifest.classes)} classes")
    scope = _load_scope(path, manifest.scope) if manifest.scope is not None else None
    return Bundle(ref=BundleRef(sha256=path.name, path=path), manifest=manifest, model=model, scope=scope)


def _load_scope(path: Path, entry: dict[str, Any]) -> Scope:
    """The bundle's Scope, its scope.npz verified against the manifest's sha256."""
    npz = None
    if entry.get("file"):
        try:
            npz = (path / SCOPE_FILE).read_bytes()
        except OSError as exc:
            raise BundleError(f"cannot read {path / SCOPE_FILE}: {exc}") from exc
        if hashlib.sha256(npz).hexdigest() != entry.get("file_sha256"):
            raise BundleError(f"{SCOPE_FILE} does not match the manifest's sha256")
    try:
        return Scope.from_manifest(entry, npz)
    except (KeyError, TypeError, ValueError, OSError) as exc:
        raise BundleError(f"the manifest's scope is malformed: {exc}") from exc
