"""Load benchmark: the radiologists' worklist and the study API under 50 concurrent clients, with uploads flowing.

    python benchmarks/load.py [--seconds 60] [--clients 50] [--workers 4] [--threads 1] [--soak 0]
                               [--out var/bench-load]

gunicorn (production settings: DEBUG off, real PostgreSQL and Redis) serves; wrk (Debian's package) drives
GET /worklist/ (signed-in radiologists, one session per connection) and GET /api/v1/studies/ (one API token per
connection, so each client has its own user throttle, as real clients do), each for --seconds, while a thread
uploads a chest X-ray every second through the API and a live Celery worker predicts them. Reported per endpoint:
requests/s, p50/p95/p99 latency, errors (non-2xx, timeouts, socket errors) and gunicorn's CPU per request. With
--soak N, a mixed run of N seconds samples the resident memory of gunicorn and the worker every 10 s (flat memory:
the last minute's mean against the first minute's).

Needs PostgreSQL and Redis: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/medsite_load, dropped and
recreated) and CELERY_BROKER_URL (default redis://127.0.0.1:6379/12, flushed). Run by `make bench-load`;
docs/performance.md quotes the Markdown it writes.
"""

import argparse
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
from pathlib import Path

import redis
import requests
from pipeline import (
    ROOT,
    Sampler,
    cpu_seconds,
    default_datasets,
    django_script,
    environment,
    manage,
    recreate_database,
    xray_jpegs,
)

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/medsite_load"
DEFAULT_BROKER = "redis://127.0.0.1:6379/12"
TARGETS = {"requests_per_s": 150, "p95_ms": 300, "errors": 0}

SETUP = """
import json, sys
from django.test import Client
from accounts.models import Membership, Role, Site, User
from diagnosis.services import records
from diagnosis.services.inference import prediction_create
from diagnosis.services.training import model_register
from accounts.models import ApiToken
from django.core.files.uploadedfile import SimpleUploadedFile
clients = int(sys.argv[2])
site = Site.objects.create(name="Load Hospital")
version = model_register(bundle_path=sys.argv[1], activate=True)
uploader = User.objects.create_user(email="uploader@load.example", password="load-password-2026")
Membership.objects.create(user=uploader, site=site, role=Role.CLINICIAN)
png = open(sys.argv[3], "rb").read()
# The upload stream's own patient and studies, made first: the oldest studies, on the list's last pages, so the
# growing upload studies do not inflate the first page the load reads. The stream sends its files to one study
# after another (the same file twice in one study is refused as a duplicate).
streamed = records.patient_create(site=site, mrn="LOAD-STREAM", name="Stream Patient", created_by=uploader)
studies = [records.study_create(patient=streamed, modality="DX", body_part="CHEST", created_by=uploader).pk
           for _ in range(40)]
for i in range(60):  # 60 more patients with an analysed, unreviewed chest X-ray each: a full worklist page
    patient = records.patient_create(site=site, mrn=f"LOAD-{i}", name=f"Load Patient {i}", created_by=uploader)
    listed = records.study_create(patient=patient, modality="DX", body_part="CHEST", created_by=uploader)
    image = records.image_upload(study=listed, file=SimpleUploadedFile(f"{i}.jpg", png), uploaded_by=uploader)
    p = (i % 10) / 10
    prediction_create(image=image, model_version=version, label="pneumonia" if p >= 0.5 else "normal",
                      probabilities={"normal": 1 - p, "pneumonia": p}, threshold=0.5, inference_ms=1.0)
tokens, cookies = [], []
for i in range(clients):
    clinician = User.objects.create_user(email=f"api{i}@load.example", password="load-password-2026")
    Membership.objects.create(user=clinician, site=site, role=Role.CLINICIAN)
    tokens.append(ApiToken.objects.create(user=clinician, name="load")[1])
    radiologist = User.objects.create_user(email=f"rad{i}@load.example", password="load-password-2026")
    Membership.objects.create(user=radiologist, site=site, role=Role.RADIOLOGIST)
    browser = Client()
    browser.force_login(radiologist)
    cookies.append(browser.cookies["sessionid"].value)
_, uploader_token = ApiToken.objects.create(user=uploader, name="load")
print(json.dumps({"tokens": tokens, "cookies": cookies, "uploader": uploader_token, "studies": studies}))
"""

