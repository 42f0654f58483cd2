"""Tiny synthetic data and one shared toy training run for the mlcore tests (CPU, seconds).

Helpers are handed out as fixtures, so tests never import this conftest by module name.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from mlcore.config import ModelConfig
from mlcore.data import Dataset, Split
from mlcore.train import EpochProgress, TrainResult, train

TOY_CLASSES = ("normal", "pneumonia")


def toy_split(n_dark: int, n_bright: int, *, size: int = 16, seed: int = 0) -> Split:
    """Class 0: noisy dark squares; class 1: the same with a bright centre patch."""
    rng = np.random.default_rng(seed)
    n = n_dark + n_bright
    images = rng.integers(0, 60, size=(n, size, size), dtype=np.uint8)
    lo, hi = size // 4, size - size // 4
    images[n_dark:, lo:hi, lo:hi] = rng.integers(190, 250, size=(n_bright, hi - lo, hi - lo), dtype=np.uint8)
    labels = np.array([0] * n_dark + [1] * n_bright, dtype=np.int64)
    order = rng.permutation(n)
    return Split(images[order], labels[order])


def toy_config(**overrides: object) -> ModelConfig:
    params: dict[str, object] = dict(
        task="toy", classes=TOY_CLASSES, image_size=16, epochs=3, batch_size=8, learning_rate=1e-3, patience=2
    )
    params.update(overrides)
    return ModelConfig(**params)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def make_toy_split() -> Callable[..., Split]:
    return toy_split


@pytest.fixture(scope="session")
def make_toy_config() -> Callable[..., ModelConfig]:
    return toy_config


@pytest.fixture(scope="session")
def toy_dataset() -> Dataset:
    # val and test have more bright images than train, so their pixel mean differs from train's.
    return Dataset(
        classes=TOY_CLASSES,
        train=toy_split(20, 20, seed=1),
        val=toy_split(8, 16, seed=2),
        test=toy_split(8, 16, seed=3),
        source_sha256="0" * 64,
    )


@pytest.fixture(scope="session")
def toy_training(toy_dataset: Dataset) -> tuple[TrainResult, list[EpochProgress]]:
    seen: list[EpochProgress] = []
    result = train(toy_config(), toy_dataset, progress=seen.append)
    return result, seen


@pytest.fixture(scope="session")
def toy_result(toy_training: tuple[TrainResult, list[EpochProgress]]) -> TrainResult:
    return toy_training[0]
