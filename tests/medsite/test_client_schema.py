"""The typed Python client in clients/python/ is what `make client` makes of today's API, and the schema it comes from
validates without warnings."""

import filecmp
import os
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from drf_spectacular.generators import SchemaGenerator

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = ROOT / "clients"
CACHES = {"__pycache__", ".ruff_cache", ".pytest_cache", ".mypy_cache"}


def _files(folder: Path) -> set[str]:
    return {
        str(path.relative_to(folder))
        for path in folder.rglob("*")
        if path.is_file() and not CACHES.intersection(path.relative_to(folder).parts)
    }


def _differences(made: Path, kept: Path) -> list[str]:
    made_files, kept_files = _files(made), _files(kept)
    changed = [name for name in made_files & kept_files if not filecmp.cmp(made / name, kept / name, shallow=False)]
    return (
        [f"new: {name}" for name in sorted(made_files - kept_files)]
        + [f"gone: {name}" for name in sorted(kept_files - made_files)]
        + [f"changed: {name}" for name in sorted(changed)]
    )


def test_the_generator_is_the_pinned_version():
    pinned = re.search(r"^openapi-python-client==(\S+)$", (ROOT / "requirements-dev.txt").read_text(), re.MULTILINE)
    assert pinned, "requirements-dev.txt pins openapi-python-client"
    assert version("openapi-python-client") == pinned[1], "run: .venv/bin/pip install -r requirements-dev.txt"


def test_the_committed_client_is_what_make_client_makes_of_the_api(tmp_path):
    # As `make client` runs it from a developer's shell: none of this test run's settings in the environment.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "CELERY_", "MEDSITE_"))}
    made = subprocess.run(
        ["make", "--no-print-directory", "client-files", f"CLIENT_SCHEMA={tmp_path / 'openapi.yml'}",
         f"CLIENT_DIR={tmp_path / 'python'}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    # The schema validates (--validate --fail-on-warn) and the generator has nothing to warn about (--fail-on-warning).
    assert made.returncode == 0, f"make client-files failed:\n{made.stdout[-3000:]}\n{made.stderr[-3000:]}"

    differences = [f"{line} in clients/python/" for line in _differences(tmp_path / "python", CLIENTS / "python")]
    if not filecmp.cmp(tmp_path / "openapi.yml", CLIENTS / "openapi.yml", shallow=False):
        differences.insert(0, "changed: clients/openapi.yml")
    assert not differences, "clients/ is not what the API makes today: run make client.\n" + "\n".join(differences[:20])


def test_the_generated_client_passes_ruff(tmp_path):
    """What the generator's post-hooks only fix or format would still be broken code (an undefined name, say)."""
    checked = subprocess.run(
        [str(Path(sys.executable).parent / "ruff"), "check", "--no-cache", "."],
        cwd=CLIENTS / "python", capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout[-3000:]


def test_uploads_are_described_as_files_a_client_sends():
    """A FileField is a URI in drf-spectacular's schema unless told otherwise: a generated client sent its text."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    for name in ("Upload", "DicomImport"):
        files = schema["components"]["schemas"][name]["properties"]["files"]
        assert files["items"] == {"type": "string", "format": "binary"}, name
    upload = schema["paths"]["/api/v1/studies/{id}/images/"]["post"]["requestBody"]["content"]
    assert list(upload) == ["multipart/form-data"]
