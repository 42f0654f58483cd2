"""mlcore must stay importable without Django, and `import mlcore` must stay cheap."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_mlcore_never_imports_django() -> None:
    code = (
        "import mlcore, mlcore.data, mlcore.model, mlcore.train, mlcore.bundle, mlcore.inference, sys; "
        "assert 'django' not in sys.modules"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=REPO_ROOT).returncode == 0


def test_import_mlcore_does_not_load_tensorflow() -> None:
    """The web process decodes uploads with mlcore.imaging and must not pay for TensorFlow."""
    code = (
        "import mlcore, mlcore.config, mlcore.imaging, sys; "
        "assert mlcore.__version__ == '0.1.0'; "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=REPO_ROOT).returncode == 0
