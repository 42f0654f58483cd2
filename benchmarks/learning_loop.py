"""Learning-loop benchmark: how many reviewed labels a retrained PneumoniaMNIST model needs to beat the active one.

    python benchmarks/learning_loop.py [--datasets DIR] [--out var/bench-loop] [--schedule 100,250,500,1000,2000,4000]
                                       [--arms random:1.0:4000,...] [--train-seeds 42] [--control-seeds 43,44,45]

Simulates the product's loop on the real data, without Django:

1. The active ("base") model is trained on a seeded, stratified BASE_N images of the official train split and
   validated on the official val split. The official TEST split is the fixed held-out set: never trained on.
2. The rest of the train split is the live traffic. The base model predicts it; simulated radiologists review N
   images, in random order or least certain first (|P(pneumonia) - threshold|, the worklist's margin order), and
   correct a fraction of the wrong predictions to the true label. The wrong predictions they do not correct keep
   the AI's label (noisy labels); right predictions are confirmed.
3. The reviewed images are exported as the retraining queue does: PNG files plus a manifest CSV
   (path,label,patient_id,split, split empty). PneumoniaMNIST has no patient ids, so each image is its own
   pseudo-patient. Then add_manifest(base, csv), drop_duplicates_of(data, held-out images), train, save_bundle /
   load_bundle, holdout_metrics of candidate and base on the test split, and promotion_gate.

Beside the gate, each candidate gets two diagnostics that are reported, never used to choose anything: a paired,
stratified bootstrap 95% interval of its held-out AUC minus the active model's, and its sensitivity at the active
model's held-out specificity (read off its held-out ROC curve), which compares the two curves at one point instead
of at two thresholds each chosen on its own validation split. Control runs retrain the base data with other seeds:
what the gate says about a candidate that learned nothing new.

Writes OUT/results.json, OUT/table.md (quoted by docs/model-card.md) and OUT/auc_vs_n.png. Run by `make bench-loop`.
"""

import argparse
import csv
import hashlib
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.model_selection import train_test_split

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.ml import default_datasets, probabilities  # noqa: E402
from mlcore.bundle import load_bundle, save_bundle  # noqa: E402
from mlcore.config import ModelConfig  # noqa: E402
from mlcore.data import MANIFEST_COLUMNS, Dataset, Split, add_manifest, drop_duplicates_of, load_npz  # noqa: E402
from mlcore.gate import holdout_metrics, promotion_gate  # noqa: E402
from mlcore.inference import Predictor  # noqa: E402
from mlcore.train import train  # noqa: E402

BASE_N = 300
SEED = 42
NORMAL = "normal"
DEFAULT_SCHEDULE = "100,250,500,1000,2000,4000"
# (order, fraction of wrong predictions corrected, largest N run): least-certain-first stops at 2000 because at
# 4000 of 4408 it reviews nearly the same images as random order.
DEFAULT_ARMS = "random:1.0:4000,random:0.5:4000,uncertain:1.0:2000"
CONTROL_SEEDS = "43,44,45"
BOOTSTRAP = 1000


def config(classes: tuple[str, ...], epochs: int, seed: int = SEED) -> ModelConfig:
    """One compact CNN (16/32/64 filters) at 28 px, batch 64, patience 5: small enough for ~20 trainings on 2 cores.

    Deliberately not benchmarks/ml.py's PneumoniaMNIST ensemble: the loop compares models with each other.
    """
    return ModelConfig(
        task="chest-xray", classes=classes, image_size=28, epochs=epochs, patience=5, batch_size=64, seed=seed
    )


def base_and_pool(data: Dataset, n: int, seed: int) -> tuple[Split, Split]:
    """A seeded, stratified n-image part of the train split, and the rest (the live traffic)."""
    index = np.arange(len(data.train.labels))
    base, pool = train_test_split(index, train_size=n, stratify=data.train.labels, random_state=seed)
    pool = np.sort(pool)
    return (
        Split(data.train.images[base], data.train.labels[base]),
        Split(data.train.images[pool], data.train.labels[pool]),
    )


