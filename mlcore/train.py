"""Training: fit on train, select on validation (early stopping, best weights, threshold), report test once."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from mlcore.config import ModelConfig
from mlcore.data import DataError, Dataset, Split, make_dataset
from mlcore.evaluate import evaluate, youden_threshold
from mlcore.model import BACKBONE_LAYER, build_model, copy_member_weights
from mlcore.scope import Scope


@dataclass(frozen=True)
class EpochProgress:
    """Reported after every epoch; epoch counts from 1."""

    epoch: int
    epochs: int
    loss: float
    val_loss: float
    val_accuracy: float
    stage: int = 1  # 1: training (feature extraction for ImageNet backbones), 2: fine-tuning
    member: int = 0  # which ensemble member is training (config.ensemble > 1); always 0 otherwise


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
    stage_epochs: tuple[int, ...] = ()  # epochs run per stage: (stage 1,) or (stage 1, stage 2)
    scope: Scope | None = None  # the input domain; images outside it are refused (mlcore.scope)
    calibration: dict[str, Any] | None = None  # see Manifest.calibration
    operating_point: dict[str, Any] | None = None  # see Manifest.operating_point


def train(cfg: ModelConfig, data: Dataset, *, progress: Callable[[EpochProgress], None] | None = None) -> TrainResult:
    """Train cfg's model on data.train; the test split is used only for the final metrics.

    Stage 1 trains the head on a frozen ImageNet backbone (or the whole compact CNN). Stage 2, when
    cfg.fine_tune_layers > 0, unfreezes the backbone's top layers except BatchNorm, recompiles at
    cfg.fine_tune_learning_rate and trains cfg.fine_tune_epochs more, with the same early stopping on
    validation; if it never beats stage 1's best validation loss, stage 1's weights are kept.
    With cfg.ensemble = N > 1 (or cfg.tta_flip), N compact models are trained independently (see
    _train_ensemble) and averaged in one model; the threshold and metrics are the averaged model's.
    """
    _check_compatible(cfg, data)
    keras.utils.set_random_seed(cfg.seed)
    mean, std = normalization_stats(cfg, data.train.images)
    if cfg.composite:
        model, history = _train_ensemble(cfg, data, mean=mean, std=std, progress=progress)
        return _result(model, cfg, data, mean, std, history, (len(history["loss"]),))
    model = build_model(cfg, mean=mean, std=std)
    if cfg.fine_tune_layers > 0:
        _check_fine_tune_layers(model.get_layer(BACKBONE_LAYER), cfg.fine_tune_layers)  # before any training
    total_epochs = cfg.epochs + cfg.fine_tune_epochs
    _compile(model, cfg, cfg.learning_rate)
    history = _fit(model, cfg, data, stage=1, first_epoch=0, epochs=cfg.epochs, total=total_epochs, progress=progress)
    stage_epochs = [len(history["loss"])]
    if cfg.fine_tune_layers > 0:
        best_stage1 = min(history["val_loss"])
        snapshot = [(v, v.numpy()) for v in model.weights]
        unfreeze_top_layers(model, cfg.fine_tune_layers)
        _compile(model, cfg, cfg.fine_tune_learning_rate)  # trainable changed: Keras needs a recompile
        stage2 = _fit(
            model,
            cfg,
            data,
            stage=2,
            first_epoch=stage_epochs[0],
            epochs=cfg.fine_tune_epochs,
            total=total_epochs,
            progress=progress,
        )
        stage_epochs.append(len(stage2["loss"]))
        if not min(stage2["val_loss"]) < best_stage1:
            for variable, value in snapshot:
                variable.assign(value)
        history = {key: history[key] + stage2.get(key, []) for key in history}
    return _result(model, cfg, data, mean, std, history, tuple(stage_epochs))


def _train_ensemble(
    cfg: ModelConfig,
    data: Dataset,
    *,
    mean: float,
    std: float,
    progress: Callable[[EpochProgress], None] | None,
) -> tuple[keras.Model, dict[str, list[float]]]:
    """Train cfg.ensemble single compact models one after another, then copy them into build_model(cfg).

    Member i is the config with ensemble=1 and seed cfg.seed + i (its own initialisation, dropout, shuffling
    and augmentation), with its own early stopping on validation. Epoch numbers run on across members.
    """
    ensemble = build_model(cfg, mean=mean, std=std)
    history: dict[str, list[float]] = {}
    total = cfg.epochs * cfg.ensemble
    for i in range(cfg.ensemble):
        member_cfg = replace(cfg, ensemble=1, tta_flip=False, seed=cfg.seed + i)
        keras.utils.set_random_seed(member_cfg.seed)
        member = build_model(member_cfg, mean=mean, std=std)
        _compile(member, member_cfg, member_cfg.learning_rate)
        done = len(history.get("loss", []))
        fitted = _fit(
            member,
            member_cfg,
            data,
            stage=1,
            first_epoch=done,
            epochs=cfg.epochs,
            total=total,
            progress=progress,
            member=i,
        )
        copy_member_weights(member, ensemble, i)
        history = {key: history.get(key, []) + values for key, values in fitted.items()}
    return ensemble, history


def _result(
    model: keras.Model,
    cfg: ModelConfig,
    data: Dataset,
    mean: float,
    std: float,
    history: dict[str, list[float]],
    stage_epochs: tuple[int, ...],
) -> TrainResult:
    """Threshold on validation, metrics on validation and (once) on test."""
    val_probs = _predict(model, data.val, cfg)
    threshold = youden_threshold(val_probs[:, 1], data.val.labels) if len(cfg.classes) == 2 else None
    metrics: dict[str, Any] = {
        "val": evaluate(val_probs, data.val.labels, cfg.classes, threshold=threshold),
        "test": None,
    }
    if data.test is not None:
        test_probs = _predict(model, data.test, cfg)
        metrics["test"] = evaluate(test_probs, data.test.labels, cfg.classes, threshold=threshold)
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
        stage_epochs=stage_epochs,
    )


def unfreeze_top_layers(model: keras.Model, n: int) -> keras.Model:
    """Make the top n layers of model's backbone trainable, BatchNorm excepted; returns the backbone.

    The caller must recompile. BatchNorm layers stay frozen (and run in inference mode, as build_model
    calls the backbone with training=False), so small fine-tuning batches cannot wreck their statistics.
    """
    base = model.get_layer(BACKBONE_LAYER)
    _check_fine_tune_layers(base, n)
    base.trainable = True
    for i, layer in enumerate(base.layers):
        top = i >= len(base.layers) - n
        layer.trainable = top and not isinstance(layer, keras.layers.BatchNormalization)
    return base


def _check_fine_tune_layers(base: keras.Model, n: int) -> None:
    if not 0 < n < len(base.layers):
        raise ValueError(f"fine_tune_layers must be in 1..{len(base.layers) - 1} for {base.name!r}, got {n}")


def normalization_stats(cfg: ModelConfig, images: np.ndarray) -> tuple[float, float]:
    """The (mean, std) build_model standardises with: training-set statistics, or identity for raw-pixel backbones."""
    return pixel_stats(images) if cfg.dataset_normalization else (0.0, 1.0)


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

    def __init__(self, progress: Callable[[EpochProgress], None], epochs: int, stage: int, member: int) -> None:
        super().__init__()
        self._progress = progress
        self._epochs = epochs
        self._stage = stage
        self._member = member

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        logs = logs or {}
        self._progress(
            EpochProgress(
                epoch=epoch + 1,
                epochs=self._epochs,
                loss=float(logs["loss"]),
                val_loss=float(logs["val_loss"]),
                val_accuracy=float(logs["val_accuracy"]),
                stage=self._stage,
                member=self._member,
            )
        )


class _CosineDecay(keras.callbacks.Callback):
    """Sets the learning rate to base * (1 + cos(pi * e / epochs)) / 2 at the start of the stage's epoch e."""

    def __init__(self, base: float, first_epoch: int, epochs: int) -> None:
        super().__init__()
        self._base = base
        self._first_epoch = first_epoch
        self._epochs = epochs

    def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        e = epoch - self._first_epoch
        self.model.optimizer.learning_rate.assign(self._base * 0.5 * (1.0 + math.cos(math.pi * e / self._epochs)))