# wrk: one header set per connection, chosen round-robin; a JSON summary with p95 at the end.
WRK_SCRIPT = """
local values = {}
local counter = 0
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function init(args)
  for line in io.lines(args[1]) do table.insert(values, line) end
  errors_status = 0
end
function request()
  counter = counter + 1
  local value = values[(counter % #values) + 1]
  return wrk.format("GET", nil, {[HEADER] = value})
end
function response(status, headers, body)
  if status >= 400 then errors_status = errors_status + 1 end
end
function done(summary, latency, requests)
  local status = 0
  for _, t in ipairs(threads) do status = status + t:get("errors_status") end
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "p50_ms": %.2f, "p95_ms": %.2f, "p99_ms": %.2f, "max_ms": %.2f, ' ..
    '"errors_status": %d, "errors_socket": %d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3, latency:percentile(95) / 1e3,
    latency:percentile(99) / 1e3, latency.max / 1e3, status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def wrk(url: str, header: str, values: list[str], *, seconds: int, clients: int, work: Path) -> dict:
    """Run wrk against url with one of `values` as `header` per request; its JSON summary plus requests/s."""
    script = work / f"wrk-{header.lower()}.lua"
    script.write_text(WRK_SCRIPT.replace("HEADER", json.dumps(header)))
    listing = work / f"{header.lower()}.txt"
    listing.write_text("\n".join(values) + "\n")
    done = subprocess.run(
        ["wrk", "-t2", f"-c{clients}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script), url, "--", str(listing)],
        capture_output=True,
        text=True,
        check=True,
    )
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    summary["requests_per_s"] = summary["requests"] / summary["seconds"]
    summary["errors"] = summary["errors_status"] + summary["errors_socket"]
    return summary


class UploadStream(threading.Thread):
    """One chest X-ray a second through POST /api/v1/studies/{id}/images/ until stopped: each file once per study,
    the studies in turn."""

    def __init__(self, urls: list[str], token: str, files: list[Path]) -> None:
        super().__init__(daemon=True)
        self.urls, self.files, self.stop = urls, files, threading.Event()
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"
        self.statuses: list[int] = []

    def run(self) -> None:
        i = 0
        while not self.stop.wait(1.0):
            path = self.files[i % len(self.files)]
            files = {"files": (f"{i}-{path.name}", path.read_bytes(), "image/jpeg")}
            try:
                url = self.urls[(i // len(self.files)) % len(self.urls)]
                self.statuses.append(self.session.post(url, files=files, timeout=30).status_code)
            except requests.RequestException:
                self.statuses.append(0)
            i += 1


def start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )


def stop(*procs: subprocess.Popen) -> None:
    for proc in procs:
        os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def tiny_bundle(folder: Path) -> Path:
    """The upload stream's model: a small compact CNN (28 px) trained in seconds on PneumoniaMNIST."""
    from mlcore.bundle import save_bundle
    from mlcore.config import ModelConfig
    from mlcore.data import Dataset, Split, load_npz
    from mlcore.train import train

    data = load_npz(default_datasets() / "pneumoniamnist" / "pneumoniamnist.npz")
    small = Dataset(
        data.classes, Split(data.train.images[:512], data.train.labels[:512]), data.val, None, data.source_sha256
    )
    cfg = ModelConfig(task="chest-xray", classes=data.classes, image_size=28, epochs=3)
    return save_bundle(train(cfg, small), folder).path


