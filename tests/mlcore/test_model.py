"""Tests for mlcore.model.build_model."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from mlcore.config import MIN_IMAGE_SIZE, ModelConfig
from mlcore.gradcam import find_last_conv_layer, gradcam
from mlcore.model import (
    BACKBONE_LAYER,
    LAST_CONV_LAYER,
    WeightsError,
    build_model,
    copy_member_weights,
    make_backbone,
    member_prefix,
    use_mixed_precision,
)


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


# Backbone parameters with include_top=False (independent of input size), from the Keras reference.
BASE_PARAMS = {
    "resnet50": 23_587_712,
    "densenet121": 7_037_504,
    "inceptionv3": 21_802_784,
    "mobilenetv2": 2_257_984,
    "vgg16": 14_714_688,
    "efficientnetb0": 4_049_571,
}
PREPROCESS_MODULES = {
    "resnet50": keras.applications.resnet50,
    "densenet121": keras.applications.densenet,
    "inceptionv3": keras.applications.inception_v3,
    "mobilenetv2": keras.applications.mobilenet_v2,
    "vgg16": keras.applications.vgg16,
    "efficientnetb0": keras.applications.efficientnet,
}


def _small(backbone: str, **overrides: object) -> ModelConfig:
    return _cfg(classes=("a", "b"), backbone=backbone, image_size=MIN_IMAGE_SIZE[backbone], **overrides)


GRADCAM_LAYER = {
    "resnet50": "backbone/conv5_block3_out",
    "densenet121": "backbone/relu",
    "inceptionv3": "backbone/mixed10",
    "mobilenetv2": "backbone/out_relu",
    "vgg16": "backbone/block5_conv3",
    "efficientnetb0": "backbone/top_activation",
}


@pytest.fixture(scope="module")
def imagenet_models() -> dict[str, keras.Model]:
    """Each backbone built once at its minimum size; every per-backbone test here shares them (CPU time)."""
    return {name: build_model(_small(name), mean=0.0, std=1.0) for name in BASE_PARAMS}


@pytest.mark.parametrize("backbone", sorted(BASE_PARAMS))
def test_imagenet_backbone_builds_frozen_and_runs(imagenet_models: dict[str, keras.Model], backbone: str) -> None:
    model = imagenet_models[backbone]
    base = model.get_layer(BACKBONE_LAYER)
    features = base.output_shape[-1]
    assert base.count_params() == BASE_PARAMS[backbone]
    assert model.count_params() == BASE_PARAMS[backbone] + features * 2 + 2
    assert base.trainable is False
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == features * 2 + 2  # the head only
    pixels = np.random.default_rng(0).uniform(0, 255, size=(2, 40, 36, 1)).astype(np.float32)
    probs = keras.ops.convert_to_numpy(model(pixels, training=False))
    assert probs.shape == (2, 2) and np.isfinite(probs).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("backbone", sorted(BASE_PARAMS))
def test_preprocessing_matches_keras_preprocess_input(imagenet_models: dict[str, keras.Model], backbone: str) -> None:
    model = imagenet_models[backbone]
    size = MIN_IMAGE_SIZE[backbone]
    grey = np.random.default_rng(1).uniform(0, 255, size=(2, size, size, 1)).astype(np.float32)
    ours = keras.ops.convert_to_numpy(keras.Model(model.input, model.get_layer("preprocess").output)(grey))
    reference = PREPROCESS_MODULES[backbone].preprocess_input(np.repeat(grey, 3, axis=-1))
    np.testing.assert_allclose(ours, keras.ops.convert_to_numpy(reference), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("backbone", sorted(BASE_PARAMS))
def test_gradcam_resolves_on_every_backbone(imagenet_models: dict[str, keras.Model], backbone: str) -> None:
    """Grad-CAM through the nested backbone; the served model's weights and graph stay as they were."""
    model = imagenet_models[backbone]
    assert find_last_conv_layer(model) == GRADCAM_LAYER[backbone]
    weights_before = [w.copy() for w in model.get_weights()]
    config_before = model.get_config()
    image = np.random.default_rng(2).integers(0, 255, size=(20, 28), dtype=np.uint8)
    cam = gradcam(model, image)
    assert cam.heatmap.shape == image.shape and cam.heatmap.dtype == np.float32
    assert np.isfinite(cam.heatmap).all() and 0.0 <= cam.heatmap.min() <= cam.heatmap.max() <= 1.0
    assert cam.overlay_png.startswith(b"\x89PNG\r\n\x1a\n")
    assert model.get_config() == config_before
    for before, after in zip(weights_before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)


