"""MedSite's results as DICOM objects, built with highdicom (issue 21, part 3): what a hospital PACS stores.

- prediction_sr: the AI's preliminary Comprehensive 3D SR, TID 1500 (Measurement Report): per class its
  probability, the operating threshold and the label, the algorithm's identity (name, version = bundle sha256),
  the device observer, and the source image. CompletionFlag PARTIAL, VerificationFlag UNVERIFIED.
- review_sr: the final SR once a radiologist confirmed or corrected the result: the same AI group, the reader's
  finding, the reader as person observer and verifying observer. COMPLETE, VERIFIED.
- prediction_sc: the Grad-CAM heatmap over the image as a Secondary Capture, in a new series, marked as AI output.

All three join the source image's study (the StudyInstanceUID of its original DICOM; for PNG/JPEG uploads, which
have none, a UID derived from SECRET_KEY and the study's primary key, the same on every download) and carry the
patient's identifiers as MedSite stores them: PACS files them by those. They are served only to users who may see
the study (diagnosis.api.review). The UIDs of the objects themselves are derived the same way from the
prediction's (review's) key, so a re-download or a resend is the same instance, never a duplicate.
See docs/dicom-conformance.md, "Objects MedSite creates".
"""

import io

import highdicom as hd
import numpy as np
import pydicom
from django.conf import settings
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import UID, generate_uid

from diagnosis.models import Image, Prediction, Review, Study
from diagnosis.services import heatmaps

MANUFACTURER = "MedSite"
LOCAL_SCHEME = "99MEDSITE"  # MedSite's own coding scheme, for concepts without a certain SNOMED CT code
SCT = "SCT"

# SNOMED CT concepts for the class names the models use. Only codes we are certain of: the rest are local codes.
CLASS_CODES: dict[str, tuple[str, str, str]] = {
    "normal": ("17621005", SCT, "Normal"),
    "pneumonia": ("233604007", SCT, "Pneumonia"),
    "tuberculosis": ("56717001", SCT, "Tuberculosis"),
    "covid": ("840539006", SCT, "Disease caused by severe acute respiratory syndrome coronavirus 2"),
    "covid-19": ("840539006", SCT, "Disease caused by severe acute respiratory syndrome coronavirus 2"),
    "covid19": ("840539006", SCT, "Disease caused by severe acute respiratory syndrome coronavirus 2"),
}
THRESHOLD = hd.sr.CodedConcept("threshold", LOCAL_SCHEME, "Operating threshold")
AI_LABEL = hd.sr.CodedConcept("ai-label", LOCAL_SCHEME, "AI label")
READER_LABEL = hd.sr.CodedConcept("reader-label", LOCAL_SCHEME, "Radiologist's label")
UNCERTAIN = hd.sr.CodedConcept("uncertain", LOCAL_SCHEME, "Uncertain / not diagnostic")
NO_UNITS = hd.sr.CodedConcept("1", "UCUM", "no units")
PROCEDURE = hd.sr.CodedConcept("363679005", SCT, "Imaging procedure")
SR_SERIES_NUMBER = 9901
SC_SERIES_NUMBER = 9902
FINAL_SR_SERIES_NUMBER = 9903
HEATMAP_DESCRIPTION = "AI heatmap - not for diagnosis"


def class_concept(name: str) -> hd.sr.CodedConcept:
    """The coded concept of a class: SNOMED CT where certain (CLASS_CODES), else 99MEDSITE with the class name."""
    key = name.strip().lower().replace(" ", "_")
    if key in CLASS_CODES:
        value, scheme, meaning = CLASS_CODES[key]
        return hd.sr.CodedConcept(value, scheme, meaning)
    return hd.sr.CodedConcept(key[:16], LOCAL_SCHEME, name[:64])


def stable_uid(*parts) -> UID:
    """A UID that is the same for the same parts on every call, and unguessable without SECRET_KEY."""
    return generate_uid(entropy_srcs=[settings.SECRET_KEY, *map(str, parts)])


