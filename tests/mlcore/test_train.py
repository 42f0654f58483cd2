"""Tests for mlcore.train on a tiny separable toy task."""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
import pytest

import mlcore.train as train_module
from mlcore.config import ModelConfig
from mlcore.data import DataError, Dataset, Split, make_dataset
from mlcore.evaluate import youden_threshold
from mlcore.model import BACKBONE_LAYER
from mlcore.train import EpochProgress, TrainResult, class_weights, train


def test_train_learns_separable_toy_task(toy_result: TrainResult, make_toy_config: Callable[..., ModelConfig]) -> None:
    assert toy_result.metrics["val"]["accuracy"] >= 0.9
    assert toy_result.metrics["val"]["roc_auc"] >= 0.9
    assert toy_result.metrics["test"]["accuracy"] >= 0.9
    assert toy_result.config == make_toy_config() and toy_result.data_sha256 == "0" * 64
    assert set(toy_result.history) >= {"loss", "val_loss", "val_accuracy"}


def test_progress_is_reported_every_epoch(toy_training: tuple[TrainResult, list[EpochProgress]]) -> None:
    result, seen = toy_training
    assert result.epochs_run == len(result.history["loss"]) >= 1
    assert [p.epoch for p in seen] == list(range(1, result.epochs_run + 1))
    assert all(p.epochs == result.config.epochs for p in seen)
    assert [p.val_loss for p in seen] == pytest.approx(result.history["val_loss"])


def test_binary_threshold_is_youden_on_validation(toy_result: TrainResult, toy_dataset: Dataset) -> None:
    assert toy_result.threshold is not None and 0.0 <= toy_result.threshold <= 1.0
    val_probs = toy_result.model.predict(make_dataset(toy_dataset.val, "eval", toy_result.config), verbose=0)
    assert toy_result.threshold == pytest.approx(youden_threshold(val_probs[:, 1], toy_dataset.val.labels))
    assert toy_result.metrics["val"]["threshold"] == toy_result.threshold
    assert toy_result.metrics["test"]["threshold"] == toy_result.threshold


def test_pixel_statistics_come_from_train_only(toy_result: TrainResult, toy_dataset: Dataset) -> None:
    train_images = toy_dataset.train.images
    assert toy_result.mean == pytest.approx(train_images.mean())
    assert toy_result.std == pytest.approx(train_images.std())
    everything = np.concatenate([train_images, toy_dataset.val.images, toy_dataset.test.images])
    assert abs(toy_result.mean - everything.mean()) > 1.0
    normalize = toy_result.model.get_layer("normalize")
    assert float(np.ravel(normalize.mean)[0]) == pytest.approx(toy_result.mean)


def test_multiclass_training_has_no_threshold(
    make_toy_split: Callable[..., Split], make_toy_config: Callable[..., ModelConfig]
) -> None:
    three = make_toy_split(10, 10, seed=5)
    labels = np.arange(len(three.labels)) % 3  # arbitrary labels: this test is about structure, not skill
    data = Dataset(
        classes=("a", "b", "c"),
        train=Split(three.images, labels),
        val=Split(three.images[:9], labels[:9]),
        test=None,
        source_sha256="1" * 64,
    )
    result = train(make_toy_config(classes=("a", "b", "c"), epochs=1), data)
    assert result.threshold is None and result.metrics["test"] is None
    assert len(result.metrics["val"]["per_class"]) == 3


def test_train_rejects_mismatched_classes(toy_dataset: Dataset, make_toy_config: Callable[..., ModelConfig]) -> None:
    with pytest.raises(ValueError, match="classes"):
        train(make_toy_config(classes=("x", "y")), toy_dataset)


def test_class_weights_are_balanced() -> None:
    weights = class_weights(np.array([0, 0, 0, 1]), 2)
    assert weights == {0: pytest.approx(4 / 6), 1: pytest.approx(2.0)}
    with pytest.raises(DataError):
        class_weights(np.array([0, 0]), 2)


def test_compact_trains_in_one_stage(toy_training: tuple[TrainResult, list[EpochProgress]]) -> None:
    result, seen = toy_training
    assert result.stage_epochs == (result.epochs_run,) and {p.stage for p in seen} == {1}


