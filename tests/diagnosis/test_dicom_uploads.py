"""Real DICOM files through the upload paths: stored, rendered, de-identified, analysed, or refused with a reason;
and the identity checks that keep a file from being filed under the wrong patient."""

import datetime
import html
import io
from pathlib import Path

import numpy as np
import PIL.Image
import pydicom
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from pydicom.data import get_testdata_file

from accounts.models import AuditEvent
from diagnosis.models import Image, Patient, Prediction, Study
from diagnosis.services.inference import image_run_inference
from diagnosis.services.training import model_register
from tests.datasets import DICOM_SAMPLES
from tests.factories import PatientFactory, StudyFactory

pytestmark = pytest.mark.django_db

SAMPLES = DICOM_SAMPLES
REAL_FILES = sorted(SAMPLES.glob("*.dcm"))
PYDICOM_FILES = {  # one per compressed transfer syntax, from pydicom's own test data
    "JPEG baseline": "SC_rgb_jpeg_dcmtk.dcm",
    "JPEG extended": "JPGExtended.dcm",
    "JPEG lossless": "SC_rgb_jpeg_gdcm.dcm",
    "JPEG-LS": "MR_small_jpeg_ls_lossless.dcm",
    "JPEG 2000": "MR_small_jp2klossless.dcm",
    "RLE": "MR_small_RLE.dcm",
}


def _upload_into_matching_study(client, path: Path, site, **study):
    """Upload to a study whose patient MRN is the file's PatientID, as a clinician would. A file without one (it
    would be refused: see test_a_study_upload_without_patient_id_is_refused) is given one first."""
    dataset = pydicom.dcmread(path, force=True, stop_before_pixels=True)
    content = path.read_bytes()
    if not dataset.get("PatientID"):
        dataset = pydicom.dcmread(path, force=True)
        dataset.PatientID = "NO-ID"
        buffer = io.BytesIO()
        dataset.save_as(buffer, enforce_file_format=False)  # as it was: with or without preamble and File Meta
        content = buffer.getvalue()
    patient = PatientFactory(site=site, mrn=str(dataset.PatientID))
    target = StudyFactory(patient=patient, **study)
    response = client.post(
        reverse("diagnosis:study_upload", args=[target.pk]), {"files": SimpleUploadedFile(path.name, content)}
    )
    return response, target