def review_order(order: str, margins: np.ndarray, seed: int) -> np.ndarray:
    """Pool indices in the order radiologists review them: seeded random, or smallest margin first."""
    if order == "random":
        return np.random.default_rng(seed).permutation(len(margins))
    if order == "uncertain":
        return np.argsort(margins, kind="stable")
    raise ValueError(f"unknown order {order!r}")


def reviewed_labels(truth: np.ndarray, ai: np.ndarray, fraction: float, draws: np.ndarray) -> np.ndarray:
    """What the radiologists record: the truth where the AI was right or they corrected it, else the AI's label.

    draws holds one uniform number per image, fixed for the whole benchmark, so that a larger N only adds
    reviews and never changes the earlier ones.
    """
    corrected = draws < fraction
    return np.where((ai == truth) | corrected, truth, ai)


def export_pngs(pool: Split, folder: Path) -> list[str]:
    """Every pool image as a PNG, as the product stores an upload; returns the paths relative to folder."""
    (folder / "img").mkdir(parents=True, exist_ok=True)
    paths = []
    for i, image in enumerate(pool.images):
        rel = f"img/{i:05d}.png"
        Image.fromarray(image).save(folder / rel)
        paths.append(rel)
    return paths


def write_manifest(path: Path, rels: list[str], labels: np.ndarray, indices: np.ndarray, classes) -> Path:
    """The queue's export: path,label,patient_id,split; one pseudo-patient per image, split left empty."""
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(MANIFEST_COLUMNS)
        for i in indices:
            writer.writerow([rels[i], classes[labels[i]], f"pseudo-{i:05d}", ""])
    return path


def train_and_score(cfg: ModelConfig, data: Dataset, holdout: Split, bundles: Path) -> tuple[dict, dict, np.ndarray]:
    """Train, save and reload the bundle, and score it on the held-out set.

    Returns the run's facts (with the held-out summary), holdout_metrics() for the gate, and the held-out
    P(positive) for the diagnostics.
    """
    started = time.perf_counter()
    result = train(cfg, data)
    seconds = time.perf_counter() - started
    ref = save_bundle(result, bundles)
    bundle = load_bundle(ref.path)
    metrics = holdout_metrics(bundle, holdout, normal_class=NORMAL)
    op = metrics["operating"]
    facts = {
        "train_n": len(data.train.labels),
        "val_n": len(data.val.labels),
        "train_seconds": round(seconds, 1),
        "epochs_run": result.epochs_run,
        "threshold": result.threshold,
        "val_auc": result.metrics["val"]["roc_auc"],
        "bundle": ref.sha256,
        "holdout": {
            "roc_auc": metrics["roc_auc"],
            "sensitivity": op["sensitivity"],
            "specificity": op["specificity"],
            "accuracy": metrics["accuracy"],
            "confusion_matrix": metrics["confusion_matrix"],
        },
    }
    return facts, metrics, probabilities(Predictor(bundle), holdout, cfg)[:, 1]


def paired_auc_difference(candidate: np.ndarray, active: np.ndarray, labels: np.ndarray, seed: int) -> dict:
    """Candidate AUC minus active AUC on the same images, with a 95% interval from paired, stratified resamples."""
    rng = np.random.default_rng(seed)
    by_class = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    diffs = []
    for _ in range(BOOTSTRAP):
        idx = np.concatenate([rng.choice(members, len(members)) for members in by_class])
        diffs.append(roc_auc_score(labels[idx], candidate[idx]) - roc_auc_score(labels[idx], active[idx]))
    low, high = np.percentile(diffs, [2.5, 97.5])
    estimate = roc_auc_score(labels, candidate) - roc_auc_score(labels, active)
    return {"estimate": float(estimate), "low": float(low), "high": float(high)}


def sensitivity_at_specificity(pos: np.ndarray, labels: np.ndarray, specificity: float) -> float:
    """The highest sensitivity on these images among thresholds whose specificity is at least the given one."""
    fpr, tpr, _ = roc_curve(labels, pos, drop_intermediate=False)
    return float(tpr[fpr <= 1.0 - specificity + 1e-12].max())


