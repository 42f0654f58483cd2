"""Pipeline benchmark: the model's own forward time beside upload -> stored prediction through the REST API.

    python benchmarks/pipeline.py [--n 200] [--dicom-n 200] [--model densenet121,compact] [--out var/bench-pipeline]

For each model it measures, in one run:
1. the pure forward pass of the model (mlcore Predictor, prepared images): batch 1 latency and batched throughput;
2. N real chest X-rays (covid19-3class JPEGs, 256 px) uploaded through POST /api/v1/studies/{id}/images/ by
   CLIENTS concurrent clients to gunicorn, with a live Celery inference worker: end-to-end latency from the
   start of the upload request to the stored prediction (p50/p95/max), throughput, each stage's mean time,
   worker memory; and the idle latency of single uploads one after another;
3. the same with DICOM files of realistic size (2048 x 2048, 16-bit, made from the same X-rays) through
   POST /api/v1/imports/.

Needs PostgreSQL and Redis: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/medsite_bench, dropped and
recreated) and CELERY_BROKER_URL (default redis://127.0.0.1:6379/13, flushed). Run by `make bench-pipeline`;
docs/performance.md quotes the Markdown it writes.
"""

import argparse
import io
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psycopg2
import pydicom
import redis
import requests
from PIL import Image
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/medsite_bench"
DEFAULT_BROKER = "redis://127.0.0.1:6379/13"
CLIENTS = 4  # concurrent upload clients in the loaded runs
IDLE_N = 20  # single uploads, each waiting for its prediction
DICOM_SIDE = 2048


