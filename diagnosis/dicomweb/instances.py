"""A study's instances as DICOMweb shows them: its images and MedSite's own AI result objects.

- A DICOM upload is its original file, under its own SeriesInstanceUID and SOPInstanceUID.
- A PNG or JPEG upload has no UIDs: it is shown as a Secondary Capture made on the fly from its display rendition
  (8-bit grey), in a series of its own, with the stable UIDs of diagnosis.dicom_results (stable_uid("series",
  image.pk), stable_uid("image", image.pk)), so that a viewer opens every study it lists.
- Each prediction shown as a result adds its preliminary SR and, with a heatmap, its Secondary Capture; each review
  its final SR (diagnosis.dicom_results): each in a series of its own, in the same study, so a viewer shows them.

Every object is placed in the study's DICOMweb StudyInstanceUID (dicom_results.study_instance_uid): the generated
ones carry it, and metadata says it. An original file is sent as it was stored.
"""

import io
from collections.abc import Iterator
from dataclasses import dataclass

import highdicom as hd
import numpy as np
import pydicom
from PIL import Image as PILImage
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import pixel_array
from pydicom.uid import UID

from diagnosis import dicom_results
from diagnosis.dicom import PARSE_ERRORS, SYNTAX_BY_ENCODING, display_pixels
from diagnosis.models import Image, Prediction, Review, Study, image_details, related_rows

DICOM, CAPTURE, PREDICTION_SR, PREDICTION_SC, REVIEW_SR = "dicom", "capture", "prediction-sr", "prediction-sc", "review"
SR_CLASS = pydicom.uid.Comprehensive3DSRStorage
SC_CLASS = pydicom.uid.SecondaryCaptureImageStorage
NATIVE = (
    pydicom.uid.ImplicitVRLittleEndian,
    pydicom.uid.ExplicitVRLittleEndian,
    pydicom.uid.DeflatedExplicitVRLittleEndian,  # pydicom inflates the whole dataset: its pixel data is native
)
HEADER = ["SOPClassUID", "Modality", "SeriesNumber", "SeriesDescription", "InstanceNumber"]
CHUNK = 1024 * 1024


class NoFrames(Exception):
    """The instance has no such frame (an SR has none)."""


@dataclass
class Instance:
    kind: str
    image: Image
    obj: Image | Prediction | Review  # what its audit event names
    series_uid: str
    series_number: int | None
    series_description: str
    modality: str
    sop_class: str
    sop_uid: str
    instance_number: int | None = 1
    rows: int | None = None
    columns: int | None = None
    frames: int | None = None  # None: no pixel data

    @property
    def has_pixels(self) -> bool:
        return self.frames is not None


def study_uid(study: Study) -> str:
    return dicom_results.study_instance_uid(study)


def study_instances(study: Study, *, series_uid: str | None = None, sop_uid: str | None = None) -> list[Instance]:
    """The study's instances, oldest image first, each image followed by its AI objects; with series_uid (and
    sop_uid) only those. UIDs are known without reading a file: only the instances returned read theirs (a viewer
    fetching the frames of a long series one instance at a time reads one header per request, not the series')."""

    def wanted(series: str, sop: str) -> bool:
        return series_uid in (None, series) and sop_uid in (None, sop)

    images = study.images.order_by("uploaded_at", "id").prefetch_related(*image_details())
    found = []
    for position, image in enumerate(images, start=1):
        if wanted(*image_uids(image)):
            found.append(_image_instance(study, image, position))
        for prediction in reversed(image.shown_predictions):  # oldest first
            found.extend(_prediction_instances(image, prediction, wanted))
    return found


def _image_instance(study: Study, image: Image, position: int) -> Instance:
    sizes = {"rows": image.height, "columns": image.width, "frames": image.frames or 1}
    if image.format != Image.Format.DICOM:
        return Instance(
            CAPTURE, image, image, image_uids(image)[0], position,
            f"Uploaded {image.format} image", study.modality, SC_CLASS, image_uids(image)[1],
            **sizes,
        )  # fmt: skip
    header = _header(image)
    series_uid, sop_uid = image_uids(image)
    return Instance(
        DICOM, image, image, series_uid,
        _int(header.get("SeriesNumber")), str(header.get("SeriesDescription", "")),
        str(header.get("Modality", "")) or study.modality, str(header.get("SOPClassUID", "")) or SC_CLASS,
        sop_uid, _int(header.get("InstanceNumber")),
        **sizes,
    )  # fmt: skip


def image_uids(image: Image) -> tuple[str, str]:
    """An image's SeriesInstanceUID and SOPInstanceUID: its file's, or (PNG/JPEG, a file without them) the stable
    ones dicom_results derives."""
    if image.format != Image.Format.DICOM:
        return dicom_results.stable_uid("series", image.pk), dicom_results.stable_uid("image", image.pk)
    return (
        image.series_instance_uid or dicom_results.stable_uid("series", image.pk),
        image.sop_instance_uid or dicom_results.stable_uid("image", image.pk),
    )


