"""Tests for mlcore.data: npz and folder-tree loading, image decoding, tf.data pipelines."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mlcore.config import ModelConfig
from mlcore.data import (
    DataError,
    Dataset,
    Split,
    add_manifest,
    drop_duplicates_of,
    drop_test_copies_of_training,
    load_folder_tree,
    load_image,
    load_manifest,
    load_npz,
    load_source,
    make_dataset,
)


def _write_npz(path: Path, n_classes: int = 2, with_test: bool = True) -> None:
    rng = np.random.default_rng(0)
    arrays = {}
    for name, n in (("train", 12), ("val", 6), ("test", 6)):
        if name == "test" and not with_test:
            continue
        arrays[f"{name}_images"] = rng.integers(0, 256, size=(n, 8, 8), dtype=np.uint8)
        arrays[f"{name}_labels"] = (np.arange(n) % n_classes).reshape(n, 1).astype(np.uint8)
    np.savez_compressed(path, **arrays)


def _write_png(path: Path, value: int, size: tuple[int, int] = (20, 30)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", size, color=value).save(path)


def _make_tree(root: Path, per_class: int = 10) -> None:
    for cls, value in (("bright", 220), ("dark", 30)):
        for i in range(per_class):
            _write_png(root / cls / f"{i:02d}.png", value + i)


def test_load_npz_reads_medmnist_layout(tmp_path: Path) -> None:
    path = tmp_path / "pneumoniamnist.npz"
    _write_npz(path)
    data = load_npz(path)
    assert data.classes == ("normal", "pneumonia")
    assert data.train.images.shape == (12, 8, 8) and data.train.images.dtype == np.uint8
    assert data.train.labels.shape == (12,) and data.train.labels.dtype == np.int64
    assert data.val.images.shape == (6, 8, 8)
    assert data.test is not None and data.test.labels.tolist() == [0, 1, 0, 1, 0, 1]
    assert data.source_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_load_npz_names_unknown_classes_by_index(tmp_path: Path) -> None:
    path = tmp_path / "mystery.npz"
    _write_npz(path, n_classes=3, with_test=False)
    data = load_npz(path)
    assert data.classes == ("class_0", "class_1", "class_2")
    assert data.test is None


def test_load_npz_uses_given_classes(tmp_path: Path) -> None:
    path = tmp_path / "pneumoniamnist.npz"
    _write_npz(path)
    assert load_npz(path, classes=("neg", "pos")).classes == ("neg", "pos")
    with pytest.raises(DataError):
        load_npz(path, classes=("only",))


def test_load_npz_rejects_missing_keys_and_garbage(tmp_path: Path) -> None:
    partial = tmp_path / "partial.npz"
    np.savez(partial, train_images=np.zeros((2, 4, 4), np.uint8), train_labels=np.zeros((2, 1), np.uint8))
    with pytest.raises(DataError, match="val_images"):
        load_npz(partial)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"this is not a zip archive")
    with pytest.raises(DataError):
        load_npz(garbage)


def test_load_folder_tree_training_testing_layout(tmp_path: Path) -> None:
    _make_tree(tmp_path / "Training")
    for cls, value in (("bright", 200), ("dark", 50)):
        for i in range(3):
            _write_png(tmp_path / "Testing" / cls / f"t{i}.jpg", value + i)
    data = load_folder_tree(tmp_path, image_size=16, val_fraction=0.2, seed=0)
    assert data.classes == ("bright", "dark")
    assert data.train.images.shape[1:] == (16, 16)
    assert len(data.train.labels) + len(data.val.labels) == 20
    assert sorted(np.bincount(data.val.labels).tolist()) == [2, 2]
    assert data.test is not None and data.test.images.shape == (6, 16, 16)
    assert data.test.labels.tolist() == [0, 0, 0, 1, 1, 1]
    # bright class folder holds bright pixels after resizing
    assert data.test.images[data.test.labels == 0].min() >= 199


def test_load_folder_tree_flat_layout_and_hash(tmp_path: Path) -> None:
    _make_tree(tmp_path)
    first = load_folder_tree(tmp_path, image_size=16)
    assert first.classes == ("bright", "dark") and first.test is None
    assert load_folder_tree(tmp_path, image_size=16).source_sha256 == first.source_sha256
    _write_png(tmp_path / "dark" / "00.png", 99)
    assert load_folder_tree(tmp_path, image_size=16).source_sha256 != first.source_sha256


def test_load_folder_tree_keeps_duplicates_in_one_split(tmp_path: Path) -> None:
    for cls, value in (("a", 10), ("b", 240)):
        for i in range(12):
            _write_png(tmp_path / cls / f"{i:02d}.png", value + i // 2)  # every image twice
    data = load_folder_tree(tmp_path, image_size=8, val_fraction=0.25, seed=3)
    train_values = {int(img[0, 0]) for img in data.train.images}
    val_values = {int(img[0, 0]) for img in data.val.images}
    assert len(data.val.labels) > 0 and not train_values & val_values


def test_load_folder_tree_rejects_bad_trees(tmp_path: Path) -> None:
    _write_png(tmp_path / "only" / "0.png", 1)
    with pytest.raises(DataError, match="two class folders"):
        load_folder_tree(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images"):
        load_folder_tree(tmp_path)
    (tmp_path / "empty" / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DataError, match="broken.png"):
        load_folder_tree(tmp_path)


def test_load_source_dispatches_on_path(tmp_path: Path) -> None:
    npz = tmp_path / "pneumoniamnist.npz"
    _write_npz(npz)
    tree = tmp_path / "tree"
    _make_tree(tree)
    assert load_source(npz).classes == ("normal", "pneumonia")
    assert load_source(tree, image_size=8).train.images.shape[1:] == (8, 8)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DataError):
        load_source(tmp_path / "notes.txt")
    with pytest.raises(DataError, match="does not exist"):
        load_source(tmp_path / "missing.npz")


def _encoded(img: Image.Image, fmt: str, **params: object) -> io.BytesIO:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **params)
    buf.seek(0)
    return buf


def test_load_image_scales_16_bit_by_min_max() -> None:
    ramp = np.linspace(1000, 5000, 64, dtype=np.uint16).reshape(8, 8)
    pixels = load_image(_encoded(Image.fromarray(ramp), "PNG"))
    assert pixels.dtype == np.uint8 and pixels.shape == (8, 8)
    assert pixels.min() == 0 and pixels.max() == 255
    assert np.all(np.diff(pixels.reshape(-1).astype(int)) >= 0)


def test_load_image_composites_rgba_on_black() -> None:
    rgba = np.zeros((4, 6, 4), dtype=np.uint8)
    rgba[:, :3] = (255, 255, 255, 255)  # opaque white left half
    rgba[:, 3:] = (255, 255, 255, 0)  # transparent white right half
    pixels = load_image(_encoded(Image.fromarray(rgba, mode="RGBA"), "PNG"))
    assert pixels.shape == (4, 6)
    assert (pixels[:, :3] == 255).all() and (pixels[:, 3:] == 0).all()


def test_load_image_converts_palette() -> None:
    img = Image.new("P", (5, 3))
    img.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    img.putpixel((0, 0), 1)
    pixels = load_image(_encoded(img, "PNG"))
    assert pixels.shape == (3, 5) and pixels[0, 0] == 255 and pixels[1, 1] == 0


def test_load_image_applies_exif_orientation(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when displayed
    path = tmp_path / "rotated.jpg"
    Image.new("L", (20, 10), color=128).save(path, format="JPEG", exif=exif)
    assert np.asarray(Image.open(path)).shape == (10, 20)
    assert load_image(path).shape == (20, 10)
    assert load_image(str(path)).shape == (20, 10)


def test_load_image_rejects_garbage() -> None:
    with pytest.raises(DataError):
        load_image(io.BytesIO(b"definitely not an image"))
    with pytest.raises(DataError):
        load_image("/nonexistent/image.png")


def test_split_validates_arrays() -> None:
    with pytest.raises(DataError):
        Split(np.zeros((2, 4, 4), np.float32), np.zeros(2, np.int64))
    with pytest.raises(DataError):
        Split(np.zeros((2, 4, 4), np.uint8), np.zeros(3, np.int64))


def _cfg(batch_size: int = 4) -> ModelConfig:
    return ModelConfig(task="t", classes=("a", "b"), image_size=8, batch_size=batch_size)


def test_make_dataset_eval_feeds_raw_float_pixels_in_order() -> None:
    images = np.arange(6 * 8 * 8, dtype=np.int64).reshape(6, 8, 8) % 256
    split = Split(images.astype(np.uint8), np.array([0, 1, 0, 1, 1, 0]))
    batches = list(make_dataset(split, "eval", _cfg()).as_numpy_iterator())
    assert [len(y) for _, y in batches] == [4, 2]
    x = np.concatenate([b[0] for b in batches])
    assert x.dtype == np.float32 and x.shape == (6, 8, 8, 1)
    np.testing.assert_array_equal(x[..., 0], split.images.astype(np.float32))
    assert np.concatenate([b[1] for b in batches]).tolist() == split.labels.tolist()


def test_make_dataset_train_augments_and_keeps_labels() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(8, 16, 16), dtype=np.uint8)
    split = Split(images, np.array([0, 1] * 4))
    x, y = next(make_dataset(split, "train", _cfg(batch_size=8)).as_numpy_iterator())
    assert x.shape == (8, 16, 16, 1) and sorted(y.tolist()) == sorted(split.labels.tolist())
    originals = {img.tobytes() for img in images.astype(np.float32)}
    assert not any(img[..., 0].tobytes() in originals for img in x)  # every sample was altered
    with pytest.raises(ValueError):
        make_dataset(split, "test", _cfg())


def _write_manifest(tmp_path: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    lines = ["path,label,patient_id,split"] + [",".join(row) for row in rows]
    path = tmp_path / "manifest.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _patient_rows(tmp_path: Path, n_patients: int = 40, per_patient: int = 2) -> list[tuple[str, str, str, str]]:
    rows = []
    for p in range(n_patients):
        label = "sick" if p % 2 else "well"
        for k in range(per_patient):
            rel = f"img/p{p:02d}_{k}.png"
            _write_png(tmp_path / rel, (p * 5 + k) % 256, size=(12, 12))
            rows.append((rel, label, f"P{p:02d}", ""))
    return rows


def test_load_manifest_splits_by_patient(tmp_path: Path) -> None:
    path = _write_manifest(tmp_path, _patient_rows(tmp_path))
    data = load_manifest(path, image_size=8, seed=0)
    assert data.classes == ("sick", "well") and data.test is not None
    values = {
        name: {int(v) for v in split.images[:, 0, 0]}
        for name, split in (("train", data.train), ("val", data.val), ("test", data.test))
    }
    patients = {name: {v // 5 for v in vals} for name, vals in values.items()}  # value = patient * 5 + k
    assert not patients["train"] & patients["val"] and not patients["train"] & patients["test"]
    assert not patients["val"] & patients["test"]
    assert sum(len(p) for p in patients.values()) == 40
    assert all(len(np.unique(s.labels)) == 2 for s in (data.train, data.val, data.test))
    assert load_manifest(path, image_size=8, seed=0).source_sha256 == data.source_sha256
    assert load_source(path, image_size=8, seed=0).train.labels.tolist() == data.train.labels.tolist()


def test_load_manifest_keeps_given_splits_and_patients_together(tmp_path: Path) -> None:
    rows = _patient_rows(tmp_path, n_patients=30)
    rows = [(p, lbl, pid, "test" if pid in ("P00", "P01") else s) for p, lbl, pid, s in rows]
    rows[4] = (*rows[4][:3], "train")  # P02's first image: its second image must follow it
    data = load_manifest(_write_manifest(tmp_path, rows), image_size=8)
    assert data.test is not None and sorted(data.test.images[:, 0, 0].tolist()) == [0, 1, 5, 6]
    train_values = set(data.train.images[:, 0, 0].tolist())
    assert {10, 11} <= train_values


def test_load_manifest_rejects_patient_in_two_splits_and_bad_rows(tmp_path: Path) -> None:
    rows = _patient_rows(tmp_path, n_patients=10)
    rows[0] = (*rows[0][:3], "train")
    rows[1] = (*rows[1][:3], "test")
    with pytest.raises(DataError, match="more than one split"):
        load_manifest(_write_manifest(tmp_path, rows))
    (tmp_path / "bad.csv").write_text("path,label\nx.png,a\n")
    with pytest.raises(DataError, match="patient_id"):
        load_manifest(tmp_path / "bad.csv")
    rows = _patient_rows(tmp_path, n_patients=10)
    rows[0] = (*rows[0][:3], "holdout")
    with pytest.raises(DataError, match="holdout"):
        load_manifest(_write_manifest(tmp_path, rows))


def test_load_folder_tree_dedup_pool_splits_duplicate_groups(tmp_path: Path) -> None:
    for cls, base in (("a", 0), ("b", 128)):
        for i in range(30):
            _write_png(tmp_path / "Training" / cls / f"{i:02d}.png", base + i)
        for i in range(0, 30, 3):  # every third training image reappears in Testing
            _write_png(tmp_path / "Testing" / cls / f"t{i:02d}.png", base + i)
    official = load_folder_tree(tmp_path, image_size=8)
    assert official.test is not None and len(official.test.labels) == 20  # default unchanged
    data = load_folder_tree(tmp_path, image_size=8, dedup_pool=True, seed=1)
    assert data.test is not None
    sides = [{int(v) for v in s.images[:, 0, 0]} for s in (data.train, data.val, data.test)]
    assert not sides[0] & sides[1] and not sides[0] & sides[2] and not sides[1] & sides[2]
    assert sum(len(s.labels) for s in (data.train, data.val, data.test)) == 80
    assert len(sides[0] | sides[1] | sides[2]) == 60
    assert all(len(np.unique(s.labels)) == 2 for s in (data.train, data.val, data.test))
    again = load_folder_tree(tmp_path, image_size=8, dedup_pool=True, seed=1)
    assert again.test is not None and again.test.images.tobytes() == data.test.images.tobytes()


def test_augmentation_is_chosen_per_modality() -> None:
    from mlcore.data import augmenter

    def kinds(name: str) -> list[str]:
        return [type(layer).__name__ for layer in augmenter(name, 0).layers]

    assert "RandomFlip" not in kinds("xray")  # a flipped chest film fakes dextrocardia
    assert kinds("mri")[0] == "RandomFlip" and kinds("mri")[1:] == kinds("xray")
    assert kinds("xray_blur") == [*kinds("xray"), "RandomGaussianBlur"]
    assert augmenter("none", 0) is None
    with pytest.raises(ValueError, match="augmentation"):
        augmenter("ct", 0)


def test_xray_blur_softens_edges_but_keeps_brightness() -> None:
    from mlcore.data import augmenter

    rng = np.random.default_rng(0)
    films = rng.integers(0, 256, (16, 28, 28, 1)).astype(np.float32)
    blurred = np.asarray(augmenter("xray_blur", 0).layers[-1](films, training=True))
    assert blurred.shape == films.shape and 0 <= blurred.min() and blurred.max() <= 255
    edges = lambda x: np.abs(np.diff(x, axis=2)).mean()  # noqa: E731
    assert edges(blurred) < 0.9 * edges(films)
    assert abs(blurred.mean() - films.mean()) < 5


def _base(size: int = 8) -> Dataset:
    """A stand-in for a model's base data: classes sick/well, train pixels 250, val pixels 251."""
    train = Split(np.full((6, size, size), 250, np.uint8), np.array([0, 1] * 3))
    val = Split(np.full((4, size, size), 251, np.uint8), np.array([0, 1] * 2))
    return Dataset(("sick", "well"), train, val, None, "b" * 64)


