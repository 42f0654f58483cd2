"""Tests for mlcore.gradcam on the compact model and hand-made ones.

Grad-CAM on every ImageNet backbone runs in test_model.py, which builds each backbone once.
"""

from __future__ import annotations

import io

import keras
import numpy as np
import pytest
from PIL import Image

from mlcore.config import ModelConfig
from mlcore.gradcam import GradCamExplainer, find_last_conv_layer, gradcam, jet_lut
from mlcore.model import LAST_CONV_LAYER, build_model, copy_member_weights, member_prefix


@pytest.fixture(scope="module")
def model() -> keras.Model:
    # Seeded: about one random initialisation in twelve gives one class an all-zero map on the test image, and the
    # tests below need a real map for every class.
    keras.utils.set_random_seed(0)
    cfg = ModelConfig(task="t", classes=("a", "b", "c"), image_size=16)
    return build_model(cfg, mean=100.0, std=50.0)


def _image(height: int = 20, width: int = 28) -> np.ndarray:
    img = np.random.default_rng(0).integers(0, 60, size=(height, width), dtype=np.uint8)
    img[5:15, 8:20] = 220
    return img


def _png(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    assert img.format == "PNG"
    return img


def test_gradcam_on_compact_model(model: keras.Model) -> None:
    assert find_last_conv_layer(model) == LAST_CONV_LAYER
    weights_before = [w.copy() for w in model.get_weights()]
    config_before = model.get_config()
    image = _image()
    cam = gradcam(model, image)
    assert cam.heatmap.shape == image.shape and cam.heatmap.dtype == np.float32
    assert np.isfinite(cam.heatmap).all() and 0.0 <= cam.heatmap.min() <= cam.heatmap.max() <= 1.0
    probs = keras.ops.convert_to_numpy(model(image[None, :, :, None].astype(np.float32), training=False))
    assert cam.class_index == int(np.argmax(probs[0]))
    overlay = _png(cam.overlay_png)
    assert overlay.size == (28, 20) and overlay.mode == "RGB"
    assert model.get_config() == config_before  # the served model is never changed
    for before, after in zip(weights_before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)


def test_gradcam_explains_a_chosen_class_and_validates(model: keras.Model) -> None:
    explainer = GradCamExplainer(model)
    image = _image(32, 32)
    assert explainer.explain(image, class_index=2).class_index == 2
    with pytest.raises(ValueError, match="class_index"):
        explainer.explain(image, class_index=3)
    with pytest.raises(ValueError, match="uint8"):
        explainer.explain(image.astype(np.float32))


def test_all_zero_map_returns_zeros() -> None:
    inputs = keras.Input(shape=(None, None, 1))
    x = keras.layers.Conv2D(4, 3, kernel_initializer="zeros", bias_initializer="zeros", name="dead_conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(2, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    assert find_last_conv_layer(model) == "dead_conv"
    cam = gradcam(model, _image())
    assert cam.heatmap.shape == (20, 28) and not cam.heatmap.any() and np.isfinite(cam.heatmap).all()
    np.testing.assert_array_equal(np.asarray(_png(cam.overlay_png))[..., 0], np.rint(0.6 * _image()))


def test_model_without_conv_layer_is_rejected() -> None:
    inputs = keras.Input(shape=(4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    with pytest.raises(ValueError, match="convolutional"):
        find_last_conv_layer(model)


def test_jet_lut_runs_blue_to_red() -> None:
    lut = jet_lut()
    assert lut.shape == (256, 3) and lut.dtype == np.uint8
    assert lut[0].tolist() == [0, 0, 128] and lut[-1].tolist() == [128, 0, 0]


def test_batched_gradcam_equals_one_image_at_a_time(model: keras.Model) -> None:
    explainer = GradCamExplainer(model)
    images = np.stack([_image(24, 24), np.roll(_image(24, 24), 7, axis=1), 255 - _image(24, 24)])
    batch = explainer.explain_batch(images, [2, None, 0])
    for image, index, cam in zip(images, [2, None, 0], batch, strict=True):
        single = explainer.explain(image, index)
        assert cam.class_index == single.class_index
        np.testing.assert_allclose(cam.heatmap, single.heatmap, atol=1e-4)
    with pytest.raises(ValueError, match="class indices"):
        explainer.explain_batch(images, [0])
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        explainer.explain(images)


def test_heatmap_png_is_the_colour_map_at_the_requested_size(model: keras.Model) -> None:
    cam = gradcam(model, _image(20, 28))
    alone = _png(cam.heatmap_png())
    assert alone.size == (28, 20) and alone.mode == "RGB"
    big = _png(cam.heatmap_png((200, 280)))
    assert big.size == (280, 200)
    lut = jet_lut()
    expected = lut[np.clip(np.rint(cam.heatmap * 255), 0, 255).astype(np.uint8)]
    np.testing.assert_array_equal(np.asarray(alone), expected)


def test_gradcam_on_an_ensemble_adds_up_every_member(model: keras.Model) -> None:
    cfg = ModelConfig(task="t", classes=("a", "b", "c"), image_size=16, ensemble=3)
    ensemble = build_model(cfg, mean=100.0, std=50.0)
    for i in range(3):  # three copies of `model`: the ensemble's Grad-CAM must be the single model's
        copy_member_weights(model, ensemble, i)
    assert find_last_conv_layer(ensemble) == member_prefix(2) + LAST_CONV_LAYER
    explainer = GradCamExplainer(ensemble)
    assert explainer.layers == tuple(member_prefix(i) + LAST_CONV_LAYER for i in range(3))
    weights_before = [w.copy() for w in ensemble.get_weights()]
    image = _image(24, 24)
    cam, single = explainer.explain(image, class_index=1), gradcam(model, image, class_index=1)
    assert cam.heatmap.max() > 0.5  # a real map, not the all-zero guard
    np.testing.assert_allclose(cam.heatmap, single.heatmap, atol=1e-4)
    for before, after in zip(weights_before, ensemble.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)
    one_member = GradCamExplainer(ensemble, layer=member_prefix(0) + LAST_CONV_LAYER)  # an explicit layer: only it
    assert one_member.layers == (member_prefix(0) + LAST_CONV_LAYER,)
