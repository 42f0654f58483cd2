"""Tests for mlcore.bundle: immutable, sha256-addressed model bundles."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path

import keras
import numpy as np
import pytest

import mlcore
from mlcore.bundle import BundleError, Manifest, load_bundle, read_manifest, save_bundle
from mlcore.train import TrainResult


@pytest.fixture
def saved(toy_result: TrainResult, tmp_path: Path) -> Path:
    return save_bundle(toy_result, tmp_path / "bundles").path


def test_save_bundle_is_addressed_by_manifest_sha256(saved: Path, toy_result: TrainResult) -> None:
    payload = (saved / "manifest.json").read_bytes()
    assert saved.name == hashlib.sha256(payload).hexdigest()
    assert sorted(p.name for p in saved.iterdir()) == ["manifest.json", "model.keras"]
    assert [p.name for p in saved.parent.iterdir()] == [saved.name]  # no temp dir left behind
    manifest = read_manifest(saved)
    assert manifest.model_sha256 == hashlib.sha256((saved / "model.keras").read_bytes()).hexdigest()
    assert manifest.classes == ("normal", "pneumonia") and manifest.positive_class == "pneumonia"
    assert manifest.threshold == toy_result.threshold and manifest.image_size == 16
    assert (manifest.mean, manifest.std) == (toy_result.mean, toy_result.std)
    assert manifest.code_version == mlcore.__version__
    assert manifest.metrics == toy_result.metrics
    assert manifest.config["seed"] == toy_result.config.seed and manifest.config["weights"] == "none"
    assert manifest.config["classes"] == ["normal", "pneumonia"]
    assert datetime.fromisoformat(manifest.created_at).utcoffset().total_seconds() == 0
    assert payload.decode() == manifest.to_json()


def test_bundle_round_trip_predicts_the_same(saved: Path, toy_result: TrainResult) -> None:
    bundle = load_bundle(saved, expected_sha256=saved.name)
    assert bundle.ref.sha256 == saved.name and bundle.ref.path == saved
    assert bundle.manifest == read_manifest(saved)
    x = np.random.default_rng(0).uniform(0, 255, size=(3, 24, 24, 1)).astype(np.float32)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(bundle.model(x, training=False)),
        keras.ops.convert_to_numpy(toy_result.model(x, training=False)),
        rtol=1e-5,
        atol=1e-6,
    )


def test_saving_again_keeps_existing_bundles(saved: Path, toy_result: TrainResult) -> None:
    before = (saved / "manifest.json").read_bytes()
    again = save_bundle(toy_result, saved.parent)
    assert (saved / "manifest.json").read_bytes() == before
    assert sorted(p.name for p in saved.parent.iterdir()) == sorted({saved.name, again.sha256})


def test_tampered_model_is_rejected(saved: Path) -> None:
    with (saved / "model.keras").open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(BundleError, match="model.keras"):
        load_bundle(saved)


def test_tampered_manifest_is_rejected(saved: Path) -> None:
    data = json.loads((saved / "manifest.json").read_text())
    data["threshold"] = 0.0
    (saved / "manifest.json").write_text(json.dumps(data, sort_keys=True, indent=2))
    with pytest.raises(BundleError, match="manifest sha256"):
        load_bundle(saved)
    with pytest.raises(BundleError):
        read_manifest(saved)


def test_expected_sha256_mismatch_is_rejected(saved: Path) -> None:
    with pytest.raises(BundleError, match="expected"):
        load_bundle(saved, expected_sha256="f" * 64)


def test_missing_bundle_and_bad_manifest_json(tmp_path: Path) -> None:
    with pytest.raises(BundleError):
        load_bundle(tmp_path / ("a" * 64))
    with pytest.raises(BundleError):
        Manifest.from_json("[1, 2]")
    with pytest.raises(BundleError):
        Manifest.from_json('{"task": "x"}')
    with pytest.raises(BundleError):
        Manifest.from_json("{not json")
