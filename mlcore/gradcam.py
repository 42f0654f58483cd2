"""Grad-CAM heatmaps through a side model; the served model is never changed."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf
from PIL import Image

from mlcore.heatmap import OVERLAY_ALPHA, jet_lut, overlay_png, to_cam8
from mlcore.model import member_prefix

# jet_lut, overlay_png and OVERLAY_ALPHA live in mlcore.heatmap (no TensorFlow); re-exported for their importers.
__all__ = ["OVERLAY_ALPHA", "GradCam", "gradcam", "heatmap_png", "jet_lut", "overlay_png"]

_CONV_TYPES = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)
_POOLING_TYPES = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)
_NOT_FEATURE_TYPES = (*_POOLING_TYPES, keras.layers.Dropout, keras.layers.InputLayer)  # SpatialDropout2D is a Dropout
# What may follow a convolution inside its block, before the block's rectified output (Conv -> BN -> ReLU).
_NORM_OR_ACTIVATION_TYPES = (
    keras.layers.BatchNormalization,
    keras.layers.ReLU,
    keras.layers.Activation,
    keras.layers.LeakyReLU,
    keras.layers.ELU,
    keras.layers.PReLU,
)


@dataclass(frozen=True, eq=False)
class GradCam:
    """heatmap: float32 (H, W) in 0..1 at the explained image's size, for class class_index."""

    heatmap: np.ndarray
    class_index: int
    image: np.ndarray  # the uint8 (H, W) image explained

    @property
    def overlay_png(self) -> bytes:
        """PNG of the image with the heatmap's upper part shaded and outlined over it (cam_overlay_rgba)."""
        return overlay_png(self.image, self.heatmap)

    def heatmap_png(self, shape: tuple[int, int] | None = None) -> bytes:
        """The CAM itself as an 8-bit greyscale PNG (0: no evidence, 255: the most), resized to shape (H, W) when
        given; what is stored, and coloured for display by cam_overlay_rgba."""
        return heatmap_png(self.heatmap, shape)


def find_cam_layer(model: keras.Model) -> str:
    """Name of the layer Grad-CAM reads: "layer" at top level, or "base/layer" inside a nested base model.

    Grad-CAM (Selvaraju et al.) weighs the rectified feature maps of the last convolutional block. So from
    the last Conv2D/DepthwiseConv2D/SeparableConv2D it walks forward, by layer type and graph (not by name,
    so bundles saved before this rule get it too), through the BatchNormalization and activation layers
    that follow it while each is the only consumer and keeps a 4-D output: the compact CNN's
    last_conv -> bn -> relu is read at the ReLU. The conv's own output is pre-BatchNorm, and its Grad-CAM
    sum can be negative everywhere, which the final ReLU turns into a blank map.

    Inside a nested model (a backbone): the same walk, unless its last 4-D layer that is neither pooling
    nor dropout comes later (ResNet's residual activation, Inception's concatenation). So a backbone that
    ends in pooling, dropout or a classifier after conv -> BN -> ReLU is still read at its ReLU.
    """
    found = _cam_search(model, nested=False)
    if found is None:
        raise ValueError(f"model {model.name!r} has no convolutional layer with a 4-D output")
    return found


def find_last_conv_layer(model: keras.Model) -> str:
    """The last convolution: "layer" at top level, or "base/layer" inside a nested base model.

    Top level: the last Conv2D/DepthwiseConv2D/SeparableConv2D with a 4-D output. Inside a nested model
    (a keras.applications backbone): its final 4-D, non-pooling layer (the backbone's final activation
    or block output), else its last conv layer. Grad-CAM reads find_cam_layer, the activation after it.
    """
    found = _search(model, nested=False)
    if found is None:
        raise ValueError(f"model {model.name!r} has no convolutional layer with a 4-D output")
    return found


def gradcam(model: keras.Model, image: np.ndarray, class_index: int | None = None) -> GradCam:
    """Grad-CAM of one uint8 (H, W) image for class_index (default: the top class)."""
    return GradCamExplainer(model).explain(image, class_index)


