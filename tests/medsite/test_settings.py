"""Settings are fail-closed, production settings pass check --deploy, migrations are complete."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DJANGO_SECRET_KEY": "x7$k2!p9@v4#m8^w1&q6*z3(e5)r0_t-y+u=i]o[a;s:d'f,g.h/j<l>b?n|c~v`",
    "DJANGO_ALLOWED_HOSTS": "medsite.example-hospital.org",
    "DATABASE_URL": "postgres://medsite@127.0.0.1:5432/medsite",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
    "MEDSITE_AUDIT_KEY": "production-audit-key-" + "k" * 40,
}


def _manage(*args, env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "CELERY_", "MEDSITE_"))}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=clean | env, capture_output=True, text=True, timeout=120
    )


def test_production_refuses_to_start_without_secret_key():
    result = _manage("check", env={"DJANGO_ALLOWED_HOSTS": "x.example"})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_production_refuses_to_start_without_allowed_hosts():
    result = _manage("check", env={"DJANGO_SECRET_KEY": PRODUCTION_ENV["DJANGO_SECRET_KEY"]})
    assert result.returncode != 0
    assert "DJANGO_ALLOWED_HOSTS must be set" in result.stderr


def test_bad_boolean_is_refused():
    result = _manage("check", env=PRODUCTION_ENV | {"DJANGO_DEBUG": "maybe"})
    assert result.returncode != 0
    assert "DJANGO_DEBUG must be true or false" in result.stderr


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    result = _manage(
        "check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV | {"MEDSITE_VAR_DIR": str(tmp_path)}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_system_check_catches_contradictions(tmp_path):
    result = _manage(
        "check", env=PRODUCTION_ENV | {"MEDSITE_VAR_DIR": str(tmp_path), "CELERY_TASK_ALWAYS_EAGER": "true"}
    )
    assert result.returncode != 0
    assert "medsite.E003" in result.stderr


def test_debug_is_off_by_default():
    result = _manage("shell", "-c", "from django.conf import settings; print(settings.DEBUG)", env=PRODUCTION_ENV)
    assert result.stdout.strip().splitlines()[-1] == "False"


@pytest.mark.django_db
def test_migrations_are_complete():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_s3_storage_when_a_bucket_is_configured(tmp_path):
    code = (
        "from django.core.files.storage import storages; s = storages['default']; "
        "print(type(s).__name__, s.bucket_name, s.default_acl)"
    )
    env = PRODUCTION_ENV | {
        "MEDSITE_VAR_DIR": str(tmp_path),
        "MEDSITE_S3_BUCKET": "hospital-images",
        "MEDSITE_S3_ENDPOINT_URL": "https://minio.internal:9000",
    }
    result = _manage("shell", "-c", code, env=env)
    assert result.stdout.strip().splitlines()[-1] == "S3Storage hospital-images None"
