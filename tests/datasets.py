"""Where the shared real datasets are (referenced by path, never copied into the repository).

Looked up in order: $MEDSITE_DATASETS, ../shared/datasets beside the checkout, /work/shared/datasets.
Tests that need them are skipped, with this reason, on a machine that has none.
"""

import os
from pathlib import Path

import pytest

_CANDIDATES = [
    Path(os.environ["MEDSITE_DATASETS"]) if os.environ.get("MEDSITE_DATASETS") else None,
    Path(__file__).resolve().parents[2] / "shared" / "datasets",
    Path("/work/shared/datasets"),
]
DATASETS = next((path for path in _CANDIDATES if path is not None and path.is_dir()), _CANDIDATES[1])
DICOM_SAMPLES = DATASETS / "dicom-samples"
needs_datasets = pytest.mark.skipif(
    not DICOM_SAMPLES.is_dir(), reason="the shared datasets were not found; set MEDSITE_DATASETS"
)
