"""Leakage check: exact and near-duplicate images across the train/val/test splits of a Dataset.

Exact duplicates share the sha256 of their pixels. Near duplicates have 64-bit difference hashes
(dHash on an 8x9 area-averaged thumbnail) within a Hamming distance AND are confirmed by a
16x16 thumbnail comparison: on chest X-rays dHash alone pairs many distinct images of the same
anatomy (hundreds of false pairs on the covid19 set at distance 4). NumPy only: no TensorFlow.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # mlcore.data imports TensorFlow; this module does not need it
    from mlcore.data import Dataset

PAIRS = (("train", "val"), ("train", "test"), ("val", "test"))
_CHUNK = 512  # rows of the distance matrix computed at once


@dataclass(frozen=True)
class LeakageReport:
    """Cross-split duplicates, keyed "train-val", "train-test", "val-test".

    exact[key] lists (index in first split, index in second split); near[key] lists
    (index, index, Hamming distance) of pairs that are similar but not pixel-identical.
    """

    exact: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    near: dict[str, list[tuple[int, int, int]]] = field(default_factory=dict)
    near_threshold: int = 4
    sizes: dict[str, int] = field(default_factory=dict)

    @property
    def is_clean(self) -> bool:
        return not any(self.exact.values()) and not any(self.near.values())

    def counts(self) -> dict[str, dict[str, int]]:
        """Pairs and distinct images of the second split involved, per split pair."""
        return {
            key: {
                "exact_pairs": len(self.exact.get(key, [])),
                "near_pairs": len(self.near.get(key, [])),
                "exact_images": len({b for _, b in self.exact.get(key, [])}),
                "near_images": len({b for _, b, _ in self.near.get(key, [])}),
            }
            for key in self.exact
        }

    def summary(self) -> str:
        """A few human-readable lines."""
        sizes = ", ".join(f"{k} {v}" for k, v in self.sizes.items())
        if self.is_clean:
            return f"leakage check: clean ({sizes}; no exact or near duplicates, dHash <= {self.near_threshold})"
        lines = [f"leakage check: DUPLICATES ACROSS SPLITS ({sizes})"]
        for key, c in self.counts().items():
            if c["exact_pairs"] or c["near_pairs"]:
                second = key.split("-")[1]
                lines.append(
                    f"  {key}: {c['exact_pairs']} exact pairs ({c['exact_images']} {second} images), "
                    f"{c['near_pairs']} near pairs ({c['near_images']} {second} images, "
                    f"distance <= {self.near_threshold})"
                )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "is_clean": self.is_clean,
            "near_threshold": self.near_threshold,
            "sizes": self.sizes,
            "counts": self.counts(),
            "exact": {k: [list(p) for p in v] for k, v in self.exact.items()},
            "near": {k: [list(p) for p in v] for k, v in self.near.items()},
        }


def find_duplicates(data: Dataset, *, near_threshold: int = 4, max_thumb_diff: float = 0.1) -> LeakageReport:
    """Exact and near duplicates between every pair of the dataset's splits (not within a split).

    A near pair has dHash distance <= near_threshold and a mean absolute difference <= max_thumb_diff
    between the two images' 16x16 thumbnails, each standardised to zero mean and unit variance
    (brightness/contrast changes, mild noise and re-encoding stay well below 0.1; distinct X-rays
    of the same view measured 0.18 and above). max_thumb_diff=None uses the hash alone.
    """
    splits = {"train": data.train.images, "val": data.val.images}
    if data.test is not None:
        splits["test"] = data.test.images
    sha = {name: [pixel_sha256(img) for img in images] for name, images in splits.items()}
    hashes = {name: dhash(images) for name, images in splits.items()}
    thumbs = {name: _thumbnails(images) for name, images in splits.items()}
    exact: dict[str, list[tuple[int, int]]] = {}
    near: dict[str, list[tuple[int, int, int]]] = {}
    for a, b in PAIRS:
        if a not in splits or b not in splits:
            continue
        key = f"{a}-{b}"
        where: dict[str, list[int]] = {}
        for i, digest in enumerate(sha[a]):
            where.setdefault(digest, []).append(i)
        exact[key] = [(i, j) for j, digest in enumerate(sha[b]) for i in where.get(digest, [])]
        identical = set(exact[key])
        near[key] = [
            (i, j, d)
            for i, j, d in close_pairs(hashes[a], hashes[b], near_threshold)
            if (i, j) not in identical
            and (max_thumb_diff is None or np.abs(thumbs[a][i] - thumbs[b][j]).mean() <= max_thumb_diff)
        ]
    return LeakageReport(
        exact=exact,
        near=near,
        near_threshold=near_threshold,
        sizes={name: len(images) for name, images in splits.items()},
    )


def pixel_sha256(image: np.ndarray) -> str:
    """sha256 of an image's shape and pixel bytes."""
    return hashlib.sha256(repr(image.shape).encode() + np.ascontiguousarray(image).tobytes()).hexdigest()


def dhash(images: np.ndarray) -> np.ndarray:
    """64-bit difference hashes (uint64, N) of uint8 (N, H, W) images, vectorised.

    Each image is area-averaged to 8 rows x 9 columns; bit r*8+c is set when cell (r, c) is
    brighter than cell (r, c+1). Invariant to brightness offsets; robust to mild noise and resizing.
    """
    images = np.asarray(images, dtype=np.float64)
    n, h, w = images.shape
    if h < 8 or w < 9:
        raise ValueError(f"images of {h}x{w} are too small for a 8x9 difference hash")
    thumb = _block_mean(_block_mean(images, 8, axis=1), 9, axis=2)  # (N, 8, 9)
    bits = (thumb[:, :, :-1] > thumb[:, :, 1:]).reshape(n, 64)
    weights = np.left_shift(np.uint64(1), np.arange(64, dtype=np.uint64))
    return (bits.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)


def close_pairs(a: np.ndarray, b: np.ndarray, threshold: int) -> list[tuple[int, int, int]]:
    """(i, j, distance) for hashes a[i], b[j] within Hamming distance threshold, in chunks."""
    out: list[tuple[int, int, int]] = []
    for start in range(0, len(a), _CHUNK):
        dist = np.bitwise_count(np.bitwise_xor(a[start : start + _CHUNK, None], b[None, :]))
        for i, j in zip(*np.nonzero(dist <= threshold), strict=True):
            out.append((int(start + i), int(j), int(dist[i, j])))
    return out


def _thumbnails(images: np.ndarray, side: int = 16) -> np.ndarray:
    """(N, side, side) area-averaged thumbnails, each standardised (constant images become zeros)."""
    images = np.asarray(images, dtype=np.float64)
    side = min(side, images.shape[1], images.shape[2])
    thumb = _block_mean(_block_mean(images, side, axis=1), side, axis=2)
    centred = thumb - thumb.mean(axis=(1, 2), keepdims=True)
    std = centred.std(axis=(1, 2), keepdims=True)
    return centred / np.where(std > 1e-6, std, 1.0)


def _block_mean(x: np.ndarray, bins: int, *, axis: int) -> np.ndarray:
    """Mean over `bins` nearly equal, contiguous blocks along axis."""
    edges = np.linspace(0, x.shape[axis], bins + 1).round().astype(int)
    sums = np.add.reduceat(x, edges[:-1], axis=axis)
    shape = [1] * x.ndim
    shape[axis] = bins
    return sums / np.diff(edges).reshape(shape)
