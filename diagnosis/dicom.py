"""Content-based reading of uploaded DICOM files: validation, display pixels and de-identification.

De-identification applies the DICOM PS3.15 Basic Application Level Confidentiality Profile: every row of
Table E.1-1 (its "Basic Prof." column), edition 2026c, as the dicom-anonymizer package (KitwareMedical, pinned in
requirements.txt) ships it, generated from the standard's own tables: dicomanonymizer/dicom_anonymization_databases/
dicomfields_2026c.py. Only its table is used; the actions are applied here, with MedSite's own policy on top (keyed
UID replacement, pixel data and viewer geometry kept, fresh File Meta, zeroed preamble, every private tag, curve and
overlay removed). Evaluated and not used: dicognito (pseudonymises with fake names and shifted dates, keeps private
tags and descriptions, no Table E.1-1) and deid (a recipe engine whose bundled recipes are not the basic profile).
"""

import datetime
import hashlib
import hmac
import io
import struct
import zlib
from dataclasses import dataclass

import numpy as np
import pydicom
from dicomanonymizer.dicomfields_selector import dicom_anonymization_database_selector
from django.conf import settings
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import get_frame
from pydicom.errors import BytesLengthException, InvalidDicomError
from pydicom.filereader import read_dataset
from pydicom.pixels import (
    apply_color_lut,
    apply_modality_lut,
    apply_voi,
    apply_windowing,
    convert_color_space,
    get_decoder,
    pixel_array,
)
from pydicom.pixels.utils import get_expected_length, get_nr_frames
from pydicom.tag import BaseTag
from pydicom.uid import UID, generate_uid
from pydicom.valuerep import DA

from medsite.errors import DomainError

HEAD_BYTES = 64 * 1024  # enough for the header of a file without preamble; is_dicom reads no more
SYNTAX_BY_ENCODING = {  # (implicit VR, little endian), as pydicom read a file without File Meta
    (True, True): pydicom.uid.ImplicitVRLittleEndian,
    (False, True): pydicom.uid.ExplicitVRLittleEndian,
    (False, False): pydicom.uid.ExplicitVRBigEndian,
}
# JPEG and JPEG-LS start-of-frame markers; their header holds the frame's height and width.
JPEG_SOF_MARKERS = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF, 0xF7})
# What malformed input makes pydicom, zlib, numpy and the decoding plugins raise: pydicom's documented errors
# plus what fuzzing the sample files turned up (pydicom reports a missing required element as AttributeError).
PARSE_ERRORS = (
    InvalidDicomError,
    BytesLengthException,
    EOFError,
    OSError,
    ValueError,
    TypeError,
    AttributeError,
    NotImplementedError,
    RuntimeError,
    struct.error,
    zlib.error,
)

REQUIRED_KEYWORDS = (
    "Rows",
    "Columns",
    "SamplesPerPixel",
    "BitsAllocated",
    "BitsStored",
    "PixelRepresentation",
    "PhotometricInterpretation",
)  # Image Pixel module, type 1

# --- PS3.15 Table E.1-1 -----------------------------------------------------------------------------------------------
TABLE_EDITION = "2026c"  # of DICOM PS3.15; dicom-anonymizer 2.1.0 also carries 2023 and 2024b
_ACTIONS = {  # dicom-anonymizer's category: the table's action code
    "D_TAGS": "D",
    "Z_TAGS": "Z",
    "X_TAGS": "X",
    "U_TAGS": "U",
    "Z_D_TAGS": "Z/D",
    "X_Z_TAGS": "X/Z",
    "X_D_TAGS": "X/D",
    "X_Z_D_TAGS": "X/Z/D",
    "X_Z_U_STAR_TAGS": "X/Z/U*",
}


def _load_table(edition: str) -> tuple[dict[BaseTag, str], tuple[tuple[int, int, int, int, str], ...]]:
    """The basic profile's rows: one action per tag, plus the rows that name a group pattern (curves 50xx,
    overlay data and comments 60xx), as (group, element, group mask, element mask, action)."""
    categories = dicom_anonymization_database_selector(f"dicomfields_{edition}")
    actions, patterns = {}, []
    for category, action in _ACTIONS.items():
        for row in categories[category]:
            if len(row) == 2:
                actions[BaseTag((row[0] << 16) | row[1])] = action
            else:
                patterns.append((*row, action))
    return actions, tuple(patterns)