def study_instance_uid(study: Study) -> str:
    """The study's own UID; for a study without one (PNG/JPEG uploads), a stable derived one. A DICOM image in a
    study without a stored UID keeps its file's StudyInstanceUID (see source_dataset)."""
    return study.study_instance_uid or stable_uid("study", study.pk)


def source_dataset(image: Image) -> tuple[Dataset, bool]:
    """The patient and study attributes the objects carry, as a dataset for highdicom; and whether it stands for a
    real DICOM instance (a DICOM upload with its original UIDs) that the SR may reference as evidence."""
    study = image.study
    patient = study.patient
    ds = Dataset()
    ds.PatientName = patient.name.replace(" ", "^", 1) if "^" not in patient.name else patient.name
    ds.PatientID = patient.mrn
    ds.PatientBirthDate = patient.birth_date.strftime("%Y%m%d") if patient.birth_date else ""
    ds.PatientSex = patient.sex if patient.sex in ("M", "F", "O") else ""
    ds.StudyInstanceUID = study_instance_uid(study)
    ds.StudyID = str(study.pk)[:16]
    ds.StudyDate = study.study_date.strftime("%Y%m%d") if study.study_date else ""
    ds.StudyTime = ""
    ds.AccessionNumber = study.accession_number[:16]
    ds.ReferringPhysicianName = ""
    ds.Modality = study.modality
    sop_class = ""
    if image.format == Image.Format.DICOM and image.sop_instance_uid and image.file:
        with image.file.open("rb") as fh:
            header = pydicom.dcmread(
                fh, stop_before_pixels=True, specific_tags=["SOPClassUID", "StudyInstanceUID", "StudyDate", "StudyTime"]
            )
        sop_class = str(header.get("SOPClassUID", ""))
        # The study's date and time as the PACS holds them, so the results sort with the study there.
        ds.StudyDate = str(header.get("StudyDate") or ds.StudyDate)
        ds.StudyTime = str(header.get("StudyTime") or "")
        if not study.study_instance_uid and header.get("StudyInstanceUID"):
            ds.StudyInstanceUID = str(header.StudyInstanceUID)  # the image's own study, as the PACS knows it
    if sop_class:
        ds.SOPClassUID = sop_class
        ds.SOPInstanceUID = image.sop_instance_uid
        ds.SeriesInstanceUID = image.series_instance_uid or stable_uid("series", image.pk)
        return ds, True
    ds.SOPClassUID = pydicom.uid.SecondaryCaptureImageStorage  # a stand-in: never referenced as evidence
    ds.SOPInstanceUID = stable_uid("image", image.pk)
    ds.SeriesInstanceUID = stable_uid("series", image.pk)
    return ds, False


def _algorithm(prediction: Prediction) -> hd.sr.AlgorithmIdentification:
    version = prediction.model_version
    return hd.sr.AlgorithmIdentification(
        name=f"MedSite {version.task}"[:64], version=version.bundle_sha256, parameters=_parameters(prediction)
    )


def _parameters(prediction: Prediction) -> dict[str, str]:
    version = prediction.model_version
    params = {"bundle_sha256": version.bundle_sha256, "model_version_id": str(version.pk)}
    if version.backbone:
        params["backbone"] = version.backbone
    return params


def _device_observer(prediction: Prediction) -> hd.sr.ObserverContext:
    version = prediction.model_version
    return hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=stable_uid("model", version.bundle_sha256),
            name=f"MedSite {version.task}"[:64],
            manufacturer_name=MANUFACTURER,
            model_name=f"{version.task} {version.short_sha}"[:64],
            serial_number=version.bundle_sha256[:64],
        ),
    )


def _person_observer(review: Review) -> hd.sr.ObserverContext:
    return hd.sr.ObserverContext(
        observer_type=codes.DCM.Person,
        observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(
            name=_person_name(review.reviewer),
            login_name=review.reviewer.email[:64],
            organization_name=review.prediction.image.study.site.name[:64],
        ),
    )


