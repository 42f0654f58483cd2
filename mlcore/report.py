"""Evaluation report: report.json plus ROC and confusion-matrix PNGs (matplotlib, Agg canvas, no pyplot)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import confusion_matrix, roc_auc_score, roc_curve

from mlcore.evaluate import predict_labels

REPORT_FILE = "report.json"
ROC_FILE = "roc.png"
CONFUSION_FILE = "confusion_matrix.png"


def write_report(
    metrics: dict[str, Any],
    probs: np.ndarray,
    labels: np.ndarray,
    classes: tuple[str, ...],
    out_dir: str | Path,
    *,
    threshold: float | None = None,
) -> dict[str, Path]:
    """Write report.json (metrics and classes), roc.png and confusion_matrix.png; returns their paths.

    Binary: one ROC curve for classes[1]. Multi-class: one-vs-rest curves per class. The confusion
    matrix uses threshold on P(classes[1]) for binary tasks, argmax otherwise.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    if probs.shape != (len(labels), len(classes)):
        raise ValueError(f"probs must have shape ({len(labels)}, {len(classes)}), got {probs.shape}")
    paths = {"json": out / REPORT_FILE, "roc": out / ROC_FILE, "confusion": out / CONFUSION_FILE}
    payload = {"classes": list(classes), "n": int(len(labels)), "threshold": threshold, "metrics": metrics}
    paths["json"].write_text(json.dumps(payload, indent=2, sort_keys=True, allow_nan=False, default=_jsonable))
    _plot_roc(probs, labels, classes, paths["roc"])
    cm = confusion_matrix(labels, predict_labels(probs, threshold), labels=list(range(len(classes))))
    _plot_confusion(cm, classes, paths["confusion"])
    return paths


def _plot_roc(probs: np.ndarray, labels: np.ndarray, classes: tuple[str, ...], path: Path) -> None:
    fig = Figure(figsize=(5, 5), dpi=100)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="chance")
    targets = [1] if len(classes) == 2 else list(range(len(classes)))
    for c in targets:
        positive = (labels == c).astype(int)
        if positive.min() == positive.max():
            continue  # a curve needs both positives and negatives
        fpr, tpr, _ = roc_curve(positive, probs[:, c])
        auc = roc_auc_score(positive, probs[:, c])
        ax.plot(fpr, tpr, linewidth=2, label=f"{classes[c]} (AUC {auc:.3f})")
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="False positive rate", ylabel="True positive rate", title="ROC")
    ax.legend(loc="lower right", fontsize="small")
    _save(fig, path)


def _plot_confusion(cm: np.ndarray, classes: tuple[str, ...], path: Path) -> None:
    side = 2.5 + 0.9 * len(classes)
    fig = Figure(figsize=(side, side), dpi=100)
    ax = fig.add_subplot()
    ax.imshow(cm, cmap="Blues")
    ticks = list(range(len(classes)))
    ax.set_xticks(ticks, labels=classes, rotation=45, ha="right")
    ax.set_yticks(ticks, labels=classes)
    ax.set(xlabel="Predicted", ylabel="True", title="Confusion matrix")
    high = cm.max() / 2 if cm.size else 0
    for i in ticks:
        for j in ticks:
            ax.text(j, i, str(int(cm[i, j])), ha="center", va="center", color="white" if cm[i, j] > high else "black")
    _save(fig, path)


def _save(fig: Figure, path: Path) -> None:
    FigureCanvasAgg(fig)
    fig.tight_layout()
    fig.savefig(path, format="png")


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
