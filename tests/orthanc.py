"""Orthanc as the peer PACS: Debian's Orthanc started as a subprocess with its own configuration, storage and ports
in a folder of the caller's, and a small client over its REST API. The tests of the DICOM receiver and of results
routing use it, and so does the intake benchmark (benchmarks/dicom_intake.py).

    with orthanc.running(tmp_path / "orthanc", modalities={"medsite": ("MEDSITE", "127.0.0.1", port)}) as pacs:
        study = pacs.upload(path.read_bytes())["ParentStudy"]
        pacs.store("medsite", study)

Tests call ``require_orthanc()`` first: without /usr/sbin/Orthanc they are skipped, except in CI (CI=true), where
.ci/run installs it and its absence is a failure.
"""

import json
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pydicom
import pytest
import requests
from PIL import Image as PILImage
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ComputedRadiographyImageStorage, ExplicitVRLittleEndian, generate_uid

from tests.live import free_port

ORTHANC = Path("/usr/sbin/Orthanc")
AE_TITLE = "ORTHANC"
START_TIMEOUT = 60  # seconds for GET /system to answer


def require_orthanc() -> None:
    """Skip the calling test when Orthanc is not installed; fail it in CI, which installs Orthanc (.ci/run)."""
    if ORTHANC.is_file():
        return
    message = f"Orthanc is not installed ({ORTHANC}; apt-get install orthanc, as .ci/run does)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


class OrthancClient:
    """What the tests need of Orthanc's REST API; ids are Orthanc's own (not DICOM UIDs)."""

    def __init__(self, url: str, *, dicom_port: int, aet: str = AE_TITLE):
        self.url, self.dicom_port, self.aet = url, dicom_port, aet
        self.session = requests.Session()

    def _call(self, method: str, path: str, **kwargs):
        response = self.session.request(method, self.url + path, timeout=kwargs.pop("timeout", 120), **kwargs)
        if not response.ok:
            raise AssertionError(f"Orthanc {method} {path}: HTTP {response.status_code} {response.text[:500]}")
        return response.json() if response.content else None

    def system(self) -> dict:
        return self._call("GET", "/system", timeout=5)

    def upload(self, dicom: bytes) -> dict:
        """Store one DICOM file (POST /instances): {"ID", "ParentStudy", "ParentSeries", "Status", ...}."""
        return self._call("POST", "/instances", data=dicom, headers={"Content-Type": "application/dicom"})

    def studies(self) -> list[str]:
        return self._call("GET", "/studies")

    def series(self) -> list[str]:
        return self._call("GET", "/series")

    def instances(self) -> list[str]:
        return self._call("GET", "/instances")

    def study(self, study_id: str) -> dict:
        return self._call("GET", f"/studies/{study_id}")

    def study_instances(self, study_id: str) -> list[dict]:
        return self._call("GET", f"/studies/{study_id}/instances")

    def tags(self, instance_id: str) -> dict:
        """An instance's main tags by keyword (GET /instances/{id}/simplified-tags)."""
        return self._call("GET", f"/instances/{instance_id}/simplified-tags")

    def file(self, instance_id: str) -> bytes:
        response = self.session.get(f"{self.url}/instances/{instance_id}/file", timeout=120)
        response.raise_for_status()
        return response.content

    def find_study(self, study_instance_uid: str) -> str | None:
        """Orthanc's id of the study with this StudyInstanceUID, or None."""
        found = self._call("POST", "/tools/lookup", data=study_instance_uid)
        return next((item["ID"] for item in found if item["Type"] == "Study"), None)

    def add_modality(self, name: str, aet: str, host: str, port: int) -> None:
        """Declare (or change) a DICOM peer at run time (PUT /modalities/{name})."""
        self._call("PUT", f"/modalities/{name}", json={"AET": aet, "Host": host, "Port": port})

    def echo(self, modality: str) -> bool:
        """C-ECHO a modality (POST /modalities/{name}/echo): whether it answered with success."""
        response = self.session.post(f"{self.url}/modalities/{modality}/echo", json={}, timeout=60)
        return response.ok

    def store(self, modality: str, *resources: str, timeout: int = 300) -> dict:
        """C-STORE studies, series or instances (Orthanc ids) to a modality, all on one association, and wait for
        the end (POST /modalities/{name}/store, synchronous). Orthanc answers an error when the peer refuses."""
        body = {"Resources": list(resources), "Synchronous": True, "Timeout": timeout}
        return self._call("POST", f"/modalities/{modality}/store", json=body, timeout=timeout + 30)

    def delete(self, kind: str, resource_id: str) -> None:
        """Delete a patient, study, series or instance (kind: "patients", "studies", "series", "instances")."""
        self._call("DELETE", f"/{kind}/{resource_id}")