BASIC_PROFILE, BASIC_PROFILE_PATTERNS = _load_table(TABLE_EDITION)

# MedSite's policy for what the table does not list (attributes newer than the edition, retired or unknown ones):
# free text and unknown blobs removed, every person name, date and time emptied, non-DICOM UIDs replaced.
REMOVE_VRS = frozenset({"LT", "ST", "UT", "UN"})
EMPTY_VRS = frozenset({"PN", "DA", "DT", "TM"})
# Action D: "a non-zero length value that may be a dummy value and consistent with the VR". UI gets U, SQ has its
# items' values replaced the same way (see _clean).
DUMMY_TEXT = "ANONYMOUS"
DUMMY_BY_VR = {"AS": "000Y", "DA": "19000101", "DT": "19000101000000", "TM": "000000", "DS": "0", "IS": "0"}
DUMMY_NUMBER_VRS = frozenset({"AT", "FL", "FD", "SL", "SS", "SV", "UL", "US", "UV"})
DUMMY_BYTES_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})

# Burned-in annotation: the pixels may carry a name or an ID that no header rule removes. Flagged when the file says
# YES, or says nothing for images that usually carry text in their pixels: secondary captures (screenshots, scanned
# documents) and ultrasound, endoscopy, photography, microscopy and "other" images.
SECONDARY_CAPTURE = pydicom.uid.SecondaryCaptureImageStorage  # its multi-frame kinds are SECONDARY_CAPTURE + ".n"
BURNED_IN_MODALITIES = frozenset({"US", "ES", "XC", "GM", "OT"})


@dataclass(frozen=True)
class DicomImage:
    pixels: np.ndarray  # uint8 (H, W) display-ready grayscale
    rows: int
    columns: int
    bits_allocated: int
    bits_stored: int
    photometric: str  # as in the file
    transfer_syntax: str  # UID
    modality: str
    body_part: str
    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    patient_id: str
    patient_name: str
    patient_birth_date: datetime.date | None
    patient_sex: str  # "F", "M", "O" or "U"
    study_date: datetime.date | None
    accession_number: str
    study_description: str
    number_of_frames: int
    burned_in: str  # why the pixels may carry burned-in text (see burned_in_reason), or "" when they should not
    deidentified: bytes  # the whole file, de-identified


def is_dicom(file) -> bool:
    """Tell by content whether ``file`` is DICOM, reading at most HEAD_BYTES; rewinds ``file``."""
    file.seek(0)
    head = file.read(HEAD_BYTES)
    file.seek(0)
    if head[128:132] == b"DICM":
        return True
    if head[:2] not in (b"\x02\x00", b"\x08\x00"):  # no preamble: starts with File Meta or group 0008
        return False
    try:
        groups = {tag.group for tag in pydicom.dcmread(io.BytesIO(head), force=True, stop_before_pixels=True).keys()}
    except PARSE_ERRORS:
        return False
    return 0x0008 in groups and bool(groups & {0x0010, 0x0018, 0x0020, 0x0028})


def read_dicom(file) -> DicomImage:
    """Validate, decode and de-identify the DICOM ``file``; rewinds ``file``.

    Multi-frame files are accepted: the middle frame is displayed and given to the model, since the middle of a
    stack usually shows the anatomy best and decoding one frame bounds memory; the de-identified file keeps every
    frame untouched. Raises DomainError with a message for the person who uploaded the file.
    """
    name = getattr(file, "name", None) or "the file"
    _check_size(file, name)
    if not is_dicom(file):
        raise DomainError(f"{name} is not a DICOM file.")
    try:
        _check_inflated_size(file, name)
        file.seek(0)
        return _read(pydicom.dcmread(file, force=True), name)
    except PARSE_ERRORS:
        raise DomainError(  # pydicom's own words are not for the person who uploaded
            f"{name} is damaged or truncated: it cannot be read as DICOM. Nothing was stored; upload the complete file."
        ) from None
    finally:
        file.seek(0)


