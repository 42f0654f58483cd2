"""Classification metrics as plain JSON-serialisable dicts."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
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
    """Accuracy, macro P/R/F1, ROC AUC, per-class scores, confusion matrix, ECE; sensitivity/specificity if binary.

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
        "ece": expected_calibration_error(probs, labels),
    }
    if k == 2:
        (tn, fp), (fn, tp) = cm
        result["threshold"] = None if threshold is None else float(threshold)
        result["sensitivity"] = _ratio(tp, tp + fn)
        result["specificity"] = _ratio(tn, tn + fp)
        # Calibration of the number a radiologist reads, P(classes[1]), not only of the top class.
        result["ece_positive"] = positive_class_ece(probs[:, 1], labels)
        if threshold is not None and threshold != 0.5:
            at_half = predict_labels(probs, 0.5)
            (tn5, fp5), (fn5, tp5) = confusion_matrix(labels, at_half, labels=all_labels)
            result["at_0.5"] = {
                "accuracy": float(accuracy_score(labels, at_half)),
                "sensitivity": _ratio(tp5, tp5 + fn5),
                "specificity": _ratio(tn5, tn5 + fp5),
            }
    return result


TEMPERATURE_MIN, TEMPERATURE_MAX = 0.5, 10.0


def positive_class_ece(pos_probs: np.ndarray, labels: np.ndarray, *, bins: int = 10) -> float:
    """ECE of P(positive) itself: over equal-width bins of p, |share of positives - mean p| weighted by |B|/n."""
    p = np.asarray(pos_probs, dtype=np.float64).reshape(-1)
    y = (np.asarray(labels).reshape(-1) == 1).astype(np.float64)
    which = np.digitize(p, np.linspace(0.0, 1.0, bins + 1)[1:-1], right=True)
    count = np.bincount(which, minlength=bins)
    gap = np.abs(np.bincount(which, y, minlength=bins) - np.bincount(which, p, minlength=bins))
    return float(gap.sum() / max(count.sum(), 1))


def fit_temperature(probs: np.ndarray, labels: np.ndarray) -> float:
    """Temperature T minimising the negative log-likelihood of softmax(log(probs) / T) (Guo et al. 2017).

    Fit on validation only. log(probs) equals the logits up to a per-row constant, which softmax ignores.
    T is kept within [TEMPERATURE_MIN, TEMPERATURE_MAX]: on a small validation set that the model separates
    perfectly, the likelihood keeps rising as T falls to 0, which would make every answer 0 or 1.
    """
    logits = np.log(np.clip(np.asarray(probs, dtype=np.float64), 1e-12, 1.0))
    labels = np.asarray(labels).astype(np.int64).reshape(-1)

    def nll(log_t: float) -> float:
        z = logits / np.exp(log_t)
        z = z - z.max(axis=1, keepdims=True)
        return float(-(z[np.arange(len(labels)), labels] - np.log(np.exp(z).sum(axis=1))).mean())

    found = minimize_scalar(nll, bounds=(np.log(TEMPERATURE_MIN), np.log(TEMPERATURE_MAX)), method="bounded")
    return float(np.exp(found.x))


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


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, *, bins: int = 10) -> float:
    """ECE of the top-class confidence: sum over equal-width bins of |B|/n * |accuracy(B) - confidence(B)|.

    Confidence is the largest probability and a sample is correct when its argmax is its label;
    bins are (0, 0.1], (0.1, 0.2], ... (the first also takes 0).
    """
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    which = np.digitize(confidence, np.linspace(0.0, 1.0, bins + 1)[1:-1], right=True)
    count = np.bincount(which, minlength=bins)
    gap = np.abs(np.bincount(which, correct, minlength=bins) - np.bincount(which, confidence, minlength=bins))
    return float(gap.sum() / max(count.sum(), 1))


def threshold_for_sensitivity(pos_probs: np.ndarray, labels: np.ndarray, target: float = 0.95) -> float:
    """Highest threshold t with sensitivity (share of positives with p >= t) of at least target.

    That is the ceil(target * n_pos)-th largest positive score. Choose it on validation only.
    """
    scores = np.asarray(pos_probs, dtype=np.float64).reshape(-1)
    labels = np.asarray(labels).reshape(-1)
    if not 0.0 < target <= 1.0:
        raise ValueError(f"target must be in (0, 1], got {target}")
    positives = np.sort(scores[labels == 1])[::-1]
    if len(positives) == 0:
        raise ValueError("threshold_for_sensitivity needs positive labels")
    needed = int(np.ceil(target * len(positives) - 1e-9))
    return float(positives[max(needed, 1) - 1])


