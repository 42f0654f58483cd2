"""Judging a retrained candidate against the active model on one fixed held-out set, and the promotion gate.

Both models are scored on the same images, each at its own operating point (the threshold stored in its
bundle, chosen on its own validation split). The gate allows promotion only when the candidate is not
worse on ROC AUC and not worse on sensitivity at its operating point.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mlcore.bundle import Bundle
from mlcore.data import Split
from mlcore.evaluate import evaluate, operating_point
from mlcore.inference import Predictor

GATE_METRICS = ("roc_auc", "sensitivity")


@dataclass(frozen=True)
class GateResult:
    """passed, and one sentence per metric (why it passed or failed)."""

    passed: bool
    reasons: tuple[str, ...]


def holdout_metrics(bundle: Bundle, holdout: Split, *, normal_class: str | None = None) -> dict[str, Any]:
    """evaluate() of the bundle on the held-out images at its stored threshold, plus "operating":
    sensitivity and specificity at that point (see operating_point) and the images' count."""
    classes = bundle.manifest.classes
    results = Predictor(bundle).predict(list(holdout.images))
    probs = np.array([[r.probabilities[c] for c in classes] for r in results], dtype=np.float64)
    metrics = evaluate(probs, holdout.labels, classes, threshold=bundle.manifest.threshold)
    metrics["operating"] = operating_point(np.array(metrics["confusion_matrix"]), classes, normal_class)
    return metrics


def promotion_gate(candidate: dict[str, Any], active: dict[str, Any] | None, *, tolerance: float = 0.0) -> GateResult:
    """Not worse than the active model (by more than tolerance) on ROC AUC and on operating sensitivity.

    candidate and active are holdout_metrics() results on the same held-out set; with no active model
    there is nothing to be worse than.
    """
    if active is None:
        return GateResult(True, ("There is no active model to compare with.",))
    reasons, passed = [], True
    for name in GATE_METRICS:
        new, old = _gate_value(candidate, name), _gate_value(active, name)
        label = "ROC AUC" if name == "roc_auc" else "sensitivity at the operating point"
        if new is None or old is None:
            passed = False
            reasons.append(f"{label} is undefined on the held-out set, so the candidate cannot be judged on it.")
        elif new + tolerance < old:
            passed = False
            reasons.append(f"{label} is worse: {new:.3f} against {old:.3f} for the active model.")
        else:
            reasons.append(f"{label} is not worse: {new:.3f} against {old:.3f} for the active model.")
    return GateResult(passed, tuple(reasons))


def _gate_value(metrics: dict[str, Any], name: str) -> float | None:
    return metrics["roc_auc"] if name == "roc_auc" else metrics["operating"]["sensitivity"]
