"""A model's input domain: which images it may label, and a plain reason for the ones it must refuse.

Two checks, cheapest first:

1. A size rule on the decoded image: an image smaller than ``min_side`` on either side is refused before the
   model runs ("too small to assess (1×1 px)").
2. A feature-space check (Lee et al. 2018, "A simple unified framework for detecting out-of-distribution samples
   and adversarial attacks"): the Mahalanobis distance of the image's pooled backbone features to the nearest
   class mean of the training features, under one shared covariance (Ledoit-Wolf shrinkage). An image farther
   than ``threshold`` (a high quantile of the in-scope *validation* distances) is out of scope: another modality
   or body part, a photograph, noise.

Arrays travel in the bundle as ``scope.npz``; the manifest holds the settings and the file's sha256.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.covariance import LedoitWolf

SCOPE_FILE = "scope.npz"
METHOD = "mahalanobis"
FEATURE_LAYER = "pool"  # the head's global average pooling of the backbone's final feature map


@dataclass(frozen=True, eq=False)
class Scope:
    """What a model may be shown. means/precision/threshold are None for a size rule alone."""

    domain: str  # what the model reads, in words: "chest radiograph", "brain MRI"
    min_side: int  # pixels; a smaller image is refused before the model runs
    means: np.ndarray | None = None  # (k, d) float32 class means of the training features
    precision: np.ndarray | None = None  # (d, d) float32 inverse of the shared covariance
    threshold: float | None = None  # distances above it are out of scope
    quantile: float | None = None  # of the validation distances that set the threshold
    layer: str = FEATURE_LAYER

    @property
    def has_features(self) -> bool:
        return self.means is not None

    def size_refusal(self, shape: tuple[int, ...]) -> str | None:
        """The reason an image of this (H, W) shape is refused, or None when it is large enough."""
        height, width = int(shape[0]), int(shape[1])
        if min(height, width) >= self.min_side:
            return None
        return (
            f"Too small to assess ({width}×{height} px): this model reads images of at least "
            f"{self.min_side} px on each side."
        )

    def distances(self, features: np.ndarray) -> np.ndarray:
        """Mahalanobis distance (not squared) of each row of features (n, d) to the nearest class mean."""
        if not self.has_features:
            raise ValueError("this scope has no feature model")
        x = np.asarray(features, dtype=np.float64)
        squared = [np.einsum("nd,de,ne->n", x - mu, self.precision, x - mu) for mu in self.means.astype(np.float64)]
        return np.sqrt(np.maximum(np.min(squared, axis=0), 0.0))

    def feature_refusals(self, features: np.ndarray) -> list[str | None]:
        """Per row of features: the reason it is out of scope, or None when the model may label it."""
        return [self.refusal_for(d) for d in self.distances(features)]

    def refusal_for(self, distance: float) -> str | None:
        if distance <= self.threshold:
            return None
        return (
            f"Not recognised as a {self.domain} like the ones this model was trained on, so the AI gave it no "
            f"label (out-of-scope score {distance:.1f}, limit {self.threshold:.1f})."
        )

    def manifest_entry(self, file_sha256: str | None) -> dict[str, Any]:
        """The manifest's "scope" object; file_sha256 of scope.npz (None for a size rule alone)."""
        return {
            "domain": self.domain,
            "min_side": self.min_side,
            "method": METHOD if self.has_features else "size",
            "threshold": self.threshold,
            "quantile": self.quantile,
            "layer": self.layer,
            "file": SCOPE_FILE if self.has_features else None,
            "file_sha256": file_sha256,
        }

    def arrays_npz(self) -> bytes:
        """scope.npz's bytes: means in float32 and the precision matrix in float16 (3.3 MB instead of 6.6 MB for 1280
        features; fit_scope sets the threshold with the float16 matrix, so it holds for the stored one)."""
        buffer = io.BytesIO()
        np.savez(buffer, means=self.means.astype(np.float32), precision=self.precision.astype(np.float16))
        return buffer.getvalue()

    @classmethod
    def from_manifest(cls, entry: dict[str, Any], npz: bytes | None) -> Scope:
        means = precision = None
        if npz is not None:
            with np.load(io.BytesIO(npz), allow_pickle=False) as arrays:
                means, precision = arrays["means"], arrays["precision"].astype(np.float32)
        return cls(
            domain=str(entry["domain"]),
            min_side=int(entry["min_side"]),
            means=means,
            precision=precision,
            threshold=None if entry.get("threshold") is None else float(entry["threshold"]),
            quantile=entry.get("quantile"),
            layer=str(entry.get("layer") or FEATURE_LAYER),
        )


def fit_scope(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    val_features: np.ndarray,
    *,
    domain: str,
    min_side: int,
    quantile: float = 0.99,
) -> Scope:
    """Class means and shared Ledoit-Wolf covariance on the training features; the threshold is the quantile
    of the in-scope validation distances (so about 1 - quantile of in-scope images are refused)."""
    x = np.asarray(train_features, dtype=np.float64)
    labels = np.asarray(train_labels).reshape(-1)
    classes = np.unique(labels)
    means = np.stack([x[labels == c].mean(axis=0) for c in classes])
    centred = x - means[np.searchsorted(classes, labels)]
    precision = LedoitWolf(assume_centered=True).fit(centred).precision_
    scope = Scope(
        domain=domain,
        min_side=min_side,
        means=means.astype(np.float32),
        precision=precision.astype(np.float16).astype(np.float32),  # as stored in scope.npz
        threshold=np.inf,
        quantile=quantile,
    )
    threshold = float(np.quantile(scope.distances(val_features), quantile))
    return Scope(domain, min_side, scope.means, scope.precision, threshold, quantile)