def bootstrap_ci(
    probs: np.ndarray,
    labels: np.ndarray,
    classes: tuple[str, ...],
    *,
    n: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    threshold: float | None = None,
    stratified: bool = True,
) -> dict[str, Any]:
    """Percentile confidence intervals for accuracy, macro ROC AUC and per-class recall/precision.

    Stratified resampling draws with replacement within each class (class counts kept); plain
    resampling skips resamples in which a class is missing. Each entry is
    {"estimate", "low", "high"}; None where no resample defined the value.
    """
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    k = len(classes)
    if probs.shape != (len(labels), k):
        raise ValueError(f"probs must have shape ({len(labels)}, {k}), got {probs.shape}")
    preds = predict_labels(probs, threshold)
    rng = np.random.default_rng(seed)
    by_class = [np.flatnonzero(labels == c) for c in range(k)]
    samples: dict[str, list[float]] = {"accuracy": [], "roc_auc": []}
    per_class: dict[str, dict[str, list[float]]] = {name: {"recall": [], "precision": []} for name in classes}
    used = 0
    for _ in range(n):
        if stratified:
            idx = np.concatenate([rng.choice(members, len(members)) for members in by_class if len(members)])
        else:
            idx = rng.integers(0, len(labels), len(labels))
        y, p = labels[idx], preds[idx]
        if len(np.unique(y)) < k:
            continue  # a class is missing: recall and AUC are undefined
        used += 1
        cm = np.bincount(y * k + p, minlength=k * k).reshape(k, k)
        samples["accuracy"].append(float(np.trace(cm) / len(y)))
        auc = _roc_auc(probs[idx], y, k)
        if auc is not None:
            samples["roc_auc"].append(auc)
        for c, name in enumerate(classes):
            per_class[name]["recall"].append(float(cm[c, c] / cm[c].sum()))
            if cm[:, c].sum():
                per_class[name]["precision"].append(float(cm[c, c] / cm[:, c].sum()))
    point = evaluate(probs, labels, classes, threshold=threshold)
    return {
        "n_resamples": used,
        "alpha": alpha,
        "stratified": stratified,
        "accuracy": _interval(point["accuracy"], samples["accuracy"], alpha),
        "roc_auc": _interval(point["roc_auc"], samples["roc_auc"], alpha),
        "per_class": {
            name: {m: _interval(point["per_class"][name][m], values, alpha) for m, values in per_class[name].items()}
            for name in classes
        },
    }


def _interval(estimate: float | None, values: list[float], alpha: float) -> dict[str, float | None]:
    if not values:
        return {"estimate": estimate, "low": None, "high": None}
    low, high = np.percentile(values, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return {"estimate": estimate, "low": float(low), "high": float(high)}


def _roc_auc(probs: np.ndarray, labels: np.ndarray, k: int) -> float | None:
    if len(np.unique(labels)) < k:
        return None  # AUC is undefined when a class is absent
    if k == 2:
        return float(roc_auc_score(labels, probs[:, 1]))
    probs = probs / probs.sum(axis=1, keepdims=True)  # float32 softmax rows may miss 1.0 by rounding
    return float(roc_auc_score(labels, probs, multi_class="ovr", average="macro", labels=list(range(k))))


def _ratio(num: int, den: int) -> float | None:
    return float(num / den) if den else None


def operating_point(confusion: np.ndarray, classes: tuple[str, ...], normal_class: str | None) -> dict[str, Any]:
    """Sensitivity and specificity of the decided labels (rows: truth, columns: prediction).

    Binary: for the positive class classes[1], or for classes[0] when classes[1] is the normal class (a
    folder tree sorts "abnormal" before "normal"). Several classes with a normal one: finding vs no finding
    (an abnormal image called any abnormal class counts as detected). Otherwise: macro recall as
    sensitivity, and no specificity. A normal_class that is not one of classes is an error, not a silent
    switch to macro recall.
    """
    if normal_class is not None and normal_class not in classes:
        raise ValueError(f"normal class {normal_class!r} is not one of {list(classes)}")
    cm = np.asarray(confusion, dtype=np.int64)
    if len(classes) == 2:
        (tn, fp), (fn, tp) = cm
        if normal_class == classes[1]:
            (tp, fn), (fp, tn) = cm
    elif normal_class in classes:
        n = classes.index(normal_class)
        abnormal = [i for i in range(len(classes)) if i != n]
        tn, fp = int(cm[n, n]), int(cm[n, abnormal].sum())
        fn, tp = int(cm[abnormal, n].sum()), int(cm[np.ix_(abnormal, abnormal)].sum())
    else:
        rows = cm.sum(axis=1)
        recalls = [cm[i, i] / rows[i] for i in range(len(classes)) if rows[i]]
        return {"sensitivity": float(np.mean(recalls)) if recalls else None, "specificity": None, "kind": "macro"}
    return {
        "sensitivity": float(tp / (tp + fn)) if tp + fn else None,
        "specificity": float(tn / (tn + fp)) if tn + fp else None,
        "kind": "binary" if len(classes) == 2 else "finding",
    }