@pytest.mark.parametrize("backbone", ["efficientnetb0", "densenet121"])
def test_imagenet_build_is_pure_despite_auto_named_layers(
    imagenet_models: dict[str, keras.Model], backbone: str
) -> None:
    again = build_model(_small(backbone), mean=0.0, std=1.0)  # Keras would number its unnamed layers anew
    assert again.get_config() == imagenet_models[backbone].get_config()


def test_image_size_is_validated_per_backbone() -> None:
    with pytest.raises(ValueError, match="at least 75"):
        _cfg(backbone="inceptionv3", image_size=74)
    with pytest.raises(ValueError, match="at least 32"):
        _cfg(backbone="resnet50", image_size=31)
    assert _cfg(backbone="inceptionv3", image_size=75).image_size == 75


def test_imagenet_backbones_take_raw_pixels() -> None:
    assert _cfg().dataset_normalization and not _small("vgg16").dataset_normalization
    with pytest.raises(ValueError, match="raw pixels"):
        build_model(_small("vgg16"), mean=120.0, std=60.0)


def test_weights_values_are_validated() -> None:
    for bad in ("imagenet21k", "weights.pt", ""):
        with pytest.raises(ValueError, match="weights"):
            _small("mobilenetv2", weights=bad)
    with pytest.raises(ValueError, match="compact"):
        _cfg(weights="imagenet")
    with pytest.raises(WeightsError, match="does not exist"):
        make_backbone(_small("mobilenetv2", weights="/nonexistent/base.weights.h5"))


