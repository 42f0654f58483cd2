"""Training: fit on train, select on validation (early stopping, best weights, threshold), report test once."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from mlcore import pretrained
from mlcore.config import LITE0_BLOCKS, ModelConfig
from mlcore.data import DataError, Dataset, Split, make_dataset
from mlcore.evaluate import evaluate, fit_temperature, threshold_for_sensitivity, youden_threshold
from mlcore.model import BACKBONE_LAYER, build_model, copy_member_weights
from mlcore.scope import Scope, fit_scope


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


def train(
    cfg: ModelConfig,
    data: Dataset,
    *,
    progress: Callable[[EpochProgress], None] | None = None,
    activations: dict[tuple[str, ...], np.ndarray] | None = None,
) -> TrainResult:
    """Train cfg's model on data.train; the test split is used only for the final metrics.

    activations: for cached backbones, a dict the caller owns, in which the frozen trunk's output per split is
    kept and reused (keyed by data hash, backbone, weights, image size, cut and split), so that several seeds or
    settings on the same data compute it once.

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
    if cfg.cached:
        return _train_cached(cfg, data, progress=progress, activations={} if activations is None else activations)
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


def _train_cached(
    cfg: ModelConfig,
    data: Dataset,
    *,
    progress: Callable[[EpochProgress], None] | None,
    activations: dict[tuple[str, ...], np.ndarray],
) -> TrainResult:
    """Two-stage transfer learning on cached activations of the frozen ImageNet backbone (practical on a CPU).

    The backbone's lower blocks are frozen and BatchNorm runs in inference mode, so their output for an image
    never changes: it is computed once per split ("the cut", below the top cfg.fine_tune_blocks MBConv blocks).
    Stage 1 trains the softmax head on the pooled features of the frozen network. Stage 2 (fine_tune_blocks > 0)
    trains the top blocks, the head conv and the head together on the cut, at fine_tune_learning_rate, BatchNorm
    frozen; it is kept only if it beats stage 1's best validation loss. No augmentation (cached inputs).
    Early stopping, calibration, the threshold and the scope are chosen on validation; test is read once.
    """
    model = build_model(cfg, mean=0.0, std=1.0)
    base = model.get_layer(BACKBONE_LAYER)
    trunk, tail = pretrained.split_at_block(base, LITE0_BLOCKS - cfg.fine_tune_blocks)
    cut_model = _preprocessed(model, trunk)
    cuts = {}
    for name, split in _splits(data):
        key = (data.source_sha256, cfg.backbone, cfg.weights, str(cfg.image_size), str(cfg.fine_tune_blocks), name)
        if key not in activations:
            activations[key] = _run(cut_model, split.images)
        cuts[name] = activations[key]
    pooled = _tail_pooled(model, tail)
    head_in = keras.Input(shape=(pretrained.FEATURES,), name="features")
    head = keras.Model(head_in, _apply_head(model, head_in), name="head")
    features = {name: _run(pooled, cut) for name, cut in cuts.items()}
    _compile(head, cfg, cfg.learning_rate)
    total = cfg.epochs + cfg.fine_tune_epochs
    history = _fit_arrays(
        head, cfg, features, data, stage=1, first_epoch=0, epochs=cfg.epochs, total=total, progress=progress
    )
    stage_epochs = [len(history["loss"])]
    if cfg.fine_tune_blocks:
        cut_in = keras.Input(shape=tuple(tail.input.shape[1:]), name="cut")
        whole = keras.Model(cut_in, _apply_head(model, model.get_layer("pool")(tail(cut_in))), name="fine_tune")
        snapshot = [(v, v.numpy()) for v in model.weights]
        base.trainable = True
        for layer in base.layers:  # the tail's layers (shared with base) learn; BatchNorm and the trunk do not
            layer.trainable = layer in tail.layers and not isinstance(layer, keras.layers.BatchNormalization)
        _compile(whole, cfg, cfg.fine_tune_learning_rate)
        stage2 = _fit_arrays(
            whole,
            cfg,
            cuts,
            data,
            stage=2,
            first_epoch=stage_epochs[0],
            epochs=cfg.fine_tune_epochs,
            total=total,
            progress=progress,
        )
        base.trainable = False
        stage_epochs.append(len(stage2["loss"]))
        if not min(stage2["val_loss"]) < min(history["val_loss"]):
            for variable, value in snapshot:
                variable.assign(value)
        history = {key: history[key] + stage2.get(key, []) for key in history}
        features = {name: _run(pooled, cut) for name, cut in cuts.items()}
    probs = {name: _run(head, f).astype(np.float64) for name, f in features.items()}
    return _finish(model, cfg, data, probs, features, history, tuple(stage_epochs))


def _splits(data: Dataset) -> list[tuple[str, Split]]:
    return [(name, split) for name, split in (("train", data.train), ("val", data.val), ("test", data.test)) if split]


def _preprocessed(model: keras.Model, trunk: keras.Model) -> keras.Model:
    """Raw grey pixels -> model's own preprocessing layers -> trunk (the same path the served model takes)."""
    inputs = keras.Input(shape=(None, None, 1), dtype="float32", name="pixels")
    x = model.get_layer("normalize")(model.get_layer("resize")(inputs))
    x = model.get_layer("preprocess")(model.get_layer("to_rgb")([x, x, x]))
    return keras.Model(inputs, trunk(x), name="cut")


def _tail_pooled(model: keras.Model, tail: keras.Model) -> keras.Model:
    inputs = keras.Input(shape=tuple(tail.input.shape[1:]), name="cut")
    return keras.Model(inputs, model.get_layer("pool")(tail(inputs)), name="pooled")


