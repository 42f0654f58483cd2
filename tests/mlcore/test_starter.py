"""The committed starter chest X-ray bundle (mlcore/starter): loads, says what it is, and on real images labels
chest radiographs, refuses what is not one, and explains its positive calls with heatmaps that differ."""

import os
import statistics
from pathlib import Path

import numpy as np
import pytest
import skimage
from PIL import Image

from mlcore.bundle import load_bundle
from mlcore.imaging import load_image
from mlcore.inference import Predictor

ROOT = Path(__file__).resolve().parents[2]
STARTER = sorted((ROOT / "mlcore" / "starter").glob("*/manifest.json"))
DATASETS = Path(os.environ.get("MEDSITE_DATASETS", ROOT.parent / "shared" / "datasets"))
KERMANY_TEST = DATASETS / "kermany-cxr-224" / "test"
needs_data = pytest.mark.skipif(not KERMANY_TEST.is_dir(), reason="the shared datasets are not beside the checkout")


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    assert len(STARTER) == 1, "exactly one starter bundle is committed under mlcore/starter"
    return Predictor(load_bundle(STARTER[0].parent))


def _every(folder: Path, step: int) -> list[np.ndarray]:
    return [load_image(p) for p in sorted(folder.iterdir())[::step]]


def test_the_starter_bundle_says_what_it_is_and_how_it_decides(predictor):
    manifest = predictor.bundle.manifest
    assert (manifest.task, manifest.classes, manifest.backbone) == (
        "chest-xray",
        ("normal", "pneumonia"),
        "efficientnet_lite0",
    )
    assert manifest.config["weights"] == "imagenet" and manifest.image_size == 224
    assert manifest.operating_point == {"rule": "sensitivity", "target": 0.95, "split": "val"}
    assert manifest.calibration["method"] == "temperature"
    assert manifest.scope["domain"] == "chest radiograph" and manifest.scope["method"] == "mahalanobis"
    assert manifest.metrics["test"]["n"] == 624  # Kermany's official test split, read once for the report
    size = sum(f.stat().st_size for f in STARTER[0].parent.iterdir())
    assert size < 25 * 2**20


@needs_data
def test_the_starter_labels_real_radiographs_and_explains_every_positive_call(predictor):
    """Over Kermany's whole official test split (624): the figures the model card reports for this bundle."""
    normals, pneumonias = _every(KERMANY_TEST / "NORMAL", 1), _every(KERMANY_TEST / "PNEUMONIA", 1)
    pairs = predictor.predict_with_gradcam([predictor.prepare(i) for i in normals + pneumonias])
    labels = np.array([0] * len(normals) + [1] * len(pneumonias))
    called = np.array([r.label == "pneumonia" for r, _ in pairs])
    assert (called == labels).mean() >= 0.85
    assert called[labels == 1].mean() >= 0.95  # the triage operating point holds on test
    assert sum(r.unsuitable is not None for r, _ in pairs) <= 0.02 * len(pairs)
    maps = [cam.heatmap for (r, cam) in pairs if r.label == "pneumonia"]
    assert all(m.max() > 0 for m in maps)  # no blank map on a positive call
    mean = np.mean(maps, axis=0).ravel()
    assert statistics.median(float(np.corrcoef(m.ravel(), mean)[0, 1]) for m in maps) < 0.5  # not one blob for all


@needs_data
def test_the_starter_refuses_brain_mri_photographs_noise_and_tiny_images(predictor):
    brain = [load_image(p) for p in sorted((DATASETS / "brain-tumor-mri" / "Testing").glob("*/*"))[::20]]
    photos = [
        np.asarray(Image.open(Path(skimage.__file__).parent / "data" / name).convert("L"), dtype=np.uint8)
        for name in ("chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg")
    ]
    noise = [np.random.default_rng(s).integers(0, 256, (256, 256)).astype(np.uint8) for s in range(4)]
    results = predictor.predict([predictor.prepare(i) for i in brain + photos + noise])
    assert all(r.unsuitable and r.unsuitable.startswith("Not recognised as a chest radiograph") for r in results)
    assert predictor.size_refusal(np.zeros((1, 1), np.uint8)) == (
        "Too small to assess (1×1 px): this model reads images of at least 128 px on each side."
    )