def _person_name(user) -> str:
    full = (user.get_full_name() or "").strip()
    if full and " " in full:
        given, family = full.rsplit(" ", 1)
        return f"{family}^{given}"[:64]
    # One component: the family name, with the trailing caret that says a single component is meant (PS3.5 6.2.1).
    return (full or user.email.split("@")[0])[:63] + "^"


def _ai_group(prediction: Prediction, source: Dataset, is_dicom: bool) -> hd.sr.MeasurementsAndQualitativeEvaluations:
    """TID 1501: the AI's probability per class, its threshold and its label, with the algorithm's identity."""
    algorithm = _algorithm(prediction)
    measurements = [
        hd.sr.Measurement(name=class_concept(name), value=float(p), unit=NO_UNITS, algorithm_id=algorithm)
        for name, p in prediction.probabilities.items()
    ]
    threshold = prediction.threshold if prediction.threshold is not None else prediction.model_version.threshold
    if threshold is not None:
        measurements.append(hd.sr.Measurement(name=THRESHOLD, value=float(threshold), unit=NO_UNITS))
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(
            uid=stable_uid("prediction-group", prediction.pk), identifier=f"AI result {prediction.pk}"
        ),
        finding_type=codes.DCM.Finding,
        algorithm_id=algorithm,
        measurements=measurements,
        qualitative_evaluations=[hd.sr.QualitativeEvaluation(name=AI_LABEL, value=class_concept(prediction.label))],
        source_images=_source_images(source, is_dicom),
    )


def _source_images(source: Dataset, is_dicom: bool) -> list[hd.sr.SourceImageForMeasurementGroup] | None:
    if not is_dicom:
        return None
    return [
        hd.sr.SourceImageForMeasurementGroup(
            referenced_sop_class_uid=source.SOPClassUID, referenced_sop_instance_uid=source.SOPInstanceUID
        )
    ]


def _reader_group(review: Review, source: Dataset, is_dicom: bool) -> hd.sr.MeasurementsAndQualitativeEvaluations:
    value = UNCERTAIN if review.decision == Review.Decision.UNCERTAIN else class_concept(review.label)
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(
            uid=stable_uid("review-group", review.pk), identifier=f"Radiologist review {review.pk}"
        ),
        finding_type=codes.DCM.Finding,
        qualitative_evaluations=[hd.sr.QualitativeEvaluation(name=READER_LABEL, value=value)],
        source_images=_source_images(source, is_dicom),
    )


def _sr(*, key: str, pk: int, source: Dataset, is_dicom: bool, report, series_number: int, **flags) -> Dataset:
    sr = hd.sr.Comprehensive3DSR(
        evidence=[source],
        content=report,
        series_instance_uid=stable_uid(key, "series", pk),
        series_number=series_number,
        sop_instance_uid=stable_uid(key, "instance", pk),
        instance_number=1,
        manufacturer=MANUFACTURER,
        record_evidence=is_dicom,
        **flags,
    )
    if not is_dicom and "CurrentRequestedProcedureEvidenceSequence" in sr:
        del sr.CurrentRequestedProcedureEvidenceSequence  # the stand-in source is no instance anyone holds
    return sr


def prediction_sr(prediction: Prediction) -> Dataset:
    """The AI's preliminary SR (TID 1500): PARTIAL, UNVERIFIED, the device as the only observer."""
    source, is_dicom = source_dataset(prediction.image)
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=_device_observer(prediction)),
        procedure_reported=PROCEDURE,
        imaging_measurements=[_ai_group(prediction, source, is_dicom)],
    )
    sr = _sr(
        key="prediction-sr", pk=prediction.pk, source=source, is_dicom=is_dicom, report=report,
        series_number=SR_SERIES_NUMBER,
    )  # fmt: skip
    sr.SeriesDescription = "AI result (preliminary)"
    _set_content_time(sr, prediction.created_at)
    return sr