def cam_layers(model: keras.Model, layer: str) -> tuple[str, ...]:
    """The layers whose maps explain model at layer: (layer,), or, when layer is one of them, every ensemble
    member's find_cam_layer layer (the activation after member_prefix(i)'s last conv).

    An ensemble (mlcore.model, config.ensemble > 1) averages its members' probabilities, so the gradient of
    its score reaches every member's maps; their Grad-CAM terms add up to the ensemble's own. With flip TTA
    (config.tta_flip) a member's layer runs twice; its output is the first call's, on the unmirrored image, so
    the heatmap explains the unmirrored passes and stays aligned with the image.
    """
    consumers = _consumers(model)
    members: list[str] = []
    while True:
        prefix = member_prefix(len(members))
        convs = [each for each in model.layers if each.name.startswith(prefix) and _is_conv(each)]
        if not convs:
            break
        members.append(_block_output(convs[-1], consumers).name)
    return tuple(members) if layer in members else (layer,)


class GradCamExplainer:
    """Builds the side model (inputs -> [feature maps..., probabilities]) and its traced gradient function once;
    explain() may run concurrently."""

    def __init__(self, model: keras.Model, layer: str | None = None) -> None:
        self.layer = layer or find_cam_layer(model)
        self.layers = cam_layers(model, self.layer) if layer is None else (layer,)  # a named layer: only it
        # A single model that ends in a softmax Dense is explained through its logits (the class score Grad-CAM
        # is defined on): a calibrated, confident model's float32 probability is exactly 1.0, whose gradient is 0.
        # An ensemble is explained through the sum of its members' logits (each member ends in a softmax Dense).
        self.logits = _logit_layers(model, len(self.layers))
        self.side_model = (
            _side_model(model, self.layer, self.logits[0] if self.logits else None)
            if len(self.layers) == 1
            else _multi_side_model(model, self.layers, self.logits)
        )
        self.n_classes = int(model.output_shape[-1])
        self._cams = tf.function(
            self._compute,
            input_signature=[
                tf.TensorSpec((None, None, None, 1), tf.float32),
                tf.TensorSpec((None,), tf.int32),
                tf.TensorSpec((), tf.float32),
            ],
            reduce_retracing=True,
        )

    def _compute(self, x: tf.Tensor, requested: tf.Tensor, threshold: tf.Tensor) -> tuple[tf.Tensor, ...]:
        """One forward and one (short) backward pass: class activation maps (B, h, w), the explained class of
        each sample and the probabilities (B, k). requested -1 asks for the decided class: for two classes with
        threshold >= 0, class 1 when its probability reaches the threshold; otherwise the top class."""
        with tf.GradientTape() as tape:
            tape.watch(x)  # frozen backbones have no watched variables: record the path from the input
            *features, probs = self.side_model(x, training=False)
            probs = tf.cast(probs, tf.float32)
            scores = probs
            if self.logits:
                features, hiddens = features[: len(self.layers)], features[len(self.layers) :]
                per_member = zip(self.logits, hiddens, strict=True)
                scores = tf.add_n([_class_scores(dense, h, self.n_classes) for dense, h in per_member])
            decided = tf.argmax(probs, axis=-1, output_type=tf.int32)
            if self.n_classes == 2:
                by_threshold = tf.cast(probs[:, 1] >= threshold, tf.int32)
                decided = tf.where(threshold >= 0.0, by_threshold, decided)
            chosen = tf.where(requested < 0, decided, requested)
            score = tf.reduce_sum(tf.gather(scores, chosen, axis=1, batch_dims=1))  # scores[i, chosen[i]], summed
        cam = 0.0
        for maps, grads in zip(features, tape.gradient(score, features), strict=True):
            maps = tf.cast(maps, tf.float32)
            grads = tf.zeros_like(maps) if grads is None else tf.cast(grads, tf.float32)
            cam += tf.reduce_sum(maps * tf.reduce_mean(grads, axis=(1, 2), keepdims=True), axis=-1)
        return tf.nn.relu(cam), chosen, probs

    def explain(self, image: np.ndarray, class_index: int | None = None) -> GradCam:
        """Grad-CAM of one uint8 (H, W) image for class_index (default: the top class)."""
        if image.ndim != 2:
            raise ValueError(f"expected a non-empty uint8 (H, W) image, got {image.dtype} {image.shape}")
        return self.explain_batch(image[np.newaxis], [class_index])[0]

    def explain_batch(self, images: np.ndarray, class_indices: Sequence[int | None]) -> list[GradCam]:
        """Grad-CAMs of a uint8 (B, H, W) batch in one forward and backward pass.

        Each sample's score depends only on its own input (the model runs in inference mode), so the
        gradient of the summed scores gives every sample its own Grad-CAM exactly.
        """
        if images.ndim != 3 or images.dtype != np.uint8 or 0 in images.shape:
            raise ValueError(f"expected a non-empty uint8 (B, H, W) batch, got {images.dtype} {images.shape}")
        if len(class_indices) != len(images):
            raise ValueError(f"{len(images)} images but {len(class_indices)} class indices")
        for class_index in class_indices:
            if class_index is not None and not 0 <= class_index < self.n_classes:
                raise ValueError(f"class_index {class_index} is outside 0..{self.n_classes - 1}")
        requested = [-1 if c is None else c for c in class_indices]
        return self._run(images, requested, threshold=None)[1]

    def explain_decided(self, images: np.ndarray, threshold: float | None) -> tuple[np.ndarray, list[GradCam]]:
        """Probabilities (B, k) of a uint8 (B, H, W) batch and the Grad-CAM of each image's decided class, in
        one pass: the class at threshold for binary models (None: the top class), as predict_labels decides."""
        if images.ndim != 3 or images.dtype != np.uint8 or 0 in images.shape:
            raise ValueError(f"expected a non-empty uint8 (B, H, W) batch, got {images.dtype} {images.shape}")
        return self._run(images, [-1] * len(images), threshold)

    def _run(
        self, images: np.ndarray, requested: list[int], threshold: float | None
    ) -> tuple[np.ndarray, list[GradCam]]:
        x = tf.constant(images[..., np.newaxis], dtype=tf.float32)
        limit = tf.constant(-1.0 if threshold is None else threshold, dtype=tf.float32)
        cams, chosen, probs = self._cams(x, tf.constant(requested, dtype=tf.int32), limit)  # one traced graph
        explained = [
            GradCam(heatmap=_resize01(cam, image.shape), class_index=int(index), image=image)
            for cam, index, image in zip(cams.numpy(), chosen.numpy(), images, strict=True)
        ]
        return probs.numpy().astype(np.float64), explained