def default_datasets() -> Path:
    for candidate in (os.environ.get("MEDSITE_DATASETS"), ROOT.parent / "shared" / "datasets", "/work/shared/datasets"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    raise SystemExit("shared datasets not found: set MEDSITE_DATASETS")


# --- set-up ------------------------------------------------------------------------------------------------


def recreate_database(url: str) -> None:
    base, name = url.rsplit("/", 1)
    conn = psycopg2.connect(f"{base}/postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()


def environment(var: Path, db: str, broker: str) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "TMPDIR")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(
        PYTHONUNBUFFERED="1",
        TF_CPP_MIN_LOG_LEVEL="2",
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="bench-" + "x" * 50,
        MEDSITE_AUDIT_KEY="bench-audit-" + "k" * 40,
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_SECURE_SSL_REDIRECT="false",
        DJANGO_SECURE_COOKIES="false",
        DJANGO_LOG_LEVEL="WARNING",
        DATABASE_URL=db,
        CELERY_BROKER_URL=broker,
        MEDSITE_VAR_DIR=str(var),
        MEDSITE_API_THROTTLE_USER="1000000/min",
        MEDSITE_MFA_REQUIRED_ROLES="none",
    )
    return env


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


SETUP = """
import json, sys
from accounts.models import Membership, Role, Site, User
from diagnosis.services import records
from diagnosis.services.training import model_register
from accounts.models import ApiToken
site = Site.objects.create(name="Bench Hospital")
user = User.objects.create_user(email="bench@bench.example", password="bench-password-2026")
Membership.objects.create(user=user, site=site, role=Role.CLINICIAN)
patient = records.patient_create(site=site, mrn="BENCH-1", name="Bench Patient", created_by=user)
study = records.study_create(patient=patient, modality="DX", body_part="CHEST", created_by=user)
version = model_register(bundle_path=sys.argv[1], activate=True)
print(json.dumps({"token": ApiToken.objects.create(user=user, name="bench")[1], "site": site.pk, "study": study.pk}))
"""

QUERY = """
import json, sys
from diagnosis.models import Image
rows = []
for image in Image.objects.filter(pk__in=json.loads(sys.argv[1])).prefetch_related("predictions"):
    p = image.current_prediction()
    rows.append({"image": image.pk, "status": image.status, "reason": image.failure_reason,
                 "uploaded_at": image.uploaded_at.timestamp(),
                 "created_at": p.created_at.timestamp() if p else None,
                 "queue_ms": p.queue_ms if p else None, "preprocess_ms": p.preprocess_ms if p else None,
                 "inference_ms": p.inference_ms if p else None, "heatmap_ms": p.heatmap_ms if p else None,
                 "batch_size": p.batch_size if p else None})
print(json.dumps(rows))
"""


def django_script(env: dict[str, str], code: str, *args: str) -> str:
    runner = (
        "import django, os, sys\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'medsite.settings')\n"
        f"django.setup()\n{code}"
    )
    done = subprocess.run([sys.executable, "-c", runner, *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"script failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout.strip().splitlines()[-1]


def make_bundle(kind: str, datasets: Path, folder: Path) -> Path:
    """densenet121: a clinically sized model (224 px, random weights: no download here; timing only).
    compact: the small CNN bench-ml trains for PneumoniaMNIST, at 28 px."""
    from mlcore.bundle import save_bundle
    from mlcore.config import ModelConfig
    from mlcore.data import Dataset, Split, load_npz
    from mlcore.train import train

    data = load_npz(datasets / "pneumoniamnist" / "pneumoniamnist.npz")
    small = Dataset(
        classes=data.classes,
        train=Split(data.train.images[:96], data.train.labels[:96]),
        val=Split(data.val.images[:48], data.val.labels[:48]),
        test=None,
        source_sha256=data.source_sha256,
    )
    if kind == "densenet121":
        cfg = ModelConfig(
            task="chest-xray", classes=data.classes, backbone="densenet121", image_size=224, epochs=1, batch_size=16
        )
        return save_bundle(train(cfg, small), folder).path
    cfg = ModelConfig(task="chest-xray", classes=data.classes, image_size=28, epochs=30, patience=6)
    return save_bundle(train(cfg, data), folder).path


def pure_model(bundle_path: Path, images: list[np.ndarray]) -> dict:
    """The model alone: Predictor.predict on images already resized to its input (forward pass only)."""
    from mlcore.bundle import load_bundle
    from mlcore.inference import MAX_BATCH, Predictor

    predictor = Predictor(load_bundle(bundle_path))
    prepared = [predictor.prepare(image) for image in images]
    batch = min(8, MAX_BATCH)
    predictor.predict(prepared[:1])
    predictor.predict(prepared[:batch])  # warm-up: tracing both shapes
    single = []
    for image in prepared[:30]:
        single.append(predictor.predict([image])[0].timings.inference_ms)
    started = time.perf_counter()
    rounds = 0
    while time.perf_counter() - started < 10 or rounds < 5:
        predictor.predict(prepared[rounds * batch % len(prepared) :][:batch] or prepared[:batch])
        rounds += 1
    elapsed = time.perf_counter() - started
    return {
        "batch1_ms_p50": statistics.median(single),
        "batched_size": batch,
        "batched_images_per_s": rounds * batch / elapsed,
    }


# --- uploads ---------------------------------------------------------------------------------------------


def xray_jpegs(datasets: Path) -> list[Path]:
    return sorted((datasets / "covid19-3class" / "train").glob("*/*.jpg"))


def dicom_bytes(jpeg: Path, index: int, study_uid: str) -> bytes:
    """A 2048 x 2048, 16-bit (12 stored) CR chest DICOM made from a real X-ray, for the bench patient."""
    grey = Image.open(jpeg).convert("L").resize((DICOM_SIDE, DICOM_SIDE), Image.BILINEAR)
    pixels = np.asarray(grey, dtype=np.uint16)
    pixels = pixels * 16 + (np.arange(DICOM_SIDE, dtype=np.uint16)[None, :] % 16)  # 12-bit values
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.PatientID, ds.PatientName = "BENCH-DICOM", "Bench^Dicom"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, generate_uid()
    ds.Modality, ds.BodyPartExamined, ds.InstanceNumber = "CR", "CHEST", index + 1
    ds.Rows = ds.Columns = DICOM_SIDE
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = pixels.tobytes()
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


@dataclass
class Upload:
    started: float
    ended: float
    image: int | None
    status: int


@dataclass
class Sampler:
    """Peak and last resident memory of a process tree, sampled twice a second."""

    pid: int
    peak: int = 0
    samples: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def rss(self) -> int:
        total = 0
        for pid in [self.pid, *_children(self.pid)]:
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
            except OSError:
                pass
        return total

    def run(self) -> None:
        while not self._stop.wait(0.5):
            value = self.rss()
            self.samples.append(value)
            self.peak = max(self.peak, value)

    def start(self) -> "Sampler":
        threading.Thread(target=self.run, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by a process and its living descendants."""
    total = 0
    for each in [pid, *_children(pid)]:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    return total / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            child = int(stat.parent.name)
            found += [child, *_children(child)]
    return found


def upload(session: requests.Session, url: str, name: str, body: bytes, data: dict | None = None) -> Upload:
    started = time.time()
    response = session.post(url, files={"files": (name, body)}, data=data or {})
    ended = time.time()
    images = (
        response.json().get("images", [])
        if response.headers.get("content-type", "").startswith("application/json")
        else []
    )
    return Upload(started, ended, images[0]["id"] if images else None, response.status_code)


def wait_for_predictions(env, pks: list[int], timeout: float = 600) -> list[dict]:
    deadline = time.time() + timeout
    while True:
        rows = json.loads(django_script(env, QUERY, json.dumps(pks)))
        if all(row["status"] not in ("queued", "processing") for row in rows) or time.time() > deadline:
            return rows
        time.sleep(1)


def summarise(uploads: list[Upload], rows: list[dict]) -> dict:
    by_image = {row["image"]: row for row in rows}
    done = [(u, by_image[u.image]) for u in uploads if u.image in by_image and by_image[u.image]["created_at"]]
    e2e = [(row["created_at"] - u.started) * 1000 for u, row in done]
    http = [(u.ended - u.started) * 1000 for u, _ in done]
    per_image = lambda key, share=False: statistics.fmean(  # noqa: E731
        [(row[key] or 0) / (row["batch_size"] if share else 1) for _, row in done]
    )
    stages = {
        "http_upload_ms": statistics.fmean(http),
        "queue_wait_ms": per_image("queue_ms"),
        "decode_resize_ms": per_image("preprocess_ms"),
        "inference_ms_per_image": per_image("inference_ms", share=True),
        "heatmap_ms_per_image": per_image("heatmap_ms", share=True),
    }
    stages["rest_ms"] = statistics.fmean(e2e) - sum(stages.values())
    span = max(row["created_at"] for _, row in done) - min(u.started for u, _ in done)
    return {
        "uploaded": len(uploads),
        "accepted": sum(1 for u in uploads if u.status == 201),
        "refused": {
            str(code): sum(1 for u in uploads if u.status == code) for code in {u.status for u in uploads} - {201}
        },
        "predicted": len(done),
        "failed": [row["reason"] for row in rows if row["status"] not in ("done",)],
        "e2e_ms": {"p50": float(np.percentile(e2e, 50)), "p95": float(np.percentile(e2e, 95)), "max": max(e2e)},
        "throughput_images_per_s": len(done) / span,
        "stages_mean_ms": stages,
        "mean_batch_size": statistics.fmean([row["batch_size"] for _, row in done]),
    }


def stream(session, url, files: list[tuple[str, bytes]], data=None) -> list[Upload]:
    with ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(lambda f: upload(session, url, f[0], f[1], data), files))


def run_model(kind: str, args, datasets: Path, work: Path) -> dict:
    var = work / kind
    var.mkdir(parents=True)
    env = environment(var, args.database_url, args.broker_url)
    recreate_database(args.database_url)
    redis.Redis.from_url(args.broker_url).flushdb()
    print(f"== {kind}: training the bundle", flush=True)
    bundle = make_bundle(kind, datasets, var / "bundles")
    jpegs = xray_jpegs(datasets)
    decoded = [np.asarray(Image.open(p).convert("L")) for p in jpegs[:64]]
    pure = pure_model(bundle, decoded)
    print(f"   pure model: {pure}", flush=True)
    manage(env, "migrate", "--noinput")
    ids = json.loads(django_script(env, SETUP, str(bundle)))
    port = 8765
    logs = {name: (var / f"{name}.log").open("w") for name in ("web", "worker")}
    web = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "medsite.wsgi:application",
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
            "--timeout",
            "120",
        ],
        cwd=ROOT,
        env=env,
        stdout=logs["web"],
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "medsite",
            "worker",
            "--queues",
            "inference",
            "--concurrency",
            "1",
            "--hostname",
            "bench-inference@%h",
            "--without-gossip",
            "--without-mingle",
            "--loglevel",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=logs["worker"],
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    session = requests.Session()
    session.headers["Authorization"] = f"Token {ids['token']}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                if session.get(f"{base}/api/v1/studies/", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.time() > deadline:
                raise SystemExit("gunicorn did not start: see " + str(var / "web.log"))
            time.sleep(0.5)
        images_url = f"{base}/api/v1/studies/{ids['study']}/images/"
        memory = Sampler(worker.pid).start()
        # Warm-up: the worker imports TensorFlow and loads the model on its first image.
        warm = upload(session, images_url, "warm.jpg", jpegs[-1].read_bytes())
        wait_for_predictions(env, [warm.image])
        idle_uploads = []
        for path in jpegs[:IDLE_N]:
            u = upload(session, images_url, path.name, path.read_bytes())
            idle_uploads.append(u)
            wait_for_predictions(env, [u.image])
        idle = summarise(idle_uploads, wait_for_predictions(env, [u.image for u in idle_uploads]))
        print(f"   idle: p50 {idle['e2e_ms']['p50']:.0f} ms", flush=True)
        files = [(p.name, p.read_bytes()) for p in jpegs[IDLE_N : IDLE_N + args.n]]
        loaded_uploads = stream(session, images_url, files)
        loaded = summarise(loaded_uploads, wait_for_predictions(env, [u.image for u in loaded_uploads if u.image]))
        print(
            f"   {args.n} JPEGs: {loaded['throughput_images_per_s']:.1f} img/s, p50 {loaded['e2e_ms']['p50']:.0f} ms",
            flush=True,
        )
        dicom = None
        if args.dicom_n:
            study_uid = generate_uid()
            dicoms = [(f"{i}.dcm", dicom_bytes(jpegs[i % len(jpegs)], i, study_uid)) for i in range(args.dicom_n)]
            dicom_uploads = stream(session, f"{base}/api/v1/imports/", dicoms, data={"site": ids["site"]})
            dicom = summarise(dicom_uploads, wait_for_predictions(env, [u.image for u in dicom_uploads if u.image]))
            dicom["file_mb"] = round(statistics.fmean(len(b) for _, b in dicoms) / 1e6, 1)
            rate, p50 = dicom["throughput_images_per_s"], dicom["e2e_ms"]["p50"]
            print(f"   {args.dicom_n} DICOMs: {rate:.1f} img/s, p50 {p50:.0f} ms", flush=True)
        memory.stop()
        return {
            "model": kind,
            "pure_model": pure,
            "idle": idle,
            "jpeg_stream": loaded,
            "dicom_stream": dicom,
            "worker_rss_mb": {
                "peak": round(memory.peak / 2**20),
                "last": round(memory.samples[-1] / 2**20) if memory.samples else None,
            },
        }
    finally:
        for proc in (web, worker):
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in (web, worker):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def table(rows: list[dict]) -> str:
    lines = [
        "| Model | Pure batch-1 | Pure batched | Idle p50 e2e | Run | Throughput | vs pure batched "
        "| p50 / p95 / max e2e | Worker RSS peak |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        pure = r["pure_model"]
        for name in ("jpeg_stream", "dicom_stream"):
            run = r[name]
            if not run:
                continue
            e = run["e2e_ms"]
            lines.append(
                f"| {r['model']} | {pure['batch1_ms_p50']:.1f} ms | {pure['batched_images_per_s']:.1f} img/s | "
                f"{r['idle']['e2e_ms']['p50']:.0f} ms | {run['predicted']}/{run['uploaded']} "
                f"{'DICOM ' + str(run.get('file_mb')) + ' MB' if name == 'dicom_stream' else 'JPEG'} | "
                f"{run['throughput_images_per_s']:.1f} img/s | "
                f"{run['throughput_images_per_s'] / pure['batched_images_per_s']:.0%} | "
                f"{e['p50']:.0f} / {e['p95']:.0f} / {e['max']:.0f} ms | {r['worker_rss_mb']['peak']} MB |"
            )
    stage_lines = [
        "",
        "| Model | Run | HTTP upload | Queue wait | Decode+resize | Inference / image | Heatmap / image "
        "| Rest (batch wait, storage, DB) | Mean batch |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        for name in ("idle", "jpeg_stream", "dicom_stream"):
            run = r[name]
            if not run:
                continue
            s = run["stages_mean_ms"]
            stage_lines.append(
                f"| {r['model']} | {name} | {s['http_upload_ms']:.0f} ms | {s['queue_wait_ms']:.0f} ms "
                f"| {s['decode_resize_ms']:.1f} ms | {s['inference_ms_per_image']:.1f} ms "
                f"| {s['heatmap_ms_per_image']:.1f} ms | {s['rest_ms']:.0f} ms | {run['mean_batch_size']:.1f} |"
            )
    return "\n".join(lines + stage_lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--dicom-n", type=int, default=200)
    parser.add_argument("--model", default="densenet121,compact")
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench-pipeline")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    parser.add_argument("--broker-url", default=os.environ.get("BENCH_BROKER_URL", DEFAULT_BROKER))
    args = parser.parse_args()
    datasets = default_datasets()
    available = len(xray_jpegs(datasets)) - IDLE_N - 1  # one study takes each file once
    if args.n > available:
        raise SystemExit(f"--n can be at most {available}: the X-ray set has that many distinct images left")
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="medsite-bench-"))
    try:
        rows = [run_model(kind, args, datasets, work) for kind in args.model.split(",")]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, TensorFlow on CPU"
    (args.out / "results.json").write_text(json.dumps({"machine": machine, "results": rows}, indent=2))
    (args.out / "performance-table.md").write_text(f"Machine: {machine}\n\n{table(rows)}\n")
    print(f"\nMachine: {machine}\n\n{table(rows)}")


if __name__ == "__main__":
    main()
