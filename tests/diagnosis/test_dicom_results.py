"""The AI result as DICOM (issue 21, part 3): the preliminary SR, the final SR after review, the heatmap as a
Secondary Capture; their content read back with pydicom, dciodvfy's verdict, and the three download endpoints."""

import io
import shutil
import subprocess

import pydicom
import pytest
from django.urls import reverse

from accounts.models import AuditEvent, Role
from diagnosis import dicom_results
from diagnosis.models import Review
from diagnosis.services.inference import prediction_create
from tests.conftest import png_bytes
from tests.diagnosis.test_permission_matrix import with_dicom_image
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

SR_CLASS = "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR Storage
SC_CLASS = "1.2.840.10008.5.1.4.1.1.7"  # Secondary Capture Image Storage


@pytest.fixture
def dicom_prediction(world, clinician, model_version):
    """A prediction on a DICOM upload (MR_small.dcm: it has real Study/Series/SOP Instance UIDs)."""
    image = with_dicom_image(world, clinician).dicom_image
    return prediction_create(
        image=image,
        model_version=model_version,
        label="pneumonia",
        probabilities={"normal": 0.2, "pneumonia": 0.8},
        threshold=0.5,
        inference_ms=3.0,
        heatmap_png=png_bytes(size=(20, 20)),
    )


@pytest.fixture
def reader(world):
    user = MembershipFactory(site=world.site, role=Role.RADIOLOGIST, user__first_name="Ada", user__last_name="Reader")
    return user.user


def _review(prediction, reader, label="normal"):
    return Review.objects.create(prediction=prediction, reviewer=reader, decision="correct", label=label)


def _study_uid(image) -> str:
    """The StudyInstanceUID in the uploaded file."""
    with image.file.open("rb") as fh:
        uid = str(pydicom.dcmread(fh, stop_before_pixels=True).StudyInstanceUID)
    assert uid
    return uid


def _read(ds) -> pydicom.Dataset:
    return pydicom.dcmread(io.BytesIO(dicom_results.to_bytes(ds)))


def _walk(items):
    for item in items:
        yield item
        yield from _walk(item.get("ContentSequence", []))


def _numbers(sr) -> dict[str, float]:
    return {
        item.ConceptNameCodeSequence[0].CodeMeaning: float(item.MeasuredValueSequence[0].NumericValue)
        for item in _walk(sr.ContentSequence)
        if item.ValueType == "NUM"
    }


def _codes(sr) -> dict[str, tuple[str, str]]:
    found = {}
    for item in _walk(sr.ContentSequence):
        if item.ValueType == "CODE":
            code = item.ConceptCodeSequence[0]
            found[item.ConceptNameCodeSequence[0].CodeMeaning] = (code.CodeValue, code.CodingSchemeDesignator)
    return found


def _texts(sr) -> dict[str, str]:
    found = {}
    for item in _walk(sr.ContentSequence):
        if item.ValueType in ("TEXT", "PNAME", "UIDREF"):
            value = item.get("TextValue") or item.get("PersonName") or item.get("UID") or ""
            found[item.ConceptNameCodeSequence[0].CodeMeaning] = str(value)
    return found


def test_the_preliminary_sr_holds_the_ai_result_in_the_source_images_study(dicom_prediction):
    image = dicom_prediction.image
    sr = _read(dicom_results.prediction_sr(dicom_prediction))
    assert sr.SOPClassUID == SR_CLASS
    assert (sr.CompletionFlag, sr.VerificationFlag) == ("PARTIAL", "UNVERIFIED")
    assert sr.StudyInstanceUID == _study_uid(image)
    assert sr.SeriesInstanceUID != image.series_instance_uid
    assert (sr.PatientID, str(sr.PatientName)) == (
        image.study.patient.mrn,
        image.study.patient.name.replace(" ", "^", 1),
    )
    assert sr.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    assert _numbers(sr) == {"Normal": 0.2, "Pneumonia": 0.8, "Operating threshold": 0.5}
    assert _codes(sr)["AI label"] == ("233604007", "SCT")
    texts = _texts(sr)
    assert texts["Algorithm Name"] == "MedSite chest-xray"
    assert texts["Algorithm Version"] == dicom_prediction.model_version.bundle_sha256
    assert texts["Device Observer Manufacturer"] == "MedSite"
    referenced = {
        item.ReferencedSOPSequence[0].ReferencedSOPInstanceUID
        for item in _walk(sr.ContentSequence)
        if item.ValueType == "IMAGE"
    }
    assert referenced == {image.sop_instance_uid}
    evidence = sr.CurrentRequestedProcedureEvidenceSequence[0]
    assert evidence.StudyInstanceUID == _study_uid(image)
    # the same instance on every download: a resend never duplicates it in the PACS
    assert dicom_results.prediction_sr(dicom_prediction).SOPInstanceUID == sr.SOPInstanceUID


def test_a_png_uploads_sr_gets_a_stable_study_uid_and_no_image_reference(world):
    sr = _read(dicom_results.prediction_sr(world.prediction))
    assert world.study.study_instance_uid == ""
    assert sr.StudyInstanceUID == dicom_results.study_instance_uid(world.study)
    assert dicom_results.study_instance_uid(world.study) == dicom_results.study_instance_uid(world.study)
    assert not [item for item in _walk(sr.ContentSequence) if item.ValueType == "IMAGE"]
    assert "CurrentRequestedProcedureEvidenceSequence" not in sr


