"""Tests for mlcore.gradcam on the compact model and hand-made ones.

Grad-CAM on every ImageNet backbone runs in test_model.py, which builds each backbone once.
"""

from __future__ import annotations

import io
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from mlcore.config import ModelConfig
from mlcore.gradcam import GradCamExplainer, find_cam_layer, find_last_conv_layer, gradcam, jet_lut
from mlcore.model import BACKBONE_LAYER, LAST_CONV_LAYER, build_model, copy_member_weights, member_prefix


@pytest.fixture(scope="module")
def model() -> keras.Model:
    # Seeded: an untrained model's Grad-CAM for a class is often all zero (its evidence is negative everywhere),
    # and the tests below need a real map for every class on their images: seed 1 gives one (two of the first
    # twelve seeds do).
    keras.utils.set_random_seed(1)
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


def _assert_block_activation(model: keras.Model, name: str) -> None:
    """name is a ReLU reading a BatchNormalization that reads a conv: the rectified output of a conv block."""
    relu = model.get_layer(name)
    bn = next(each for each in model.layers if each.output is relu.input)
    conv = next(each for each in model.layers if each.output is bn.input)
    assert isinstance(relu, keras.layers.ReLU), name
    assert isinstance(bn, keras.layers.BatchNormalization) and isinstance(conv, keras.layers.Conv2D)


def test_gradcam_on_compact_model(model: keras.Model) -> None:
    assert find_last_conv_layer(model) == LAST_CONV_LAYER
    assert find_cam_layer(model) == GradCamExplainer(model).layer == "relu3"  # last_conv -> bn3 -> relu3
    _assert_block_activation(model, "relu3")
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
    overlay = np.asarray(_png(cam.overlay_png))  # no evidence anywhere: the image itself, not tinted (issue 23)
    np.testing.assert_array_equal(overlay, np.repeat(_image()[..., np.newaxis], 3, axis=-1))


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


def test_heatmap_png_is_the_cam_in_grey_at_the_requested_size(model: keras.Model) -> None:
    """What is stored is the CAM itself, 8-bit greyscale (issue 23); mlcore.heatmap colours it for display."""
    cam = gradcam(model, _image(20, 28))
    alone = _png(cam.heatmap_png())
    assert alone.size == (28, 20) and alone.mode == "L"
    big = _png(cam.heatmap_png((200, 280)))
    assert big.size == (280, 200) and big.mode == "L"
    np.testing.assert_array_equal(np.asarray(alone), np.clip(np.rint(cam.heatmap * 255), 0, 255).astype(np.uint8))
    assert jet_lut().shape == (256, 3)  # still importable from here, for the jet heatmaps stored before


def test_gradcam_on_an_ensemble_adds_up_every_member(model: keras.Model) -> None:
    cfg = ModelConfig(task="t", classes=("a", "b", "c"), image_size=16, ensemble=3)
    ensemble = build_model(cfg, mean=100.0, std=50.0)
    for i in range(3):  # three copies of `model`: the ensemble's Grad-CAM must be the single model's
        copy_member_weights(model, ensemble, i)
    assert find_last_conv_layer(ensemble) == member_prefix(2) + LAST_CONV_LAYER
    explainer = GradCamExplainer(ensemble)
    assert explainer.layers == tuple(member_prefix(i) + "relu3" for i in range(3))  # each member's activation
    for name in explainer.layers:
        _assert_block_activation(ensemble, name)
    weights_before = [w.copy() for w in ensemble.get_weights()]
    image = _image(24, 24)
    cam, single = explainer.explain(image, class_index=1), gradcam(model, image, class_index=1)
    assert cam.heatmap.max() > 0.5  # a real map, not the all-zero guard
    np.testing.assert_allclose(cam.heatmap, single.heatmap, atol=1e-4)
    for before, after in zip(weights_before, ensemble.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)
    one_member = GradCamExplainer(ensemble, layer=member_prefix(0) + LAST_CONV_LAYER)  # an explicit layer: only it
    assert one_member.layers == (member_prefix(0) + LAST_CONV_LAYER,)


