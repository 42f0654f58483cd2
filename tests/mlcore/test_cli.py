"""End-to-end tests of `python -m mlcore` on a tiny .npz (subprocesses: TensorFlow loads in each)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mlcore.__main__ import _config_and_data, _read_config, main
from mlcore.data import Split

REPO_ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, "-m", "mlcore", *args], capture_output=True, text=True, cwd=REPO_ROOT, env=env, timeout=300
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, make_toy_split: Callable[..., Split]) -> Path:
    root = tmp_path_factory.mktemp("cli")
    splits = {"train": make_toy_split(10, 10, seed=21), "val": make_toy_split(5, 5, seed=22)}
    splits["test"] = make_toy_split(5, 5, seed=23)
    splits["test"].images[0] = splits["train"].images[0]  # planted leak: reported, not fatal
    arrays = {f"{n}_{k}": getattr(s, k) for n, s in splits.items() for k in ("images", "labels")}
    np.savez(root / "tiny.npz", **arrays)
    config = {"source": "tiny.npz", "out": str(root / "bundles"), "task": "tiny", "image_size": 16,
              "epochs": 1, "batch_size": 16, "seed": 0}  # fmt: skip
    (root / "tiny.json").write_text(json.dumps(config))
    Image.fromarray(splits["test"].images[3]).save(root / "x.png")
    return root


def test_cli_train_predict_evaluate(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # train and evaluate run in-process (TensorFlow is loaded already: keeps the suite fast);
    # predict runs as `python -m mlcore` in a fresh interpreter, the way an operator calls it.
    assert main(["train", str(project / "tiny.json")]) == 0
    out = capsys.readouterr().out
    assert "leakage check: DUPLICATES" in out and "train-test: 1 exact pairs" in out and "val: n=10" in out
    bundle = Path(out.split("bundle: ")[1].splitlines()[0])
    assert bundle.is_dir() and (bundle / "manifest.json").is_file()

    predicted = _run("predict", str(bundle), str(project / "x.png"))
    assert predicted.returncode == 0, predicted.stderr
    line = predicted.stdout.strip().splitlines()[-1].split("\t")
    assert line[0].endswith("x.png") and line[1] in ("class_0", "class_1") and "class_1=" in line[2]

    out_dir = project / "report"
    args = ["evaluate", str(bundle), str(project / "tiny.npz"), "--out", str(out_dir), "--bootstrap", "50"]
    assert main(args) == 0
    assert "test: n=10" in capsys.readouterr().out
    report = json.loads((out_dir / "report.json").read_text())
    assert report["metrics"]["n"] == 10 and report["metrics"]["bootstrap_ci"]["n_resamples"] == 50
    assert report["metrics"]["bundle_sha256"] == bundle.name
    assert (out_dir / "roc.png").is_file() and (out_dir / "confusion_matrix.png").is_file()

    # strict mode fails before evaluating
    strict = ["evaluate", str(bundle), str(project / "tiny.npz"), "--out", str(project / "r2"), "--strict-leakage"]
    assert main(strict) == 3
    assert not (project / "r2").exists()


def test_cli_cv_and_tune_print_tables(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """CLI wiring only: the searches are stubbed (they are tested in test_tuning)."""
    import mlcore.tuning as tuning

    cv = tuning.CVResult(None, [{"fold": 0, "n_train": 20, "n_val": 10, "roc_auc": 0.75, "accuracy": 0.7}],  # type: ignore[arg-type]
                         {"roc_auc": 0.75, "accuracy": 0.7}, {"roc_auc": 0.0, "accuracy": 0.0})  # fmt: skip
    monkeypatch.setattr(tuning, "cross_validate", lambda cfg, data, *, k, seed: cv)
    config = str(project / "tiny.json")
    assert main(["cv", config, "--k", "2"]) == 0
    out = capsys.readouterr().out
    assert "leakage check: DUPLICATES" in out and "mean" in out and "0.7500" in out

    seen = {}

    def fake_grid(cfg, data, grid, *, k, seed):  # type: ignore[no-untyped-def]
        seen.update(grid=grid, k=k, classes=cfg.classes)
        trial = tuning.Trial({"dropout": 0.4}, 0.8, {"roc_auc": 0.8, "accuracy": 0.75})
        return tuning.SearchResult("roc_auc", [trial], {"dropout": 0.4}, cfg)

    monkeypatch.setattr(tuning, "grid_search", fake_grid)
    assert main(["tune", config, "--grid", '{"dropout": [0.0, 0.4]}', "--k", "2"]) == 0
    assert seen == {"grid": {"dropout": [0.0, 0.4]}, "k": 2, "classes": ("class_0", "class_1")}
    out = capsys.readouterr().out
    assert "rank" in out and 'best (roc_auc): {"dropout": 0.4}' in out
    assert main(["tune", config, "--grid", "[1, 2]"]) == 2
    assert main(["cv", str(project / "missing.json")]) == 2


@pytest.mark.parametrize("path", sorted((Path(__file__).parents[2] / "mlcore" / "configs").glob("*.json")), ids=str)
def test_the_shipped_example_configs_are_valid(path: Path) -> None:
    import dataclasses

    from mlcore.__main__ import EXTRA_KEYS, _read_config
    from mlcore.config import ModelConfig

    spec = _read_config(path)
    names = {f.name for f in dataclasses.fields(ModelConfig)}
    assert set(spec) - names - set(EXTRA_KEYS) - {"_path"} == set()
    ModelConfig(**{k: v for k, v in spec.items() if k in names})  # raises on a bad value
    # The data set is named relative to the config file (the shared datasets beside the checkout), not one machine.
    assert not Path(json.loads(path.read_text())["source"]).is_absolute()


def test_a_config_can_drop_test_copies_of_training_images(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = {**json.loads((project / "tiny.json").read_text()), "drop_test_copies": True}
    (project / "dropping.json").write_text(json.dumps(spec))
    no_overrides = argparse.Namespace(epochs=None)
    _, plain = _config_and_data(_read_config(project / "tiny.json"), no_overrides, project / "tiny.npz")
    _, dropped = _config_and_data(_read_config(project / "dropping.json"), no_overrides, project / "tiny.npz")
    assert len(plain.test.labels) == 10 and len(dropped.test.labels) == 9  # the planted leak is gone
    assert "1 test images identical to training or validation images dropped from test" in capsys.readouterr().out
    assert dropped.source_sha256 == plain.source_sha256
