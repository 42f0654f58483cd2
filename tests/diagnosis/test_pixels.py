"""The viewer's stored values (issue 23, "real windowing"): images/<pk>/pixels/ and /api/v1/images/<pk>/pixels/
serve the displayed frame's stored values (diagnosis.pixels, medsite-pixels/1) through the audited, permission-
checked serving path; and windowing them the way viewer.js does (its own functions, run in node) shows a bone
window on the CT where the 8-bit display PNG clipped a third of the body at 255."""

import io
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import PIL.Image
import pydicom
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Max
from django.urls import reverse
from pydicom.data import get_testdata_file
from pydicom.pixels import apply_modality_lut

from accounts.models import AuditEvent
from diagnosis import pixels
from diagnosis.services import records
from tests.datasets import DICOM_SAMPLES, needs_datasets
from tests.factories import PatientFactory, StudyFactory

pytestmark = pytest.mark.django_db

VIEWER_JS = Path(__file__).resolve().parents[2] / "diagnosis" / "static" / "js" / "viewer.js"
SAMPLES = {  # name: where it is
    "CT_Explicit_Little.dcm": DICOM_SAMPLES / "CT_Explicit_Little.dcm",  # CT, signed 16-bit, VOI 50/75
    "693_J2KR.dcm": DICOM_SAMPLES / "693_J2KR.dcm",  # CT, JPEG 2000 lossless, intercept -1024
    "CR-MONO1-10-chest.dcm": DICOM_SAMPLES / "CR-MONO1-10-chest.dcm",  # CR, MONOCHROME1, no File Meta
    "RG1_J2KI.dcm": DICOM_SAMPLES / "RG1_J2KI.dcm",  # CR, 1955 x 1841, JPEG 2000, MONOCHROME1
    "MR_Implicit_Little.dcm": DICOM_SAMPLES / "MR_Implicit_Little.dcm",  # MR, no VOI
    "emri_small.dcm": DICOM_SAMPLES / "emri_small.dcm",  # MR, 10 frames
}


def _dataset(path: Path) -> pydicom.Dataset:
    ds = pydicom.dcmread(path, force=True)
    if not ds.file_meta.get("TransferSyntaxUID"):
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
    return ds


def _stored(site, clinician, path: Path):
    """`path` uploaded into a study of its own patient, as the study page's upload does."""
    ds = pydicom.dcmread(path, force=True, stop_before_pixels=True)
    patient = PatientFactory(site=site, mrn=str(ds.get("PatientID") or "NO-ID"))
    content = path.read_bytes()
    if not ds.get("PatientID"):
        full = _dataset(path)
        full.PatientID = "NO-ID"
        buffer = io.BytesIO()
        full.save_as(buffer, enforce_file_format=False)
        content = buffer.getvalue()
    study = StudyFactory(patient=patient, modality=str(ds.get("Modality", "CR")) or "CR")
    return records.image_upload(study=study, file=SimpleUploadedFile(path.name, content), uploaded_by=clinician)


def _last_event() -> int:
    return AuditEvent.objects.aggregate(last=Max("pk"))["last"] or 0


def _get(client, image, **headers):
    return client.get(reverse("diagnosis:image_pixels", args=[image.pk]), **headers)


