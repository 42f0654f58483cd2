"""DICOM round-trip benchmark: a study sent from Orthanc to MedSite, until MedSite's AI SR is back in Orthanc.

    python benchmarks/dicom_roundtrip.py [--n 10] [--side 2048] [--out var/bench]

Production's processes, on one machine: Orthanc (Debian's /usr/sbin/Orthanc, as tests/orthanc.py starts it) is the
hospital PACS; MedSite's receiver (`manage.py dicom_listener`) and one Celery worker on the inference and default
queues at concurrency 1 (as `make run` starts it) run on PostgreSQL and Redis, with the starter chest model that
`seed_demo` registers (EfficientNet-Lite0) and Orthanc configured as the demo site's DICOM destination.

Each of N studies is one real-size CR chest radiograph (2048 x 2048, 16 bits allocated, 12 stored), made from a real
chest X-ray of the Kermany test split (../shared/datasets/kermany-cxr-224, MEDSITE_DATASETS). It is uploaded
to Orthanc first; the clock starts when Orthanc is asked to send the study to MedSite (POST /modalities/medsite/store)
and stops when Orthanc's REST API first lists a series of modality SR in that study (polled every 20 ms), and for the
heatmap Secondary Capture the same way. One warm-up study runs first (the worker loads TensorFlow and the model).
Studies run one after another on an otherwise idle pipeline.

"Model time" is the prediction's own preprocess + inference + heatmap milliseconds as MedSite stored them. The issue
21 target: round trip p50 <= model time p50 + 2 s. Writes var/bench/dicom-roundtrip.json and .md.

Needs PostgreSQL and Redis: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/medsite_bench_roundtrip,
dropped and recreated) and BENCH_BROKER_URL (default redis://127.0.0.1:6379/12, flushed). Run by `make bench-dicom`
after the intake benchmark; docs/performance.md quotes its figures.
"""

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import redis
from PIL import Image as PILImage
from pipeline import ROOT, default_datasets, django_script, environment, manage, recreate_database
from pydicom.filebase import DicomBytesIO
from pydicom.uid import generate_uid

from tests import orthanc
from tests.live import free_port, wait_for

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/medsite_bench_roundtrip"
DEFAULT_BROKER = "redis://127.0.0.1:6379/12"
TARGET_MARGIN_S = 2.0

SETUP = """
import sys
from accounts.models import Site
from diagnosis.models import DicomDestination, DicomPeer
site = Site.objects.get(slug="demo")
DicomPeer.objects.get_or_create(site=site, ae_title="ORTHANC", ip="127.0.0.1")
DicomDestination.objects.create(site=site, name="Orthanc", ae_title="ORTHANC", host="127.0.0.1", port=int(sys.argv[1]))
print("ok")
"""

MODEL_TIMES = """
import json, sys
from diagnosis.models import Prediction, ResultDelivery
rows = []
for p in Prediction.objects.filter(is_shadow=False).select_related("image__study").order_by("pk"):
    rows.append({"study_uid": p.image.study.study_instance_uid, "label": p.label, "batch_size": p.batch_size,
                 "model_ms": p.preprocess_ms + p.inference_ms + (p.heatmap_ms or 0), "queue_ms": p.queue_ms,
                 "preprocess_ms": p.preprocess_ms, "inference_ms": p.inference_ms, "heatmap_ms": p.heatmap_ms})
sent = list(ResultDelivery.objects.values_list("status", flat=True))
print(json.dumps({"predictions": rows, "deliveries": sent}))
"""


def _bytes(ds) -> bytes:
    buffer = DicomBytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _series_modalities(pacs, study_id: str) -> set[str]:
    series = pacs._call("GET", f"/studies/{study_id}/series", timeout=10)
    return {item["MainDicomTags"].get("Modality", "") for item in series}


def chest_xrays(datasets: Path) -> list[Path]:
    """Real chest radiographs the starter model is meant for: the Kermany test split (see its README)."""
    found = sorted((datasets / "kermany-cxr-224" / "test").glob("*/*"))
    if not found:
        raise SystemExit(f"no chest X-rays under {datasets / 'kermany-cxr-224' / 'test'}: set MEDSITE_DATASETS")
    return found


def one_study(pacs, *, number: int, side: int, xray: Path) -> dict:
    study_uid = generate_uid()
    ds = orthanc.computed_radiograph(
        patient_id=f"RT-{number}", study_uid=study_uid, series_uid=generate_uid(), side=side, seed=number
    )
    grey = PILImage.open(xray).convert("L").resize((side, side), PILImage.BILINEAR)
    ds.PixelData = (np.asarray(grey, dtype=np.uint16) * 16).tobytes()  # 12 bits stored, a real radiograph's content
    study_id = pacs.upload(_bytes(ds))["ParentStudy"]
    started = time.monotonic()
    pacs.store("medsite", study_id)
    stored = time.monotonic() - started
    times: dict[str, float] = {}

    def arrived() -> bool:
        modalities = _series_modalities(pacs, study_id)
        now = time.monotonic() - started
        for modality in ("SR", "OT"):
            if modality in modalities:
                times.setdefault(modality, now)
        return "SR" in times and "OT" in times

    wait_for(arrived, timeout=300, interval=0.02, what=f"the results of study {number} in Orthanc")
    return {"study_uid": study_uid, "send_s": stored, "sr_s": times["SR"], "sc_s": times["OT"]}