def test_the_final_sr_is_verified_by_the_reader_and_keeps_the_ai_result(dicom_prediction, reader):
    review = _review(dicom_prediction, reader, label="normal")
    sr = _read(dicom_results.review_sr(review))
    assert (sr.CompletionFlag, sr.VerificationFlag) == ("COMPLETE", "VERIFIED")
    assert str(sr.VerifyingObserverSequence[0].VerifyingObserverName) == "Reader^Ada"
    assert sr.StudyInstanceUID == _study_uid(dicom_prediction.image)
    codes = _codes(sr)
    assert codes["Radiologist's label"] == ("17621005", "SCT")  # normal
    assert codes["AI label"] == ("233604007", "SCT")
    assert _numbers(sr)["Pneumonia"] == 0.8
    assert _texts(sr)["Person Observer Name"] == "Reader^Ada"


def test_the_secondary_capture_is_the_heatmap_marked_as_ai_output(dicom_prediction):
    sc = _read(dicom_results.prediction_sc(dicom_prediction))
    image = dicom_prediction.image
    assert sc.SOPClassUID == SC_CLASS
    assert sc.StudyInstanceUID == _study_uid(image)
    assert sc.SeriesInstanceUID not in (
        image.series_instance_uid,
        dicom_results.prediction_sr(dicom_prediction).SeriesInstanceUID,
    )
    assert list(sc.ImageType) == ["DERIVED", "SECONDARY"]
    assert "not for diagnosis" in sc.SeriesDescription and "not for diagnosis" in sc.ImageComments
    assert sc.pixel_array.shape == (20, 20, 3) and sc.PhotometricInterpretation == "RGB"
    assert sc.SourceImageSequence[0].ReferencedSOPInstanceUID == image.sop_instance_uid
    assert sc.PatientID == image.study.patient.mrn
    assert sc.BurnedInAnnotation == "NO"
    image.burned_in = "the file says so"
    image.save(update_fields=["burned_in"])
    assert dicom_results.prediction_sc(dicom_prediction).BurnedInAnnotation == "YES"  # its pixels are underneath


def test_unknown_classes_use_medsites_local_coding_scheme():
    assert dicom_results.class_concept("glioma_tumor").scheme_designator == "99MEDSITE"
    assert dicom_results.class_concept("Tuberculosis").value == "56717001"


@pytest.mark.skipif(
    not shutil.which("dciodvfy"), reason="dciodvfy (Debian's dicom3tools) is absent: .ci/run installs it"
)
@pytest.mark.parametrize(
    "kind", ["prediction_sr", "review_sr", "prediction_sc", "png_sr", "png_sc", "uncertain_review_sr"]
)
def test_every_object_passes_dciodvfy_with_no_errors(tmp_path, world, dicom_prediction, reader, kind):
    build = {
        "prediction_sr": lambda: dicom_results.prediction_sr(dicom_prediction),
        "review_sr": lambda: dicom_results.review_sr(_review(dicom_prediction, reader)),
        "prediction_sc": lambda: dicom_results.prediction_sc(dicom_prediction),
        "png_sr": lambda: dicom_results.prediction_sr(world.prediction),
        "png_sc": lambda: dicom_results.prediction_sc(world.prediction),
        "uncertain_review_sr": lambda: dicom_results.review_sr(
            Review.objects.create(prediction=world.prediction, reviewer=reader, decision="uncertain", label="")
        ),
    }[kind]
    path = tmp_path / f"{kind}.dcm"
    path.write_bytes(dicom_results.to_bytes(build()))
    result = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
    output = result.stdout + result.stderr
    assert not [line for line in output.splitlines() if line.startswith("Error")], output


# --- the downloads ---------------------------------------------------------------------------------------------

DOWNLOADS = [("api:prediction-sr", "prediction"), ("api:prediction-sc", "prediction"), ("api:review-sr", "review")]


def _target(kind, prediction, reader):
    return prediction if kind == "prediction" else _review(prediction, reader)


@pytest.mark.parametrize(("url_name", "kind"), DOWNLOADS)
def test_the_right_persona_downloads_it_as_dicom_and_it_is_audited(
    api, radiologist, dicom_prediction, reader, url_name, kind
):
    target = _target(kind, dicom_prediction, reader)
    response = api(radiologist).get(reverse(url_name, args=[target.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/dicom"
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["Cache-Control"] == "private, no-store"
    ds = pydicom.dcmread(io.BytesIO(response.content))
    assert ds.StudyInstanceUID == _study_uid(dicom_prediction.image)
    event = AuditEvent.objects.get(action=AuditEvent.Action.DOWNLOAD)
    assert (event.actor, event.object_type, event.object_id) == (radiologist, kind, str(target.pk))


@pytest.mark.parametrize(("url_name", "kind"), DOWNLOADS)
def test_another_site_gets_404_and_a_denied_event(api, outsider, dicom_prediction, reader, url_name, kind):
    target = _target(kind, dicom_prediction, reader)
    response = api(outsider).get(reverse(url_name, args=[target.pk]))
    assert response.status_code == 404
    assert dicom_prediction.image.study.patient.mrn.encode() not in response.content
    event = AuditEvent.objects.get(action=AuditEvent.Action.DENIED)
    assert (event.actor, event.object_type, event.detail["status"]) == (outsider, kind, 404)
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.DOWNLOAD).exists()


@pytest.mark.parametrize(("url_name", "kind"), DOWNLOADS)
def test_anonymous_gets_401(api, dicom_prediction, reader, url_name, kind):
    target = _target(kind, dicom_prediction, reader)
    assert api().get(reverse(url_name, args=[target.pk])).status_code == 401
