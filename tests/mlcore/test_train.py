"""Tests for mlcore.train on a tiny separable toy task."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from mlcore.config import ModelConfig
from mlcore.data import DataError, Dataset, Split, make_dataset
from mlcore.evaluate import youden_threshold
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
