"""Tests for mlcore.inference.Predictor."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from mlcore.bundle import Bundle, load_bundle, save_bundle
from mlcore.inference import Predictor
from mlcore.train import TrainResult


@pytest.fixture(scope="module")
def bundle(toy_result: TrainResult, tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    return load_bundle(save_bundle(toy_result, tmp_path_factory.mktemp("bundles")).path)


def _image(height: int, width: int, bright: bool, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 60, size=(height, width), dtype=np.uint8)
    if bright:
        img[height // 4 : height - height // 4, width // 4 : width - width // 4] = 220
    return img


def test_predict_returns_probabilities_and_consistent_labels(bundle: Bundle) -> None:
    predictor = Predictor(bundle)
    images = [_image(16, 16, bright=i % 2 == 1, seed=i) for i in range(6)]
    results = predictor.predict(images)
    assert len(results) == 6
    for result in results:
        assert set(result.probabilities) == {"normal", "pneumonia"}
        assert sum(result.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
        assert result.threshold == bundle.manifest.threshold is not None
        positive = result.probabilities["pneumonia"] >= result.threshold
        assert result.label == ("pneumonia" if positive else "normal")
    assert [r.label for r in results] == ["normal", "pneumonia"] * 3


def test_threshold_decides_binary_label(bundle: Bundle) -> None:
    images = [_image(16, 16, bright=False), _image(16, 16, bright=True)]
    always = Predictor(dataclasses.replace(bundle, manifest=dataclasses.replace(bundle.manifest, threshold=0.0)))
    never = Predictor(dataclasses.replace(bundle, manifest=dataclasses.replace(bundle.manifest, threshold=1.01)))
    assert [r.label for r in always.predict(images)] == ["pneumonia", "pneumonia"]
    assert [r.label for r in never.predict(images)] == ["normal", "normal"]


def test_mixed_sizes_keep_order_and_match_single_predictions(bundle: Bundle) -> None:
    predictor = Predictor(bundle)
    images = [
        _image(16, 16, True, 1),
        _image(40, 40, False, 2),
        _image(23, 31, True, 3),
        _image(16, 16, False, 4),
        _image(40, 40, True, 5),
    ]
    batched = predictor.predict(images)
    single = [predictor.predict([img])[0] for img in images]
    for b, s in zip(batched, single, strict=True):
        assert b.label == s.label
        assert b.probabilities["pneumonia"] == pytest.approx(s.probabilities["pneumonia"], abs=1e-5)
    assert [r.label for r in batched] == ["pneumonia", "normal", "pneumonia", "normal", "pneumonia"]


def test_predict_validates_input(bundle: Bundle) -> None:
    predictor = Predictor(bundle)
    assert predictor.predict([]) == []
    with pytest.raises(ValueError):
        predictor.predict([np.zeros((16, 16), np.float32)])
    with pytest.raises(ValueError):
        predictor.predict([np.zeros((16, 16, 3), np.uint8)])


def test_results_carry_batch_timings(bundle: Bundle) -> None:
    images = [_image(16, 16, False, 1), _image(24, 20, True, 2), _image(16, 16, True, 3)]
    results = Predictor(bundle).predict(images)
    sizes = [r.timings.batch_size for r in results if r.timings is not None]
    assert sizes == [2, 1, 2]
    for r in results:
        assert r.timings is not None and r.timings.preprocess_ms >= 0.0 and r.timings.inference_ms > 0.0
    assert results[0].timings is results[2].timings  # one batch, one measurement


def test_predict_is_thread_safe(bundle: Bundle) -> None:
    predictor = Predictor(bundle)  # shared, and its forward function is built lazily by the threads
    images = [_image(16 + i % 3, 16, bright=i % 2 == 1, seed=i) for i in range(8)]
    expected = [r.probabilities for r in Predictor(bundle).predict(images)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(lambda _: predictor.predict(images), range(8)))
    for outcome in outcomes:
        for got, want in zip(outcome, expected, strict=True):
            assert got.probabilities == pytest.approx(want, abs=1e-6)


def test_predict_with_gradcam_explains_the_decided_label(bundle: Bundle) -> None:
    images = [_image(16, 16, False, 1), _image(30, 22, True, 2)]
    pairs = Predictor(bundle).predict_with_gradcam(images)
    assert [r.label for r, _ in pairs] == [r.label for r in Predictor(bundle).predict(images)]
    for (result, cam), image in zip(pairs, images, strict=True):
        assert cam.heatmap.shape == image.shape and 0.0 <= cam.heatmap.min() <= cam.heatmap.max() <= 1.0
        assert bundle.manifest.classes[cam.class_index] == result.label
        assert cam.overlay_png.startswith(b"\x89PNG")


def test_prepare_resizes_to_the_model_input_like_the_training_loader(bundle: Bundle) -> None:
    from mlcore.imaging import resize_square

    predictor = Predictor(bundle)
    size = bundle.manifest.image_size
    prepared = [predictor.prepare(_image(h, w, bright=True)) for h, w in ((40, 60), (size, size), (97, 31))]
    assert {p.shape for p in prepared} == {(size, size)}
    np.testing.assert_array_equal(prepared[0], resize_square(_image(40, 60, bright=True), size))
    pairs = predictor.predict_with_gradcam(prepared)
    assert len({r.timings.batch_size for r, _ in pairs}) == 1 and pairs[0][0].timings.batch_size == 3
    assert all(cam.heatmap.shape == (size, size) for _, cam in pairs)


@pytest.mark.parametrize("threshold", [None, 0.0, 0.5, 1.01])
def test_one_pass_gradcam_agrees_with_predict(bundle: Bundle, threshold) -> None:
    manifest = dataclasses.replace(bundle.manifest, threshold=threshold)
    predictor = Predictor(dataclasses.replace(bundle, manifest=manifest))
    images = [_image(16, 16, bright=i % 2 == 1, seed=i) for i in range(5)] + [_image(20, 24, bright=True)]
    plain = predictor.predict(images)
    pairs = predictor.predict_with_gradcam(images)
    for alone, (result, cam) in zip(plain, pairs, strict=True):
        assert result.label == alone.label and result.threshold == alone.threshold
        for name, p in alone.probabilities.items():
            assert result.probabilities[name] == pytest.approx(p, abs=1e-5)
        assert predictor.classes[cam.class_index] == result.label
    assert [r.timings.batch_size for r, _ in pairs] == [5] * 5 + [1]  # grouped by shape
