"""Model building: a pure function of ModelConfig plus the training-set pixel statistics."""

from __future__ import annotations

import keras

from mlcore.config import ModelConfig

LAST_CONV_LAYER = "last_conv"  # Grad-CAM reads the feature maps of this layer
COMPACT_FILTERS = (16, 32, 64)


def build_model(cfg: ModelConfig, *, mean: float, std: float) -> keras.Model:
    """Raw grayscale pixels (B, H, W, 1), any H and W, in 0..255 -> class probabilities.

    Resizing and normalisation are layers of the model, so serving cannot drift from training.
    The model is returned uncompiled; train() compiles it.
    """
    if cfg.backbone != "compact":
        raise ValueError(f"unknown backbone {cfg.backbone!r}")
    if not std > 0:
        raise ValueError(f"std must be positive, got {std}")
    inputs = keras.Input(shape=(None, None, 1), dtype="float32", name="pixels")
    x = keras.layers.Resizing(cfg.image_size, cfg.image_size, antialias=True, name="resize")(inputs)
    x = keras.layers.Normalization(mean=mean, variance=std**2, name="normalize")(x)
    x = _compact_backbone(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dropout(cfg.dropout, seed=cfg.seed, name="dropout")(x)
    outputs = keras.layers.Dense(len(cfg.classes), activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name=f"{cfg.backbone}_{len(cfg.classes)}class")


def _compact_backbone(x: keras.KerasTensor) -> keras.KerasTensor:
    """Three blocks of Conv3x3 -> BatchNorm -> ReLU -> MaxPool; the last conv is named LAST_CONV_LAYER."""
    for i, filters in enumerate(COMPACT_FILTERS, start=1):
        last = i == len(COMPACT_FILTERS)
        name = LAST_CONV_LAYER if last else f"conv{i}"
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=name)(x)
        # momentum 0.9 (Keras default 0.99): small medical sets give few steps per epoch, and the
        # moving statistics used at inference must converge within them.
        x = keras.layers.BatchNormalization(momentum=0.9, name=f"bn{i}")(x)
        x = keras.layers.ReLU(name=f"relu{i}")(x)
        x = keras.layers.MaxPooling2D(name=f"pool{i}")(x)
    return x
