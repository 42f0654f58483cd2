"""Datasets: MedMNIST .npz files, class-per-folder trees, manifest CSVs, single images and tf.data pipelines."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from sklearn.model_selection import StratifiedGroupKFold, train_test_split

from mlcore.config import ModelConfig
from mlcore.imaging import DataError, load_image, resize_square
from mlcore.leakage import pixel_sha256

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
TRAIN_DIR_NAMES = ("training", "train")
TEST_DIR_NAMES = ("testing", "test")
SPLIT_NAMES = ("train", "val", "test")
MANIFEST_COLUMNS = ("path", "label", "patient_id", "split")

# Label names from MedMNIST's own info table, keyed by file stem.
MEDMNIST_CLASSES: dict[str, tuple[str, ...]] = {
    "pneumoniamnist": ("normal", "pneumonia"),
    "breastmnist": ("malignant", "normal, benign"),
    "octmnist": ("choroidal neovascularization", "diabetic macular edema", "drusen", "normal"),
}


@dataclass(frozen=True, eq=False)
class Split:
    """Images (uint8, N x H x W grayscale) and their integer labels (int64, N)."""

    images: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        if self.images.dtype != np.uint8 or self.images.ndim != 3:
            raise DataError(f"images must be uint8 (N, H, W), got {self.images.dtype} {self.images.shape}")
        if self.labels.ndim != 1 or not np.issubdtype(self.labels.dtype, np.integer):
            raise DataError(f"labels must be integers of shape (N,), got {self.labels.dtype} {self.labels.shape}")
        if len(self.images) != len(self.labels) or len(self.labels) == 0:
            raise DataError(f"{len(self.images)} images and {len(self.labels)} labels: need the same, non-zero count")
        object.__setattr__(self, "labels", self.labels.astype(np.int64, copy=False))


@dataclass(frozen=True, eq=False)
class Dataset:
    """Train/val(/test) splits with class names and a hash identifying the source data."""

    classes: tuple[str, ...]
    train: Split
    val: Split
    test: Split | None
    source_sha256: str


def load_npz(path: str | Path, *, classes: tuple[str, ...] | None = None) -> Dataset:
    """Load a MedMNIST-style .npz (train/val/test _images and _labels)."""
    path = Path(path)
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError(f"cannot read {path.name}: {exc}") from exc
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise DataError(f"{path.name} is a single array, not an .npz archive of splits")
    with loaded:
        missing = [k for k in ("train_images", "train_labels", "val_images", "val_labels") if k not in loaded.files]
        if missing:
            raise DataError(f"{path.name} lacks {', '.join(missing)} (expected MedMNIST layout)")
        has_test = "test_images" in loaded.files and "test_labels" in loaded.files
        splits = {
            name: _npz_split(loaded[f"{name}_images"], loaded[f"{name}_labels"], name)
            for name in ("train", "val", "test")
            if name != "test" or has_test
        }
    n_classes = 1 + max(int(s.labels.max()) for s in splits.values())
    names = _class_names(path, classes, max(n_classes, 2))
    return Dataset(
        classes=names,
        train=splits["train"],
        val=splits["val"],
        test=splits.get("test"),
        source_sha256=sha256_file(path),
    )


def load_folder_tree(
    root: str | Path,
    *,
    image_size: int = 64,
    val_fraction: float = 0.15,
    seed: int = 42,
    dedup_pool: bool = False,
    test_fraction: float = 0.15,
    patient_pattern: str | None = None,
) -> Dataset:
    """Load root/{Training|train}/<cls>/* (+ optional {Testing|test}/<cls>/*), or root/<cls>/*.

    patient_pattern: a regular expression whose match at the start of a file name is its patient ID (Kermany's
    "person12_bacteria_3.jpeg" -> "person12"); the validation split then keeps each patient on one side.

    Images are resized to image_size x image_size so that they stack. Validation is carved from
    train, stratified and seeded; exact duplicate images are kept on the same side of that split.

    dedup_pool=True ignores the official Training/Testing split: both are pooled, exact duplicates
    (same decoded pixels) are grouped, and the groups are split seeded and stratified into
    train/val/test (val_fraction, test_fraction of the groups), so no image is on two sides.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root} is not a directory")
    top = {d.name.lower(): d for d in _subdirs(root)}
    train_dir = next((top[n] for n in TRAIN_DIR_NAMES if n in top), None)
    test_dir = next((top[n] for n in TEST_DIR_NAMES if n in top), None) if train_dir else None
    train_dir = train_dir or root
    classes = tuple(sorted(d.name for d in _subdirs(train_dir)))
    if len(classes) < 2:
        raise DataError(f"{train_dir} needs at least two class folders, found {list(classes)}")
    if test_dir is not None:
        extra = sorted({d.name for d in _subdirs(test_dir)} - set(classes))
        if extra:
            raise DataError(f"test classes {extra} do not exist in {train_dir.name}")

    digests: list[tuple[str, str]] = []
    images, labels, pixel_hashes = _read_class_folders(root, train_dir, classes, image_size, digests, every_class=True)
    test = None
    if test_dir is not None:
        test_images, test_labels, test_hashes = _read_class_folders(
            root, test_dir, classes, image_size, digests, every_class=False
        )
        if dedup_pool:
            images = np.concatenate([images, test_images])
            labels = np.concatenate([labels, test_labels])
            pixel_hashes = pixel_hashes + test_hashes
        else:
            test = Split(test_images, test_labels)
    if dedup_pool:
        sides = group_split(labels, pixel_hashes, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
        return Dataset(
            classes=classes,
            train=Split(images[sides == 0], labels[sides == 0]),
            val=Split(images[sides == 1], labels[sides == 1]),
            test=Split(images[sides == 2], labels[sides == 2]),
            source_sha256=_tree_sha256(digests + [("#split", f"dedup_pool seed={seed}")]),
        )
    groups = pixel_hashes
    if patient_pattern:
        pattern = re.compile(patient_pattern)
        names = [Path(rel).name for rel, _ in digests[: len(labels)]]
        groups = [m.group(0) if (m := pattern.match(n)) else h for n, h in zip(names, pixel_hashes, strict=True)]
        groups = _merge_groups(groups, pixel_hashes)
    train_idx, val_idx = _stratified_group_split(labels, groups, val_fraction, seed)
    return Dataset(
        classes=classes,
        train=Split(images[train_idx], labels[train_idx]),
        val=Split(images[val_idx], labels[val_idx]),
        test=test,
        source_sha256=_tree_sha256(digests),
    )


def load_manifest(path: str | Path, *, image_size: int = 64, seed: int = 42) -> Dataset:
    """Load a CSV with columns path,label,patient_id,split (split: train, val, test or empty).

    Relative paths resolve against the CSV's folder; classes are the sorted label names. Rows with an
    empty split are assigned seeded and stratified BY PATIENT (15% val, and 15% test unless the CSV
    already names a test split), and follow their patient where the patient already has a split.
    A patient given two different splits is an error: that would leak the patient across splits.
    """
    path = Path(path)
    rows = _read_manifest_rows(path)
    classes = tuple(sorted({r["label"] for r in rows}))
    if len(classes) < 2:
        raise DataError(f"{path.name} needs at least two labels, found {list(classes)}")
    labels = np.array([classes.index(r["label"]) for r in rows], dtype=np.int64)
    patients = [r["patient_id"] for r in rows]
    sides = np.array([SPLIT_NAMES.index(r["split"]) if r["split"] else -1 for r in rows], dtype=np.int64)
    fixed: dict[str, int] = {}
    for patient, side in zip(patients, sides, strict=True):
        if side >= 0 and fixed.setdefault(patient, int(side)) != side:
            raise DataError(f"{path.name}: patient {patient!r} is in more than one split")
    sides = np.array([fixed.get(p, -1) if s < 0 else s for p, s in zip(patients, sides, strict=True)])
    todo = np.flatnonzero(sides < 0)
    if len(todo):
        test_fraction = 0.0 if (sides == 2).any() else 0.15
        sides[todo] = group_split(
            labels[todo], [patients[i] for i in todo], val_fraction=0.15, test_fraction=test_fraction, seed=seed
        )
    stacked, file_shas = _read_manifest_images(path, rows, image_size)
    digests = [("#manifest", sha256_file(path))]
    digests += [(row["path"], sha) for row, sha in zip(rows, file_shas, strict=True)]
    splits = {
        name: Split(stacked[sides == i], labels[sides == i]) if (sides == i).any() else None
        for i, name in enumerate(SPLIT_NAMES)
    }
    if splits["train"] is None or splits["val"] is None:
        raise DataError(f"{path.name}: the train and val splits must not be empty")
    digests.append(("#split", f"seed={seed}"))
    return Dataset(classes, splits["train"], splits["val"], splits["test"], _tree_sha256(digests))


def load_source(
    path: str | Path,
    *,
    image_size: int = 64,
    seed: int = 42,
    dedup_pool: bool = False,
    classes: tuple[str, ...] | None = None,
    patient_pattern: str | None = None,
) -> Dataset:
    """Load a dataset from an .npz file, a manifest .csv or a class-per-folder directory.

    classes names an .npz file's integer labels (folders and manifests carry their own names); for a folder tree
    they may restyle the folder names ("NORMAL" as "normal"), in the same order."""
    path = Path(path)
    if path.is_dir():
        data = load_folder_tree(
            path, image_size=image_size, seed=seed, dedup_pool=dedup_pool, patient_pattern=patient_pattern
        )
        return _named(data, classes) if classes else data
    if path.is_file() and path.suffix.lower() == ".npz":
        return load_npz(path, classes=classes)
    if path.is_file() and path.suffix.lower() == ".csv":
        return load_manifest(path, image_size=image_size, seed=seed)
    if not path.exists():
        raise DataError(f"{path} does not exist")
    raise DataError(f"{path.name}: expected an .npz file, a manifest .csv or a directory of class folders")


def _named(data: Dataset, classes: tuple[str, ...]) -> Dataset:
    """data with its class names restyled to classes, when they are the same names in the same order."""
    if tuple(c.lower() for c in classes) != tuple(c.lower() for c in data.classes):
        return data  # different classes: the caller's own check reports it
    return replace(data, classes=tuple(classes))


def group_split(
    labels: np.ndarray, groups: list[str], *, val_fraction: float, test_fraction: float, seed: int
) -> np.ndarray:
    """Side per sample (0 train, 1 val, 2 test), seeded and stratified by label, never splitting a group.

    Uses StratifiedGroupKFold: the test side is one fold of round(1 / test_fraction), the val side one
    fold of the rest. A group's label for stratification is its first sample's label.
    """
    labels = np.asarray(labels)
    sides = np.zeros(len(labels), dtype=np.int64)
    rest = np.arange(len(labels))
    for side, fraction in ((2, test_fraction), (1, val_fraction / max(1.0 - test_fraction, 1e-9))):
        if fraction <= 0:
            continue
        n_splits = max(2, round(1 / fraction))
        rest_groups = np.array([groups[i] for i in rest])
        if len(set(rest_groups.tolist())) < n_splits:
            raise DataError(f"too few groups ({len(set(rest_groups.tolist()))}) for a {fraction:.0%} group split")
        splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed + side)
        _, held = next(splitter.split(rest, labels[rest], rest_groups))
        sides[rest[held]] = side
        rest = np.delete(rest, held)
    return sides


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def make_dataset(split: Split, mode: str, cfg: ModelConfig) -> tf.data.Dataset:
    """Batched (float32 (B, H, W, 1) raw 0..255, int64 label) pipeline; augmented in "train" mode only."""
    if mode not in ("train", "eval"):
        raise ValueError(f"mode must be 'train' or 'eval', got {mode!r}")
    ds = tf.data.Dataset.from_tensor_slices((split.images, split.labels)).cache()
    if mode == "train":
        ds = ds.shuffle(len(split.labels), seed=cfg.seed, reshuffle_each_iteration=True)
        augment = augmenter(cfg.augmentation, cfg.seed)
        if augment is None:
            ds = ds.map(lambda x, y: (_to_float(x), y), num_parallel_calls=tf.data.AUTOTUNE)
        else:
            ds = ds.map(lambda x, y: (augment(_to_float(x), training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = ds.map(lambda x, y: (_to_float(x), y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(cfg.batch_size).prefetch(tf.data.AUTOTUNE)


def augmenter(kind: str, seed: int) -> keras.layers.Pipeline | None:
    """Training-time augmentation for a modality; None for "none".

    Both kinds apply small rotations (about +-11 degrees), zoom (+-10%) and contrast (+-10%).
    "xray" never flips: on a chest X-ray the heart's side matters (a flip fakes dextrocardia).
    "xray_blur" is "xray" plus a random mild Gaussian blur (3x3 kernel, sigma 0.3-1.0, its strength drawn per
    image), for training sets where sharpness follows the class (a source's normal films rendered crisper than
    its pneumonia ones) but a new site's films are softer: the model cannot then read "crisp" as "normal".
    "mri" adds left-right flips: a brain tumour's type does not depend on the hemisphere it grows in.
    """
    if kind == "none":
        return None
    layers: list[keras.layers.Layer] = []
    if kind == "mri":
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed + 3))
    elif kind not in ("xray", "xray_blur"):
        raise ValueError(f"unknown augmentation {kind!r}")
    layers += [
        keras.layers.RandomRotation(0.03, fill_mode="constant", seed=seed),
        keras.layers.RandomZoom(0.1, fill_mode="constant", seed=seed + 1),
        keras.layers.RandomContrast(0.1, value_range=(0, 255), seed=seed + 2),
    ]
    if kind == "xray_blur":
        layers.append(
            keras.layers.RandomGaussianBlur(1.0, kernel_size=3, sigma=(0.3, 1.0), value_range=(0, 255), seed=seed + 4)
        )
    return keras.layers.Pipeline(layers)


def _to_float(image: tf.Tensor) -> tf.Tensor:
    return tf.cast(image, tf.float32)[..., tf.newaxis]


def _npz_split(images: np.ndarray, labels: np.ndarray, name: str) -> Split:
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    elif images.ndim == 4 and images.shape[-1] == 3:
        luma = images.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        images = np.clip(np.rint(luma), 0, 255).astype(np.uint8)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise DataError(f"{name}_images must be uint8 (N, H, W[, 1|3]), got {images.dtype} {images.shape}")
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise DataError(f"{name}_labels has shape {labels.shape}: multi-label data is not supported")
    if not np.issubdtype(labels.dtype, np.integer) or (labels.size and labels.min() < 0):
        raise DataError(f"{name}_labels must be non-negative integers")
    return Split(images, labels.astype(np.int64))


def _class_names(path: Path, classes: tuple[str, ...] | None, n_classes: int) -> tuple[str, ...]:
    if classes is not None:
        if len(classes) < n_classes:
            raise DataError(f"{len(classes)} class names given but labels go up to {n_classes - 1}")
        return tuple(classes)
    stem = path.stem.lower().split("_")[0]  # "pneumoniamnist_128" -> "pneumoniamnist"
    known = MEDMNIST_CLASSES.get(stem)
    if known is not None:
        if len(known) < n_classes:
            raise DataError(f"{path.name}: labels go up to {n_classes - 1} but {stem} has {len(known)} classes")
        return known
    return tuple(f"class_{i}" for i in range(n_classes))


def _subdirs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


def _read_class_folders(
    root: Path,
    split_dir: Path,
    classes: tuple[str, ...],
    image_size: int,
    digests: list[tuple[str, str]],
    *,
    every_class: bool,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read every image under split_dir/<cls>/; appends (relpath, file sha256) to digests."""
    images: list[np.ndarray] = []
    labels: list[int] = []
    pixel_hashes: list[str] = []
    for label, name in enumerate(classes):
        class_dir = split_dir / name
        files = _image_files(class_dir) if class_dir.is_dir() else []
        if not files and every_class:
            raise DataError(f"class folder {class_dir.relative_to(root)} has no images")
        for file in files:
            rel = file.relative_to(root).as_posix()
            data = file.read_bytes()
            try:
                pixels = load_image(io.BytesIO(data))
            except DataError as exc:
                raise DataError(f"{rel}: {exc}") from exc
            digests.append((rel, hashlib.sha256(data).hexdigest()))
            pixel_hashes.append(hashlib.sha256(repr(pixels.shape).encode() + pixels.tobytes()).hexdigest())
            images.append(resize_square(pixels, image_size))
            labels.append(label)
    if not images:
        raise DataError(f"{split_dir} has no images")
    return np.stack(images), np.array(labels, dtype=np.int64), pixel_hashes


def _merge_groups(patients: list[str], pixel_hashes: list[str]) -> list[str]:
    """Patient groups joined where two patients share an identical image, so neither split holds a copy."""
    parent = {p: p for p in patients}

    def find(p: str) -> str:
        while parent[p] != p:
            parent[p] = parent[parent[p]]
            p = parent[p]
        return p

    first: dict[str, str] = {}
    for patient, digest in zip(patients, pixel_hashes, strict=True):
        other = first.setdefault(digest, patient)
        parent[find(patient)] = find(other)
    return [find(p) for p in patients]


def _image_files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
    )


def _stratified_group_split(
    labels: np.ndarray, groups: list[str], val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified, seeded train/val split of distinct images; duplicates follow their first copy."""
    first: dict[str, int] = {}
    for i, g in enumerate(groups):
        first.setdefault(g, i)
    reps = np.array(sorted(first.values()))
    try:
        _, val_reps = train_test_split(reps, test_size=val_fraction, stratify=labels[reps], random_state=seed)
    except ValueError as exc:
        raise DataError(
            f"too few images per class for a {val_fraction:.0%} stratified validation split: {exc}"
        ) from exc
    val_groups = {groups[i] for i in val_reps}
    in_val = np.array([g in val_groups for g in groups])
    return np.flatnonzero(~in_val), np.flatnonzero(in_val)


def _tree_sha256(entries: list[tuple[str, str]]) -> str:
    digest = hashlib.sha256()
    for rel, sha in sorted(entries):
        digest.update(f"{rel}\t{sha}\n".encode())
    return digest.hexdigest()


def _read_manifest_rows(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in MANIFEST_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise DataError(f"{path.name} lacks columns {', '.join(missing)}")
            rows = [{c: (r.get(c) or "").strip() for c in MANIFEST_COLUMNS} for r in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read {path.name}: {exc}") from exc
    if not rows:
        raise DataError(f"{path.name} has no rows")
    for n, row in enumerate(rows, start=2):
        if not row["path"] or not row["label"] or not row["patient_id"]:
            raise DataError(f"{path.name} line {n}: path, label and patient_id are required")
        row["split"] = row["split"].lower()
        if row["split"] and row["split"] not in SPLIT_NAMES:
            raise DataError(f"{path.name} line {n}: split {row['split']!r} is not train, val, test or empty")
    return rows


def _read_manifest_images(path: Path, rows: list[dict[str, str]], size: int) -> tuple[np.ndarray, list[str]]:
    """The rows' images resized to size x size (stacked), and each file's sha256."""
    images, shas = [], []
    for row in rows:
        file = path.parent / row["path"]  # an absolute row path replaces the folder
        try:
            data = file.read_bytes()
            images.append(resize_square(load_image(io.BytesIO(data)), size))
        except (OSError, DataError) as exc:
            raise DataError(f"{path.name}: {row['path']}: {exc}") from exc
        shas.append(hashlib.sha256(data).hexdigest())
    return np.stack(images), shas


def add_manifest(base: Dataset, manifest: str | Path, *, seed: int = 42, val_fraction: float = 0.15) -> Dataset:
    """base's train/val plus the images a manifest CSV lists (the retraining queue's export); no test split.

    Images are resized to base's size. Rows naming split train or val keep it; rows with an empty split
    are split seeded and stratified BY PATIENT (val_fraction to val), or all go to train when there are
    too few patients for that; a patient never lands on both sides. A test row is refused: the held-out
    set that judges a retrained model is a fixed set of its own, never built from the queue.
    """
    path = Path(manifest)
    rows = _read_manifest_rows(path)
    unknown = sorted({r["label"] for r in rows} - set(base.classes))
    if unknown:
        raise DataError(f"{path.name}: labels {unknown} are not among the model's classes {list(base.classes)}")
    if any(r["split"] == "test" for r in rows):
        raise DataError(f"{path.name}: test rows are not allowed; the held-out set is fixed separately")
    size = int(base.train.images.shape[1])
    labels = np.array([base.classes.index(r["label"]) for r in rows], dtype=np.int64)
    patients = [r["patient_id"] for r in rows]
    sides = np.array([SPLIT_NAMES.index(r["split"]) if r["split"] else -1 for r in rows], dtype=np.int64)
    for patient in {p for p, s in zip(patients, sides, strict=True) if s >= 0}:
        if len({int(s) for p, s in zip(patients, sides, strict=True) if p == patient and s >= 0}) > 1:
            raise DataError(f"{path.name}: patient {patient!r} is in more than one split")
    fixed = {p: int(s) for p, s in zip(patients, sides, strict=True) if s >= 0}
    sides = np.array([fixed.get(p, -1) if s < 0 else s for p, s in zip(patients, sides, strict=True)])
    todo = np.flatnonzero(sides < 0)
    if len(todo):
        try:
            sides[todo] = group_split(
                labels[todo], [patients[i] for i in todo], val_fraction=val_fraction, test_fraction=0.0, seed=seed
            )
        except (DataError, ValueError):  # too few patients (or a class too rare) to hold any out
            sides[todo] = 0
    stacked, file_shas = _read_manifest_images(path, rows, size)
    digests = [("#base", base.source_sha256), ("#split", f"seed={seed} val_fraction={val_fraction}")]
    # Every column is in the hash: a changed label or split is changed training data.
    digests += [("\t".join(row[c] for c in MANIFEST_COLUMNS), sha) for row, sha in zip(rows, file_shas, strict=True)]

    def extend(split: Split, side: int) -> Split:
        mask = sides == side
        if not mask.any():
            return split
        return Split(np.concatenate([split.images, stacked[mask]]), np.concatenate([split.labels, labels[mask]]))

    return Dataset(base.classes, extend(base.train, 0), extend(base.val, 1), None, _tree_sha256(digests))


def drop_test_copies_of_training(data: Dataset) -> tuple[Dataset, int]:
    """data without the test images whose pixels equal a training or validation image, and how many were
    dropped: a model has learned those, so scoring it on them measures memory (covid19-3class has 6).
    The training data, and so source_sha256, are unchanged."""
    if data.test is None:
        return data, 0
    seen = {pixel_sha256(image) for split in (data.train, data.val) for image in split.images}
    keep = np.array([pixel_sha256(image) not in seen for image in data.test.images], dtype=bool)
    if keep.all():
        return data, 0
    return replace(data, test=Split(data.test.images[keep], data.test.labels[keep])), int((~keep).sum())


def drop_duplicates_of(data: Dataset, held_out: np.ndarray) -> tuple[Dataset, int]:
    """data without the train/val images whose pixels equal an image of held_out (uint8 N x H x W), and how
    many were dropped: a held-out set must never be trained on, even when someone uploads one of its images."""
    banned = {pixel_sha256(image) for image in held_out}
    kept, hits = {}, []
    for name in ("train", "val"):
        split = getattr(data, name)
        digests = [pixel_sha256(image) for image in split.images]
        keep = np.array([digest not in banned for digest in digests])
        hits += [f"{name}:{digest}" for digest in digests if digest in banned]
        kept[name] = Split(split.images[keep], split.labels[keep])
    if not hits:
        return data, 0
    sha = hashlib.sha256("\n".join([data.source_sha256, *sorted(hits)]).encode()).hexdigest()  # other data now
    return replace(data, **kept, source_sha256=sha), len(hits)