def judged(facts: dict, metrics: dict, pos: np.ndarray, active: dict, holdout: Split) -> dict:
    """facts plus the gate's verdict against the active model and the two diagnostics."""
    gate = promotion_gate(metrics, active["metrics"])
    return facts | {
        "gate": asdict(gate),
        "auc_difference": paired_auc_difference(pos, active["pos"], holdout.labels, SEED),
        "sensitivity_at_active_specificity": sensitivity_at_specificity(
            pos, holdout.labels, active["metrics"]["operating"]["specificity"]
        ),
    }


def seeds(text: str) -> list[int]:
    return [int(s) for s in text.split(",") if s.strip()]


def parse_arms(text: str) -> list[tuple[str, float, int]]:
    arms = []
    for part in text.split(","):
        order, fraction, largest = part.split(":")
        arms.append((order, float(fraction), int(largest)))
    return arms


def fmt(value, digits=3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def verdict(gate: dict) -> str:
    """pass, or FAIL with the metrics it failed on."""
    if gate["passed"]:
        return "pass"
    failed = [("AUC" if r.startswith("ROC AUC") else "sens.") for r in gate["reasons"] if "not worse" not in r]
    return f"FAIL ({', '.join(failed)})"


def table(base: dict, rows: list[dict]) -> str:
    """One row per run; the first is the active model, then the seed controls (N = 0), then the candidates."""
    h = base["holdout"]
    lines = [
        "| N reviewed | Corrected | Order | Seed | AI errors reviewed | Labels corrected | Noisy labels | Held-out AUC "
        "| AUC − active (95% CI) | Sens. / spec. at own threshold | Sens. at active's spec. | Gate | Train time |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        f"| 0 (active model, {base['train_n']} images) | — | — | {SEED} | — | — | — | {fmt(h['roc_auc'])} | — | "
        f"{fmt(h['sensitivity'])} / {fmt(h['specificity'])} | — | (active) | {base['train_seconds']:.0f} s |",
    ]
    for r in rows:
        h, d = r["holdout"], r["auc_difference"]
        if "order" in r:
            what = f"| {r['n_reviewed']} | {r['fraction_corrected']:.0%} | {r['order']} | {r['seed']} | "
            what += f"{r['ai_errors']} | {r['labels_corrected']} | {r['noisy_labels']} |"
        else:
            what = f"| 0 (control: the same images) | — | — | {r['seed']} | — | — | — |"
        lines.append(
            f"{what} {fmt(h['roc_auc'])} | {d['estimate']:+.3f} ({d['low']:+.3f} to {d['high']:+.3f}) | "
            f"{fmt(h['sensitivity'])} / {fmt(h['specificity'])} | {fmt(r['sensitivity_at_active_specificity'])} | "
            f"{verdict(r['gate'])} | {r['train_seconds']:.0f} s |"
        )
    return "\n".join(lines)


def arms_of(rows: list[dict]) -> dict[tuple, dict[int, list[dict]]]:
    """Candidate runs by (order, fraction corrected), then by N (one run per training seed)."""
    arms: dict[tuple, dict[int, list[dict]]] = {}
    for r in rows:
        if "order" in r:
            arms.setdefault((r["order"], r["fraction_corrected"]), {}).setdefault(r["n_reviewed"], []).append(r)
    return arms


def seed_table(base: dict, rows: list[dict]) -> str:
    """Per arm and N: mean held-out AUC over the training seeds, its range, and how often the gate passed.

    "Same-seed gain" pairs each candidate with the retrain of the base data at its seed (the active model
    itself for SEED), which takes out the seed's own effect; "—" where a seed has no control run.
    """
    same_seed = {SEED: base["holdout"]["roc_auc"]} | {
        r["seed"]: r["holdout"]["roc_auc"] for r in rows if "order" not in r
    }
    lines = [
        "| Runs | N reviewed | Corrected | Order | Seeds | Mean held-out AUC | Range | Same-seed gain "
        "| Mean sens. at active's spec. | Gate passed |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    groups = [("controls (same images)", 0, None, None, [r for r in rows if "order" not in r])]
    for (order, fraction), by_n in arms_of(rows).items():
        groups += [("candidates", n, fraction, order, runs) for n, runs in by_n.items()]
    for kind, n, fraction, order, runs in groups:
        if not runs:
            continue
        aucs = [r["holdout"]["roc_auc"] for r in runs]
        sens = [r["sensitivity_at_active_specificity"] for r in runs]
        paired = order is not None and all(r["seed"] in same_seed for r in runs)
        gain = f"{np.mean([r['holdout']['roc_auc'] - same_seed[r['seed']] for r in runs]):+.3f}" if paired else "—"
        lines.append(
            f"| {kind} | {n} | {'—' if fraction is None else f'{fraction:.0%}'} | {order or '—'} | "
            f"{', '.join(str(r['seed']) for r in runs)} | {np.mean(aucs):.3f} | {min(aucs):.3f}–{max(aucs):.3f} | "
            f"{gain} | {np.mean(sens):.3f} | {sum(r['gate']['passed'] for r in runs)} of {len(runs)} |"
        )
    return "\n".join(lines)


def plot(base: dict, rows: list[dict], path: Path) -> None:
    fig = Figure(figsize=(7, 5.5), dpi=100)
    ax = fig.add_subplot()
    ax.axhline(base["holdout"]["roc_auc"], color="grey", linestyle="--", linewidth=1, label="active model (N = 0)")
    controls = [r["holdout"]["roc_auc"] for r in rows if "order" not in r]
    if controls:
        ax.axhspan(min(controls), max(controls), color="grey", alpha=0.15, label="same data, other seeds")
    for (order, fraction), by_n in arms_of(rows).items():
        ns = sorted(by_n)
        aucs = [[r["holdout"]["roc_auc"] for r in by_n[n]] for n in ns]
        mean = np.array([np.mean(a) for a in aucs])
        spread = np.array([mean - [min(a) for a in aucs], [max(a) for a in aucs] - mean])
        n_seeds = len(by_n[ns[0]])
        ax.errorbar(
            ns,
            mean,
            yerr=spread if n_seeds > 1 else None,
            marker="o",
            linewidth=2,
            capsize=3,
            label=f"{order} order, {fraction:.0%} of errors corrected"
            + (f" (mean, range of {n_seeds} seeds)" * (n_seeds > 1)),
        )
    ax.set_xscale("log")
    ax.set(xlabel="Reviewed images added to training (N)", ylabel="Held-out ROC AUC (official test split)")
    ax.set_title(f"PneumoniaMNIST learning loop (base model on {base['train_n']} images)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize="small")  # below: no point hidden
    FigureCanvasAgg(fig)
    fig.tight_layout()
    fig.savefig(path, format="png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench-loop")
    parser.add_argument("--schedule", default=DEFAULT_SCHEDULE, help="numbers of reviewed images, comma-separated")
    parser.add_argument("--arms", default=DEFAULT_ARMS, help="order:fraction:largest N, comma-separated")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--base-n", type=int, default=BASE_N)
    parser.add_argument("--train-seeds", default=str(SEED), help="each candidate is trained once per seed")
    parser.add_argument("--control-seeds", default=CONTROL_SEEDS, help="retrains of the base data; '' for none")
    args = parser.parse_args()
    started = time.perf_counter()
    npz = (args.datasets or default_datasets()) / "pneumoniamnist" / "pneumoniamnist.npz"
    official = load_npz(npz)
    classes, holdout = official.classes, official.test
    base_train, pool = base_and_pool(official, args.base_n, SEED)
    base_sha = hashlib.sha256(f"{official.source_sha256} base {args.base_n} seed {SEED}".encode()).hexdigest()
    base_data = Dataset(classes, base_train, official.val, None, base_sha)
    schedule = [int(n) for n in args.schedule.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-loop-") as tmp:
        work = Path(tmp)
        print(f"== base model: {args.base_n} train images, {len(official.val.labels)} val", flush=True)
        base, base_metrics, base_pos = train_and_score(config(classes, args.epochs), base_data, holdout, work)
        active = {"metrics": base_metrics, "pos": base_pos}
        print(f"   held-out AUC {fmt(base_metrics['roc_auc'])}, {base['train_seconds']} s", flush=True)
        for seed in seeds(args.control_seeds):  # what the gate says of a retrain that learned nothing new
            print(f"== control: the base data again, seed {seed}", flush=True)
            facts, metrics, pos = train_and_score(config(classes, args.epochs, seed=seed), base_data, holdout, work)
            rows.append({"seed": seed, **judged(facts, metrics, pos, active, holdout)})
            print(table(base, rows[-1:]).splitlines()[-1], flush=True)
        active_bundle = load_bundle(work / base["bundle"])
        pool_probs = probabilities(Predictor(active_bundle), pool, config(classes, args.epochs))[:, 1]
        threshold = active_bundle.manifest.threshold
        ai = (pool_probs >= threshold).astype(np.int64)
        margins = np.abs(pool_probs - threshold)
        draws = np.random.default_rng(SEED + 1).random(len(pool.labels))
        error_rate = float(np.mean(ai != pool.labels))
        print(f"== live traffic: {len(pool.labels)} images, AI error rate {error_rate:.3f}", flush=True)
        rels = export_pngs(pool, work / "queue")
        for order, fraction, largest in parse_arms(args.arms):
            ranked = review_order(order, margins, SEED)
            labels = reviewed_labels(pool.labels, ai, fraction, draws)
            for n in (n for n in schedule if n <= min(largest, len(pool.labels))):
                reviewed = ranked[:n]
                name = f"manifest-{order}-{fraction:g}-{n}.csv"
                manifest = write_manifest(work / "queue" / name, rels, labels, reviewed, classes)
                data, dropped = drop_duplicates_of(add_manifest(base_data, manifest, seed=SEED), holdout.images)
                wrong = ai[reviewed] != pool.labels[reviewed]
                review = {
                    "n_reviewed": n,
                    "order": order,
                    "fraction_corrected": fraction,
                    "ai_errors": int(wrong.sum()),
                    "labels_corrected": int((wrong & (labels[reviewed] == pool.labels[reviewed])).sum()),
                    "noisy_labels": int((labels[reviewed] != pool.labels[reviewed]).sum()),
                    "held_out_duplicates_dropped": dropped,
                }
                for seed in seeds(args.train_seeds):
                    print(f"== {order}, {fraction:.0%} corrected, N={n}, seed {seed}", flush=True)
                    cfg = config(classes, args.epochs, seed=seed)
                    facts, metrics, pos = train_and_score(cfg, data, holdout, work)
                    rows.append(review | {"seed": seed, **judged(facts, metrics, pos, active, holdout)})
                    print(table(base, rows[-1:]).splitlines()[-1], flush=True)
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, TensorFlow on CPU"
    payload = {
        "machine": machine,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python", "benchmarks/learning_loop.py", *sys.argv[1:]]),
        "held_out": {"split": "official test", "n": len(holdout.labels)},
        "base": base,
        "live_traffic": {
            "n": len(pool.labels),
            "ai_error_rate": error_rate,
            "threshold": threshold,
            "patients": "one pseudo-patient per image (PneumoniaMNIST has no patient ids)",
        },
        "config": {"epochs": args.epochs, "patience": 5, "batch_size": 64, "image_size": 28, "backbone": "compact"},
        "controls": [r for r in rows if "order" not in r],
        "runs": [r for r in rows if "order" in r],
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    (args.out / "results.json").write_text(json.dumps(payload, indent=2, default=str))
    markdown = f"Machine: {machine}\n\n{table(base, rows)}\n"
    if len(seeds(args.train_seeds)) > 1:
        markdown += f"\n{seed_table(base, rows)}\n"
    (args.out / "table.md").write_text(markdown)
    plot(base, rows, args.out / "auc_vs_n.png")
    print(f"\n{markdown}")
    print(f"total {payload['total_seconds']} s")


if __name__ == "__main__":
    main()
