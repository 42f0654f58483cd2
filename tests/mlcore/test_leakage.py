"""Tests for mlcore.leakage: exact and near duplicates across splits."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from mlcore.data import Dataset, Split
from mlcore.leakage import dhash, find_duplicates


def _smooth_images(n: int, seed: int, size: int = 32) -> np.ndarray:
    """Distinct smooth images (random 4x4 grids, bilinear upscaled), so hashes differ between images."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(20, 236, size=(n, 4, 4)).astype(np.uint8)
    resized = [Image.fromarray(c).resize((size, size), Image.Resampling.BILINEAR) for c in coarse]
    return np.stack([np.asarray(img, dtype=np.uint8) for img in resized])


def _dataset(train: np.ndarray, val: np.ndarray, test: np.ndarray) -> Dataset:
    def split(images: np.ndarray) -> Split:
        return Split(images, np.arange(len(images)) % 2)

    return Dataset(("a", "b"), split(train), split(val), split(test), "0" * 64)


def test_clean_dataset_reports_clean() -> None:
    images = _smooth_images(60, seed=0)
    report = find_duplicates(_dataset(images[:40], images[40:50], images[50:]))
    assert report.is_clean
    assert report.counts()["train-test"] == {"exact_pairs": 0, "near_pairs": 0, "exact_images": 0, "near_images": 0}
    assert report.summary().startswith("leakage check: clean")


def test_planted_exact_and_near_duplicates_are_found() -> None:
    images = _smooth_images(60, seed=1)
    train, val, test = images[:40].copy(), images[40:50].copy(), images[50:].copy()
    test[2] = train[7]  # exact
    val[3] = train[11]  # exact
    rng = np.random.default_rng(5)
    noisy = train[20].astype(int) + 6 + rng.integers(-3, 4, size=train[20].shape)
    test[5] = np.clip(noisy, 0, 255).astype(np.uint8)  # near: brighter and noisy
    report = find_duplicates(_dataset(train, val, test))
    assert not report.is_clean
    assert report.exact == {"train-val": [(11, 3)], "train-test": [(7, 2)], "val-test": []}
    assert [(i, j) for i, j, _ in report.near["train-test"]] == [(20, 5)]
    assert report.near["train-test"][0][2] <= 4 and report.near["train-val"] == []
    assert "train-test: 1 exact pairs" in report.summary()
    json.dumps(report.to_dict())


def test_duplicates_within_one_split_are_not_leakage() -> None:
    images = _smooth_images(30, seed=2)
    train = images[:20].copy()
    train[1] = train[0]
    assert find_duplicates(_dataset(train, images[20:25], images[25:])).is_clean


def test_dhash_is_brightness_invariant_and_distinguishes_images() -> None:
    images = _smooth_images(2, seed=3)
    shifted = np.clip(images.astype(int) + 10, 0, 255).astype(np.uint8)
    hashes = dhash(np.concatenate([images, shifted]))
    assert hashes.dtype == np.uint64 and hashes[0] == hashes[2] and hashes[1] == hashes[3]
    assert int(np.bitwise_count(hashes[0] ^ hashes[1])) > 4
