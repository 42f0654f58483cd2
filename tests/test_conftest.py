"""The test suite's own wiring: conftest files that start fast, and live tests that can be selected."""

import os
import re
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_conftests_do_not_import_tensorflow():
    """Every test module loads these; TensorFlow (seconds) comes only with the tests that train or run a model."""
    code = (
        "import django, sys; django.setup(); import tests.conftest, tests.diagnosis.conftest; "
        "loaded = sorted(m for m in ('tensorflow', 'keras') if m in sys.modules); assert not loaded, loaded"
    )
    env = os.environ | {"DJANGO_SETTINGS_MODULE": "medsite.settings"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=TESTS.parent, env=env)
    assert done.returncode == 0, done.stderr[-2000:]


# Test packages whose conftest starts a server, a worker or a whole stack for every test in them.
LIVE_PACKAGES = ("e2e", "security", "faults")


def test_tests_that_start_processes_are_marked_live():
    """`-m "not live"` gives the fast suite: every module that starts a worker or server (tests/live.py) says so."""
    unmarked = []
    for path in sorted(TESTS.rglob("test_*.py")):
        source = path.read_text()
        starts_processes = re.search(r"^from tests import live\b", source, re.M) or path.parent.name in LIVE_PACKAGES
        if starts_processes and "pytest.mark.live" not in source:
            unmarked.append(str(path.relative_to(TESTS)))
    assert unmarked == []
