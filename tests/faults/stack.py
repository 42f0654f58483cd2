"""A private MedSite stack for fault injection: its own PostgreSQL cluster and redis-server (never the shared
ones on 5432 and 6379), media on a small tmpfs, gunicorn, and one Celery inference worker with beat inside it.

The harness kills and restarts these processes; it reads the database directly (psycopg2) to measure, and
drives uploads through the REST API over HTTP with a token, from client threads.
"""

import contextlib
import errno
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
import requests

from tests import live
from tests.conftest import png_bytes

ROOT = live.ROOT
WORKER_NAME = "faults-inference@localhost"
MEDIA_SIZE = "32m"
# Short recovery settings, so stale work is found in seconds, not minutes.
FAULT_SETTINGS = {
    "MEDSITE_INFERENCE_REQUEUE_AFTER": "5",
    "MEDSITE_INFERENCE_SWEEP_SECONDS": "3",
    "MEDSITE_INFERENCE_TIME_LIMIT": "30",
    "DATABASE_CONN_MAX_AGE": "60",
}
SETUP = """
import json, sys
from accounts.models import Membership, Role, Site, User
from diagnosis.services import records
from accounts.models import ApiToken
site = Site.objects.create(name="Fault Hospital")
user = User.objects.create_user(email="faults@faults.example", password="faults-password-2026")
Membership.objects.create(user=user, site=site, role=Role.CLINICIAN)
studies = {}
for n, name in enumerate(sys.argv[1:]):
    patient = records.patient_create(site=site, mrn=f"FAULT-{n}", name=f"Fault Patient {n}", created_by=user)
    studies[name] = records.study_create(patient=patient, modality="CR", body_part="CHEST", created_by=user).pk
print(json.dumps({"token": ApiToken.objects.create(user=user, name="faults")[1], "studies": studies}))
"""


def say(message: str) -> None:
    """Progress on the terminal, past pytest's capture: the run takes minutes."""
    print(f"[faults {time.strftime('%H:%M:%S')}] {message}", file=sys.__stderr__, flush=True)