def test_two_stage_transfer_learning(
    toy_dataset: Dataset, make_toy_config: Callable[..., ModelConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = make_toy_config(
        backbone="mobilenetv2", image_size=32, epochs=1, fine_tune_layers=12, fine_tune_epochs=1, batch_size=16
    )
    stages: list[tuple[int, dict[str, bool], int]] = []
    fit = train_module._fit

    def spy(model: keras.Model, *args: object, stage: int, **kwargs: object) -> dict[str, list[float]]:
        base = model.get_layer(BACKBONE_LAYER)
        stages.append((stage, {layer.name: layer.trainable for layer in base.layers}, len(model.trainable_weights)))
        return fit(model, *args, stage=stage, **kwargs)

    monkeypatch.setattr(train_module, "_fit", spy)
    seen: list[EpochProgress] = []
    result = train(cfg, toy_dataset, progress=seen.append)
    assert [s[0] for s in stages] == [1, 2] and result.stage_epochs == (1, 1) and result.epochs_run == 2
    assert [(p.epoch, p.epochs, p.stage) for p in seen] == [(1, 2, 1), (2, 2, 2)]
    assert len(result.history["val_loss"]) == 2
    assert (result.mean, result.std) == (0.0, 1.0)  # raw pixels into preprocess_input
    _, stage1, head_weights = stages[0]
    assert not any(stage1.values()) and head_weights == 2  # frozen base: only the Dense kernel and bias train
    base = result.model.get_layer(BACKBONE_LAYER)
    _, stage2, _ = stages[1]
    top = {layer.name for layer in base.layers[-12:]}
    for layer in base.layers:
        is_bn = isinstance(layer, keras.layers.BatchNormalization)
        assert stage2[layer.name] == (layer.name in top and not is_bn), layer.name
    assert any(stage2.values())


def test_fine_tuning_settings_are_validated(toy_dataset: Dataset, make_toy_config: Callable[..., ModelConfig]) -> None:
    with pytest.raises(ValueError, match="compact"):
        make_toy_config(fine_tune_layers=2, fine_tune_epochs=1)
    with pytest.raises(ValueError, match="both"):
        make_toy_config(backbone="vgg16", image_size=32, fine_tune_layers=2)
    with pytest.raises(ValueError, match="fine_tune_layers must be in"):
        train(make_toy_config(backbone="vgg16", image_size=32, fine_tune_layers=99, fine_tune_epochs=1), toy_dataset)


def test_ensemble_trains_members_one_after_another(
    toy_dataset: Dataset, make_toy_config: Callable[..., ModelConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = make_toy_config(ensemble=2, epochs=2, patience=5, label_smoothing=0.1, lr_schedule="cosine")
    fitted: list[tuple[int, int, list[float]]] = []
    fit = train_module._fit

    def spy(model: keras.Model, member_cfg: ModelConfig, *args: object, **kwargs: object) -> dict[str, list[float]]:
        history = fit(model, member_cfg, *args, **kwargs)
        fitted.append((member_cfg.seed, member_cfg.ensemble, [float(model.optimizer.learning_rate.numpy())]))
        return history

    monkeypatch.setattr(train_module, "_fit", spy)
    seen: list[EpochProgress] = []
    result = train(cfg, toy_dataset, progress=seen.append)
    assert [(seed, n) for seed, n, _ in fitted] == [(cfg.seed, 1), (cfg.seed + 1, 1)]
    assert fitted[0][2][0] == pytest.approx(cfg.learning_rate / 2)  # cosine: epoch 2 of 2 at half the base rate
    assert result.epochs_run == 4 and result.stage_epochs == (4,)
    assert [(p.epoch, p.epochs, p.member) for p in seen] == [(1, 4, 0), (2, 4, 0), (3, 4, 1), (4, 4, 1)]
    assert isinstance(result.model.get_layer("probs"), keras.layers.Average)
    assert result.metrics["val"]["accuracy"] >= 0.9 and result.threshold is not None
    val_probs = result.model.predict(make_dataset(toy_dataset.val, "eval", cfg), verbose=0)
    assert result.threshold == pytest.approx(youden_threshold(val_probs[:, 1], toy_dataset.val.labels))


def test_weight_ema_keeps_the_best_epochs_average(
    toy_dataset: Dataset, make_toy_config: Callable[..., ModelConfig]
) -> None:
    cfg = make_toy_config(weight_ema=0.9, epochs=4, patience=4)
    result = train(cfg, toy_dataset)
    assert result.model.optimizer.use_ema
    # Validation scored the averaged weights, and the model kept is the best epoch's average: evaluating it on
    # the validation split gives back the best validation loss (snapshotting the raw weights would not).
    val = train_module._one_hot(make_dataset(toy_dataset.val, "eval", cfg), len(cfg.classes))
    loss = result.model.evaluate(val, verbose=0, return_dict=True)["loss"]
    assert loss == pytest.approx(min(result.history["val_loss"]), rel=1e-4)
    with pytest.raises(ValueError, match="weight_ema"):
        make_toy_config(weight_ema=1.0)