@pytest.mark.skipif(not REAL_FILES, reason=f"no DICOM samples at {SAMPLES}")
@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: p.name)
def test_real_dicom_samples_are_stored_with_renditions(login, clinician, site, path):
    response, study = _upload_into_matching_study(login(clinician), path, site)
    assert response.status_code == 302, response.content.decode()[:500]
    image = Image.objects.get(study=study)
    source = pydicom.dcmread(path, force=True, stop_before_pixels=True)
    assert image.format == "DICOM"
    assert (image.height, image.width) == (source.Rows, source.Columns)
    assert image.photometric == source.PhotometricInterpretation
    assert image.sop_instance_uid == source.SOPInstanceUID
    with image.display_file.open("rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    with image.deidentified_file.open("rb") as fh:
        deidentified = pydicom.dcmread(fh)
    # Table E.1-1 cleans the header, not the pixels: a secondary capture that does not say whether its pixels carry
    # text (the chest sample) is flagged, and its copy does not claim the identity removed.
    assert bool(image.burned_in) is (source.SOPClassUID == pydicom.uid.SecondaryCaptureImageStorage)
    assert deidentified.get("PatientIdentityRemoved") == ("NO" if image.burned_in else "YES")
    for keyword in ("PatientName", "PatientBirthDate", "InstitutionName"):
        original = str(source.get(keyword, "") or "")
        if original:
            assert str(deidentified.get(keyword, "") or "") != original


@pytest.mark.parametrize(("syntax", "name"), PYDICOM_FILES.items())
def test_compressed_transfer_syntaxes(login, clinician, site, syntax, name):
    response, study = _upload_into_matching_study(login(clinician), Path(get_testdata_file(name)), site)
    assert response.status_code == 302, f"{syntax}: {response.content.decode()[:500]}"
    assert Image.objects.get(study=study).transfer_syntax == str(
        pydicom.dcmread(get_testdata_file(name)).file_meta.TransferSyntaxUID
    )


@pytest.mark.skipif(not REAL_FILES, reason=f"no DICOM samples at {SAMPLES}")
def test_monochrome1_is_inverted_for_display(login, clinician, site):
    response, study = _upload_into_matching_study(login(clinician), SAMPLES / "CR-MONO1-10-chest.dcm", site)
    image = Image.objects.get(study=study)
    assert image.photometric == "MONOCHROME1"
    with image.display_file.open("rb") as fh:
        pixels = np.asarray(PIL.Image.open(fh))
    # Displayed like any radiograph: bone (the spine, mid-line) bright, aerated lung (right lung field) dark.
    spine, lung = pixels[100:300, 205:235].mean(), pixels[150:290, 60:180].mean()
    assert spine > lung + 30


def test_import_creates_patient_and_study_from_the_file(login, clinician, site):
    path = SAMPLES / "GH064.dcm"
    if not path.exists():
        pytest.skip("sample missing")
    with path.open("rb") as fh:
        response = login(clinician).post(
            reverse("diagnosis:dicom_import"), {"site": site.pk, "files": SimpleUploadedFile("x.dcm", fh.read())}
        )
    assert response.status_code == 200
    patient = Patient.objects.get(site=site, mrn="14079")
    study = Study.objects.get(patient=patient)
    assert (study.modality, study.study_instance_uid) == ("MR", pydicom.dcmread(path).StudyInstanceUID)
    # A second file of the same study is filed into the same study, not a new one.
    with (SAMPLES / "GH064.dcm").open("rb") as fh:
        login(clinician).post(
            reverse("diagnosis:dicom_import"), {"site": site.pk, "files": SimpleUploadedFile("y.dcm", fh.read())}
        )
    assert Study.objects.filter(patient=patient).count() == 1


def test_import_refuses_png(login, clinician, site, png_upload):
    response = login(clinician).post(reverse("diagnosis:dicom_import"), {"site": site.pk, "files": png_upload()})
    assert response.status_code == 400
    assert "is not a DICOM file" in response.content.decode()
    assert not Image.objects.exists()


def test_dicom_for_another_patient_is_refused(login, clinician, study):
    with open(get_testdata_file("MR_small.dcm"), "rb") as fh:
        response = login(clinician).post(
            reverse("diagnosis:study_upload", args=[study.pk]), {"files": SimpleUploadedFile("mr.dcm", fh.read())}
        )
    assert response.status_code == 400
    assert "different patient" in response.content.decode()
    assert not Image.objects.exists()


@pytest.mark.parametrize(
    ("name", "message"),
    [("rtplan.dcm", "no pixel data"), ("MR_truncated.dcm", "truncated")],
)
def test_bad_dicom_gets_400_and_nothing_is_stored(login, clinician, site, settings, name, message):
    response, study = _upload_into_matching_study(login(clinician), Path(get_testdata_file(name)), site)
    assert response.status_code == 400
    assert message in response.content.decode().lower()
    assert not Image.objects.exists()
    assert not any(p.is_file() for p in settings.MEDIA_ROOT.rglob("*")) if settings.MEDIA_ROOT.exists() else True


def test_chest_dicom_is_analysed_by_the_chest_model(login, clinician, site, tiny_bundle):
    path = SAMPLES / "1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm"
    if not path.exists():
        pytest.skip("sample missing")
    model_register(bundle_path=tiny_bundle, activate=True)
    response, study = _upload_into_matching_study(login(clinician), path, site, modality="CR", body_part="CHEST")
    image = Image.objects.get(study=study)
    image_run_inference(image_pk=image.pk)
    image.refresh_from_db()
    assert image.status == Image.Status.DONE
    assert Prediction.objects.get(image=image).label in ("normal", "pneumonia")


# --- identity checks ---------------------------------------------------------------------------------------------


def _mr(**elements) -> SimpleUploadedFile:
    """pydicom's MR_small.dcm (PatientID 4MR1, PatientName CompressedSamples^MR1, no birth date), changed; an
    element given None is removed."""
    dataset = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    for keyword, value in elements.items():
        if value is None:
            delattr(dataset, keyword)
        else:
            setattr(dataset, keyword, value)
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return SimpleUploadedFile("mr.dcm", buffer.getvalue())


def _nothing_stored_and_nothing_told(*values: str) -> None:
    assert not Image.objects.exists() and not Study.objects.exists()
    details = " ".join(str(detail) for detail in AuditEvent.objects.values_list("detail", flat=True))
    assert not [value for value in values if value in details]


def test_a_study_upload_without_patient_id_is_refused(login, clinician, study):
    for missing in (None, ""):  # absent, or present and empty
        response = login(clinician).post(
            reverse("diagnosis:study_upload", args=[study.pk]), {"files": _mr(PatientID=missing)}
        )
        assert response.status_code == 400
        message = html.unescape(response.content.decode())
        assert "mr.dcm has no PatientID, so MedSite cannot check that it is this patient's" in message
    assert not Image.objects.exists()


def test_a_study_upload_without_patient_id_is_refused_by_the_api(api, clinician, study):
    response = api(clinician).post(
        reverse("api:study-images", args=[study.pk]), {"files": [_mr(PatientID="")]}, format="multipart"
    )
    assert response.status_code == 400
    body = response.json()
    assert body["images"] == [] and body["errors"][0]["file"] == "mr.dcm"
    assert "has no PatientID" in body["errors"][0]["message"]
    assert not Image.objects.exists()


def _import(login, clinician, site, upload):
    return login(clinician).post(reverse("diagnosis:dicom_import"), {"site": site.pk, "files": upload})


@pytest.mark.parametrize(
    ("stored", "elements", "differs"),
    [
        ({"name": "Jane Doe"}, {}, "patient name differs"),
        (
            {"name": "MR1 CompressedSamples", "birth_date": datetime.date(1961, 4, 13)},
            {"PatientBirthDate": "19610412"},
            "patient birth date differs",
        ),
        (
            {"name": "Jane Doe", "birth_date": datetime.date(1961, 4, 13)},
            {"PatientBirthDate": "19610412"},
            "patient name and birth date differ",
        ),
    ],
    ids=["name", "birth date", "both"],
)
def test_an_import_under_an_existing_mrn_for_another_person_is_refused(
    login, clinician, site, stored, elements, differs
):
    PatientFactory(site=site, mrn="4MR1", **stored)
    response = _import(login, clinician, site, _mr(**elements))
    assert response.status_code == 400
    message = html.unescape(response.content.decode())
    assert (
        f"its PatientID is the MRN of a patient at this site, but its {differs} from that patient's record" in message
    )
    assert "CompressedSamples" not in message and "1961" not in message  # the kind of mismatch, never the values
    _nothing_stored_and_nothing_told("CompressedSamples", "Jane", "1961")


def test_an_import_under_an_existing_mrn_for_another_person_is_refused_by_the_api(api, clinician, site):
    PatientFactory(site=site, mrn="4MR1", name="Jane Doe", birth_date=datetime.date(2000, 1, 1))
    for elements, differs in (
        ({}, "name"),
        ({"PatientName": "Doe^Jane", "PatientBirthDate": "20000102"}, "birth date"),
    ):
        response = api(clinician).post(
            reverse("api:import-list"), {"site": site.pk, "files": [_mr(**elements)]}, format="multipart"
        )
        assert response.status_code == 400
        (error,) = response.json()["errors"]
        assert f"its patient {differs} differs from that patient's record" in error["message"]
    _nothing_stored_and_nothing_told("CompressedSamples", "Jane", "2000")


@pytest.mark.parametrize(
    ("stored_name", "file_name"),
    [
        ("MR1 CompressedSamples", "CompressedSamples^MR1"),  # typed given name first
        ("COMPRESSEDSAMPLES, mr1", "CompressedSamples^MR1"),
        ("Zoë Ann Doe", "DOE^ZOE"),  # a middle name on one side only, accents and case
        ("4MR1", "Anyone^Else"),  # a patient created from a file without a name is named by its MRN: no name
    ],
)
def test_an_import_for_the_same_person_written_differently_is_filed_under_the_patient(
    login, clinician, site, stored_name, file_name
):
    patient = PatientFactory(site=site, mrn="4MR1", name=stored_name, birth_date=datetime.date(1961, 4, 12))
    response = _import(login, clinician, site, _mr(PatientName=file_name, PatientBirthDate="19610412"))
    assert response.status_code == 200, response.content.decode()[:500]
    assert Image.objects.get().study.patient == patient


def test_an_import_without_a_name_or_birth_date_on_one_side_is_filed_under_the_patient(login, clinician, site):
    """Nothing to compare is no mismatch: the MRN matched (documented in docs/security.md)."""
    patient = PatientFactory(site=site, mrn="4MR1", name="Jane Doe", birth_date=None)
    response = _import(login, clinician, site, _mr(PatientName=None, PatientBirthDate="19610412"))
    assert response.status_code == 200, response.content.decode()[:500]
    assert Image.objects.get().study.patient == patient