def test_cam_layer_of_a_saved_model_is_found_by_structure(tmp_path: Path) -> None:
    """Bundles saved before Grad-CAM read the activation load with the same layer names (last_conv, bn2_2,
    relu2_2 for two convs per block): the layer is found from the graph, not from a list of names."""
    cfg = ModelConfig(task="t", classes=("a", "b"), image_size=16, compact_filters=(4, 8), compact_convs=2)
    build_model(cfg, mean=0.0, std=1.0).save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", compile=False)
    assert GradCamExplainer(loaded).layers == ("relu2_2",)
    _assert_block_activation(loaded, "relu2_2")
    inputs = keras.Input(shape=(None, None, 1))  # any names: conv -> BatchNorm -> Activation -> pooling
    x = keras.layers.Conv2D(4, 3, name="features")(inputs)
    x = keras.layers.Activation("relu", name="rectified")(keras.layers.BatchNormalization(name="scaled")(x))
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
    assert find_cam_layer(keras.Model(inputs, outputs)) == "rectified"


def test_flip_tta_ensemble_reads_each_members_activation_on_the_unmirrored_image() -> None:
    cfg = ModelConfig(
        task="t",
        classes=("a", "b"),
        image_size=16,
        compact_filters=(4, 8),
        ensemble=2,
        tta_flip=True,
        augmentation="mri",
    )
    model = build_model(cfg, mean=100.0, std=50.0)
    explainer = GradCamExplainer(model)
    assert explainer.layers == (member_prefix(0) + "relu2", member_prefix(1) + "relu2")
    for name in explainer.layers:
        _assert_block_activation(model, name)
    image = np.random.default_rng(3).integers(0, 255, size=(16, 16), dtype=np.uint8)
    x = image[None, :, :, None].astype(np.float32)
    read = keras.ops.convert_to_numpy(explainer.side_model([x], training=False)[0])
    relu = model.get_layer(member_prefix(0) + "relu2")
    unmirrored = keras.ops.convert_to_numpy(keras.Model(model.input, relu.output)(x, training=False))
    np.testing.assert_allclose(read, unmirrored, atol=1e-5)  # the first call's maps: aligned with the image
    assert not np.allclose(read, unmirrored[:, :, ::-1], atol=1e-3)
    cam = explainer.explain(image)
    assert cam.heatmap.shape == image.shape and np.isfinite(cam.heatmap).all()


def _tiny_backbone(*, top: bool) -> keras.Model:
    """An EfficientNet-Lite0-like base: ... head_conv -> head_bn -> head_relu (ReLU6); top adds global pooling
    and dropout inside the base, so its final layer is 2-D and its last conv is not the block's output."""
    inputs = keras.Input(shape=(16, 16, 3), name="input")
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    x = keras.layers.ReLU(6.0, name="stem_relu")(x)
    x = keras.layers.Conv2D(8, 1, use_bias=False, name="head_conv")(x)
    x = keras.layers.BatchNormalization(name="head_bn")(x)
    x = keras.layers.ReLU(6.0, name="head_relu")(x)
    if top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = keras.layers.Dropout(0.2, name="top_dropout")(x)
    return keras.Model(inputs, x, name=BACKBONE_LAYER)


@pytest.mark.parametrize("top", [False, True])
def test_nested_backbone_is_read_at_its_final_activation(top: bool) -> None:
    keras.utils.set_random_seed(1)
    base = _tiny_backbone(top=top)
    base.trainable = False
    inputs = keras.Input(shape=(None, None, 1))
    x = keras.layers.Resizing(16, 16)(inputs)
    x = base(keras.layers.Concatenate()([x, x, x]), training=False)
    if not top:
        x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
    assert find_cam_layer(model) == GradCamExplainer(model).layer == f"{BACKBONE_LAYER}/head_relu"
    assert isinstance(base.get_layer("head_relu"), keras.layers.ReLU)
    weights_before = [w.copy() for w in model.get_weights()]
    cam = gradcam(model, _image())
    assert cam.heatmap.shape == (20, 28) and np.isfinite(cam.heatmap).all()
    for before, after in zip(weights_before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)