def _added(split: Split) -> dict[int, int]:
    """Pixel value -> label of the images a manifest added (the base's are 250 and 251)."""
    return {int(img[0, 0]): int(y) for img, y in zip(split.images, split.labels, strict=True) if img[0, 0] < 250}


def test_add_manifest_resizes_maps_labels_and_splits_by_patient(tmp_path: Path) -> None:
    base = _base()
    path = _write_manifest(tmp_path, _patient_rows(tmp_path, n_patients=40))  # 12 x 12 PNGs, empty split
    data = add_manifest(base, path, seed=0)
    assert data.classes == base.classes and data.test is None
    assert data.train.images.shape[1:] == (8, 8) and data.val.images.shape[1:] == (8, 8)
    np.testing.assert_array_equal(data.train.images[:6], base.train.images)  # the base is kept, in order
    np.testing.assert_array_equal(data.val.images[:4], base.val.images)
    train, val = _added(data.train), _added(data.val)
    assert len(train) + len(val) == 80 and len(data.train.labels) + len(data.val.labels) == 90
    for value, label in (train | val).items():  # value = patient * 5 + k; odd patients are sick (index 0)
        assert label == (0 if (value // 5) % 2 else 1)
    train_patients, val_patients = {v // 5 for v in train}, {v // 5 for v in val}
    assert not train_patients & val_patients and len(train_patients | val_patients) == 40
    assert 2 <= len(val_patients) <= 10  # about val_fraction = 0.15 of the patients
    again = add_manifest(base, path, seed=0)
    assert again.val.images.tobytes() == data.val.images.tobytes() and again.source_sha256 == data.source_sha256


def test_add_manifest_keeps_given_splits_and_patients_together(tmp_path: Path) -> None:
    rows = _patient_rows(tmp_path, n_patients=30)
    rows[0], rows[1] = (*rows[0][:3], "val"), (*rows[1][:3], "VAL")  # P00: values 0 and 1
    rows[2] = (*rows[2][:3], "train")  # P01's first image (value 5): its second (6) has no split and follows it
    rows[40] = (*rows[40][:3], "val")  # P20's first image (100): its second (101) follows it
    data = add_manifest(_base(), _write_manifest(tmp_path, rows), seed=0)
    train, val = _added(data.train), _added(data.val)
    assert {0, 1, 100, 101} <= set(val) and {5, 6} <= set(train)
    assert not {v // 5 for v in train} & {v // 5 for v in val}
    rows[3] = (*rows[3][:3], "val")  # P01 now on both sides
    with pytest.raises(DataError, match="more than one split"):
        add_manifest(_base(), _write_manifest(tmp_path, rows))


def test_add_manifest_sends_everything_to_train_with_too_few_patients(tmp_path: Path) -> None:
    base = _base()
    data = add_manifest(base, _write_manifest(tmp_path, _patient_rows(tmp_path, n_patients=3)))
    assert len(_added(data.train)) == 6 and len(data.train.labels) == 12
    assert data.val.images.tobytes() == base.val.images.tobytes() and data.val.labels.tolist() == [0, 1, 0, 1]


def test_add_manifest_refuses_unknown_labels_and_test_rows(tmp_path: Path) -> None:
    rows = _patient_rows(tmp_path, n_patients=10)
    unknown = [rows[0][:1] + ("tumour",) + rows[0][2:], *rows[1:]]
    with pytest.raises(DataError, match=r"\['tumour'\] are not among the model's classes"):
        add_manifest(_base(), _write_manifest(tmp_path, unknown))
    test_row = [(*rows[0][:3], "test"), *rows[1:]]
    with pytest.raises(DataError, match="test rows are not allowed"):
        add_manifest(_base(), _write_manifest(tmp_path, test_row))
    missing = [("img/nope.png", "sick", "P99", ""), *rows[1:]]
    with pytest.raises(DataError, match="nope.png"):
        add_manifest(_base(), _write_manifest(tmp_path, missing))


def test_add_manifest_hash_follows_labels_splits_seed_and_base(tmp_path: Path) -> None:
    rows = _patient_rows(tmp_path, n_patients=10)
    first = add_manifest(_base(), _write_manifest(tmp_path, rows)).source_sha256
    assert add_manifest(_base(), _write_manifest(tmp_path, rows)).source_sha256 == first
    relabelled = [rows[0][:1] + ("well" if rows[0][1] == "sick" else "sick",) + rows[0][2:], *rows[1:]]
    assert add_manifest(_base(), _write_manifest(tmp_path, relabelled)).source_sha256 != first
    resplit = [(*rows[0][:3], "val"), (*rows[1][:3], "val"), *rows[2:]]
    assert add_manifest(_base(), _write_manifest(tmp_path, resplit)).source_sha256 != first
    assert add_manifest(_base(), _write_manifest(tmp_path, rows), seed=7).source_sha256 != first
    other_base = Dataset(("sick", "well"), _base().train, _base().val, None, "c" * 64)
    assert add_manifest(other_base, _write_manifest(tmp_path, rows)).source_sha256 != first


def test_drop_duplicates_of_drops_exactly_the_held_out_copies() -> None:
    rng = np.random.default_rng(0)
    held_out = rng.integers(0, 256, size=(5, 8, 8), dtype=np.uint8)
    near = held_out[3].copy()
    near[0, 0] ^= 1  # one grey level off: not the same image
    train_images = np.concatenate([rng.integers(0, 256, size=(6, 8, 8), dtype=np.uint8), held_out[[0, 1]], [near]])
    train = Split(train_images, np.array([0, 1, 0, 1, 0, 1, 1, 0, 1]))
    val_images = np.concatenate([held_out[[2]], rng.integers(0, 256, size=(3, 8, 8), dtype=np.uint8)])
    val = Split(val_images, np.array([1, 0, 1, 0]))
    test = Split(held_out, np.zeros(5, np.int64))
    data = Dataset(("a", "b"), train, val, test, "d" * 64)
    kept, dropped = drop_duplicates_of(data, held_out)
    assert dropped == 3
    np.testing.assert_array_equal(kept.train.images, train_images[[0, 1, 2, 3, 4, 5, 8]])
    assert kept.train.labels.tolist() == [0, 1, 0, 1, 0, 1, 1]
    np.testing.assert_array_equal(kept.val.images, val_images[1:])
    assert kept.val.labels.tolist() == [0, 1, 0]
    assert kept.test is test and kept.classes == data.classes
    assert kept.source_sha256 != data.source_sha256  # other training data, another hash
    assert drop_duplicates_of(data, held_out)[0].source_sha256 == kept.source_sha256
    same, none = drop_duplicates_of(kept, held_out)
    assert none == 0 and same is kept  # nothing to drop: the data and its hash are unchanged


def test_drop_test_copies_of_training_drops_only_test_images_seen_in_training() -> None:
    rng = np.random.default_rng(1)
    train = Split(rng.integers(0, 256, size=(6, 8, 8), dtype=np.uint8), np.array([0, 1, 0, 1, 0, 1]))
    val = Split(rng.integers(0, 256, size=(4, 8, 8), dtype=np.uint8), np.array([1, 0, 1, 0]))
    near = train.images[4].copy()
    near[7, 7] ^= 1  # one grey level off: a different image, kept
    fresh = rng.integers(0, 256, size=(3, 8, 8), dtype=np.uint8)
    test_images = np.stack([fresh[0], train.images[2], fresh[1], val.images[3], near, fresh[2]])
    test = Split(test_images, np.array([1, 0, 0, 0, 1, 1]))
    data = Dataset(("a", "b"), train, val, test, "e" * 64)
    kept, dropped = drop_test_copies_of_training(data)
    assert dropped == 2
    np.testing.assert_array_equal(kept.test.images, test_images[[0, 2, 4, 5]])
    assert kept.test.labels.tolist() == [1, 0, 1, 1]
    assert kept.train is train and kept.val is val
    assert kept.source_sha256 == data.source_sha256  # the training data did not change
    again, none = drop_test_copies_of_training(kept)
    assert none == 0 and again is kept
    no_test = Dataset(("a", "b"), train, val, None, "e" * 64)
    assert drop_test_copies_of_training(no_test) == (no_test, 0)
