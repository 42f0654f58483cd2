"""DICOM intake benchmark: one association of real-size CR instances into MedSite's receiver, against Orthanc.

    python benchmarks/dicom_intake.py [--n 200] [--per-study 10] [--repeats 3] [--out var/bench]

Generates N computed radiographs once (2048 x 2048, 16 bits allocated, 12 stored, MONOCHROME2, Explicit VR Little
Endian, smooth anatomy-like content with detector noise, a unique SOPInstanceUID each; one patient and study per
--per-study instances) into a temporary folder; then sends all of them over ONE association with a pynetdicom
C-STORE SCU, the files read from disk and sent as they are, to

- Orthanc (Debian's /usr/sbin/Orthanc), started fresh for each run as tests/orthanc.py starts it, and
- MedSite's receiver as production runs it: `manage.py dicom_listener` in its own process, on PostgreSQL, with a
  fresh database and media folder for each run; no Celery worker (the inference messages wait in the broker).

Each receiver gets --repeats runs; a run's time is from the association request to its release, and every instance
must have been answered with success and be found stored afterwards. Reports instances/s and MB/s (file bytes,
10^6), their medians, the receiver process's CPU seconds per instance, and the ratio MedSite/Orthanc against issue
21's target (>= 50 %). Writes var/bench/dicom-intake.json and var/bench/dicom-intake.md, and prints the table.

Needs PostgreSQL and Redis: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/medsite_bench_dicom,
dropped and recreated for each run) and BENCH_BROKER_URL (default redis://127.0.0.1:6379/14, flushed). Run by
`make bench-dicom`; docs/performance.md quotes its figures.
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
import time
from pathlib import Path

import redis
from pipeline import ROOT, cpu_seconds, django_script, environment, manage, recreate_database
from pydicom.uid import ComputedRadiographyImageStorage, ExplicitVRLittleEndian, generate_uid
from pynetdicom import AE

from tests import orthanc
from tests.live import free_port

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/medsite_bench_dicom"
DEFAULT_BROKER = "redis://127.0.0.1:6379/14"
SIDE = 2048
CALLING_AE = "BENCHSCU"
TARGET_RATIO = 0.5  # issue 21: MedSite's instances/s at least half of Orthanc's

SETUP = """
from accounts.models import Site
from diagnosis.models import DicomNode, DicomPeer
site = Site.objects.create(name="Bench Hospital")
DicomNode.objects.create(ae_title="MEDSITE", site=site)
DicomPeer.objects.create(site=site, ae_title="BENCHSCU", ip="127.0.0.1")
print(site.pk)
"""

COUNT = """
import json
from diagnosis.models import Image, Patient, Study
print(json.dumps({"images": Image.objects.count(), "studies": Study.objects.count(),
                  "patients": Patient.objects.count(),
                  "deidentified": Image.objects.exclude(deidentified_file="").count()}))