def run(args) -> dict:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    work = Path(tempfile.mkdtemp(prefix="medsite-load-"))
    var = work / "var"
    var.mkdir()
    env = environment(var, args.database_url, args.broker_url)
    recreate_database(args.database_url)
    redis.Redis.from_url(args.broker_url).flushdb()
    jpegs = xray_jpegs(default_datasets())
    bundle = tiny_bundle(work / "bundles")
    manage(env, "migrate", "--noinput")
    manage(env, "collectstatic", "--noinput")  # production settings serve hashed static files (whitenoise)
    ids = json.loads(django_script(env, SETUP, str(bundle), str(args.clients), str(jpegs[0])))
    port = 8766
    web = start(
        [sys.executable, "-m", "gunicorn", "medsite.wsgi:application", "--workers", str(args.workers),
         "--bind", f"127.0.0.1:{port}", "--timeout", "60", "--threads", str(args.threads)],
        env,
        var / "web.log",
    )  # fmt: skip
    worker = start(
        [sys.executable, "-m", "celery", "-A", "medsite", "worker", "--queues", "inference", "--concurrency", "1",
         "--hostname", "load@%h", "--without-gossip", "--without-mingle", "--loglevel", "WARNING"],
        env,
        var / "worker.log",
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(f"{base}/api/v1/studies/", ids["tokens"][0])
        urls = [f"{base}/api/v1/studies/{pk}/images/" for pk in ids["studies"]]
        stream = UploadStream(urls, ids["uploader"], jpegs[1:40])
        stream.start()
        web_mem, worker_mem = Sampler(web.pid).start(), Sampler(worker.pid).start()
        results = {}
        cookies = [f"sessionid={c}" for c in ids["cookies"]]
        tokens = [f"Token {t}" for t in ids["tokens"]]
        for name, url, header, values in (
            ("worklist", f"{base}/worklist/", "Cookie", cookies),
            ("study_api", f"{base}/api/v1/studies/", "Authorization", tokens),
        ):
            wrk(url, header, values, seconds=5, clients=args.clients, work=work)  # warm-up
            used = cpu_seconds(web.pid)
            results[name] = wrk(url, header, values, seconds=args.seconds, clients=args.clients, work=work)
            # gunicorn's CPU per request (the upload stream's share included): this machine's speed drifts from run
            # to run, and this tells a slower machine from slower code
            results[name]["gunicorn_cpu_ms"] = (cpu_seconds(web.pid) - used) * 1000 / results[name]["requests"]
            print(f"   {name}: {_line(results[name])}", flush=True)
        soak = None
        if args.soak:
            soak = _soak(args, base, cookies, tokens, work, web_mem, worker_mem)
        stream.stop.set()
        stream.join()
        web_mem.stop()
        worker_mem.stop()
        uploads = {
            "sent": len(stream.statuses),
            "accepted": stream.statuses.count(201),
            "statuses": sorted(set(stream.statuses)),
        }
        return {
            "clients": args.clients,
            "seconds": args.seconds,
            "gunicorn_workers": args.workers,
            "gunicorn_threads": args.threads,
            "endpoints": results,
            "uploads": uploads,
            "memory_mb": {
                "web_peak": round(web_mem.peak / 2**20),
                "worker_peak": round(worker_mem.peak / 2**20),
            },
            "soak": soak,
        }
    finally:
        stop(web, worker)
        shutil.rmtree(work, ignore_errors=True)


def _soak(args, base, cookies, tokens, work, web_mem, worker_mem) -> dict:
    """Alternate the two endpoints for args.soak seconds at the same concurrency; memory every 10 s."""
    samples: list[tuple[float, int, int]] = []
    started = time.monotonic()
    done = threading.Event()

    def sample() -> None:
        while not done.wait(10):
            samples.append((time.monotonic() - started, web_mem.rss(), worker_mem.rss()))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    rounds, errors, requests_total = 0, 0, 0
    while time.monotonic() - started < args.soak:
        if rounds % 2 == 0:
            url, header, values = f"{base}/worklist/", "Cookie", cookies
        else:
            url, header, values = f"{base}/api/v1/studies/", "Authorization", tokens
        summary = wrk(url, header, values, seconds=30, clients=args.clients, work=work)
        errors += summary["errors"]
        requests_total += summary["requests"]
        rounds += 1
    done.set()
    sampler.join()
    first = [s for s in samples if s[0] <= 70]
    last = [s for s in samples if s[0] >= samples[-1][0] - 60]

    def mean_mb(rows, i):
        return round(statistics.fmean(r[i] for r in rows) / 2**20, 1) if rows else None

    return {
        "seconds": round(time.monotonic() - started),
        "requests": requests_total,
        "errors": errors,
        "web_mb_first_minute": mean_mb(first, 1),
        "web_mb_last_minute": mean_mb(last, 1),
        "worker_mb_first_minute": mean_mb(first, 2),
        "worker_mb_last_minute": mean_mb(last, 2),
        "samples": [(round(t), round(w / 2**20, 1), round(k / 2**20, 1)) for t, w, k in samples],
    }


def _wait_until_up(url: str, token: str) -> None:
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if requests.get(url, headers={"Authorization": f"Token {token}"}, timeout=10).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or still importing
            pass
        time.sleep(0.5)
    raise SystemExit("gunicorn did not start")


def _line(r: dict) -> str:
    return (
        f"{r['requests_per_s']:.0f} req/s, p50 {r['p50_ms']:.0f} ms, p95 {r['p95_ms']:.0f} ms, "
        f"p99 {r['p99_ms']:.0f} ms, errors {r['errors']}, gunicorn CPU {r['gunicorn_cpu_ms']:.1f} ms/request"
    )


def table(result: dict) -> str:
    lines = [
        "| Endpoint | Clients | Requests/s | p50 | p95 | p99 | Errors | gunicorn CPU / request | Target met |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in result["endpoints"].items():
        met = (
            r["requests_per_s"] >= TARGETS["requests_per_s"]
            and r["p95_ms"] < TARGETS["p95_ms"]
            and r["errors"] == TARGETS["errors"]
        )
        lines.append(
            f"| {name} | {result['clients']} | {r['requests_per_s']:.0f} | {r['p50_ms']:.0f} ms | {r['p95_ms']:.0f} ms "
            f"| {r['p99_ms']:.0f} ms | {r['errors']} | {r['gunicorn_cpu_ms']:.1f} ms | {'yes' if met else 'no'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker (above 1: gthread)")
    parser.add_argument("--soak", type=int, default=0, help="seconds of mixed load with memory sampling (e.g. 600)")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", DEFAULT_DB))
    parser.add_argument("--broker-url", default=os.environ.get("CELERY_BROKER_URL", DEFAULT_BROKER))
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench-load")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    result = run(args)
    machine = f"{platform.machine()}, {os.cpu_count()} CPU cores"
    result["machine"] = machine
    (args.out / "results.json").write_text(json.dumps(result, indent=2))
    text = f"Machine: {machine}; gunicorn {args.workers} workers; uploads during the run: {result['uploads']}\n\n"
    text += table(result) + "\n"
    if result["soak"]:
        s = result["soak"]
        text += (
            f"\nSoak {s['seconds']} s: {s['requests']} requests, {s['errors']} errors; gunicorn RSS "
            f"{s['web_mb_first_minute']} -> {s['web_mb_last_minute']} MB, worker RSS {s['worker_mb_first_minute']} -> "
            f"{s['worker_mb_last_minute']} MB (first vs last minute)\n"
        )
    (args.out / "results.md").write_text(text)
    print("\n" + text)


if __name__ == "__main__":
    main()
