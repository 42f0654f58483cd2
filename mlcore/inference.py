"""Inference with a loaded bundle: grayscale images of any size in, labelled probabilities out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import keras
import numpy as np

from mlcore.bundle import Bundle
from mlcore.evaluate import predict_labels

MAX_BATCH = 16  # bounds memory for large images; images of one shape are run together


@dataclass(frozen=True)
class PredictionResult:
    """Probabilities per class name, the decided label and the threshold used (None: argmax)."""

    probabilities: dict[str, float]
    label: str
    threshold: float | None


class Predictor:
    """Runs a bundle's model; the model resizes and normalises internally."""

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self.classes = bundle.manifest.classes
        self.threshold = bundle.manifest.threshold if len(self.classes) == 2 else None

    def predict(self, images: Sequence[np.ndarray]) -> list[PredictionResult]:
        """Predict uint8 (H, W) images, batching those of equal shape; results keep the input order."""
        groups: dict[tuple[int, int], list[int]] = {}
        for i, image in enumerate(images):
            if image.ndim != 2 or image.dtype != np.uint8 or 0 in image.shape:
                raise ValueError(f"image {i}: expected non-empty uint8 (H, W), got {image.dtype} {image.shape}")
            groups.setdefault(image.shape, []).append(i)
        probs = np.zeros((len(images), len(self.classes)), dtype=np.float64)
        for indices in groups.values():
            for start in range(0, len(indices), MAX_BATCH):
                chunk = indices[start : start + MAX_BATCH]
                batch = np.stack([images[i] for i in chunk]).astype(np.float32)[..., np.newaxis]
                out = self.bundle.model(batch, training=False)
                probs[chunk] = keras.ops.convert_to_numpy(out)
        labels = predict_labels(probs, self.threshold)
        return [
            PredictionResult(
                probabilities={name: float(p) for name, p in zip(self.classes, row, strict=True)},
                label=self.classes[label],
                threshold=self.threshold,
            )
            for row, label in zip(probs, labels, strict=True)
        ]