"""


def generate(folder: Path, n: int, per_study: int) -> list[Path]:
    paths = []
    for index in range(n):
        if index % per_study == 0:
            patient = f"BENCH-{index // per_study + 1:03d}"
            study_uid, series_uid = generate_uid(), generate_uid()
        ds = orthanc.computed_radiograph(
            patient_id=patient,
            patient_name=f"Bench^Patient{index // per_study + 1:03d}",
            study_uid=study_uid,
            series_uid=series_uid,
            number=index % per_study + 1,
            side=SIDE,
            seed=index,
        )
        path = folder / f"{index:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def send(port: int, called: str, paths: list[Path], client: str) -> float:
    """C-STORE every file over one association; the seconds from the association request to its release (for
    storescu, from its start to its end: a few milliseconds more)."""
    if client == "storescu":
        started = time.perf_counter()
        done = subprocess.run(
            ["storescu", "-v", "-R", "-aet", CALLING_AE, "-aec", called, "127.0.0.1", str(port), *map(str, paths)],
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - started
        log = done.stderr  # -v: one line per association and per response
        if log.count("Requesting Association") != 1 or log.count("Store Response (Success)") != len(paths):
            raise SystemExit(f"storescu to {called} failed ({done.returncode}):\n{log[-2000:]}")
        return seconds
    ae = AE(ae_title=CALLING_AE)
    ae.add_requested_context(ComputedRadiographyImageStorage, ExplicitVRLittleEndian)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 300
    started = time.perf_counter()
    assoc = ae.associate("127.0.0.1", port, ae_title=called)
    if not assoc.is_established:
        raise SystemExit(f"association to {called} on port {port} was not established")
    try:
        for path in paths:
            status = assoc.send_c_store(path)
            if status.get("Status") != 0x0000:
                raise SystemExit(f"{called}: {path.name} answered with status {status.get('Status')!r}")
    finally:
        assoc.release()
    return time.perf_counter() - started


def run_orthanc(paths: list[Path], work: Path, client: str) -> dict:
    with orthanc.running(work) as pacs:
        pid = _pid_listening(pacs.dicom_port)
        cpu = cpu_seconds(pid)
        seconds = send(pacs.dicom_port, orthanc.AE_TITLE, paths, client)
        cpu = cpu_seconds(pid) - cpu
        stored = len(pacs.instances())
    if stored != len(paths):
        raise SystemExit(f"Orthanc stored {stored} of {len(paths)} instances")
    return {"seconds": seconds, "receiver_cpu_s": cpu, "stored": stored}


def run_medsite(paths: list[Path], work: Path, args) -> dict:
    env = environment(work, args.database_url, args.broker_url)
    env["MEDSITE_MEDIA_ROOT"] = str(work / "media")
    recreate_database(args.database_url)
    redis.Redis.from_url(args.broker_url).flushdb()
    manage(env, "migrate", "--noinput")
    django_script(env, SETUP)
    port = free_port()
    log = (work / "dicom_listener.log").open("w")
    listener = subprocess.Popen(
        [sys.executable, "manage.py", "dicom_listener", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_for_echo(port, listener, work / "dicom_listener.log")
        cpu = cpu_seconds(listener.pid)
        seconds = send(port, "MEDSITE", paths, args.client)
        cpu = cpu_seconds(listener.pid) - cpu
    finally:
        os.killpg(listener.pid, signal.SIGINT)
        try:
            listener.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(listener.pid, signal.SIGKILL)
            listener.wait()
        log.close()
    counts = json.loads(django_script(env, COUNT))
    if counts["images"] != len(paths) or counts["deidentified"] != len(paths):
        raise SystemExit(f"MedSite stored {counts} for {len(paths)} instances: see {work / 'dicom_listener.log'}")
    redis.Redis.from_url(args.broker_url).flushdb()
    return {"seconds": seconds, "receiver_cpu_s": cpu, "stored": counts["images"], "counts": counts}


def _wait_for_echo(port: int, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    ae = AE(ae_title=CALLING_AE)
    ae.add_requested_context("1.2.840.10008.1.1")  # Verification
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"dicom_listener exited:\n{log.read_text()[-3000:]}")
        assoc = ae.associate("127.0.0.1", port, ae_title="MEDSITE")
        if assoc.is_established:
            assoc.send_c_echo()
            assoc.release()
            return
        time.sleep(0.5)
    raise SystemExit(f"dicom_listener did not answer C-ECHO in {timeout:.0f}s:\n{log.read_text()[-3000:]}")


def _pid_listening(port: int) -> int:
    """The pid of the process listening on a loopback TCP port (Orthanc's own, for its CPU time)."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(f":{port:04X}") and fields[3] == "0A":  # LISTEN
            inode = fields[9]
    for fd in Path("/proc").glob("[0-9]*/fd/*"):
        try:
            if os.readlink(fd) == f"socket:[{inode}]":
                return int(fd.parent.parent.name)
        except OSError:
            continue
    raise SystemExit(f"no process found listening on port {port}")


def summary(runs: list[dict], n: int, total_bytes: int) -> dict:
    for run in runs:
        run["instances_per_s"] = n / run["seconds"]
        run["mb_per_s"] = total_bytes / 1e6 / run["seconds"]
        run["receiver_cpu_ms_per_instance"] = run["receiver_cpu_s"] * 1000 / n
    return {
        "runs": runs,
        "median_instances_per_s": statistics.median(r["instances_per_s"] for r in runs),
        "median_mb_per_s": statistics.median(r["mb_per_s"] for r in runs),
        "median_seconds": statistics.median(r["seconds"] for r in runs),
        "median_receiver_cpu_ms_per_instance": statistics.median(r["receiver_cpu_ms_per_instance"] for r in runs),
    }


def table(result: dict) -> str:
    lines = [
        "| Receiver | Instances/s per run | Median instances/s | Median MB/s | Median time | Receiver CPU / instance |",
        "|---|---|---|---|---|---|",
    ]
    for name in ("orthanc", "medsite"):
        r = result[name]
        runs = ", ".join(f"{run['instances_per_s']:.1f}" for run in r["runs"])
        lines.append(
            f"| {result['labels'][name]} | {runs} | {r['median_instances_per_s']:.1f} | {r['median_mb_per_s']:.0f} "
            f"| {r['median_seconds']:.1f} s | {r['median_receiver_cpu_ms_per_instance']:.0f} ms |"
        )
    ratio = result["ratio"]
    met = "met" if ratio >= TARGET_RATIO else "**not met**"
    lines += [
        "",
        f"MedSite / Orthanc (median instances/s): **{ratio:.0%}**; target ≥ {TARGET_RATIO:.0%}: {met}.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="instances (default 200)")
    parser.add_argument("--per-study", type=int, default=10, help="instances per patient and study (default 10)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per receiver (default 3)")
    parser.add_argument("--only", choices=("orthanc", "medsite"), help="measure one receiver only")
    parser.add_argument(
        "--client",
        choices=("storescu", "pynetdicom"),
        default="storescu" if shutil.which("storescu") else "pynetdicom",
        help="the sender: dcmtk's storescu (default when installed) or a pynetdicom SCU in this process",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    parser.add_argument("--broker-url", default=os.environ.get("BENCH_BROKER_URL", DEFAULT_BROKER))
    args = parser.parse_args()
    if not orthanc.ORTHANC.is_file() and args.only != "medsite":
        raise SystemExit(f"{orthanc.ORTHANC} is not installed: apt-get install orthanc")
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="medsite-bench-dicom-"))
    try:
        started = time.perf_counter()
        (work / "files").mkdir()
        paths = generate(work / "files", args.n, args.per_study)
        total_bytes = sum(path.stat().st_size for path in paths)
        print(
            f"generated {len(paths)} CR instances, {total_bytes / len(paths) / 1e6:.1f} MB each, "
            f"in {time.perf_counter() - started:.0f} s",
            flush=True,
        )
        result = {"labels": {"orthanc": "Orthanc 1.10.1 (Debian)", "medsite": "MedSite dicom_listener"}}
        names = [name for name in ("orthanc", "medsite") if args.only in (None, name)]
        runs = {name: [] for name in names}
        for repeat in range(args.repeats):  # the receivers take turns, so that both see the machine's load alike
            for name in names:
                folder = work / f"{name}-{repeat + 1}"
                folder.mkdir()
                load = os.getloadavg()[0]
                run = run_orthanc(paths, folder, args.client) if name == "orthanc" else run_medsite(paths, folder, args)
                run["load_average_before"] = load
                shutil.rmtree(folder, ignore_errors=True)
                runs[name].append(run)
                print(
                    f"{name} run {repeat + 1}: {len(paths) / run['seconds']:.1f} instances/s "
                    f"({run['seconds']:.1f} s, receiver CPU {run['receiver_cpu_s']:.1f} s, load before {load:.1f})",
                    flush=True,
                )
        for name in names:
            result[name] = summary(runs[name], len(paths), total_bytes)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result.update(
        machine=f"{platform.machine()}, {os.cpu_count()} CPU cores",
        client=args.client,
        commit=subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip(),
        n=len(paths),
        per_study=args.per_study,
        file_mb=round(total_bytes / len(paths) / 1e6, 2),
        repeats=args.repeats,
        date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    )
    if "orthanc" in result and "medsite" in result:
        result["ratio"] = result["medsite"]["median_instances_per_s"] / result["orthanc"]["median_instances_per_s"]
        result["target_ratio"], result["target_met"] = TARGET_RATIO, result["ratio"] >= TARGET_RATIO
        text = f"Machine: {result['machine']}; {result['n']} instances of {result['file_mb']} MB\n\n{table(result)}\n"
        (args.out / "dicom-intake.md").write_text(text)
        print("\n" + text)
    (args.out / "dicom-intake.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
