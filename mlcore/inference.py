"""Inference with a loaded bundle: grayscale images of any size in, labelled probabilities out."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from mlcore.bundle import Bundle
from mlcore.evaluate import predict_labels
from mlcore.gradcam import GradCam, GradCamExplainer
from mlcore.imaging import resize_square

MAX_BATCH = 16  # bounds memory for large images; images of one shape are run together


@dataclass(frozen=True)
class PredictTimings:
    """Wall-clock milliseconds of the batch an image ran in (images of one shape run together)."""

    preprocess_ms: float  # stacking and converting the batch
    inference_ms: float  # the model's forward pass
    batch_size: int


@dataclass(frozen=True)
class PredictionResult:
    """Probabilities per class name, the decided label and the threshold used (None: argmax)."""

    probabilities: dict[str, float]
    label: str
    threshold: float | None
    timings: PredictTimings | None = None
    # Set when the image is outside the model's input domain (mlcore.scope): a reason for a person, and then
    # label and probabilities must not be shown as a finding.
    unsuitable: str | None = None
    scope_distance: float | None = None  # the image's out-of-scope score, when the bundle has a feature check


class Predictor:
    """Runs a bundle's model; the model resizes and normalises internally.

    One Predictor may be shared by threads: the model is only read, and the lazily built forward
    function and Grad-CAM side model are created once under a lock.
    """

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self.classes = bundle.manifest.classes
        self.threshold = bundle.manifest.threshold if len(self.classes) == 2 else None
        self._lock = threading.Lock()
        self._forward: tf.types.experimental.GenericFunction | None = None
        self._features: tf.types.experimental.GenericFunction | None = None
        self._explainer: GradCamExplainer | None = None

    def size_refusal(self, image: np.ndarray) -> str | None:
        """Why a decoded uint8 (H, W) image is too small for this model (before prepare()), or None."""
        scope = self.bundle.scope
        return None if scope is None else scope.size_refusal(image.shape)

    def predict(self, images: Sequence[np.ndarray]) -> list[PredictionResult]:
        """Predict uint8 (H, W) images, batching those of equal shape; results keep the input order."""
        groups = _shape_groups(images)
        forward = self._forward_fn()
        probs = np.zeros((len(images), len(self.classes)), dtype=np.float64)
        timings: list[PredictTimings | None] = [None] * len(images)
        for indices in groups.values():
            for start in range(0, len(indices), MAX_BATCH):
                chunk = indices[start : start + MAX_BATCH]
                t0 = time.perf_counter()
                batch = tf.constant(np.stack([images[i] for i in chunk]).astype(np.float32)[..., np.newaxis])
                t1 = time.perf_counter()
                probs[chunk] = forward(batch).numpy()
                t2 = time.perf_counter()
                timing = PredictTimings((t1 - t0) * 1e3, (t2 - t1) * 1e3, len(chunk))
                for i in chunk:
                    timings[i] = timing
        labels = predict_labels(probs, self.threshold)
        distances = self._scope_distances(images)
        return [
            PredictionResult(
                probabilities={name: float(p) for name, p in zip(self.classes, row, strict=True)},
                label=self.classes[label],
                threshold=self.threshold,
                timings=timing,
                unsuitable=self._refusal(distance),
                scope_distance=distance,
            )
            for row, label, timing, distance in zip(probs, labels, timings, distances, strict=True)
        ]

    def predict_with_gradcam(self, images: Sequence[np.ndarray]) -> list[tuple[PredictionResult, GradCam]]:
        """predict() plus a Grad-CAM of each image for its decided label (threshold-aware for binary tasks).

        One forward pass gives both: the Grad-CAM side model outputs the probabilities too, and its backward
        pass only runs through the layers after the feature maps. timings.inference_ms covers the two together.
        """
        explainer = self._gradcam_explainer()
        distances = self._scope_distances(images)
        out: list[tuple[PredictionResult, GradCam] | None] = [None] * len(images)
        for indices in _shape_groups(images).values():
            for start in range(0, len(indices), MAX_BATCH):
                chunk = indices[start : start + MAX_BATCH]
                t0 = time.perf_counter()
                batch = np.stack([images[i] for i in chunk])
                t1 = time.perf_counter()
                probs, cams = explainer.explain_decided(batch, self.threshold)
                t2 = time.perf_counter()
                timing = PredictTimings((t1 - t0) * 1e3, (t2 - t1) * 1e3, len(chunk))
                for i, row, cam in zip(chunk, probs, cams, strict=True):
                    result = PredictionResult(
                        probabilities={name: float(p) for name, p in zip(self.classes, row, strict=True)},
                        label=self.classes[cam.class_index],
                        threshold=self.threshold,
                        timings=timing,
                        unsuitable=self._refusal(distances[i]),
                        scope_distance=distances[i],
                    )
                    out[i] = (result, cam)
        return out

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """Resize a decoded uint8 (H, W) image to the model's input size, exactly as training data were.

        Prepared images all share one shape, so any number of them run as one batch.
        """
        return resize_square(image, self.bundle.manifest.image_size)

    def _forward_fn(self) -> tf.types.experimental.GenericFunction:
        with self._lock:
            if self._forward is None:
                model = self.bundle.model
                self._forward = tf.function(
                    lambda x: model(x, training=False),
                    input_signature=[tf.TensorSpec((None, None, None, 1), tf.float32)],
                    reduce_retracing=True,
                )
            return self._forward

    def _scope_distances(self, images: Sequence[np.ndarray]) -> list[float | None]:
        """Each image's out-of-scope score (mlcore.scope), or None when the bundle has no feature check."""
        scope = self.bundle.scope
        if scope is None or not scope.has_features:
            return [None] * len(images)
        features = self._features_fn()
        out: list[float | None] = [None] * len(images)
        for indices in _shape_groups(images).values():
            for start in range(0, len(indices), MAX_BATCH):
                chunk = indices[start : start + MAX_BATCH]
                batch = tf.constant(np.stack([images[i] for i in chunk]).astype(np.float32)[..., np.newaxis])
                for i, distance in zip(chunk, scope.distances(features(batch).numpy()), strict=True):
                    out[i] = float(distance)
        return out

    def _refusal(self, distance: float | None) -> str | None:
        return None if distance is None else self.bundle.scope.refusal_for(distance)

    def _features_fn(self) -> tf.types.experimental.GenericFunction:
        with self._lock:
            if self._features is None:
                model = self.bundle.model
                side = keras.Model(model.inputs, model.get_layer(self.bundle.scope.layer).output)
                self._features = tf.function(
                    lambda x: side(x, training=False),
                    input_signature=[tf.TensorSpec((None, None, None, 1), tf.float32)],
                    reduce_retracing=True,
                )
            return self._features

    def _gradcam_explainer(self) -> GradCamExplainer:
        with self._lock:
            if self._explainer is None:
                self._explainer = GradCamExplainer(self.bundle.model)
            return self._explainer


def _shape_groups(images: Sequence[np.ndarray]) -> dict[tuple[int, int], list[int]]:
    """Indices of the images by shape, in input order; rejects anything but non-empty uint8 (H, W)."""
    groups: dict[tuple[int, int], list[int]] = {}
    for i, image in enumerate(images):
        if image.ndim != 2 or image.dtype != np.uint8 or 0 in image.shape:
            raise ValueError(f"image {i}: expected non-empty uint8 (H, W), got {image.dtype} {image.shape}")
        groups.setdefault(image.shape, []).append(i)
    return groups


def enable_gpu_memory_growth() -> None:
    """Let TensorFlow take GPU memory as it needs it instead of all at once (several workers per host).

    Must run before TensorFlow first touches the GPU; later calls, and machines without a GPU, are no-ops.
    """
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # the device is already initialised: the setting can no longer change
            pass
