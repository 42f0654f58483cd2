"""Tests for mlcore.evaluate on hand-made arrays with known answers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlcore.evaluate import (
    bootstrap_ci,
    evaluate,
    expected_calibration_error,
    threshold_for_sensitivity,
    youden_threshold,
)

BINARY = ("normal", "pneumonia")
LABELS = np.array([0, 0, 1, 1])
POS = np.array([0.1, 0.6, 0.4, 0.9])
PROBS = np.stack([1 - POS, POS], axis=1)


def test_evaluate_binary_known_values() -> None:
    m = evaluate(PROBS, LABELS, BINARY)  # argmax, i.e. 0.5
    assert m["confusion_matrix"] == [[1, 1], [1, 1]]
    assert m["accuracy"] == 0.5 and m["sensitivity"] == 0.5 and m["specificity"] == 0.5
    assert m["roc_auc"] == pytest.approx(0.75)  # 3 of 4 positive/negative pairs ranked right
    assert m["per_class"]["pneumonia"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert m["threshold"] is None and m["n"] == 4
    json.dumps(m, allow_nan=False)


def test_evaluate_binary_uses_threshold() -> None:
    m = evaluate(PROBS, LABELS, BINARY, threshold=0.35)
    assert m["confusion_matrix"] == [[1, 1], [0, 2]]
    assert m["sensitivity"] == 1.0 and m["specificity"] == 0.5 and m["accuracy"] == 0.75
    assert m["precision_macro"] == pytest.approx((1.0 + 2 / 3) / 2)
    assert m["roc_auc"] == pytest.approx(0.75)  # AUC does not depend on the threshold
    assert m["threshold"] == 0.35


def test_evaluate_multiclass() -> None:
    probs = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [0.6, 0.3, 0.1]])
    labels = np.array([0, 1, 2, 1])
    m = evaluate(probs, labels, ("a", "b", "c"))
    assert m["accuracy"] == 0.75
    assert m["confusion_matrix"] == [[1, 0, 0], [1, 1, 0], [0, 0, 1]]
    assert m["per_class"]["b"]["recall"] == 0.5 and m["per_class"]["b"]["support"] == 2
    assert m["per_class"]["a"]["precision"] == 0.5
    assert 0.5 < m["roc_auc"] <= 1.0
    assert "sensitivity" not in m
    json.dumps(m, allow_nan=False)


def test_evaluate_auc_is_none_when_a_class_is_absent() -> None:
    m = evaluate(PROBS[:2], LABELS[:2], BINARY)
    assert m["roc_auc"] is None and m["sensitivity"] is None and m["specificity"] == 0.5
    with pytest.raises(ValueError):
        evaluate(PROBS, LABELS, ("a", "b", "c"))


def test_youden_threshold_known_answers() -> None:
    separable = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    # J = 1 for any threshold in (0.3, 0.7]: the midpoint of that gap
    assert youden_threshold(separable, np.array([0, 0, 0, 1, 1, 1])) == pytest.approx(0.5)
    # scores 0.9 (pos), 0.6 (neg), 0.4 (pos), 0.1 (neg): J = 0.5 at 0.9 and at 0.4; the first wins,
    # and the midpoint to the next lower score (0.6) is 0.75
    assert youden_threshold(POS, LABELS) == pytest.approx(0.75)
    m = evaluate(PROBS, LABELS, BINARY, threshold=0.75)
    assert (m["sensitivity"], m["specificity"]) == (0.5, 1.0)
    with pytest.raises(ValueError):
        youden_threshold(np.array([0.2, 0.4]), np.array([1, 1]))


def test_evaluate_reports_ece() -> None:
    m = evaluate(PROBS, LABELS, BINARY)
    # confidences 0.9, 0.6, 0.6, 0.9; correct 1, 0, 0, 1: bins (0.5, 0.6] and (0.8, 0.9], each half
    assert m["ece"] == pytest.approx(0.5 * abs(0 - 0.6) + 0.5 * abs(1 - 0.9))


def test_expected_calibration_error_known_values() -> None:
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]])
    labels = np.array([0, 1, 1, 1])  # correct, wrong, correct, correct; one sample per bin
    assert expected_calibration_error(probs, labels) == pytest.approx((0.1 + 0.8 + 0.3 + 0.4) / 4)
    shared = np.array([[0.95, 0.05], [0.92, 0.08]])  # one bin (0.9, 1.0]: accuracy 0.5, confidence 0.935
    assert expected_calibration_error(shared, np.array([0, 1])) == pytest.approx(0.435)
    perfect = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert expected_calibration_error(perfect, np.array([0, 1])) == 0.0


def test_threshold_for_sensitivity_known_answers() -> None:
    scores = np.array([0.9, 0.8, 0.4, 0.3, 0.7, 0.2])
    labels = np.array([1, 1, 1, 1, 0, 0])
    assert threshold_for_sensitivity(scores, labels, target=0.75) == 0.4  # 3 of 4 positives
    assert threshold_for_sensitivity(scores, labels, target=0.95) == 0.3  # needs all 4
    assert threshold_for_sensitivity(scores, labels, target=0.5) == 0.8
    probs = np.stack([1 - scores, scores], axis=1)
    assert evaluate(probs, labels, BINARY, threshold=0.4)["sensitivity"] == 0.75
    with pytest.raises(ValueError):
        threshold_for_sensitivity(scores, np.zeros(6), target=0.9)
    with pytest.raises(ValueError):
        threshold_for_sensitivity(scores, labels, target=0.0)


def test_bootstrap_ci_perfect_classifier_has_degenerate_intervals() -> None:
    labels = np.array([0, 0, 0, 1, 1, 1])
    probs = np.eye(2)[labels] * 0.8 + 0.1
    ci = bootstrap_ci(probs, labels, BINARY, n=50, seed=1)
    assert ci["n_resamples"] == 50
    assert ci["accuracy"] == {"estimate": 1.0, "low": 1.0, "high": 1.0}
    assert ci["roc_auc"]["low"] == 1.0 and ci["per_class"]["pneumonia"]["recall"]["high"] == 1.0
    json.dumps(ci, allow_nan=False)


def test_bootstrap_ci_brackets_the_estimate_and_is_seeded() -> None:
    rng = np.random.default_rng(0)
    labels = np.array([0, 1, 2] * 10)
    probs = rng.dirichlet([1, 1, 1], size=30)
    probs[np.arange(30), labels] += 0.5
    probs /= probs.sum(axis=1, keepdims=True)
    ci = bootstrap_ci(probs, labels, ("a", "b", "c"), n=100, seed=3)
    for entry in (ci["accuracy"], ci["roc_auc"], ci["per_class"]["b"]["precision"]):
        assert entry["low"] <= entry["estimate"] <= entry["high"]
    assert ci["accuracy"]["low"] < ci["accuracy"]["high"]
    assert bootstrap_ci(probs, labels, ("a", "b", "c"), n=100, seed=3) == ci


def test_bootstrap_ci_plain_resampling_skips_resamples_missing_a_class() -> None:
    labels = np.array([0, 0, 0, 0, 0, 1])
    probs = np.eye(2)[labels] * 0.6 + 0.2
    ci = bootstrap_ci(probs, labels, BINARY, n=100, seed=0, stratified=False)
    assert 0 < ci["n_resamples"] < 100  # P(no positive drawn) = (5/6)^6, about a third
    assert ci["accuracy"]["low"] == 1.0