def _binary(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise RuntimeError(f"no PostgreSQL {name} under /usr/lib/postgresql/*/bin")
    return found[-1]


def _as_postgres(args: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: drop to the postgres user when we are root."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def _stop_group(proc: subprocess.Popen | None, sig=signal.SIGTERM, timeout: float = 20) -> None:
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


class Postgres:
    def __init__(self, base: Path):
        self.data, self.sock, self.log = base / "pgdata", base / "pgsock", base / "postgres.log"
        self.port = live.free_port()
        for folder in (self.data, self.sock):
            folder.mkdir()
        if os.geteuid() == 0:
            shutil.chown(base, "postgres")
            for path in (self.data, self.sock):
                shutil.chown(path, "postgres")
        self.log.touch()
        if os.geteuid() == 0:
            shutil.chown(self.log, "postgres")
        self._run(_binary("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")

    def _run(self, *args: str) -> None:
        subprocess.run(_as_postgres(list(args)), check=True, capture_output=True, timeout=120)

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/medsite"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1"
        self._run(_binary("pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run(_binary("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def create_database(self) -> None:
        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("CREATE DATABASE medsite")
        conn.close()

    def connect(self):
        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="medsite")
        conn.autocommit = True
        return conn


class Redis:
    def __init__(self, base: Path):
        self.port, self.log, self.proc = live.free_port(), base / "redis.log", None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        with self.log.open("a") as out:
            self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        live.wait_for(self.ping, timeout=20, interval=0.05, what="redis-server")

    def ping(self) -> bool:
        import redis

        try:
            return redis.Redis(port=self.port, socket_timeout=1).ping()
        except redis.RedisError:
            return False

    def stop(self) -> None:
        _stop_group(self.proc)


class Media:
    """MEDSITE_MEDIA_ROOT on a tmpfs of MEDIA_SIZE (needs root: mount)."""

    def __init__(self, path: Path):
        self.path = path
        path.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={MEDIA_SIZE}", "tmpfs", str(path)], check=True)
        self.filler = path / "filler.bin"

    def fill(self) -> int:
        """Write a filler file until the filesystem refuses more (ENOSPC); returns its size."""
        written = 0
        with self.filler.open("wb") as fh:
            try:
                while True:
                    fh.write(b"\0" * 65536)
                    fh.flush()
                    written += 65536
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
        return written

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def files(self) -> set[str]:
        return {str(p.relative_to(self.path)) for p in self.path.rglob("*") if p.is_file() and p != self.filler}

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], check=False)


def _text(body: str) -> str:
    """What a person reads in an error page: its text without the head and the tags."""
    body = re.sub(r"(?is)<head>.*?</head>", " ", body)
    return " ".join(re.sub(r"<[^>]+>", " ", body).split())[:200]


@dataclass
class Upload:
    started: float
    ended: float
    status: int
    images: list[int] = field(default_factory=list)
    message: str = ""


class Uploader:
    """Client threads, each posting one small chest PNG at a time until stopped."""

    def __init__(self, url: str, token: str, *, threads: int = 2, pause: float = 0.25, counter: list[int]):
        self.url, self.token, self.threads, self.pause = url, token, threads, pause
        self.uploads: list[Upload] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._counter = counter  # shared across scenarios: every file differs (sha256) from every other
        self._workers: list[threading.Thread] = []

    def _next_png(self) -> bytes:
        with self._lock:
            k = self._counter[0]
            self._counter[0] += 1
        return png_bytes(size=(64 + k % 200, 64 + k // 200))

    def _run(self) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Token {self.token}"
        while not self._stop.is_set():
            body = self._next_png()
            started = time.time()
            try:
                response = session.post(self.url, files={"files": ("chest.png", body, "image/png")}, timeout=30)
                status, text = response.status_code, response.text
            except requests.RequestException as exc:
                status, text = 0, f"{type(exc).__name__}: {exc}"
            upload = Upload(started, time.time(), status)
            try:
                data = json.loads(text)
                upload.images = [image["id"] for image in data.get("images", [])]
                errors = "; ".join(e["message"] for e in data.get("errors", []))
                upload.message = errors or ("" if status == 201 else text)
            except (ValueError, AttributeError, TypeError, KeyError):
                upload.message = _text(text)
            with self._lock:
                self.uploads.append(upload)
            self._stop.wait(self.pause)

    def start(self) -> "Uploader":
        for _ in range(self.threads):
            thread = threading.Thread(target=self._run, daemon=True)
            thread.start()
            self._workers.append(thread)
        return self

    def stop(self) -> list[Upload]:
        self._stop.set()
        for thread in self._workers:
            thread.join(timeout=40)
        return sorted(self.uploads, key=lambda u: u.started)


class Stack:
    def __init__(self):
        self.base = Path(tempfile.mkdtemp(prefix="medsite-faults-"))
        os.chmod(self.base, 0o755)
        self.var = self.base / "var"
        self.var.mkdir()
        self.pg: Postgres | None = None
        self.redis: Redis | None = None
        self.media: Media | None = None
        self.web: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self.worker_starts = 0
        self.web_port = live.free_port()
        self.counter = [0]
        self.ids: dict = {}
        self._db = None

    # --- life cycle ----------------------------------------------------------------------------------------

    def start(self, scenarios: list[str], bundle: Path) -> None:
        self.media = Media(self.base / "media")
        self.pg = Postgres(self._pg_dir())
        self.pg.start()
        self.pg.create_database()
        self.redis = Redis(self.base)
        self.redis.start()
        self.env = live.clean_env(
            DJANGO_DEBUG="false",
            DJANGO_SECRET_KEY="faults-" + "x" * 50,
            MEDSITE_AUDIT_KEY="faults-audit-" + "k" * 40,
            DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
            DJANGO_SECURE_SSL_REDIRECT="false",
            DJANGO_SECURE_COOKIES="false",
            DATABASE_URL=self.pg.url,
            CELERY_BROKER_URL=self.redis.url,
            MEDSITE_MEDIA_ROOT=str(self.media.path),
            MEDSITE_MODEL_ROOT=str(self.var / "models"),
            MEDSITE_VAR_DIR=str(self.var),
            MEDSITE_API_THROTTLE_USER="1000000/min",
            MEDSITE_MFA_REQUIRED_ROLES="none",
            **FAULT_SETTINGS,
        )
        say(f"PostgreSQL on {self.pg.port}, Redis on {self.redis.port}, media on a {MEDIA_SIZE} tmpfs; migrating")
        live.manage("migrate", "--noinput", env=self.env)
        live.manage("register_model", str(bundle), "--activate", env=self.env)
        studies = [*scenarios, "warm_up"]
        out = live.manage("shell", "-c", SETUP.replace("sys.argv[1:]", repr(studies)), env=self.env)
        self.ids = json.loads(out.strip().splitlines()[-1])
        say("starting gunicorn and the worker")
        self.start_web()
        self.start_worker()
        self.wait_worker_ready()
        self.warm_up()
        say("stack ready")

    def warm_up(self) -> None:
        """One upload predicted before the first fault: the worker has imported TensorFlow and loaded the model,
        so a SIGKILL lands in a batch, not in start-up."""
        url = f"http://127.0.0.1:{self.web_port}/api/v1/studies/{self.ids['studies']['warm_up']}/images/"
        body = png_bytes(size=(48, 48))
        headers = {"Authorization": f"Token {self.ids['token']}"}
        response = requests.post(url, files={"files": ("warm.png", body, "image/png")}, headers=headers, timeout=60)
        assert response.status_code == 201, response.text
        pk = response.json()["images"][0]["id"]
        live.wait_for(
            lambda: self.query("SELECT 1 FROM diagnosis_image WHERE id = %s AND status = 'done'", (pk,)),
            timeout=120,
            what="the warm-up prediction",
        )

    def _pg_dir(self) -> Path:
        path = self.base / "pg"
        path.mkdir()
        return path

    def stop(self) -> None:
        for step in (
            lambda: _stop_group(self.worker),
            lambda: _stop_group(self.web),
            lambda: self.redis and self.redis.stop(),
            lambda: self.pg and self.pg.stop("immediate"),
            lambda: self.media and self.media.unmount(),
        ):
            with contextlib.suppress(Exception):
                step()
        with contextlib.suppress(Exception):
            self._db and self._db.close()
        logs = ROOT / "var" / "faults" / "logs"  # kept for inspection; the rest goes
        shutil.rmtree(logs, ignore_errors=True)
        logs.mkdir(parents=True)
        for path in [*self.var.glob("*.log"), *self.base.glob("*.log"), *self.base.glob("pg/*.log")]:
            shutil.copy(path, logs / path.name)
        shutil.rmtree(self.base, ignore_errors=True)

    def start_web(self) -> None:
        args = [sys.executable, "-m", "gunicorn", "medsite.wsgi:application", "--workers", "2"]
        args += ["--bind", f"127.0.0.1:{self.web_port}", "--timeout", "60"]
        with (self.var / "web.log").open("a") as out:
            self.web = subprocess.Popen(
                args, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

        def answers() -> bool:
            assert self.web.poll() is None, (self.var / "web.log").read_text()
            try:
                return requests.get(f"http://127.0.0.1:{self.web_port}/api/v1/studies/", timeout=2).status_code == 401
            except requests.RequestException:
                return False

        live.wait_for(answers, timeout=90, what="gunicorn")

    def start_worker(self) -> float:
        """Start the inference worker (queues inference and default, beat inside); returns when it was started."""
        self.worker_starts += 1
        self.worker_log = self.var / f"worker-{self.worker_starts}.log"
        args = [sys.executable, "-m", "celery", "-A", "medsite", "worker", "--queues", "inference,default"]
        args += ["--concurrency", "1", "--hostname", WORKER_NAME, "--without-gossip", "--without-mingle"]
        args += ["--loglevel", "INFO", "--beat"]
        started = time.time()
        with self.worker_log.open("w") as out:
            self.worker = subprocess.Popen(
                args, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        return started

    def wait_worker_ready(self, timeout: float = 120) -> float:
        def ready() -> bool:
            assert self.worker.poll() is None, self.worker_log.read_text()
            return "ready." in self.worker_log.read_text()

        live.wait_for(ready, timeout=timeout, interval=0.2, what="the Celery worker")
        return time.time()

    def kill_worker(self) -> None:
        os.killpg(self.worker.pid, signal.SIGKILL)  # main process, pool child and beat: mid-task, no goodbye
        self.worker.wait(timeout=10)

    def requeued_since(self, moment: float) -> int:
        """Images the worker's start-up hook and the sweep sent again since `moment` (from the worker logs)."""
        sent = 0
        for path in self.var.glob("worker-*.log"):
            for match in re.finditer(r"^(\S+ \S+),\d+ WARNING \S+ Sent (\d+) stalled", path.read_text(), re.M):
                if time.mktime(time.strptime(match[1], "%Y-%m-%d %H:%M:%S")) >= int(moment):
                    sent += int(match[2])
        return sent

    def logs(self) -> str:
        parts = []
        for path in sorted(self.var.glob("*.log")):
            parts.append(f"--- {path.name} (last 3000 chars)\n{path.read_text()[-3000:]}")
        return "\n".join(parts)

    # --- reading the database ------------------------------------------------------------------------------

    def query(self, sql: str, params=()) -> list[tuple]:
        """Read the private database; reconnects after a PostgreSQL restart."""
        for attempt in range(2):
            try:
                if self._db is None or self._db.closed:
                    self._db = self.pg.connect()
                with self._db.cursor() as cur:
                    cur.execute(sql, params)
                    return cur.fetchall()
            except (psycopg2.OperationalError, psycopg2.InterfaceError):
                with contextlib.suppress(Exception):
                    self._db.close()
                self._db = None
                if attempt:
                    raise
        return []

    def images(self, study: int) -> dict[int, dict]:
        """Per image of the study: status, predictions (all, and by the active version), when stored."""
        rows = self.query(
            """
            SELECT i.id, i.status, i.failure_reason, extract(epoch FROM i.uploaded_at),
                   count(p.id), count(p.id) FILTER (WHERE mv.status = 'active'),
                   max(extract(epoch FROM p.created_at)) FILTER (WHERE mv.status = 'active')
            FROM diagnosis_image i
            LEFT JOIN diagnosis_prediction p ON p.image_id = i.id
            LEFT JOIN diagnosis_modelversion mv ON mv.id = p.model_version_id
            WHERE i.study_id = %s GROUP BY i.id
            """,
            (study,),
        )
        return {
            row[0]: {
                "status": row[1],
                "reason": row[2],
                "uploaded_at": float(row[3]),
                "predictions": row[4],
                "active_predictions": row[5],
                "predicted_at": float(row[6]) if row[6] is not None else None,
            }
            for row in rows
        }

    def referenced_files(self) -> set[str]:
        rows = self.query(
            "SELECT file FROM diagnosis_image UNION SELECT display_file FROM diagnosis_image "
            "UNION SELECT deidentified_file FROM diagnosis_image UNION SELECT heatmap FROM diagnosis_prediction"
        )
        return {row[0] for row in rows if row[0]}

    def processing(self) -> list[int]:
        return [row[0] for row in self.query("SELECT id FROM diagnosis_image WHERE status = 'processing'")]

    def wait_settled(self, study: int, timeout: float) -> dict[int, dict]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                images = self.images(study)
            except psycopg2.Error:
                images = None
            pending = images is None or any(i["status"] in ("queued", "processing") for i in images.values())
            if not pending or time.monotonic() > deadline:
                return images or {}
            time.sleep(0.25)

    def first_prediction_after(self, moment: float) -> float | None:
        rows = self.query(
            "SELECT min(extract(epoch FROM created_at)) FROM diagnosis_prediction WHERE created_at > to_timestamp(%s)",
            (moment,),
        )
        return float(rows[0][0]) if rows and rows[0][0] is not None else None
