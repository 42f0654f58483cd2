"""Command line: python -m mlcore train|evaluate|predict|cv|tune.

A config is JSON with ModelConfig fields (classes optional: taken from the data) plus "source"
(an .npz, a manifest .csv or a class-per-folder directory; relative to the config's folder when it
exists there, else to the working directory), "out" (bundle root), and optionally "dedup_pool" (pool and
re-split a Training/Testing tree by pixel-identical groups), "drop_test_copies" (keep the official split
but drop test images identical to a training or validation image) or "patient_pattern" (a regular expression
whose match at the start of a file name is the patient ID, so validation is split by patient).
Every command that loads a dataset runs the leakage check first and prints its summary; with
--strict-leakage a dirty split is an error (exit 3).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

EXTRA_KEYS = ("source", "out", "dedup_pool", "drop_test_copies", "patient_pattern")
EXIT_LEAKAGE = 3


class CLIError(Exception):
    """A usage or input problem; printed without a traceback."""


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from mlcore.data import DataError  # lazily: TensorFlow loads only once a command runs

    try:
        return int(args.func(args) or 0)
    except (CLIError, DataError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mlcore", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, help_: str, func: Any, *, data: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_)
        p.set_defaults(func=func)
        if data:
            p.add_argument("--strict-leakage", action="store_true", help="fail when splits share images")
            p.add_argument("--near-threshold", type=int, default=4, help="dHash Hamming distance (default 4)")
        return p

    p = add("train", "train a model and save a bundle", _cmd_train)
    p.add_argument("config", type=Path)
    p.add_argument("--source", type=Path, help="override the config's source")
    p.add_argument("--out", type=Path, help="override the config's bundle root")
    p.add_argument("--epochs", type=int, help="override the config's epochs")
    p = add("evaluate", "evaluate a bundle on a source's test split and write a report", _cmd_evaluate)
    p.add_argument("bundle", type=Path)
    p.add_argument("source", type=Path)
    p.add_argument("--out", type=Path, help="report folder (default: reports/<bundle sha[:12]>)")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for CIs (0: none)")
    p.add_argument("--dedup-pool", action="store_true", help="pool and re-split a Training/Testing tree")
    p.add_argument(
        "--drop-test-copies", action="store_true", help="drop test images identical to a training/validation image"
    )
    p.add_argument("--seed", type=int, default=42)
    p = add("predict", "predict images with a bundle", _cmd_predict, data=False)
    p.add_argument("bundle", type=Path)
    p.add_argument("images", type=Path, nargs="+")
    p = add("cv", "k-fold cross-validation over train+val", _cmd_cv)
    p.add_argument("config", type=Path)
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--epochs", type=int, help="override the config's epochs")
    p = add("tune", "grid or random search, selected on validation (or CV mean)", _cmd_tune)
    p.add_argument("config", type=Path)
    p.add_argument("--grid", required=True, help="JSON object {field: [values]} or a path to one")
    p.add_argument("--random", type=int, metavar="N", help="random search with N samples instead of the grid")
    p.add_argument("--k", type=int, help="score by k-fold CV mean instead of the validation split")
    p.add_argument("--epochs", type=int, help="override the config's epochs")
    return parser


def _cmd_train(args: argparse.Namespace) -> int:
    from mlcore.bundle import save_bundle
    from mlcore.train import train

    spec = _read_config(args.config)
    source = args.source or spec["source"]
    cfg, data = _config_and_data(spec, args, source)
    if code := _leakage(data, args):
        return code
    out = args.out or _resolve(args.config, spec.get("out") or "bundles")
    result = train(cfg, data, progress=_print_epoch)
    ref = save_bundle(result, out)
    print(f"bundle: {ref.path}")
    for split in ("val", "test"):
        if result.metrics.get(split):
            print(f"{split}: {_short(result.metrics[split])}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    import numpy as np

    from mlcore.bundle import load_bundle
    from mlcore.data import load_source
    from mlcore.evaluate import bootstrap_ci, evaluate
    from mlcore.report import write_report

    bundle = load_bundle(args.bundle)
    manifest = bundle.manifest
    data = load_source(args.source, image_size=manifest.image_size, seed=args.seed, dedup_pool=args.dedup_pool)
    if args.drop_test_copies:
        data = _drop_test_copies(data)
    if tuple(data.classes) != tuple(manifest.classes):
        raise CLIError(f"source classes {data.classes} differ from the bundle's {manifest.classes}")
    if code := _leakage(data, args):
        return code
    if data.test is None:
        raise CLIError(f"{args.source} has no test split")
    x = data.test.images.astype(np.float32)[..., np.newaxis]
    probs = np.asarray(bundle.model.predict(x, batch_size=64, verbose=0), dtype=np.float64)
    metrics = evaluate(probs, data.test.labels, manifest.classes, threshold=manifest.threshold)
    if args.bootstrap > 0:
        metrics["bootstrap_ci"] = bootstrap_ci(
            probs, data.test.labels, manifest.classes, n=args.bootstrap, threshold=manifest.threshold
        )
    metrics["bundle_sha256"] = bundle.ref.sha256
    metrics["data_sha256"] = data.source_sha256
    out = args.out or Path("reports") / bundle.ref.sha256[:12]
    paths = write_report(metrics, probs, data.test.labels, manifest.classes, out, threshold=manifest.threshold)
    print(f"test: {_short(metrics)}")
    print(f"report: {paths['json']}")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from mlcore.bundle import load_bundle
    from mlcore.imaging import load_image
    from mlcore.inference import Predictor

    print("leakage check: skipped (predict has no dataset)")
    predictor = Predictor(load_bundle(args.bundle))
    images = [load_image(path) for path in args.images]
    for path, result in zip(args.images, predictor.predict(images), strict=True):
        probs = " ".join(f"{name}={p:.4f}" for name, p in result.probabilities.items())
        print(f"{path}\t{result.label}\t{probs}")
    return 0


def _cmd_cv(args: argparse.Namespace) -> int:
    from mlcore.tuning import cross_validate, format_table

    spec = _read_config(args.config)
    cfg, data = _config_and_data(spec, args, spec["source"])
    if code := _leakage(data, args):
        return code
    cv = cross_validate(cfg, data, k=args.k, seed=cfg.seed)
    rows = [*cv.folds, {"fold": "mean", **cv.mean}, {"fold": "std", **cv.std}]
    print(format_table(rows, ["fold", "n_train", "n_val", "roc_auc", "accuracy"]))
    return 0


def _cmd_tune(args: argparse.Namespace) -> int:
    from mlcore.tuning import format_table, grid_search, random_search

    spec = _read_config(args.config)
    grid_text = Path(args.grid).read_text() if Path(args.grid).is_file() else args.grid
    try:
        grid = json.loads(grid_text)
    except json.JSONDecodeError as exc:
        raise CLIError(f"--grid is neither a JSON object nor a JSON file: {exc}") from exc
    if not isinstance(grid, dict) or not all(isinstance(v, list) for v in grid.values()):
        raise CLIError("--grid must be a JSON object of lists, e.g. '{\"learning_rate\": [0.001, 0.0003]}'")
    cfg, data = _config_and_data(spec, args, spec["source"])
    if code := _leakage(data, args):
        return code
    if args.random:
        result = random_search(cfg, data, grid, n_iter=args.random, seed=cfg.seed, k=args.k)
    else:
        result = grid_search(cfg, data, grid, k=args.k, seed=cfg.seed)
    rows = [{"rank": i + 1, **t.params, **t.metrics} for i, t in enumerate(result.trials)]
    print(format_table(rows))
    print(f"best ({result.metric}): {json.dumps(result.best_params, sort_keys=True)}")
    return 0


def _read_config(path: Path) -> dict[str, Any]:
    try:
        spec = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise CLIError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(spec, dict) or "source" not in spec:
        raise CLIError(f"{path}: expected a JSON object with a 'source'")
    spec["source"] = _resolve(path, spec["source"])
    spec["_path"] = str(path)
    return spec


def _resolve(config_path: Path, value: str | Path) -> Path:
    value = Path(value)
    if value.is_absolute() or value.exists():
        return value
    beside = config_path.parent / value
    return beside if beside.exists() else value


def _config_and_data(spec: dict[str, Any], args: argparse.Namespace, source: Path) -> tuple[Any, Any]:
    from mlcore.config import ModelConfig
    from mlcore.data import load_source

    names = {f.name for f in dataclasses.fields(ModelConfig)}
    fields = {k: v for k, v in spec.items() if k in names}
    unknown = sorted(set(spec) - names - set(EXTRA_KEYS) - {"_path"})
    if unknown:
        raise CLIError(f"{spec['_path']}: unknown keys {unknown}")
    if getattr(args, "epochs", None):
        fields["epochs"] = args.epochs
    image_size = int(fields.get("image_size", 64))
    seed = int(fields.get("seed", 42))
    data = load_source(
        source,
        image_size=image_size,
        seed=seed,
        dedup_pool=bool(spec.get("dedup_pool", False)),
        patient_pattern=spec.get("patient_pattern"),
        classes=tuple(spec["classes"]) if spec.get("classes") else None,
    )
    if spec.get("drop_test_copies"):
        data = _drop_test_copies(data)
    fields.setdefault("classes", data.classes)
    fields.setdefault("task", Path(spec["_path"]).stem)
    return ModelConfig(**fields), data


def _drop_test_copies(data: Any) -> Any:
    from mlcore.data import drop_test_copies_of_training

    data, dropped = drop_test_copies_of_training(data)
    print(f"{dropped} test images identical to training or validation images dropped from test")
    return data


def _leakage(data: Any, args: argparse.Namespace) -> int:
    """Print the leakage summary; a non-zero exit code when strict and not clean."""
    from mlcore.leakage import find_duplicates

    report = find_duplicates(data, near_threshold=args.near_threshold)
    print(report.summary())
    if not report.is_clean and args.strict_leakage:
        print("error: leakage across splits (--strict-leakage)", file=sys.stderr)
        return EXIT_LEAKAGE
    return 0


def _print_epoch(p: Any) -> None:
    print(f"epoch {p.epoch}/{p.epochs} loss {p.loss:.4f} val_loss {p.val_loss:.4f} val_acc {p.val_accuracy:.4f}")


def _short(m: dict[str, Any]) -> str:
    auc = "-" if m.get("roc_auc") is None else f"{m['roc_auc']:.4f}"
    parts = [f"n={m['n']}", f"accuracy={m['accuracy']:.4f}", f"auc={auc}", f"f1_macro={m['f1_macro']:.4f}"]
    if m.get("sensitivity") is not None:
        parts.append(f"sensitivity={m['sensitivity']:.4f}")
    if m.get("specificity") is not None:
        parts.append(f"specificity={m['specificity']:.4f}")
    if m.get("ece") is not None:
        parts.append(f"ece={m['ece']:.4f}")
    return " ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