@needs_datasets
@pytest.mark.parametrize("name", SAMPLES)
def test_the_stored_values_are_pydicoms_with_their_metadata(client, site, clinician, name):
    image = _stored(site, clinician, SAMPLES[name])
    client.force_login(clinician)
    response = _get(client, image)
    assert response.status_code == 200
    assert response["Content-Type"] == pixels.CONTENT_TYPE
    assert response["Cache-Control"] == "private, no-store"
    got = pixels.unpack(response.content)
    ds = _dataset(SAMPLES[name])
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    frame = pydicom.pixels.pixel_array(ds, index=frames // 2)  # the frame the display PNG shows
    header = got.header
    assert header["format"] == "medsite-pixels/1"
    assert (header["rows"], header["columns"], header["step"]) == (*frame.shape, 1)
    assert (header["frame"], header["frames"]) == (frames // 2, frames)
    np.testing.assert_array_equal(got.values, frame)
    rescaled = got.values * header["slope"] + header["intercept"]
    np.testing.assert_allclose(rescaled, apply_modality_lut(frame, ds))
    assert header["photometric"] == ds.PhotometricInterpretation
    assert header["modality"] == ds.Modality
    assert header["units"] == ("HU" if ds.Modality == "CT" else header["units"])
    if "WindowCenter" in ds:
        centre = ds.WindowCenter[0] if isinstance(ds.WindowCenter, pydicom.multival.MultiValue) else ds.WindowCenter
        width = ds.WindowWidth[0] if isinstance(ds.WindowWidth, pydicom.multival.MultiValue) else ds.WindowWidth
        assert header["window"] == {"center": float(centre), "width": float(width)}
    else:
        assert header["window"] is None
    assert header["value_min"] == rescaled.min() and header["value_max"] == rescaled.max()
    assert header["p1"] == pytest.approx(np.percentile(rescaled, 1), abs=1e-3)


@needs_datasets
def test_it_is_audited_as_a_view_gzipped_and_the_same_from_the_api(client, api, site, clinician):
    image = _stored(site, clinician, SAMPLES["CT_Explicit_Little.dcm"])
    client.force_login(clinician)
    before = _last_event()
    web = _get(client, image, HTTP_ACCEPT_ENCODING="gzip, deflate")
    from_api = api(clinician).get(reverse("api:image-pixels", args=[image.pk]), HTTP_ACCEPT_ENCODING="gzip")
    assert web.status_code == from_api.status_code == 200
    assert web["Content-Encoding"] == from_api["Content-Encoding"] == "gzip"
    assert web["Cache-Control"] == from_api["Cache-Control"] == "private, no-store"
    assert web.content[:2] == b"\x1f\x8b" and len(web.content) < 0.6 * 512 * 512 * 2
    np.testing.assert_array_equal(pixels.unpack(web.content).values, pixels.unpack(from_api.content).values)
    events = list(AuditEvent.objects.order_by("id").filter(pk__gt=before).exclude(action=AuditEvent.Action.LOGIN))
    assert [(e.action, e.object_type, e.object_id, e.detail) for e in events] == [
        (AuditEvent.Action.VIEW, "image", str(image.pk), {"rendition": "pixels", "step": 1})
    ] * 2


@needs_datasets
def test_another_sites_image_is_404_and_denied(client, api, site, clinician, outsider):
    image = _stored(site, clinician, SAMPLES["CT_Explicit_Little.dcm"])
    client.force_login(outsider)
    before = _last_event()
    assert _get(client, image).status_code == 404
    assert api(outsider).get(reverse("api:image-pixels", args=[image.pk])).status_code == 404
    events = AuditEvent.objects.order_by("id").filter(pk__gt=before).exclude(action=AuditEvent.Action.LOGIN)
    assert [(e.action, e.detail["status"]) for e in events] == [(AuditEvent.Action.DENIED, 404)] * 2


def test_a_png_has_no_stored_values_beyond_its_display(client, api, world, clinician):
    client.force_login(clinician)
    before = _last_event()
    response = _get(client, world.image)
    assert response.status_code == 404
    problem = api(clinician).get(reverse("api:image-pixels", args=[world.image.pk]))
    assert problem.status_code == 404 and "8-bit values are all there is" in problem.json()["detail"]
    assert not AuditEvent.objects.filter(pk__gt=before, action=AuditEvent.Action.VIEW).exists()


def test_a_colour_dicom_has_no_grey_values(client, site, clinician):
    image = _stored(site, clinician, Path(get_testdata_file("SC_rgb_jpeg_dcmtk.dcm")))
    client.force_login(clinician)
    response = _get(client, image)
    assert response.status_code == 404


@needs_datasets
def test_a_large_image_is_decimated_and_says_so(client, site, clinician, monkeypatch):
    monkeypatch.setattr(pixels, "MAX_SIDE", 200)
    image = _stored(site, clinician, SAMPLES["CT_Explicit_Little.dcm"])
    client.force_login(clinician)
    got = pixels.unpack(_get(client, image).content)
    frame = _dataset(SAMPLES["CT_Explicit_Little.dcm"]).pixel_array
    assert got.header["step"] == 3 and (got.header["source_rows"], got.header["source_columns"]) == (512, 512)
    assert got.values.shape == (171, 171)
    np.testing.assert_array_equal(got.values, frame[::3, ::3])  # real stored values, not averages


def test_the_size_guard_bounds_the_largest_allowed_image():
    """MEDSITE's largest image side is bounded by the upload checks; after decimation a response holds at most
    MAX_SIDE^2 values of 4 bytes: 16 MiB before gzip."""
    assert pixels.MAX_SIDE == 2048
    big = np.zeros((5000, 3000), dtype=np.uint16)
    step = -(-max(big.shape) // pixels.MAX_SIDE)
    assert big[::step, ::step].shape[0] <= pixels.MAX_SIDE


# --- windowing, the way viewer.js does it ----------------------------------------------------------------


def _viewer_lut(first: int, count: int, slope: float, intercept: float, centre: float, width: float, invert: bool):
    """viewer.js's own buildValueLut, run in node: stored value - first -> grey 0..255."""
    script = (
        "global.window = {}; require(process.argv[1]);"
        "const a = JSON.parse(process.argv[2]);"
        "const lut = window.MedSiteViewer.buildValueLut(...a);"
        "process.stdout.write(JSON.stringify(Array.from(lut, v => v & 255)));"
    )
    args = json.dumps([first, count, slope, intercept, centre, width, invert])
    out = subprocess.run(["node", "-e", script, str(VIEWER_JS), args], capture_output=True, text=True, check=True)
    return np.array(json.loads(out.stdout), dtype=np.uint8)


def _window(stored: pixels.StoredValues, centre: float, width: float) -> np.ndarray:
    header = stored.header
    first, last = int(header["stored_min"]), int(header["stored_max"])
    lut = _viewer_lut(first, last - first + 1, header["slope"], header["intercept"], centre, width, False)
    return lut[stored.values.astype(np.int64) - first]


def _python_voi(values: np.ndarray, centre: float, width: float) -> np.ndarray:
    """PS3.3 C.11.2.1.2.1, independently of viewer.js."""
    low, high = centre - 0.5 - (width - 1) / 2, centre - 0.5 + (width - 1) / 2
    y = np.rint(((values - (centre - 0.5)) / (width - 1) + 0.5) * 255)
    return np.where(values <= low, 0, np.where(values > high, 255, y)).astype(np.uint8)


needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node runs viewer.js's own functions")


@needs_node
@needs_datasets
def test_a_bone_window_shows_bone_on_the_ct_the_display_png_clipped(client, site, clinician):
    """Issue 23, finding 1: on CT_Explicit_Little.dcm 34 % of the display PNG's non-zero pixels are 255 (its VOI
    is 50/75), so windowing the PNG could not show bone. The stored values under the bone preset do."""
    image = _stored(site, clinician, SAMPLES["CT_Explicit_Little.dcm"])
    with image.display_file.open("rb") as fh:
        display = np.asarray(PIL.Image.open(fh).convert("L"))
    non_zero = display[display > 0]
    assert (non_zero == 255).mean() > 0.30  # the finding, as it stands for the 8-bit path
    client.force_login(clinician)
    stored = pixels.unpack(_get(client, image).content)
    hu = stored.values * stored.header["slope"] + stored.header["intercept"]
    bone = _window(stored, 400, 1800)  # viewer.js's CT "Bone" preset (Radiopaedia: W 1800, L 400)
    np.testing.assert_array_equal(bone, _python_voi(hu.astype(np.float64), 400, 1800))
    shown = bone[bone > 0]
    assert (shown == 255).mean() < 0.01  # nothing of the body is clipped white
    dense = bone[hu > 300]  # bone and calcification: a range of greys, i.e. structure, not a flat white
    assert dense.size > 1000 and len(np.unique(dense)) > 60 and dense.std() > 10
    lung = _window(stored, -600, 1500)
    assert len(np.unique(lung[(hu > -1000) & (hu < 200)])) > 100  # air to soft tissue, all told apart


@needs_node
def test_viewer_presets_follow_the_modality_and_the_dicom_voi():
    header = {"modality": "CT", "window": {"center": 50, "width": 75}, "value_min": -1000, "value_max": 1500,
              "p1": -900, "p99": 1000, "photometric": "MONOCHROME2"}  # fmt: skip
    script = (
        "global.window = {}; require(process.argv[1]);"
        "const hs = JSON.parse(process.argv[2]);"
        "process.stdout.write(JSON.stringify(hs.map(h => window.MedSiteViewer.presetsFor(h))));"
    )
    mr = dict(header, modality="MR", window=None)
    ct_without_window = dict(header, window=None)
    cr = dict(header, modality="CR", photometric="MONOCHROME1", window={"center": 550, "width": 1024})
    out = subprocess.run(
        ["node", "-e", script, str(VIEWER_JS), json.dumps([header, mr, cr, ct_without_window])],
        capture_output=True,
        text=True,
        check=True,
    )
    ct_presets, mr_presets, cr_presets, bare_ct_presets = json.loads(out.stdout)
    assert [p[0] for p in bare_ct_presets] == ["Soft tissue", "Brain", "Lung", "Bone", "Full range"]
    assert [p[0] for p in ct_presets] == [
        "DICOM default",
        "Brain",
        "Soft tissue",
        "Lung",
        "Bone",
        "Full range",
    ]
    assert ct_presets[0][1:] == [50, 75] and ct_presets[3][1:] == [-600, 1500] and ct_presets[4][1:] == [400, 1800]
    assert mr_presets[0][0].startswith("Auto") and mr_presets[0][1:] == [50, 1900]
    assert [p[0] for p in cr_presets][:2] == ["DICOM default", "Bone"]
    assert cr_presets[1][1:] == [550 - 1024 / 4, 512]  # MONOCHROME1: bone is the low (bright) values


@needs_node
@needs_datasets
@pytest.mark.parametrize("name", ["CT_Explicit_Little.dcm", "CR-MONO1-10-chest.dcm", "693_J2KR.dcm", "RG1_J2KI.dcm"])
def test_the_default_window_draws_what_the_display_png_shows(client, site, clinician, name):
    """Under the file's own VOI window (the viewer's default preset), the stored values through viewer.js's lookup
    table give the display PNG back, MONOCHROME1 shown inverted: the viewer starts where the thumbnail is."""
    image = _stored(site, clinician, SAMPLES[name])
    client.force_login(clinician)
    stored = pixels.unpack(_get(client, image).content)
    header = stored.header
    first, last = int(header["stored_min"]), int(header["stored_max"])
    window = header["window"]
    mono1 = header["photometric"] == "MONOCHROME1"
    lut = _viewer_lut(
        first, last - first + 1, header["slope"], header["intercept"], window["center"], window["width"], mono1
    )
    drawn = lut[stored.values.astype(np.int64) - first]
    with image.display_file.open("rb") as fh:
        display = np.asarray(PIL.Image.open(fh).convert("L"))
    difference = np.abs(drawn.astype(int) - display.astype(int))
    assert difference.max() <= 1, (name, difference.max())  # rounding only
