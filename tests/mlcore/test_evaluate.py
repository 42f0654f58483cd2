"""Tests for mlcore.evaluate on hand-made arrays with known answers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlcore.evaluate import evaluate, youden_threshold

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
