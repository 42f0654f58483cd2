"""Real-data ML benchmarks: train, evaluate on an untouched test split, time, size, latency.

    python benchmarks/ml.py [--datasets DIR] [--only pneumoniamnist,brain-mri,covid19] [--out var/bench-ml]

Every task runs mlcore's leakage check before training and reports it. Results go to OUT/results.json and a
Markdown table (OUT/model-card-table.md) that docs/model-card.md quotes. Run by `make bench-ml`.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mlcore.bundle import load_bundle, save_bundle  # noqa: E402
from mlcore.config import ModelConfig  # noqa: E402
from mlcore.data import Dataset, Split, drop_test_copies_of_training, load_folder_tree, load_npz  # noqa: E402
from mlcore.evaluate import bootstrap_ci, evaluate  # noqa: E402
from mlcore.inference import Predictor  # noqa: E402
from mlcore.leakage import find_duplicates  # noqa: E402
from mlcore.train import train  # noqa: E402

TARGETS = {
    "pneumoniamnist": "test AUC >= 0.975 and accuracy >= 0.92; training <= 10 min",
    "brain-mri": "deduplicated test accuracy >= 0.90 and macro AUC >= 0.97",
    "covid19": "per-class metrics with 95% bootstrap CIs (no numeric target)",
}


def default_datasets() -> Path:
    for candidate in (os.environ.get("MEDSITE_DATASETS"), ROOT.parent / "shared" / "datasets", "/work/shared/datasets"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    raise SystemExit("shared datasets not found: pass --datasets or set MEDSITE_DATASETS")


def latency_ms(predictor: Predictor, image: np.ndarray, runs: int = 30) -> float:
    predictor.predict([image])  # warm-up: graph tracing
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        predictor.predict([image])
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def probabilities(predictor: Predictor, split: Split, cfg: ModelConfig) -> np.ndarray:
    return np.array([[r.probabilities[c] for c in cfg.classes] for r in predictor.predict(list(split.images))])


def run_task(name: str, cfg: ModelConfig, data: Dataset, out: Path, notes: list[str], extra_test: dict | None = None):
    leakage = find_duplicates(data)
    print(leakage.summary(), flush=True)
    started = time.perf_counter()
    result = train(cfg, data)
    train_s = time.perf_counter() - started
    ref = save_bundle(result, out / "bundles")
    bundle = load_bundle(ref.path)
    predictor = Predictor(bundle)
    test_probs = np.array(
        [[r.probabilities[c] for c in cfg.classes] for r in predictor.predict(list(data.test.images))]
    )
    test = evaluate(test_probs, data.test.labels, cfg.classes, threshold=result.threshold)
    row = {
        "task": name,
        "config": {k: v for k, v in asdict(cfg).items() if k not in ("task",)},
        "sizes": {"train": len(data.train.labels), "val": len(data.val.labels), "test": len(data.test.labels)},
        "leakage": leakage.to_dict() | {"summary": leakage.summary()},
        "train_seconds": round(train_s, 1),
        "epochs_run": result.epochs_run,
        "model_bytes": (ref.path / "model.keras").stat().st_size,
        "parameters": int(bundle.model.count_params()),
        "latency_ms_single_image_cpu": round(latency_ms(predictor, data.test.images[0]), 2),
        "threshold": result.threshold,
        "val": result.metrics["val"],
        "test": test,
        "bootstrap_test": bootstrap_ci(test_probs, data.test.labels, cfg.classes, n=1000, threshold=result.threshold),
        "notes": notes,
        "target": TARGETS[name],
    }
    for label, split in (extra_test or {}).items():
        probs = probabilities(predictor, split, cfg)
        row[label] = evaluate(probs, split.labels, cfg.classes, threshold=result.threshold)
    return row


def pneumoniamnist(datasets: Path, out: Path) -> dict:
    data = load_npz(datasets / "pneumoniamnist" / "pneumoniamnist.npz")
    # Five compact models (seeds 42..46) trained one after another and averaged inside one Keras model. Each image
    # is standardised by its own mean and std as well (the test split comes from another source folder, whose
    # exposure differs); rule fixed before the run: keep it unless validation AUC falls below 0.989 (it was 0.991).
    # xray_blur (a random mild blur in training; train normals are much crisper than train pneumonia films and the
    # test normals are softer): same rule, fixed in docs/model-card.md before its run. weight_ema=0.99 was rejected
    # by that rule (validation AUC 0.988).
    cfg = ModelConfig(
        task="chest-xray",
        classes=data.classes,
        image_size=28,
        epochs=30,
        patience=6,
        batch_size=64,
        ensemble=5,
        normalization="per_image",
        augmentation="xray_blur",
    )
    return run_task(
        "pneumoniamnist", cfg, data, out, ["official MedMNIST split; 8 train/val duplicates exist in the source"]
    )


def brain(datasets: Path, out: Path) -> dict:
    root = datasets / "brain-tumor-mri"
    data = load_folder_tree(root, image_size=96, dedup_pool=True)
    official = load_folder_tree(root, image_size=96)
    # 96 px through five narrow-to-wide blocks (cheaper per image than the earlier 64 px 32..256 net), a cosine
    # learning rate over a fixed 48 epochs (24, then 36 before), label smoothing, a moving average of the weights;
    # three seeds averaged, each on the image and its mirror. Each change was adopted by a rule fixed in
    # docs/model-card.md before its run.
    cfg = ModelConfig(
        task="brain-mri",
        classes=data.classes,
        image_size=96,
        compact_filters=(16, 32, 64, 128, 256),
        augmentation="mri",
        epochs=48,
        patience=48,
        batch_size=32,
        lr_schedule="cosine",
        label_smoothing=0.1,
        ensemble=3,
        tta_flip=True,
        weight_ema=0.99,
    )
    notes = [
        "deduplicated, group-aware 70/15/15 split of Training+Testing pooled",
        "official Testing/ reported too: 251 of its 394 files duplicate Training files, so it overstates skill",
    ]
    return run_task("brain-mri", cfg, data, out, notes, extra_test={"official_testing_leaky": official.test})


def covid(datasets: Path, out: Path) -> dict:
    data = load_folder_tree(datasets / "covid19-3class", image_size=64)
    data, dropped = drop_test_copies_of_training(data)
    cfg = ModelConfig(
        task="chest-xray-covid", classes=data.classes, image_size=64, epochs=40, patience=8, batch_size=32
    )
    return run_task(
        "covid19", cfg, data, out, [f"{dropped} test images identical to training images dropped from test"]
    )


TASKS = {"pneumoniamnist": pneumoniamnist, "brain-mri": brain, "covid19": covid}


def fmt(value, digits=3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def table(rows: list[dict]) -> str:
    lines = [
        "| Task | Test n | Accuracy | Macro AUC | Macro F1 | Sens. / spec. | Val acc. / AUC | Train time | Epochs "
        "| Size | Params | CPU latency |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        t, v = r["test"], r["val"]
        sens = f"{fmt(t.get('sensitivity'))} / {fmt(t.get('specificity'))}" if "sensitivity" in t else "—"
        lines.append(
            f"| {r['task']} | {r['sizes']['test']} | {fmt(t['accuracy'])} | {fmt(t['roc_auc'])} | "
            f"{fmt(t['f1_macro'])} | "
            f"{sens} | {fmt(v['accuracy'])} / {fmt(v['roc_auc'])} | {r['train_seconds']:.0f} s | {r['epochs_run']} | "
            f"{r['model_bytes'] / 1e6:.2f} MB | "
            f"{r['parameters']:,} | {r['latency_ms_single_image_cpu']:.1f} ms |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=None)
    parser.add_argument("--only", default=",".join(TASKS))
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench-ml")
    args = parser.parse_args()
    datasets = args.datasets or default_datasets()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.only.split(","):
        print(f"== {name}", flush=True)
        rows.append(TASKS[name](datasets, args.out))
        print(table(rows[-1:]), flush=True)
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, TensorFlow on CPU"
    (args.out / "results.json").write_text(json.dumps({"machine": machine, "results": rows}, indent=2, default=str))
    (args.out / "model-card-table.md").write_text(f"Machine: {machine}\n\n{table(rows)}\n")
    print(f"\nMachine: {machine}\n\n{table(rows)}")


if __name__ == "__main__":
    main()