def _compile(model: keras.Model, cfg: ModelConfig, learning_rate: float) -> None:
    """Adam and cross-entropy on one-hot targets (see _one_hot), smoothed by cfg.label_smoothing; Adam keeps a
    moving average of the weights when cfg.weight_ema is set (see _fit)."""
    ema = {"use_ema": True, "ema_momentum": cfg.weight_ema} if cfg.weight_ema else {}
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate, **ema),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing),
        metrics=["accuracy"],
    )


def _one_hot(ds: tf.data.Dataset, n_classes: int) -> tf.data.Dataset:
    """make_dataset's integer labels as one-hot rows (Keras applies class_weight through their argmax)."""
    return ds.map(lambda x, y: (x, tf.one_hot(y, n_classes)), num_parallel_calls=tf.data.AUTOTUNE)


def _fit(
    model: keras.Model,
    cfg: ModelConfig,
    data: Dataset,
    *,
    stage: int,
    first_epoch: int,
    epochs: int,
    total: int,
    progress: Callable[[EpochProgress], None] | None,
    member: int = 0,
) -> dict[str, list[float]]:
    """One stage of fit with early stopping (best weights restored) on validation loss; returns its history.

    With cfg.weight_ema, SwapEMAWeights puts the averaged weights into the model for each validation pass and at
    each epoch's end, before EarlyStopping (so it must come first) scores and snapshots them: the model kept is the
    best epoch's average, and training itself goes on from the raw weights.
    """
    callbacks: list[keras.callbacks.Callback] = []
    if cfg.weight_ema:
        callbacks.append(keras.callbacks.SwapEMAWeights(swap_on_epoch=True))
    callbacks.append(
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.patience, restore_best_weights=True)
    )
    if cfg.lr_schedule == "cosine":
        base = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
        callbacks.append(_CosineDecay(base, first_epoch, epochs))
    else:
        # Halve the learning rate when validation loss stalls, before early stopping gives up on it.
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor="val_loss", factor=0.5, patience=max(1, cfg.patience // 2), verbose=0
            )
        )
    if progress is not None:
        callbacks.append(_ProgressCallback(progress, total, stage, member))
    k = len(cfg.classes)
    fitted = model.fit(
        _one_hot(make_dataset(data.train, "train", cfg), k),
        validation_data=_one_hot(make_dataset(data.val, "eval", cfg), k),
        initial_epoch=first_epoch,
        epochs=first_epoch + epochs,
        class_weight=class_weights(data.train.labels, len(cfg.classes)),
        callbacks=callbacks,
        shuffle=False,  # make_dataset already shuffles, with the config's seed
        verbose=0,
    )
    return {key: [float(v) for v in values] for key, values in fitted.history.items()}


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