def run(args) -> dict:
    work = Path(tempfile.mkdtemp(prefix="medsite-bench-roundtrip-"))
    env = environment(work, args.database_url, args.broker_url)
    env.update(MEDSITE_BRAIN_DATASET=str(work / "none"), MEDSITE_STARTER_DATASET=str(work / "none"))
    recreate_database(args.database_url)
    redis.Redis.from_url(args.broker_url).flushdb()
    manage(env, "migrate", "--noinput")
    manage(env, "seed_demo")
    port = free_port()
    processes = []
    try:
        with orthanc.running(work / "orthanc", modalities={"medsite": ("MEDSITE", "127.0.0.1", port)}) as pacs:
            django_script(env, SETUP, str(pacs.dicom_port))
            for name, command in (
                ("listener", ["manage.py", "dicom_listener", "--host", "127.0.0.1", "--port", str(port)]),
                ("worker", ["-m", "celery", "-A", "medsite", "worker", "--queues", "inference,default",
                            "--concurrency", "1", "--without-gossip", "--without-mingle", "--loglevel", "INFO"]),
            ):  # fmt: skip
                log = (work / f"{name}.log").open("w")
                processes.append(
                    subprocess.Popen(
                        [sys.executable, *command],
                        cwd=ROOT,
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )  # fmt: skip
                )
            wait_for(lambda: "ready." in (work / "worker.log").read_text(), timeout=120, what="the worker")
            wait_for(lambda: pacs.echo("medsite"), timeout=60, what="the receiver")
            xrays = chest_xrays(default_datasets())[:: max(1, 600 // (args.n + 1))]
            one_study(pacs, number=0, side=args.side, xray=xrays[0])  # warm-up: TensorFlow and the model load
            runs = [one_study(pacs, number=n, side=args.side, xray=xrays[n]) for n in range(1, args.n + 1)]
    finally:
        for proc in processes:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in processes:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    facts = json.loads(django_script(env, MODEL_TIMES))
    model = {row["study_uid"]: row for row in facts["predictions"]}
    for row in runs:
        row.update(model_s=model[row["study_uid"]]["model_ms"] / 1000, queue_ms=model[row["study_uid"]]["queue_ms"])
    p50 = statistics.median(row["sr_s"] for row in runs)
    model_p50 = statistics.median(row["model_s"] for row in runs)
    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "load_average_before": os.getloadavg(),
        "n": args.n,
        "side": args.side,
        "runs": runs,
        "round_trip_sr_p50_s": p50,
        "round_trip_sr_max_s": max(row["sr_s"] for row in runs),
        "round_trip_sc_p50_s": statistics.median(row["sc_s"] for row in runs),
        "send_p50_s": statistics.median(row["send_s"] for row in runs),
        "model_p50_s": model_p50,
        "overhead_p50_s": statistics.median(row["sr_s"] - row["model_s"] for row in runs),
        "target_s": model_p50 + TARGET_MARGIN_S,
        "meets_target": p50 <= model_p50 + TARGET_MARGIN_S,
        "deliveries": {status: facts["deliveries"].count(status) for status in set(facts["deliveries"])},
    }


def table(result: dict) -> str:
    return "\n".join(
        [
            f"Round trip, Orthanc -> MedSite -> Orthanc, {result['n']} one-image CR studies "
            f"({result['side']}x{result['side']}, 16-bit), one after another ({result['machine']})",
            "",
            "| Figure | p50 | max |",
            "|---|---|---|",
            f"| Orthanc's C-STORE to MedSite (study sent) | {result['send_p50_s']:.2f} s | |",
            f"| Study sent -> AI SR in Orthanc | {result['round_trip_sr_p50_s']:.2f} s "
            f"| {result['round_trip_sr_max_s']:.2f} s |",
            f"| Study sent -> heatmap SC in Orthanc | {result['round_trip_sc_p50_s']:.2f} s | |",
            f"| Model time (preprocess + inference + heatmap) | {result['model_p50_s']:.2f} s | |",
            f"| Everything else (round trip - model time) | {result['overhead_p50_s']:.2f} s | |",
            "",
            f"Target: p50 <= model time + {TARGET_MARGIN_S:.0f} s = {result['target_s']:.2f} s: "
            f"{'met' if result['meets_target'] else 'NOT met'}. Deliveries: {result['deliveries']}.",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--side", type=int, default=2048)
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    parser.add_argument("--broker-url", default=os.environ.get("BENCH_BROKER_URL", DEFAULT_BROKER))
    args = parser.parse_args()
    if not orthanc.ORTHANC.is_file():
        raise SystemExit(f"{orthanc.ORTHANC} is not installed (apt-get install orthanc)")
    result = run(args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "dicom-roundtrip.json").write_text(json.dumps(result, indent=2))
    (args.out / "dicom-roundtrip.md").write_text(table(result) + "\n")
    print(table(result))


if __name__ == "__main__":
    main()