def _check_size(file, name: str) -> None:
    file.seek(0, io.SEEK_END)
    size = file.tell()
    file.seek(0)
    if size == 0:
        raise DomainError(f"{name} is empty (0 bytes).")
    if size > settings.MEDSITE_MAX_UPLOAD_BYTES:
        limit_mb = settings.MEDSITE_MAX_UPLOAD_BYTES // (1024 * 1024)
        raise DomainError(f"{name} is larger than the {limit_mb} MB upload limit.")


def _check_inflated_size(file, name: str) -> None:
    """pydicom inflates a Deflated file whole, in memory: refuse a zip bomb before it does."""
    file.seek(0)
    head = file.read(HEAD_BYTES)
    if head[128:136] != b"DICM\x02\x00\x00\x00":  # no File Meta group length, so no deflate pydicom would see
        return
    meta_end = 144 + int.from_bytes(head[140:144], "little")
    meta = read_dataset(io.BytesIO(head[132:meta_end]), is_implicit_VR=False, is_little_endian=True)
    if meta.get("TransferSyntaxUID") != pydicom.uid.DeflatedExplicitVRLittleEndian:
        return
    file.seek(meta_end)
    inflater, size = zlib.decompressobj(-zlib.MAX_WBITS), 0
    for chunk in iter(lambda: file.read(16 * 1024), b""):
        size += len(inflater.decompress(chunk))
        if size > settings.MEDSITE_MAX_UPLOAD_BYTES:
            limit_mb = settings.MEDSITE_MAX_UPLOAD_BYTES // (1024 * 1024)
            raise DomainError(f"{name} inflates to more than the {limit_mb} MB upload limit.")