def heatmap_png(heatmap: np.ndarray, shape: tuple[int, int] | None = None) -> bytes:
    """The heatmap (0..1) as an 8-bit greyscale PNG, bilinearly resized to shape (H, W) if given."""
    if shape is not None and tuple(shape) != heatmap.shape:
        resized = Image.fromarray(heatmap.astype(np.float32), mode="F").resize((shape[1], shape[0]), Image.BILINEAR)
        heatmap = np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)
    buffer = io.BytesIO()
    Image.fromarray(to_cam8(heatmap), mode="L").save(buffer, format="PNG", optimize=False, compress_level=3)
    return buffer.getvalue()


def _resize01(cam: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Scale to 0..1 by the maximum and resize to shape; an all-zero (or non-finite) map stays zeros."""
    peak = float(cam.max()) if cam.size else 0.0
    if not (np.isfinite(peak) and peak > 0.0):
        return np.zeros(shape, dtype=np.float32)
    scaled = Image.fromarray((cam / peak).astype(np.float32), mode="F").resize((shape[1], shape[0]), Image.BILINEAR)
    return np.clip(np.asarray(scaled, dtype=np.float32), 0.0, 1.0)


def _cam_search(model: keras.Model, *, nested: bool) -> str | None:
    chosen: keras.layers.Layer | None = None
    for layer in reversed(model.layers):
        if isinstance(layer, keras.Model):
            inner = _cam_search(layer, nested=True)
            if inner is not None:
                return f"{layer.name}/{inner}"
        elif _is_conv(layer):
            chosen = _block_output(layer, _consumers(model))
            break
    if nested:
        final = [each for each in model.layers if _is_4d(each) and not isinstance(each, _NOT_FEATURE_TYPES)]
        if final and (chosen is None or model.layers.index(final[-1]) > model.layers.index(chosen)):
            chosen = final[-1]
    return None if chosen is None else chosen.name


def _block_output(conv: keras.layers.Layer, consumers: dict[int, list[keras.layers.Layer]]) -> keras.layers.Layer:
    """The layer after conv's BatchNormalization/activation chain: conv itself when none follows.

    Each step follows the first call (node 0) of a layer, as Operation.output does: for flip TTA, the
    unmirrored pass."""
    layer = conv
    while True:
        after = consumers.get(id(layer.output), [])
        if len(after) != 1 or not isinstance(after[0], _NORM_OR_ACTIVATION_TYPES) or not _is_4d(after[0]):
            return layer
        layer = after[0]


def _consumers(model: keras.Model) -> dict[int, list[keras.layers.Layer]]:
    """id(tensor) -> the layers of model whose first call takes that tensor as an input."""
    found: dict[int, list[keras.layers.Layer]] = {}
    for layer in model.layers:
        for tensor in keras.tree.flatten(layer.input):
            found.setdefault(id(tensor), []).append(layer)
    return found


def _is_conv(layer: keras.layers.Layer) -> bool:
    return isinstance(layer, _CONV_TYPES) and _is_4d(layer)


def _is_4d(layer: keras.layers.Layer) -> bool:
    return not isinstance(layer, keras.Model) and len(layer.output.shape) == 4


def _search(model: keras.Model, *, nested: bool) -> str | None:
    final = model.layers[-1]
    for layer in reversed(model.layers):
        if isinstance(layer, keras.Model):
            inner = _search(layer, nested=True)
            if inner is not None:
                return f"{layer.name}/{inner}"
            continue
        if len(layer.output.shape) != 4:
            continue
        if isinstance(layer, _CONV_TYPES):
            return layer.name
        if nested and layer is final and not isinstance(layer, _POOLING_TYPES):
            return layer.name
    return None


def _multi_side_model(
    model: keras.Model, names: tuple[str, ...], logits: tuple[keras.layers.Dense, ...] = ()
) -> keras.Model:
    """keras.Model(inputs, [maps of each top-level layer in names..., each logits layer's input..., model output]),
    sharing model's weights. Maps and logits' inputs are their layers' first calls (the unmirrored pass)."""
    maps = [model.get_layer(name).output for name in names]
    return keras.Model(model.inputs, maps + [dense.input for dense in logits] + [model.output])


def _logit_layers(model: keras.Model, members: int) -> tuple[keras.layers.Dense, ...]:
    """The softmax Dense layers whose logits Grad-CAM explains: model's output layer, or each ensemble member's
    (named member_prefix(i) + "probs"); empty when they are not all softmax Dense layers (then probabilities)."""
    if members == 1:
        found = [model.layers[-1]]
    else:
        names = {layer.name for layer in model.layers}
        found = [
            model.get_layer(f"{member_prefix(i)}probs") if f"{member_prefix(i)}probs" in names else None
            for i in range(members)
        ]
    if all(isinstance(d, keras.layers.Dense) and d.activation is keras.activations.softmax for d in found):
        return tuple(found)
    return ()


def _class_scores(dense: keras.layers.Dense, hidden: tf.Tensor, n_classes: int) -> tf.Tensor:
    """The class scores Grad-CAM differentiates: logits, or for two classes each one's log-odds."""
    kernel, bias = (tf.cast(w, tf.float32) for w in (dense.kernel, dense.bias))
    logits = tf.matmul(tf.cast(hidden, tf.float32), kernel) + bias
    if n_classes == 2:
        return tf.stack([logits[:, 0] - logits[:, 1], logits[:, 1] - logits[:, 0]], axis=1)
    return logits


def _side_model(model: keras.Model, path: str, logits: keras.layers.Dense | None = None) -> keras.Model:
    """keras.Model(inputs, [feature maps at path, (logits' input,) model output]) sharing model's layers and
    weights; the input of the logits layer is an output too when it is given."""
    outer, _, inner = path.rpartition("/")
    hidden = [] if logits is None else [logits.input]
    if not outer:
        return keras.Model(model.inputs, [model.get_layer(inner).output, *hidden, model.output])
    # Nested base: its inner tensors live in the base's own graph, so re-trace the outer graph on a new
    # input, calling a two-output view of the base in place of the base. No weights are copied or changed.
    if "/" in outer:
        raise ValueError(f"Grad-CAM supports one level of model nesting, got {path!r}")
    base = model.get_layer(outer)
    view = keras.Model(base.inputs, [base.get_layer(inner).output, base.output])
    captured: list[keras.KerasTensor] = []
    into_logits: list[keras.KerasTensor] = []

    def call(operation: keras.Operation, *args: object, **kwargs: object) -> object:
        if operation is logits:
            into_logits.append(args[0])
        if operation is not base:
            return operation(*args, **kwargs)
        features, out = view(*args, **kwargs)
        captured.append(features)
        return out

    # clone_function returns each layer itself, so the re-traced graph shares the served model's weights.
    retraced = keras.models.clone_model(model, clone_function=lambda layer: layer, call_function=call)
    outputs = [captured[0], *into_logits[:1], retraced.output]
    return keras.Model(retraced.inputs, outputs, name=f"{model.name}_gradcam")
