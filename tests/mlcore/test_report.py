"""Tests for mlcore.report: report.json and PNG plots."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mlcore.evaluate import evaluate
from mlcore.report import write_report


@pytest.mark.parametrize("classes", [("normal", "pneumonia"), ("a", "b", "c")])
def test_write_report_writes_json_and_pngs(tmp_path: Path, classes: tuple[str, ...]) -> None:
    rng = np.random.default_rng(0)
    labels = np.arange(12) % len(classes)
    probs = rng.dirichlet(np.ones(len(classes)), size=12)
    metrics = evaluate(probs, labels, classes)
    paths = write_report(metrics, probs, labels, classes, tmp_path / "out")
    payload = json.loads(paths["json"].read_text())
    assert payload["classes"] == list(classes) and payload["metrics"]["n"] == 12
    assert payload["metrics"]["confusion_matrix"] == metrics["confusion_matrix"]
    for key in ("roc", "confusion"):
        assert paths[key].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(paths[key]) as img:
            assert img.format == "PNG" and min(img.size) >= 200


def test_write_report_rejects_mismatched_shapes(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_report({}, np.zeros((3, 2)), np.zeros(4), ("a", "b"), tmp_path)
