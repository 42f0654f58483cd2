"""Helpers for tests that run the web server and the Celery worker as real, separate processes."""

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PASSTHROUGH = ("PATH", "HOME", "LANG", "TMPDIR", "TF_CPP_MIN_LOG_LEVEL")


def clean_env(**overrides: str) -> dict[str, str]:
    """The parent's environment minus MedSite settings, plus ``overrides``."""
    env = {key: value for key, value in os.environ.items() if key in PASSTHROUGH}
    env.update(PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2")
    env.update(overrides)
    return env


def manage(*args: str, env: dict[str, str], timeout: int = 300) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, *, timeout: float, interval: float = 0.5, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


@contextmanager
def process(args: list[str], *, env: dict[str, str], log: Path, ready: str, timeout: float = 120):
    """Start a process, wait until ``ready`` appears in its output, stop it afterwards."""
    with log.open("w") as out:
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: ready in log.read_text() or proc.poll() is not None, timeout=timeout, what=f"{args[2]} start")
        assert proc.poll() is None, f"{' '.join(args)} exited:\n{log.read_text()}"
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def worker(env: dict[str, str], log: Path, hostname: str | None = None):
    """A Celery worker on all three queues, as `make run` starts it; `hostname` sets its node name."""
    args = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "medsite",
        "worker",
        "--queues",
        "default,inference,training",
        "--concurrency",
        "1",
        "--without-gossip",
        "--without-mingle",
        "--loglevel",
        "INFO",
        *(["--hostname", hostname] if hostname else []),
    ]
    return process(args, env=env, log=log, ready="ready.")


def web(env: dict[str, str], log: Path, port: int):
    args = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
    return process(args, env=env, log=log, ready="Quit the server")


def postgres_redis_env(settings, var: Path) -> dict[str, str] | None:
    """The environment for worker processes sharing this test's PostgreSQL database, Redis broker, media and
    model folders (the broker database is flushed); None unless the tests run on PostgreSQL and Redis."""
    import redis

    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql" or not settings.CELERY_BROKER_URL.startswith("redis://"):
        return None
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return clean_env(
        DJANGO_DEBUG="true",
        DATABASE_URL=f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        MEDSITE_MEDIA_ROOT=str(settings.MEDIA_ROOT),
        MEDSITE_MODEL_ROOT=str(settings.MEDSITE_MODEL_ROOT),
        MEDSITE_VAR_DIR=str(var),
    )