def _read(ds: Dataset, name: str) -> DicomImage:
    if "PixelData" not in ds and ("Rows" in ds or len(ds) == 0):  # pydicom drops what a cut-short file lost
        raise DomainError(f"{name} is damaged or truncated: its image data is missing.")
    if "PixelData" not in ds:
        raise DomainError(f"{name} contains no image (no pixel data).")
    missing = [keyword for keyword in REQUIRED_KEYWORDS if keyword not in ds]
    if missing:
        raise DomainError(f"{name} is damaged: it has pixel data but no {', '.join(missing)}.")
    # A file without File Meta gets the encoding pydicom read it with.
    syntax = UID(ds.file_meta.get("TransferSyntaxUID") or SYNTAX_BY_ENCODING[ds.original_encoding])
    ds.file_meta.TransferSyntaxUID = syntax
    rows, columns, frames = int(ds.Rows), int(ds.Columns), int(get_nr_frames(ds, warn=False))
    _check_dimensions(name, rows, columns)  # before any decoding: decompression-bomb guard
    if ds.SamplesPerPixel not in (1, 3):
        raise DomainError(f"{name} has {ds.SamplesPerPixel} samples per pixel; MedSite reads grey or colour.")
    try:
        decodable = get_decoder(syntax).is_available
    except NotImplementedError:
        decodable = False
    if not decodable:
        raise DomainError(f"{name} is compressed with {syntax.name}, which MedSite cannot decode.")
    if syntax.is_compressed:
        _check_codestream(name, get_frame(ds.PixelData, frames // 2, number_of_frames=frames), syntax, rows, columns)
    elif len(ds.PixelData) < get_expected_length(ds):
        declared = f"{columns}x{rows} image" if frames == 1 else f"{frames} frames of {columns}x{rows} pixels"
        raise DomainError(
            f"{name} is damaged or truncated: its pixel data is shorter than the {declared} it declares."
            " Nothing was stored; upload the complete, undamaged file."
        )
    return DicomImage(
        pixels=display_pixels(pixel_array(ds, index=frames // 2), ds),
        rows=rows,
        columns=columns,
        bits_allocated=int(ds.BitsAllocated),
        bits_stored=int(ds.BitsStored),
        photometric=str(ds.PhotometricInterpretation),
        transfer_syntax=str(syntax),
        modality=_text(ds, "Modality"),
        body_part=_text(ds, "BodyPartExamined").upper(),
        study_instance_uid=_text(ds, "StudyInstanceUID"),
        series_instance_uid=_text(ds, "SeriesInstanceUID"),
        sop_instance_uid=_text(ds, "SOPInstanceUID"),
        patient_id=_text(ds, "PatientID"),
        patient_name=_text(ds, "PatientName"),
        patient_birth_date=_date(_text(ds, "PatientBirthDate")),
        patient_sex=_sex(_text(ds, "PatientSex")),
        study_date=_date(_text(ds, "StudyDate")),
        accession_number=_text(ds, "AccessionNumber"),
        study_description=_text(ds, "StudyDescription"),
        number_of_frames=frames,
        burned_in=(burned_in := burned_in_reason(ds)),
        deidentified=_deidentify(ds, syntax, burned_in=bool(burned_in)),  # last, as it clears the identity from ds
    )


def _check_dimensions(name: str, rows: int, columns: int) -> None:
    max_side = settings.MEDSITE_MAX_IMAGE_SIDE
    if rows < 1 or columns < 1:
        raise DomainError(f"{name} declares an image of {columns}x{rows} pixels; it is damaged.")
    if columns > max_side or rows > max_side:
        raise DomainError(f"{name} is {columns}x{rows} pixels; the largest side allowed is {max_side}.")
    if rows * columns > settings.MEDSITE_MAX_IMAGE_PIXELS:
        raise DomainError(f"{name} has {rows * columns:,} pixels; the limit is {settings.MEDSITE_MAX_IMAGE_PIXELS:,}.")


def _check_codestream(name: str, frame: bytes, syntax: UID, rows: int, columns: int) -> None:
    """Refuse a JPEG or JPEG 2000 frame claiming another size than Rows/Columns: decoders allocate its claim."""
    size = None
    if syntax in pydicom.uid.JPEG2000TransferSyntaxes and (soc := frame.find(b"\xff\x4f\xff\x51")) >= 0:
        width, height, x_offset, y_offset = struct.unpack_from(">4I", frame, soc + 8)  # SIZ segment
        size = (height - y_offset, width - x_offset)
    offset = 2  # JPEG and JPEG-LS: walk the marker segments after SOI up to the start of frame
    while size is None and frame[:2] == b"\xff\xd8" and offset + 9 <= len(frame) and frame[offset] == 0xFF:
        if frame[offset + 1] in JPEG_SOF_MARKERS:
            size = struct.unpack_from(">HH", frame, offset + 5)
        offset += 2 + struct.unpack_from(">H", frame, offset + 2)[0]
    if size is not None and tuple(size) != (rows, columns):
        raise DomainError(
            f"{name} is damaged: its compressed image is {size[1]}x{size[0]} pixels, not {columns}x{rows}."
        )


def display_pixels(frame: np.ndarray, ds: Dataset) -> np.ndarray:
    """One decoded frame as uint8 grayscale, the way a DICOM viewer first shows it."""
    photometric = ds.PhotometricInterpretation
    if frame.ndim == 3 or photometric == "PALETTE COLOR":  # pydicom has already converted YBR to RGB
        rgb = apply_color_lut(frame, ds) if photometric == "PALETTE COLOR" else frame
        high = np.iinfo(rgb.dtype).max if photometric == "PALETTE COLOR" else 2 ** int(ds.BitsStored) - 1
        return convert_color_space(_to_uint8(rgb, 0, high), "RGB", "YBR_FULL")[..., 0]  # luma
    if frame.dtype.itemsize <= 2 and frame.dtype.kind in "iu" and frame.size >= 2 ** (8 * frame.dtype.itemsize):
        # Each step below maps every stored value on its own: run them once on each value the type can hold, then
        # look the pixels up in the result (the same output; 2048 x 2048 x 16 bits: ~60 -> ~10 ms).
        unsigned = np.dtype(f"u{frame.dtype.itemsize}")
        codes = np.arange(2 ** (8 * frame.dtype.itemsize), dtype=unsigned).view(frame.dtype)
        index = frame.view(unsigned)
        return _grey_to_uint8(codes, ds, present=lambda: np.bincount(index.ravel(), minlength=codes.size) > 0)[index]
    return _grey_to_uint8(frame, ds)


def _grey_to_uint8(values: np.ndarray, ds: Dataset, present=None) -> np.ndarray:
    """Grey values as uint8 through the modality LUT and the first VOI LUT or window. ``present``: when ``values``
    are every possible stored value rather than the pixels, a callable giving the mask of those the pixels hold (a
    range taken from the data is taken over them)."""

    def data_range(values):
        shown = values if present is None else values[present()]
        return shown.min(), shown.max()

    values = apply_modality_lut(values, ds)  # rescale slope/intercept, or a modality LUT
    if ds.get("VOILUTSequence"):
        values = apply_voi(values, ds, index=0)
        low, high = data_range(values)
    elif "WindowCenter" in ds and "WindowWidth" in ds:  # the first window when there are several
        low, high = apply_windowing(np.array([-np.inf, np.inf]), ds, index=0)  # the window's output range
        values = apply_windowing(values, ds, index=0)
    else:
        low, high = data_range(values)
    display = _to_uint8(values, low, high)
    return 255 - display if ds.PhotometricInterpretation == "MONOCHROME1" else display


def _to_uint8(values: np.ndarray, low: float, high: float) -> np.ndarray:
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    scaled = (values.astype(np.float64) - low) * (255.0 / (float(high) - float(low)))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _text(ds: Dataset, keyword: str) -> str:
    return str(ds.get(keyword) or "").strip()


def _date(value: str) -> datetime.date | None:
    try:
        date = DA(value)
    except ValueError:
        return None
    return None if date is None else datetime.date(date.year, date.month, date.day)


def _sex(value: str) -> str:
    return value.upper() if value.upper() in {"F", "M", "O"} else "U"


def burned_in_reason(ds: Dataset) -> str:
    """Why the pixels may carry burned-in text, for the person who clears the image, or "" when they should not."""
    stated = _text(ds, "BurnedInAnnotation").upper()
    if stated in ("YES", "NO"):
        return "the file says it has burned-in annotation" if stated == "YES" else ""
    sop_class = _text(ds, "SOPClassUID")
    if sop_class == SECONDARY_CAPTURE or sop_class.startswith(SECONDARY_CAPTURE + "."):
        return "a secondary capture that does not say whether it has burned-in annotation"
    modality = _text(ds, "Modality").upper()
    if modality in BURNED_IN_MODALITIES:
        return f"a {modality} image that does not say whether it has burned-in annotation"
    return ""


def basic_profile_action(tag: int) -> str | None:
    """The action Table E.1-1's basic profile gives the attribute (D, Z, X, U or a combination), or None."""
    tag = BaseTag(tag)
    action = BASIC_PROFILE.get(tag)
    if action is None:
        for group, element, group_mask, element_mask, pattern_action in BASIC_PROFILE_PATTERNS:
            if tag.group & group_mask == group and tag.element & element_mask == element:
                return pattern_action
    return action


def _resolve(action: str, elem: DataElement) -> str:
    """One action for the table's combined codes, as a conformant de-identifier chooses them.

    X/Z, X/D, Z/D and X/Z/D pick by the attribute's type (3, 2 or 1) in the file's IOD; MedSite keeps no IOD tables,
    so it picks what conforms whatever the type, given the source conformed: a present attribute may be Type 2, so
    X/Z gives Z; one with a value may be Type 1, so it gets D, and an empty one cannot be, so it stays empty (Z).
    X/Z/U* (sequences of references) keeps the sequence with its instance UIDs replaced (U), which every type allows.
    None of the choices keeps an original value.
    """
    if action == "X/Z":
        return "Z"
    if action in ("X/D", "Z/D", "X/Z/D"):
        return "Z" if elem.is_empty else "D"
    if action == "X/Z/U*":
        return "K"  # the items are cleaned, and the instance UIDs in them have action U
    return action


def _deidentify(ds: Dataset, syntax: UID, *, burned_in: bool = False) -> bytes:
    """Apply the PS3.15 basic profile to ``ds``, in place, and return it as a DICOM file.

    Every attribute of Table E.1-1 gets its action, in sequences too (see _clean). Kept: pixel data, image geometry,
    modality, body part, pixel spacing, windows and whatever else the table does not list and MedSite's policy
    (REMOVE_VRS, EMPTY_VRS) allows. UIDs are replaced by a keyed hash, so one original UID gets one replacement
    across uploads and no one without SECRET_KEY can reverse it. A file that may carry burned-in text does not claim
    Patient Identity Removed: the profile cleans the header, not the pixels.
    """
    key = hmac.new(settings.SECRET_KEY.encode(), b"medsite.dicom.uid", hashlib.sha256).hexdigest()
    _clean(ds, key)
    ds.PatientIdentityRemoved = "NO" if burned_in else "YES"
    ds.LongitudinalTemporalInformationModified = "REMOVED"
    ds.DeidentificationMethod = f"DICOM PS3.15 {TABLE_EDITION} Table E.1-1 Basic Profile (MedSite)" + (
        "; burned-in annotation not removed" if burned_in else ""
    )
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator = "113100", "DCM"
    code.CodeMeaning = "Basic Application Confidentiality Profile"
    ds.DeidentificationMethodCodeSequence = [code]
    ds.file_meta = FileMetaDataset()  # a fresh one: drops source AE titles and private meta elements
    ds.file_meta.TransferSyntaxUID = syntax
    ds.file_meta.MediaStorageSOPClassUID = ds.get("SOPClassUID") or pydicom.uid.SecondaryCaptureImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = ds.get("SOPInstanceUID") or generate_uid()
    ds.preamble = None  # written as zeros: a preamble may hold a TIFF header with identifying tags
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _clean(ds: Dataset, key: str, *, dummy: bool = False) -> None:
    """Apply the table's action to every attribute of ``ds`` and, depth first, of its sequences' items.

    Private tags, curves (50xx) and overlays (60xx, the table removes their data and comments) are removed, and
    so are command (0000) and File Meta (0002) elements, which have no place in a stored file's data set. An
    attribute the table does not list gets MedSite's policy, unless it lies in a sequence whose action is D
    (``dummy``): then it gets a dummy too, so that nothing of the original sequence is kept but its shape.
    """
    for elem in list(ds):
        tag = elem.tag
        if tag.is_private or (tag.group & 0xFF00) in (0x5000, 0x6000) or tag.group in (0x0000, 0x0002):
            del ds[tag]
            continue
        action = basic_profile_action(tag)
        if action is not None:
            action = _resolve(action, elem)
        elif tag == 0x7FE00010 or elem.VR == "SQ":  # pixel data; sequences are walked
            action = "D" if dummy and elem.VR == "SQ" else "K"
        elif elem.VR == "UI":
            action = "U" if not elem.keyword.endswith("ClassUID") and _private_uids(elem) else "K"
        elif dummy:
            action = "D"
        else:
            action = "X" if elem.VR in REMOVE_VRS else "Z" if elem.VR in EMPTY_VRS else "K"
        _apply(ds, elem, action, key, dummy)


def _private_uids(elem: DataElement) -> bool:
    """Whether a UID attribute holds a UID that is not one of the standard's own (those identify nothing)."""
    values = [elem.value] if isinstance(elem.value, str) else list(elem.value or [])
    return any(UID(uid).is_private for uid in values if uid)


def _apply(ds: Dataset, elem: DataElement, action: str, key: str, dummy: bool) -> None:
    if action == "X":
        del ds[elem.tag]
    elif action == "Z":
        elem.value = elem.empty_value
    elif elem.VR == "SQ":  # K, D, or U for a sequence: its items are cleaned, with dummies for D
        for item in elem.value:
            _clean(item, key, dummy=dummy or action == "D")
    elif action == "U" or (action == "D" and elem.VR == "UI"):  # D of a UID is a replacement UID
        values = [elem.value] if isinstance(elem.value, str) else list(elem.value or [])
        new = [generate_uid(entropy_srcs=[key, uid]) if uid else uid for uid in values]
        elem.value = new[0] if isinstance(elem.value, str) else new
    elif action == "D":
        elem.value = _dummy(elem.VR)


def _dummy(vr: str):
    if vr in DUMMY_NUMBER_VRS:
        return 0
    if vr in DUMMY_BYTES_VRS:
        return b"\0\0"
    return DUMMY_BY_VR.get(vr, DUMMY_TEXT)
