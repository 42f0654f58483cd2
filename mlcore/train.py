"""Training: fit on train, select on validation (early stopping, best weights, threshold), report test once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from mlcore.config import ModelConfig
from mlcore.data import DataError, Dataset, Split, make_dataset
from mlcore.evaluate import evaluate, youden_threshold
from mlcore.model import build_model


@dataclass(frozen=True)
class EpochProgress:
    """Reported after every epoch; epoch counts from 1."""

    epoch: int
    epochs: int
    loss: float
    val_loss: float
    val_accuracy: float


@dataclass(frozen=True, eq=False)
class TrainResult:
    """A trained model with everything a bundle needs to describe it."""

    model: keras.Model
    config: ModelConfig
    mean: float
    std: float
    threshold: float | None  # on P(classes[1]) for binary tasks, chosen on validation
    metrics: dict[str, Any]  # {"val": evaluate(...), "test": evaluate(...) or None}
    history: dict[str, list[float]]
    data_sha256: str
    epochs_run: int


def train(cfg: ModelConfig, data: Dataset, *, progress: Callable[[EpochProgress], None] | None = None) -> TrainResult:
    """Train cfg's model on data.train; the test split is used only for the final metrics."""
    _check_compatible(cfg, data)
    keras.utils.set_random_seed(cfg.seed)
    mean, std = pixel_stats(data.train.images)
    model = build_model(cfg, mean=mean, std=std)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=cfg.learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"],
    )
    callbacks: list[keras.callbacks.Callback] = [
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.patience, restore_best_weights=True)
    ]
    if progress is not None:
        callbacks.append(_ProgressCallback(progress, cfg.epochs))
    fitted = model.fit(
        make_dataset(data.train, "train", cfg),
        validation_data=make_dataset(data.val, "eval", cfg),
        epochs=cfg.epochs,
        class_weight=class_weights(data.train.labels, len(cfg.classes)),
        callbacks=callbacks,
        shuffle=False,  # make_dataset already shuffles, with the config's seed
        verbose=0,
    )
    val_probs = _predict(model, data.val, cfg)
    threshold = youden_threshold(val_probs[:, 1], data.val.labels) if len(cfg.classes) == 2 else None
    metrics: dict[str, Any] = {
        "val": evaluate(val_probs, data.val.labels, cfg.classes, threshold=threshold),
        "test": None,
    }
    if data.test is not None:
        test_probs = _predict(model, data.test, cfg)
        metrics["test"] = evaluate(test_probs, data.test.labels, cfg.classes, threshold=threshold)
    history = {key: [float(v) for v in values] for key, values in fitted.history.items()}
    return TrainResult(
        model=model,
        config=cfg,
        mean=mean,
        std=std,
        threshold=threshold,
        metrics=metrics,
        history=history,
        data_sha256=data.source_sha256,
        epochs_run=len(history["loss"]),
    )


def pixel_stats(images: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of all pixels (0..255 scale)."""
    mean = float(images.mean(dtype=np.float64))
    std = float(images.std(dtype=np.float64))
    # Below one grey level the images are practically constant; do not blow the inputs up.
    return mean, max(std, 1.0)


def class_weights(labels: np.ndarray, n_classes: int) -> dict[int, float]:
    """Balanced weights n / (k * count) from the training labels."""
    counts = np.bincount(labels, minlength=n_classes)
    if (counts == 0).any():
        raise DataError(f"every class needs training images; counts per class are {counts.tolist()}")
    return {i: float(len(labels) / (n_classes * c)) for i, c in enumerate(counts)}


class _ProgressCallback(keras.callbacks.Callback):
    """Forwards each epoch's losses to a plain callable."""

    def __init__(self, progress: Callable[[EpochProgress], None], epochs: int) -> None:
        super().__init__()
        self._progress = progress
        self._epochs = epochs

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        logs = logs or {}
        self._progress(
            EpochProgress(
                epoch=epoch + 1,
                epochs=self._epochs,
                loss=float(logs["loss"]),
                val_loss=float(logs["val_loss"]),
                val_accuracy=float(logs["val_accuracy"]),
            )
        )


def _predict(model: keras.Model, split: Split, cfg: ModelConfig) -> np.ndarray:
    return np.asarray(model.predict(make_dataset(split, "eval", cfg), verbose=0), dtype=np.float64)


def _check_compatible(cfg: ModelConfig, data: Dataset) -> None:
    if tuple(cfg.classes) != tuple(data.classes):
        raise ValueError(f"config classes {cfg.classes} differ from dataset classes {data.classes}")
    k = len(cfg.classes)
    for name, split in (("train", data.train), ("val", data.val), ("test", data.test)):
        if split is not None and int(split.labels.max()) >= k:
            raise DataError(f"{name} labels go up to {int(split.labels.max())} but there are {k} classes")
    if k == 2 and len(np.unique(data.val.labels)) < 2:
        raise DataError("the validation split needs both classes to choose a decision threshold")
