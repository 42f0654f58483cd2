"""Tests for mlcore.model.build_model."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from mlcore.config import ModelConfig
from mlcore.model import LAST_CONV_LAYER, build_model


def _cfg(**overrides: object) -> ModelConfig:
    params: dict[str, object] = dict(task="t", classes=("a", "b", "c"), image_size=16)
    params.update(overrides)
    return ModelConfig(**params)  # type: ignore[arg-type]


def test_build_model_is_a_pure_function_of_config() -> None:
    cfg = _cfg()
    first = build_model(cfg, mean=100.0, std=50.0)
    second = build_model(cfg, mean=100.0, std=50.0)
    assert first.get_config() == second.get_config()
    assert first.count_params() == second.count_params()
    other = build_model(_cfg(classes=("a", "b")), mean=100.0, std=50.0)
    assert other.output_shape == (None, 2) and first.output_shape == (None, 3)


def test_model_resizes_and_normalises_inside() -> None:
    model = build_model(_cfg(), mean=100.0, std=50.0)
    for shape in ((2, 40, 40, 1), (1, 16, 16, 1), (1, 23, 57, 1)):
        probs = keras.ops.convert_to_numpy(model(np.full(shape, 100.0, np.float32), training=False))
        assert probs.shape == (shape[0], 3)
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    normalised = keras.Model(model.input, model.get_layer("normalize").output)
    out = keras.ops.convert_to_numpy(normalised(np.full((1, 40, 40, 1), 150.0, np.float32)))
    assert out.shape == (1, 16, 16, 1)
    np.testing.assert_allclose(out, 1.0, rtol=1e-4)  # (150 - 100) / 50


def test_model_names_last_conv_layer() -> None:
    model = build_model(_cfg(), mean=0.0, std=1.0)
    assert isinstance(model.get_layer(LAST_CONV_LAYER), keras.layers.Conv2D)


def test_unknown_backbone_and_bad_std_are_rejected() -> None:
    with pytest.raises(ValueError, match="backbone"):
        _cfg(backbone="resnet9000")
    with pytest.raises(ValueError, match="std"):
        build_model(_cfg(), mean=0.0, std=0.0)
