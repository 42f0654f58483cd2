"""Tests for mlcore.gate: the promotion gate and held-out metrics of a tiny trained bundle, with the
operating point they judge (mlcore.evaluate.operating_point) on hand-computed confusion matrices."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlcore.bundle import load_bundle, save_bundle
from mlcore.data import Dataset, Split
from mlcore.evaluate import evaluate, operating_point
from mlcore.gate import holdout_metrics, promotion_gate
from mlcore.train import TrainResult

BINARY = ("normal", "pneumonia")
BRAIN = ("glioma", "meningioma", "no_tumor", "pituitary")
# Rows: truth, columns: prediction.
BRAIN_CM = np.array(
    [
        [8, 1, 1, 0],  # glioma: 1 called no tumour
        [2, 5, 2, 1],  # meningioma: 2 called no tumour
        [1, 0, 16, 3],  # no tumour: 16 right, 4 false findings
        [0, 0, 0, 10],  # pituitary: none missed
    ]
)


def _metrics(auc: float | None, sensitivity: float | None) -> dict:
    return {"roc_auc": auc, "operating": {"sensitivity": sensitivity, "specificity": 0.8, "kind": "binary"}}


def test_operating_point_binary_is_for_the_second_class() -> None:
    point = operating_point(np.array([[50, 10], [5, 35]]), BINARY, None)
    assert point == {"sensitivity": 35 / 40, "specificity": 50 / 60, "kind": "binary"}
    assert operating_point(np.array([[50, 10], [5, 35]]), BINARY, "normal") == point


def test_operating_point_binary_with_normal_class_second_detects_the_first() -> None:
    # A folder tree sorts "abnormal" before "normal": the finding is classes[0].
    point = operating_point(np.array([[30, 10], [4, 56]]), ("abnormal", "normal"), "normal")
    assert point == {"sensitivity": 30 / 40, "specificity": 56 / 60, "kind": "binary"}


def test_operating_point_multiclass_with_normal_class_is_finding_vs_no_finding() -> None:
    point = operating_point(BRAIN_CM, BRAIN, "no_tumor")
    # Abnormal rows hold 30 images; 3 of them were called no tumour. A glioma called meningioma is detected.
    assert point["sensitivity"] == pytest.approx(27 / 30)
    assert point["specificity"] == pytest.approx(16 / 20)
    assert point["kind"] == "finding"


def test_operating_point_multiclass_without_normal_class_is_macro_recall() -> None:
    point = operating_point(BRAIN_CM, BRAIN, None)
    assert point["sensitivity"] == pytest.approx((0.8 + 0.5 + 0.8 + 1.0) / 4)
    assert point["specificity"] is None and point["kind"] == "macro"
    absent = BRAIN_CM.copy()
    absent[3] = 0  # no pituitary image in the set: its recall is undefined and left out
    assert operating_point(absent, BRAIN, None)["sensitivity"] == pytest.approx((0.8 + 0.5 + 0.8) / 3)


def test_operating_point_undefined_without_positives_or_negatives() -> None:
    assert operating_point(np.array([[10, 2], [0, 0]]), BINARY, None)["sensitivity"] is None
    assert operating_point(np.array([[0, 0], [3, 7]]), BINARY, None)["specificity"] is None
    assert operating_point(np.zeros((4, 4), int), BRAIN, None)["sensitivity"] is None


def test_operating_point_refuses_an_unknown_normal_class() -> None:
    with pytest.raises(ValueError, match="Normal"):
        operating_point(BRAIN_CM, BRAIN, "Normal")


def test_promotion_gate_passes_when_not_worse_on_both() -> None:
    result = promotion_gate(_metrics(0.95, 0.90), _metrics(0.94, 0.90))
    assert result.passed
    assert len(result.reasons) == 2 and all("not worse" in r for r in result.reasons)


def test_promotion_gate_fails_on_worse_auc() -> None:
    result = promotion_gate(_metrics(0.93, 0.95), _metrics(0.94, 0.90))
    assert not result.passed
    assert "ROC AUC is worse: 0.930 against 0.940" in result.reasons[0]
    assert "not worse" in result.reasons[1]


def test_promotion_gate_fails_on_worse_sensitivity() -> None:
    result = promotion_gate(_metrics(0.97, 0.89), _metrics(0.94, 0.90))
    assert not result.passed
    assert "not worse" in result.reasons[0]
    assert "sensitivity at the operating point is worse: 0.890 against 0.900" in result.reasons[1]


def test_promotion_gate_fails_on_an_undefined_metric() -> None:
    for candidate, active in (
        (_metrics(None, 0.9), _metrics(0.9, 0.9)),
        (_metrics(0.9, 0.9), _metrics(0.9, None)),
    ):
        result = promotion_gate(candidate, active)
        assert not result.passed and any("undefined" in r for r in result.reasons)


def test_promotion_gate_passes_without_an_active_model() -> None:
    result = promotion_gate(_metrics(0.6, 0.5), None)
    assert result.passed and "no active model" in result.reasons[0]


def test_promotion_gate_tolerance() -> None:
    candidate, active = _metrics(0.935, 0.89), _metrics(0.94, 0.90)
    assert not promotion_gate(candidate, active).passed
    assert promotion_gate(candidate, active, tolerance=0.011).passed
    assert not promotion_gate(candidate, active, tolerance=0.009).passed  # sensitivity is 0.010 worse


@pytest.fixture(scope="module")
def toy_bundle(toy_result: TrainResult, tmp_path_factory: pytest.TempPathFactory):
    return load_bundle(save_bundle(toy_result, tmp_path_factory.mktemp("bundles")).path)


def test_holdout_metrics_scores_the_bundle_at_its_stored_threshold(toy_bundle, toy_dataset: Dataset) -> None:
    holdout = toy_dataset.test
    metrics = holdout_metrics(toy_bundle, holdout, normal_class="normal")
    threshold = toy_bundle.manifest.threshold
    assert threshold is not None and metrics["threshold"] == threshold
    probs = np.asarray(toy_bundle.model.predict(holdout.images.astype(np.float32)[..., None], verbose=0))
    expected = evaluate(probs, holdout.labels, BINARY, threshold=threshold)
    assert metrics["n"] == len(holdout.labels) == 24
    assert metrics["confusion_matrix"] == expected["confusion_matrix"]
    assert metrics["roc_auc"] == pytest.approx(expected["roc_auc"], abs=1e-6)
    (tn, fp), (fn, tp) = np.array(metrics["confusion_matrix"])
    assert metrics["operating"] == {"sensitivity": tp / (tp + fn), "specificity": tn / (tn + fp), "kind": "binary"}
    assert metrics["operating"]["sensitivity"] == metrics["sensitivity"]
    json.dumps(metrics, allow_nan=False)
    # The same model on the same held-out set is never worse than itself.
    assert promotion_gate(metrics, holdout_metrics(toy_bundle, holdout, normal_class="normal")).passed


def test_holdout_metrics_accepts_images_of_another_size(toy_bundle, toy_dataset: Dataset) -> None:
    holdout = toy_dataset.test
    big = Split(np.repeat(np.repeat(holdout.images, 2, axis=1), 2, axis=2), holdout.labels)  # the model resizes
    metrics = holdout_metrics(toy_bundle, big)
    assert metrics["n"] == 24 and np.array(metrics["confusion_matrix"]).sum() == 24
    assert metrics["roc_auc"] == pytest.approx(holdout_metrics(toy_bundle, holdout)["roc_auc"], abs=0.1)