def _prediction_instances(image: Image, prediction: Prediction, wanted) -> Iterator[Instance]:
    uid, pk = dicom_results.stable_uid, prediction.pk
    if wanted(series := uid("prediction-sr", "series", pk), sop := uid("prediction-sr", "instance", pk)):
        yield Instance(
            PREDICTION_SR, image, prediction, series, dicom_results.SR_SERIES_NUMBER, "AI result (preliminary)", "SR",
            SR_CLASS, sop,
        )  # fmt: skip
    series, sop = uid("prediction-sc", "series", pk), uid("prediction-sc", "instance", pk)
    if prediction.heatmap and wanted(series, sop):
        width, height = _png_size(prediction.heatmap)
        yield Instance(
            PREDICTION_SC, image, prediction, series, dicom_results.SC_SERIES_NUMBER,
            dicom_results.HEATMAP_DESCRIPTION, "OT", SC_CLASS, sop, rows=height, columns=width, frames=1,
        )  # fmt: skip
    for review in reversed(related_rows(prediction, "reviews")):  # oldest first
        if wanted(series := uid("review-sr", "series", review.pk), sop := uid("review-sr", "instance", review.pk)):
            yield Instance(
                REVIEW_SR, image, review, series, dicom_results.FINAL_SR_SERIES_NUMBER, "AI result (reviewed)", "SR",
                SR_CLASS, sop,
            )  # fmt: skip


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _header(image: Image, extra: tuple[str, ...] = ()) -> Dataset:
    """The attributes of a stored DICOM file that the database does not hold (empty if it cannot be read)."""
    try:
        with image.file.open("rb") as fh:
            return pydicom.dcmread(fh, force=True, stop_before_pixels=True, specific_tags=[*HEADER, *extra])
    except (*PARSE_ERRORS, KeyError):
        return Dataset()


def header_values(instance: Instance, keywords: tuple[str, ...]) -> Dataset:
    """More attributes of an original DICOM file, for QIDO's includefield (none for generated objects)."""
    return _header(instance.image, keywords) if instance.kind == DICOM else Dataset()


def _png_size(field) -> tuple[int, int]:
    with field.open("rb") as fh, PILImage.open(fh) as png:
        return png.size


# --- the objects ------------------------------------------------------------------------------------------------


def dataset(instance: Instance, *, pixels: bool = True) -> Dataset:
    """The instance as a dataset (without pixel data when not `pixels`), in the study's DICOMweb UIDs."""
    if instance.kind == DICOM:
        with instance.image.file.open("rb") as fh:
            ds = pydicom.dcmread(fh, force=True, stop_before_pixels=not pixels)
        if "TransferSyntaxUID" not in ds.file_meta:  # a file without File Meta: the encoding pydicom read
            ds.file_meta.TransferSyntaxUID = SYNTAX_BY_ENCODING[ds.original_encoding]
        return ds
    obj = instance.obj
    if instance.kind == CAPTURE:
        ds = capture(instance)
    elif instance.kind == PREDICTION_SR:
        ds = dicom_results.prediction_sr(obj)
    elif instance.kind == PREDICTION_SC:
        ds = dicom_results.prediction_sc(obj)
    else:
        ds = dicom_results.review_sr(obj)
    ds.StudyInstanceUID = study_uid(instance.image.study)  # differs only for a DICOM file in a study without UID
    if not pixels and "PixelData" in ds:
        del ds.PixelData
    return ds


def person_name(name: str) -> str:
    """As diagnosis.dicom_results writes it: "Jane Doe" becomes Jane^Doe; a DICOM name is kept."""
    return name.replace(" ", "^", 1) if "^" not in name else name


def capture(instance: Instance) -> Dataset:
    """A PNG or JPEG upload as a Secondary Capture of its display rendition (8-bit grey)."""
    image = instance.image
    study, patient = image.study, image.study.patient
    with image.display_file.open("rb") as fh, PILImage.open(fh) as png:
        pixels = np.asarray(png.convert("L"), dtype=np.uint8)
    sc = hd.sc.SCImage(
        pixel_array=pixels,
        photometric_interpretation="MONOCHROME2",
        bits_allocated=8,
        coordinate_system="PATIENT",
        study_instance_uid=study_uid(study),
        series_instance_uid=instance.series_uid,
        series_number=instance.series_number or 1,
        sop_instance_uid=instance.sop_uid,
        instance_number=1,
        manufacturer=dicom_results.MANUFACTURER,
        patient_id=patient.mrn,
        patient_name=person_name(patient.name),
        patient_birth_date=patient.birth_date.strftime("%Y%m%d") if patient.birth_date else None,
        patient_sex=patient.sex if patient.sex in ("M", "F", "O") else None,
        accession_number=study.accession_number[:16] or None,
        study_id=str(study.pk)[:16],
        study_date=study.study_date,
        referring_physician_name=None,
        patient_orientation=("L", "F"),  # highdicom requires one; emptied below (type 2C, unknown)
    )
    sc.PatientOrientation = None
    sc.Laterality = None
    sc.Modality = study.modality
    sc.SeriesDescription = instance.series_description
    sc.DerivationDescription = f"The {image.format} file uploaded to MedSite, as its 8-bit grey display rendition"
    return sc