def test_weights_load_from_local_file(imagenet_models: dict[str, keras.Model], tmp_path: Path) -> None:
    base = imagenet_models["mobilenetv2"].get_layer(BACKBONE_LAYER)  # random init, unlike any new build
    path = tmp_path / "mobilenetv2.weights.h5"
    base.save_weights(path)
    model = build_model(_small("mobilenetv2", weights=str(path)), mean=0.0, std=1.0)
    loaded = model.get_layer(BACKBONE_LAYER)
    for expected, actual in zip(base.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(expected, actual)
    assert loaded.trainable is False


def test_imagenet_download_failure_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(**kwargs: object) -> keras.Model:
        raise Exception("URL fetch failure on https://storage.googleapis.com/...: None -- [Errno -3]")

    monkeypatch.setattr(keras.applications, "MobileNetV2", offline)  # no network call, ever
    with pytest.raises(WeightsError, match="network access"):
        make_backbone(_small("mobilenetv2", weights="imagenet"))


def test_mixed_precision_is_off_on_cpu_and_scoped() -> None:
    assert not tf.config.list_physical_devices("GPU")
    assert use_mixed_precision(_cfg()) is False and use_mixed_precision(_cfg(mixed_precision="on")) is True
    model = build_model(_cfg(), mean=0.0, std=1.0)
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
    mixed = build_model(_cfg(mixed_precision="on"), mean=0.0, std=1.0)
    assert mixed.get_layer(LAST_CONV_LAYER).dtype_policy.name == "mixed_float16"
    assert mixed.get_layer("probs").dtype_policy.name == "float32"
    assert keras.mixed_precision.global_policy().name == "float32"  # restored after the build
    with pytest.raises(ValueError, match="mixed_precision"):
        _cfg(mixed_precision="bf16")


def test_compact_width_and_depth_come_from_the_config() -> None:
    cfg = ModelConfig(task="t", classes=("a", "b"), image_size=32, compact_filters=(8, 12), compact_convs=2)
    model = build_model(cfg, mean=0.0, std=1.0)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [8, 8, 12, 12]
    assert convs[-1].name == LAST_CONV_LAYER == find_last_conv_layer(model)
    assert model(np.zeros((2, 40, 40, 1), np.float32)).shape == (2, 2)
    for bad in ({"compact_filters": ()}, {"compact_filters": (8, 0)}, {"compact_convs": 0}, {"augmentation": "ct"}):
        with pytest.raises(ValueError):
            ModelConfig(task="t", classes=("a", "b"), **bad)


def test_ensemble_averages_members_that_match_single_models() -> None:
    cfg = _cfg(ensemble=3, compact_filters=(4, 8))
    ensemble = build_model(cfg, mean=100.0, std=50.0)
    assert ensemble.get_config() == build_model(cfg, mean=100.0, std=50.0).get_config()
    assert isinstance(ensemble.get_layer("probs"), keras.layers.Average) and ensemble.output_shape == (None, 3)
    assert find_last_conv_layer(ensemble) == member_prefix(2) + LAST_CONV_LAYER
    x = np.random.default_rng(0).uniform(0, 255, (2, 20, 20, 1)).astype(np.float32)
    singles = []
    for i in range(3):
        single = build_model(replace(cfg, ensemble=1, seed=cfg.seed + i), mean=100.0, std=50.0)
        copy_member_weights(single, ensemble, i)
        singles.append(keras.ops.convert_to_numpy(single(x, training=False)))
    averaged = keras.ops.convert_to_numpy(ensemble(x, training=False))
    np.testing.assert_allclose(averaged, np.mean(singles, axis=0), rtol=1e-5, atol=1e-6)
    assert not np.allclose(singles[0], singles[1])  # the members differ
    assert ensemble.count_params() == 3 * build_model(replace(cfg, ensemble=1), mean=0.0, std=1.0).count_params()


def test_ensemble_is_validated() -> None:
    with pytest.raises(ValueError, match="ensemble"):
        _cfg(ensemble=0)
    with pytest.raises(ValueError, match="ensemble"):
        _cfg(ensemble=2, backbone="vgg16", image_size=32)
    with pytest.raises(ValueError, match="label_smoothing"):
        _cfg(label_smoothing=1.0)
    with pytest.raises(ValueError, match="lr_schedule"):
        _cfg(lr_schedule="step")


def test_flip_tta_averages_the_image_and_its_mirror() -> None:
    cfg = _cfg(ensemble=2, tta_flip=True, augmentation="mri", compact_filters=(4, 8))
    model = build_model(cfg, mean=100.0, std=50.0)
    x = np.random.default_rng(1).uniform(0, 255, (2, 16, 16, 1)).astype(np.float32)  # already at image_size
    expected = []
    for i in range(2):
        single = build_model(replace(cfg, ensemble=1, tta_flip=False, seed=cfg.seed + i), mean=100.0, std=50.0)
        copy_member_weights(single, model, i)
        expected += [single(x, training=False), single(x[:, :, ::-1], training=False)]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model(x, training=False)),
        np.mean([keras.ops.convert_to_numpy(e) for e in expected], axis=0),
        rtol=1e-5,
        atol=1e-6,
    )
    assert find_last_conv_layer(model) == member_prefix(1) + LAST_CONV_LAYER
    with pytest.raises(ValueError, match="tta_flip"):
        _cfg(tta_flip=True)  # augmentation "xray": never trained on mirrored chests


def test_flip_tta_model_survives_save_and_load(tmp_path: Path) -> None:
    cfg = _cfg(tta_flip=True, augmentation="mri", compact_filters=(4,))
    model = build_model(cfg, mean=10.0, std=5.0)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", compile=False)
    x = np.random.default_rng(2).uniform(0, 255, (1, 21, 16, 1)).astype(np.float32)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(model(x)), rtol=1e-6, atol=1e-7
    )
    assert not loaded.get_layer("mirror").trainable


def test_per_image_normalisation_ignores_overall_brightness_and_contrast(tmp_path: Path) -> None:
    cfg = _cfg(normalization="per_image", ensemble=2, compact_filters=(4, 8))
    model = build_model(cfg, mean=100.0, std=50.0)
    x = np.random.default_rng(3).uniform(20, 200, (2, 16, 16, 1)).astype(np.float32)
    brighter = 1.2 * x + 15  # another scanner's exposure and window
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model(brighter, training=False)),
        keras.ops.convert_to_numpy(model(x, training=False)),
        rtol=1e-3,
        atol=1e-4,
    )
    model.save(tmp_path / "m.keras")  # stock layers only: loads without custom objects
    loaded = keras.saving.load_model(tmp_path / "m.keras", compile=False)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(model(x)), rtol=1e-6, atol=1e-6
    )
    with pytest.raises(ValueError, match="per_image"):
        _cfg(normalization="per_image", backbone="mobilenetv2", image_size=32)