def config(folder: Path, *, http_port: int, dicom_port: int, modalities: dict | None = None, **overrides) -> dict:
    """Orthanc's configuration for a private instance: loopback only, no authentication, no plugins."""
    return {
        "Name": "MedSite test PACS",
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "DicomAet": AE_TITLE,
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "index"),
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "Plugins": [],  # Debian's package would otherwise be told to load /usr/share/orthanc/plugins
        "DicomModalities": {name: list(peer) for name, peer in (modalities or {}).items()},
        "DicomCheckCalledAet": False,
        "StableAge": 2,  # seconds without a new instance before a study counts as stable
        "SaveJobs": False,
        "HttpDescribeErrors": True,
        **overrides,
    }


@contextmanager
def running(folder: Path, *, modalities: dict | None = None, **overrides) -> Iterator[OrthancClient]:
    """Start Orthanc with its configuration, storage and index under ``folder`` (created), on free ports; wait
    until its REST API answers; stop it when the block ends (SIGTERM, then SIGKILL after 20 s).

    ``modalities``: {name: (AE title, host, port)} it may send to; ``overrides``: further configuration options.
    """
    if not ORTHANC.is_file():
        raise FileNotFoundError(f"{ORTHANC} is not installed (apt-get install orthanc)")
    folder.mkdir(parents=True, exist_ok=True)
    http_port, dicom_port = free_port(), free_port()
    settings = config(folder, http_port=http_port, dicom_port=dicom_port, modalities=modalities, **overrides)
    (folder / "orthanc.json").write_text(json.dumps(settings, indent=2))
    log = folder / "orthanc.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(ORTHANC), str(folder / "orthanc.json")], stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    client = OrthancClient(f"http://127.0.0.1:{http_port}", dicom_port=dicom_port)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"Orthanc exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                client.system()
                break
            except (requests.ConnectionError, requests.Timeout, AssertionError):
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"Orthanc did not answer in {START_TIMEOUT}s:\n{log.read_text()[-3000:]}"
                    ) from None
                time.sleep(0.2)
        yield client
    finally:
        client.session.close()
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- what the peer sends -----------------------------------------------------------------------------------------


def radiograph_pixels(side: int, *, seed: int, bits_stored: int = 12) -> np.ndarray:
    """A uint16 image that looks like a radiograph to a compressor and a decoder: smooth, anatomy-sized structures
    (a bright, rounded body on a dark background, broad soft shading) with fine detector noise, in ``bits_stored``
    bits. Never constant, different for each seed."""
    rng = np.random.default_rng(seed)
    coarse = PILImage.fromarray(rng.normal(0.0, 1.0, (16, 16)).astype(np.float32), mode="F")
    medium = PILImage.fromarray(rng.normal(0.0, 1.0, (96, 96)).astype(np.float32), mode="F")
    shading = np.asarray(coarse.resize((side, side), PILImage.BICUBIC)) * 0.25
    detail = np.asarray(medium.resize((side, side), PILImage.BICUBIC)) * 0.08
    axis = np.linspace(-1.0, 1.0, side, dtype=np.float32)
    body = np.clip(1.2 - (axis[None, :] / 0.8) ** 2 - (axis[:, None] / 0.95) ** 2, 0.0, 1.0)
    noise = rng.normal(0.0, 0.01, (side, side)).astype(np.float32)
    values = 0.1 + 0.6 * body + (shading + detail) * body + noise
    top = 2**bits_stored - 1
    return np.clip(values * top, 0, top).astype(np.uint16)


def computed_radiograph(
    *,
    patient_id: str,
    study_uid: str,
    series_uid: str,
    number: int = 1,
    side: int = 256,
    seed: int = 0,
    patient_name: str = "Peer^Test",
) -> pydicom.Dataset:
    """A CR chest image as a modality sends it: MONOCHROME2, 16 bits allocated, 12 stored, Explicit VR Little
    Endian, a unique SOPInstanceUID, and ``side`` x ``side`` pixels (2048 is a real detector's size)."""
    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ComputedRadiographyImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = ComputedRadiographyImageStorage, ds.file_meta.MediaStorageSOPInstanceUID
    ds.PatientID, ds.PatientName, ds.PatientBirthDate, ds.PatientSex = patient_id, patient_name, "19700101", "O"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
    ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber = "20261204", "093000", "1", f"ACC-{patient_id}"
    ds.Modality, ds.BodyPartExamined, ds.ViewPosition = "CR", "CHEST", "PA"
    ds.SeriesNumber, ds.InstanceNumber = 1, number
    ds.Rows = ds.Columns = side
    ds.PixelSpacing = [0.15, 0.15]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.WindowCenter, ds.WindowWidth = 2048, 4096
    ds.BurnedInAnnotation = "NO"
    ds.PixelData = radiograph_pixels(side, seed=seed).tobytes()
    return ds