def part10_chunks(instance: Instance) -> Iterator[bytes]:
    """The instance as a DICOM file (PS3.10), in chunks: an original as it was stored (a file stored without
    preamble and File Meta gets them), a generated object as dicom_results.to_bytes writes it."""
    if instance.kind == DICOM:
        with instance.image.file.open("rb") as fh:
            head = fh.read(132)
            if head[128:132] == b"DICM":
                yield head
                yield from iter(lambda: fh.read(CHUNK), b"")
                return
    yield dicom_results.to_bytes(with_file_meta(dataset(instance)))


def with_file_meta(ds: Dataset) -> Dataset:
    meta = ds.file_meta if isinstance(ds.file_meta, FileMetaDataset) else FileMetaDataset(ds.file_meta)
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = meta.get("TransferSyntaxUID") or pydicom.uid.ExplicitVRLittleEndian
    ds.file_meta = meta
    return ds


def metadata(instance: Instance) -> dict:
    """The instance's attributes as DICOM JSON, without pixel data; the UIDs those DICOMweb lists it under, and
    for a compressed original the colour model of the uncompressed frames that frames/ sends."""
    ds = dataset(instance, pixels=False)
    if instance.kind != DICOM:  # as written to a file: values as DICOM encodes them (highdicom leaves dates as DA)
        ds = pydicom.dcmread(io.BytesIO(dicom_results.to_bytes(with_file_meta(ds))))
    ds.StudyInstanceUID = study_uid(instance.image.study)
    ds.SeriesInstanceUID = instance.series_uid
    ds.SOPInstanceUID = instance.sop_uid
    syntax = UID(ds.file_meta.get("TransferSyntaxUID", pydicom.uid.ExplicitVRLittleEndian))
    if syntax.is_compressed and str(ds.get("PhotometricInterpretation", "")).startswith("YBR"):
        ds.PhotometricInterpretation = "RGB"  # pydicom's decoders convert YBR to RGB
        ds.PlanarConfiguration = 0
    for keyword in ("FloatPixelData", "DoubleFloatPixelData"):
        if keyword in ds:
            delattr(ds, keyword)
    return ds.to_json_dict(suppress_invalid_tags=True)


def frame(instance: Instance, ds: Dataset, number: int) -> bytes:
    """Frame `number` (from 1) uncompressed, little endian (the native encoding a viewer decodes itself)."""
    if not instance.has_pixels or not 1 <= number <= instance.frames or "PixelData" not in ds:
        raise NoFrames
    syntax = UID(ds.file_meta.get("TransferSyntaxUID", pydicom.uid.ExplicitVRLittleEndian))
    bits = int(ds.BitsAllocated)
    if syntax in NATIVE and bits % 8 == 0:
        length = int(ds.Rows) * int(ds.Columns) * int(ds.SamplesPerPixel) * bits // 8
        return bytes(ds.PixelData[(number - 1) * length : number * length])
    values = pixel_array(ds, index=number - 1)
    return values.astype(values.dtype.newbyteorder("<"), copy=False).tobytes()


def rendered(instance: Instance, number: int | None = None) -> PILImage.Image:
    """The instance (its displayed frame) or frame `number` for people: 8-bit grey as MedSite displays it, or the
    heatmap's colours."""
    if not instance.has_pixels or (number is not None and not 1 <= number <= instance.frames):
        raise NoFrames
    if instance.kind == PREDICTION_SC:
        return PILImage.fromarray(dicom_results.heatmap_overlay(instance.obj), mode="RGB")
    image = instance.image
    if instance.kind == CAPTURE or number is None or number - 1 == image.frames // 2:  # read_dicom's display frame
        with image.display_file.open("rb") as fh, PILImage.open(fh) as png:
            return png.convert("L")
    ds = dataset(instance)
    return PILImage.fromarray(display_pixels(pixel_array(ds, index=number - 1), ds), mode="L")


def encode(picture: PILImage.Image, media_type: str) -> bytes:
    buffer = io.BytesIO()
    if media_type == "image/png":
        picture.save(buffer, format="PNG")
    else:
        picture.convert("RGB" if picture.mode == "RGB" else "L").save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()