def _apply_head(model: keras.Model, x: keras.KerasTensor) -> keras.KerasTensor:
    return model.get_layer("probs")(model.get_layer("dropout")(x))


def _run(model: keras.Model, x: np.ndarray, batch: int = 32) -> np.ndarray:
    """model on x in batches; uint8 images go in as float32 one batch at a time (memory stays flat)."""
    out = [
        np.asarray(
            model(
                np.asarray(x[i : i + batch], dtype=np.float32)[..., np.newaxis]
                if x.dtype == np.uint8
                else x[i : i + batch],
                training=False,
            )
        )
        for i in range(0, len(x), batch)
    ]
    return np.concatenate(out).astype(np.float32)


def _fit_arrays(
    model: keras.Model,
    cfg: ModelConfig,
    inputs: dict[str, np.ndarray],
    data: Dataset,
    *,
    stage: int,
    first_epoch: int,
    epochs: int,
    total: int,
    progress: Callable[[EpochProgress], None] | None,
) -> dict[str, list[float]]:
    """One stage of fit on in-memory arrays, with the same callbacks as _fit (early stopping on val loss)."""
    k = len(cfg.classes)
    fitted = model.fit(
        inputs["train"],
        np.eye(k, dtype=np.float32)[data.train.labels],
        validation_data=(inputs["val"], np.eye(k, dtype=np.float32)[data.val.labels]),
        batch_size=cfg.batch_size,
        initial_epoch=first_epoch,
        epochs=first_epoch + epochs,
        class_weight=class_weights(data.train.labels, k),
        callbacks=_callbacks(
            model, cfg, stage=stage, first_epoch=first_epoch, epochs=epochs, total=total, progress=progress
        ),
        shuffle=True,
        verbose=0,
    )
    return {key: [float(v) for v in values] for key, values in fitted.history.items()}


def _finish(
    model: keras.Model,
    cfg: ModelConfig,
    data: Dataset,
    probs: dict[str, np.ndarray],
    features: dict[str, np.ndarray],
    history: dict[str, list[float]],
    stage_epochs: tuple[int, ...],
) -> TrainResult:
    """Calibration, operating point and scope on validation; metrics on validation and (once) test."""
    calibration = None
    if cfg.calibrate:
        temperature = fit_temperature(probs["val"], data.val.labels)
        dense = model.get_layer("probs")
        dense.set_weights([w / temperature for w in dense.get_weights()])  # softmax(z / T): T folded in
        probs = {name: _softmax(np.log(np.clip(p, 1e-12, 1.0)) / temperature) for name, p in probs.items()}
        calibration = {"method": "temperature", "temperature": temperature, "fitted_on": "val"}
    threshold, operating = _operating_point(cfg, probs["val"], data.val.labels)
    scope = None
    if cfg.domain:
        scope = fit_scope(
            features["train"],
            data.train.labels,
            features["val"],
            domain=cfg.domain,
            min_side=cfg.min_side,
            quantile=cfg.scope_quantile,
        )
    metrics: dict[str, Any] = {
        "val": evaluate(probs["val"], data.val.labels, cfg.classes, threshold=threshold),
        "test": None,
    }
    if data.test is not None:
        metrics["test"] = evaluate(probs["test"], data.test.labels, cfg.classes, threshold=threshold)
    return TrainResult(
        model=model,
        config=cfg,
        mean=0.0,
        std=1.0,
        threshold=threshold,
        metrics=metrics,
        history=history,
        data_sha256=data.source_sha256,
        epochs_run=len(history["loss"]),
        stage_epochs=stage_epochs,
        scope=scope,
        calibration=calibration,
        operating_point=operating,
    )


def _operating_point(
    cfg: ModelConfig, val_probs: np.ndarray, val_labels: np.ndarray
) -> tuple[float | None, dict[str, Any] | None]:
    if len(cfg.classes) != 2:
        return None, None
    if cfg.target_sensitivity:
        threshold = threshold_for_sensitivity(val_probs[:, 1], val_labels, cfg.target_sensitivity)
        return threshold, {"rule": "sensitivity", "target": cfg.target_sensitivity, "split": "val"}
    return youden_threshold(val_probs[:, 1], val_labels), {"rule": "youden", "split": "val"}


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


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
    threshold, operating = _operating_point(cfg, val_probs, data.val.labels)
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
        operating_point=operating,
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
    k = len(cfg.classes)
    fitted = model.fit(
        _one_hot(make_dataset(data.train, "train", cfg), k),
        validation_data=_one_hot(make_dataset(data.val, "eval", cfg), k),
        initial_epoch=first_epoch,
        epochs=first_epoch + epochs,
        class_weight=class_weights(data.train.labels, len(cfg.classes)),
        callbacks=_callbacks(
            model,
            cfg,
            stage=stage,
            first_epoch=first_epoch,
            epochs=epochs,
            total=total,
            progress=progress,
            member=member,
        ),
        shuffle=False,  # make_dataset already shuffles, with the config's seed
        verbose=0,
    )
    return {key: [float(v) for v in values] for key, values in fitted.history.items()}


def _callbacks(
    model: keras.Model,
    cfg: ModelConfig,
    *,
    stage: int,
    first_epoch: int,
    epochs: int,
    total: int,
    progress: Callable[[EpochProgress], None] | None,
    member: int = 0,
) -> list[keras.callbacks.Callback]:
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
    return callbacks


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
