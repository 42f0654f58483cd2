"""Classification metrics as plain JSON-serialisable dicts."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    precision_recall_fscore_support,
    roc_auc_score,
    roc_curve,
)


def predict_labels(probs: np.ndarray, threshold: float | None = None) -> np.ndarray:
    """Binary with a threshold: positive (index 1) when p[1] >= threshold; otherwise argmax."""
    probs = np.asarray(probs, dtype=np.float64)
    if threshold is not None and probs.shape[1] == 2:
        return (probs[:, 1] >= threshold).astype(np.int64)
    return probs.argmax(axis=1).astype(np.int64)


def evaluate(
    probs: np.ndarray, labels: np.ndarray, classes: tuple[str, ...], *, threshold: float | None = None
) -> dict[str, Any]:
    """Accuracy, macro P/R/F1, ROC AUC, per-class scores, confusion matrix; sensitivity/specificity if binary.

    Binary AUC is for the positive class classes[1]; multi-class AUC is one-vs-rest, macro.
    Undefined values (e.g. AUC when only one class is present) are None.
    """
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    k = len(classes)
    if probs.ndim != 2 or probs.shape != (len(labels), k):
        raise ValueError(f"probs must have shape ({len(labels)}, {k}), got {probs.shape}")
    preds = predict_labels(probs, threshold)
    all_labels = list(range(k))
    precision, recall, f1, support = precision_recall_fscore_support(labels, preds, labels=all_labels, zero_division=0)
    cm = confusion_matrix(labels, preds, labels=all_labels)
    result: dict[str, Any] = {
        "n": int(len(labels)),
        "accuracy": float(accuracy_score(labels, preds)),
        "precision_macro": float(precision.mean()),
        "recall_macro": float(recall.mean()),
        "f1_macro": float(f1.mean()),
        "roc_auc": _roc_auc(probs, labels, k),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(classes)
        },
        "confusion_matrix": cm.astype(int).tolist(),
    }
    if k == 2:
        (tn, fp), (fn, tp) = cm
        result["threshold"] = None if threshold is None else float(threshold)
        result["sensitivity"] = _ratio(tp, tp + fn)
        result["specificity"] = _ratio(tn, tn + fp)
    return result


def youden_threshold(pos_probs: np.ndarray, labels: np.ndarray) -> float:
    """Threshold on the positive-class probability that maximises Youden's J = TPR - FPR.

    Every threshold between the best score and the next lower score gives the same decisions on
    these samples; the midpoint is returned, so the threshold does not sit on a validation sample.
    """
    labels = np.asarray(labels).reshape(-1)
    if len(np.unique(labels)) != 2:
        raise ValueError("youden_threshold needs labels of both classes")
    fpr, tpr, thresholds = roc_curve(labels, np.asarray(pos_probs, dtype=np.float64), drop_intermediate=False)
    best = int(np.argmax(tpr - fpr))
    upper = min(float(thresholds[best]), 1.0)  # roc_curve's first threshold is +inf
    lower = float(thresholds[best + 1]) if best + 1 < len(thresholds) else 0.0
    return (upper + lower) / 2


def _roc_auc(probs: np.ndarray, labels: np.ndarray, k: int) -> float | None:
    if len(np.unique(labels)) < k:
        return None  # AUC is undefined when a class is absent
    if k == 2:
        return float(roc_auc_score(labels, probs[:, 1]))
    probs = probs / probs.sum(axis=1, keepdims=True)  # float32 softmax rows may miss 1.0 by rounding
    return float(roc_auc_score(labels, probs, multi_class="ovr", average="macro", labels=list(range(k))))


def _ratio(num: int, den: int) -> float | None:
    return float(num / den) if den else None
