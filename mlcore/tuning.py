"""Cross-validation and hyperparameter search; selection on validation (or the CV mean) only.

Every trial calls train() with dataclasses.replace(cfg, **params). The test split is never
passed to train() here, so tuning cannot read it; report it once, with the chosen config.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.model_selection import ParameterGrid, ParameterSampler, StratifiedGroupKFold

from mlcore.config import ModelConfig
from mlcore.data import Dataset, Split
from mlcore.leakage import pixel_sha256
from mlcore.train import train

METRICS = ("roc_auc", "accuracy")


@dataclass(frozen=True)
class CVResult:
    """Per-fold validation metrics and their mean and standard deviation (ddof=0)."""

    config: ModelConfig
    folds: list[dict[str, float | None]]  # {"fold", "n_train", "n_val", "roc_auc", "accuracy"}
    mean: dict[str, float | None]
    std: dict[str, float | None]


@dataclass(frozen=True)
class Trial:
    params: dict[str, Any]
    score: float | None  # the selection metric: val value, or CV mean when k is set
    metrics: dict[str, float | None]  # roc_auc, accuracy (and *_std with CV)


@dataclass(frozen=True)
class SearchResult:
    """Trials sorted best first (None scores last); best_config = replace(cfg, **best_params)."""

    metric: str
    trials: list[Trial]
    best_params: dict[str, Any]
    best_config: ModelConfig


def cross_validate(cfg: ModelConfig, data: Dataset, *, k: int = 5, seed: int = 42) -> CVResult:
    """k-fold CV over train+val pooled (test untouched), stratified; exact duplicates stay in one fold."""
    images = np.concatenate([data.train.images, data.val.images])
    labels = np.concatenate([data.train.labels, data.val.labels])
    groups = [pixel_sha256(img) for img in images]
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    folds: list[dict[str, float | None]] = []
    for fold, (tr, va) in enumerate(splitter.split(images, labels, groups)):
        fold_data = Dataset(
            classes=data.classes,
            train=Split(images[tr], labels[tr]),
            val=Split(images[va], labels[va]),
            test=None,
            source_sha256=data.source_sha256,
        )
        val = train(cfg, fold_data).metrics["val"]
        folds.append(
            {"fold": fold, "n_train": len(tr), "n_val": len(va), "roc_auc": val["roc_auc"], "accuracy": val["accuracy"]}
        )
    mean, std = {}, {}
    for m in METRICS:
        values = [f[m] for f in folds if f[m] is not None]
        mean[m] = float(np.mean(values)) if values else None
        std[m] = float(np.std(values)) if values else None
    return CVResult(config=cfg, folds=folds, mean=mean, std=std)


def grid_search(
    cfg: ModelConfig,
    data: Dataset,
    param_grid: dict[str, list[Any]],
    *,
    k: int | None = None,
    seed: int = 42,
    metric: str = "roc_auc",
) -> SearchResult:
    """Try every combination of param_grid (sklearn ParameterGrid)."""
    return _search(cfg, data, list(ParameterGrid(param_grid)), k=k, seed=seed, metric=metric)


def random_search(
    cfg: ModelConfig,
    data: Dataset,
    param_distributions: dict[str, Any],
    *,
    n_iter: int,
    seed: int = 42,
    k: int | None = None,
    metric: str = "roc_auc",
) -> SearchResult:
    """Try n_iter seeded samples of param_distributions (lists or scipy distributions; ParameterSampler)."""
    candidates = list(ParameterSampler(param_distributions, n_iter=n_iter, random_state=seed))
    return _search(cfg, data, candidates, k=k, seed=seed, metric=metric)


def _search(
    cfg: ModelConfig, data: Dataset, candidates: list[dict[str, Any]], *, k: int | None, seed: int, metric: str
) -> SearchResult:
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if not candidates:
        raise ValueError("no parameter combinations to try")
    names = {f.name for f in dataclasses.fields(ModelConfig)}
    trials: list[Trial] = []
    for raw in candidates:
        params = {key: _plain(value) for key, value in raw.items()}
        unknown = sorted(set(params) - names)
        if unknown:
            raise ValueError(f"unknown ModelConfig fields {unknown}")
        trial_cfg = dataclasses.replace(cfg, **params)
        trials.append(_run_trial(trial_cfg, data, params, k=k, seed=seed, metric=metric))
    trials.sort(key=_sort_key)
    best = trials[0].params
    return SearchResult(metric=metric, trials=trials, best_params=best, best_config=dataclasses.replace(cfg, **best))


def _run_trial(
    cfg: ModelConfig, data: Dataset, params: dict[str, Any], *, k: int | None, seed: int, metric: str
) -> Trial:
    if k is None:
        no_test = dataclasses.replace(data, test=None)  # tuning must not read the test split
        val = train(cfg, no_test).metrics["val"]
        metrics = {m: val[m] for m in METRICS}
    else:
        cv = cross_validate(cfg, data, k=k, seed=seed)
        metrics = {**cv.mean, **{f"{m}_std": cv.std[m] for m in METRICS}}
    return Trial(params=params, score=metrics[metric], metrics=metrics)


def _sort_key(trial: Trial) -> tuple[bool, float]:
    return (trial.score is None, -(trial.score or 0.0))


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def format_table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    """Plain-text table of dicts; floats with 4 decimals, None as "-"."""
    if not rows:
        return "(no rows)"
    columns = columns or list(rows[0])
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)