def review_sr(review: Review) -> Dataset:
    """The final SR once a radiologist decided: the AI's group and the reader's, the reader as person observer and
    verifying observer. COMPLETE, VERIFIED."""
    prediction = review.prediction
    source, is_dicom = source_dataset(prediction.image)
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(
            observer_person_context=_person_observer(review), observer_device_context=_device_observer(prediction)
        ),
        procedure_reported=PROCEDURE,
        imaging_measurements=[_ai_group(prediction, source, is_dicom), _reader_group(review, source, is_dicom)],
    )
    sr = _sr(
        key="review-sr", pk=review.pk, source=source, is_dicom=is_dicom, report=report,
        series_number=FINAL_SR_SERIES_NUMBER, is_complete=True, is_verified=True,
        verifying_observer_name=_person_name(review.reviewer),
        verifying_organization=prediction.image.study.site.name[:64],
    )  # fmt: skip
    sr.SeriesDescription = "AI result (reviewed)"
    sr.VerifyingObserverSequence[0].VerificationDateTime = review.created_at.strftime("%Y%m%d%H%M%S")
    _set_content_time(sr, review.created_at)
    return sr


def _set_content_time(ds: Dataset, when) -> None:
    ds.ContentDate = when.strftime("%Y%m%d")
    ds.ContentTime = when.strftime("%H%M%S")


def heatmap_overlay(prediction: Prediction) -> np.ndarray:
    """The heatmap over the greyscale display image (RGB, uint8), at the heatmap's size: the CAM's upper half in
    one hue, outlined, the rest the image's own grey (diagnosis.services.heatmaps, as the web shows it)."""
    return heatmaps.heatmap_over_image(prediction)


def prediction_sc(prediction: Prediction) -> Dataset:
    """The Grad-CAM heatmap over the image, as a Secondary Capture in the source's study and a new series, marked
    as AI output (SeriesDescription, ImageComments, DERIVED\\SECONDARY). BurnedInAnnotation is NO, since the
    heatmap is a colour overlay without text, unless the source image is flagged for burned-in text and not cleared:
    its pixels are under the overlay."""
    if not prediction.heatmap:
        raise ValueError("This prediction has no heatmap.")
    source, is_dicom = source_dataset(prediction.image)
    sc = hd.sc.SCImage(
        pixel_array=heatmap_overlay(prediction),
        photometric_interpretation="RGB",
        bits_allocated=8,
        coordinate_system="PATIENT",
        study_instance_uid=source.StudyInstanceUID,
        series_instance_uid=stable_uid("prediction-sc", "series", prediction.pk),
        series_number=SC_SERIES_NUMBER,
        sop_instance_uid=stable_uid("prediction-sc", "instance", prediction.pk),
        instance_number=1,
        manufacturer=MANUFACTURER,
        patient_id=source.PatientID,
        patient_name=source.PatientName,
        patient_birth_date=source.PatientBirthDate or None,
        patient_sex=source.PatientSex or None,
        accession_number=source.AccessionNumber or None,
        study_id=source.StudyID,
        study_date=source.StudyDate or None,
        referring_physician_name=None,
        patient_orientation=("L", "F"),  # placeholder that highdicom requires; emptied below (type 2C)
    )
    sc.Laterality = None  # type 2C, unknown
    sc.PatientOrientation = None  # unknown: the source may be a PNG, and MedSite does not track orientation
    sc.ImageType = ["DERIVED", "SECONDARY"]
    sc.SeriesDescription = HEATMAP_DESCRIPTION
    sc.ImageComments = (
        f"{HEATMAP_DESCRIPTION}. Grad-CAM of MedSite {prediction.model_version}, label {prediction.label}"
    )
    # The overlay adds no text; the source's pixels under it may carry some (a flagged, uncleared image).
    sc.BurnedInAnnotation = "YES" if prediction.image.burned_in_withheld else "NO"
    sc.DerivationDescription = "Grad-CAM heatmap of an AI model blended over the source image"[:1024]
    if is_dicom:
        item = Dataset()
        item.ReferencedSOPClassUID = source.SOPClassUID
        item.ReferencedSOPInstanceUID = source.SOPInstanceUID
        sc.SourceImageSequence = [item]
    return sc


def to_bytes(ds: Dataset) -> bytes:
    """The Part 10 file."""
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