def test_gradcam_is_not_blank_when_the_last_conv_output_is_negative_everywhere() -> None:
    """The compact CNN's last_conv output comes before BatchNorm: its weighted sum can be negative everywhere
    while the ReLU after BatchNorm passes evidence. Built by hand: negative kernels on non-negative inputs,
    BatchNorm centred on the conv's mean, and a head that reads every channel as class 1."""
    keras.utils.set_random_seed(2)
    cfg = ModelConfig(task="t", classes=("a", "b"), image_size=16, compact_filters=(4, 4))
    model = build_model(cfg, mean=100.0, std=50.0)
    conv = model.get_layer(LAST_CONV_LAYER)
    conv.set_weights([-np.abs(conv.get_weights()[0])])  # relu1 -> pool1 inputs are >= 0: the output is <= 0
    image = _image(16, 16)
    x = image[None, :, :, None].astype(np.float32)
    pre = keras.ops.convert_to_numpy(keras.Model(model.input, conv.output)(x, training=False))
    assert pre.max() <= 0.0 < -pre.min()
    mean, var = pre.mean(axis=(0, 1, 2)), pre.var(axis=(0, 1, 2)) + 1e-3
    model.get_layer("bn2").set_weights([np.ones(4), np.zeros(4), mean, var])  # gamma, beta, moving mean, var
    model.get_layer("probs").set_weights([np.stack([-np.ones(4), np.ones(4)], axis=1), np.zeros(2)])
    cam = gradcam(model, image, class_index=1)
    assert cam.heatmap.max() == pytest.approx(1.0)  # a real map, not the all-zero guard
    assert not gradcam(model, image, class_index=0).heatmap.any()  # no evidence for class 0 anywhere


def _blob_images(n: int, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dark noise; every other image (class 1) gets a bright Gaussian blob at a random centre (row, col)."""
    images = rng.integers(0, 60, size=(n, size, size)).astype(np.float32)
    labels = np.arange(n) % 2
    centres = rng.integers(5, size - 5, size=(n, 2))
    rows, cols = np.mgrid[:size, :size]
    for k in np.flatnonzero(labels):
        images[k] += 170.0 * np.exp(-((rows - centres[k, 0]) ** 2 + (cols - centres[k, 1]) ** 2) / 8.0)
    return np.clip(images, 0, 255).astype(np.uint8), labels, centres


def test_gradcam_of_a_trained_compact_model_follows_the_blob() -> None:
    """Trained briefly on blobs at random places: every positive call gets a map, the maps move with the
    image (not one fixed pattern), and their peak falls near the blob far more often than chance."""
    size, radius = 32, 4
    rng = np.random.default_rng(0)
    images, labels, _ = _blob_images(256, size, rng)
    test_images, test_labels, test_centres = _blob_images(64, size, rng)
    keras.utils.set_random_seed(0)
    cfg = ModelConfig(task="t", classes=("normal", "blob"), image_size=size, compact_filters=(8, 16))
    model = build_model(cfg, mean=float(images.mean()), std=float(images.std()))
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    model.fit(images[..., np.newaxis].astype(np.float32), labels, epochs=6, batch_size=32, verbose=0)
    explainer = GradCamExplainer(model)
    _assert_block_activation(model, explainer.layer)
    positives = test_labels == 1
    _, cams = explainer.explain_decided(test_images[positives], threshold=0.5)
    called = [
        (cam.heatmap, centre) for cam, centre in zip(cams, test_centres[positives], strict=True) if cam.class_index
    ]
    assert len(called) >= 0.8 * positives.sum()
    maps = np.stack([heatmap for heatmap, _ in called])
    assert all(heatmap.any() for heatmap in maps)  # no blank map for a positive call
    mean_map = maps.mean(axis=0).ravel()
    assert np.median([np.corrcoef(heatmap.ravel(), mean_map)[0, 1] for heatmap in maps]) < 0.5
    hits, chance = [], []
    for heatmap, (row, col) in called:
        peak = np.unravel_index(np.argmax(heatmap), heatmap.shape)
        hits.append(max(abs(peak[0] - row), abs(peak[1] - col)) <= radius)
        window = (min(row + radius, size - 1) - max(row - radius, 0) + 1) * (
            min(col + radius, size - 1) - max(col - radius, 0) + 1
        )
        chance.append(window / size**2)  # a peak drawn uniformly at random lands this near
    assert np.mean(hits) > max(0.5, 3 * np.mean(chance))


def test_efficientnet_lite0_is_read_at_its_head_activation() -> None:
    cfg = ModelConfig(
        task="t", classes=("a", "b"), image_size=32, backbone="efficientnet_lite0", weights="none", augmentation="none"
    )
    model = build_model(cfg, mean=0.0, std=1.0)
    assert GradCamExplainer(model).layers == (f"{BACKBONE_LAYER}/head_relu",)  # head_conv -> head_bn -> head_relu
    assert isinstance(model.get_layer(BACKBONE_LAYER).get_layer("head_relu"), keras.layers.ReLU)
