"""The stored pixel values of a DICOM image, for the viewer's real windowing (issue 23).

The display PNG is 8-bit and already windowed by the file's own VOI, so a viewer windowing it cannot show what the
VOI clipped (on CT_Explicit_Little.dcm a third of the body is 255: no bone window exists). This module reads the
same frame the display PNG shows (the middle one, as diagnosis.dicom does) as its stored values and packs them
with what a viewer needs to window them: the rescale slope and intercept (Hounsfield units for CT), the
photometric interpretation (MONOCHROME1 shows low values bright), the file's first VOI window and the value range.

The format, "medsite-pixels/1" (served by diagnosis.serving.image_pixels, gzip-compressed on the wire when the
client accepts it):

    bytes 0-3   b"MSPX"
    bytes 4-7   N, the header's length in bytes, uint32 little-endian
    N bytes     the header: UTF-8 JSON, padded with spaces so that the values start at a multiple of 8
    the rest    rows x columns values, row by row, little-endian, of the header's dtype (uint8, int16, uint16 or
                float32): the STORED values; a viewer applies value = stored x slope + intercept

The header's keys: format, rows, columns, dtype, slope, intercept, units ("HU" for CT, "" when unknown), modality,
photometric, window ({"center", "width"} of the file's first Window Center/Width, in output units, or null),
stored_min, stored_max, value_min, value_max (after rescale), p1, p99 (the 1st and 99th percentiles after
rescale, for an automatic window), frame and frames (which frame of how many), and the size guard's
source_rows, source_columns and step: images wider or taller than MAX_SIDE are sent every `step`-th row and
column (nearest-neighbour decimation, so each value sent is a real stored value), and a viewer multiplies its
coordinates by `step` to name the source pixel.

Colour images have no single grey value per pixel: they raise NoStoredValues, and the viewer keeps the 8-bit path.
"""

import gzip
import json
import math
import struct
from dataclasses import dataclass

import numpy as np
import pydicom
from pydicom.pixels import pixel_array
from pydicom.pixels.utils import get_nr_frames

from diagnosis.dicom import SYNTAX_BY_ENCODING

MAGIC = b"MSPX"
FORMAT = "medsite-pixels/1"
MAX_SIDE = 2048  # larger images are decimated to at most this many rows and columns: ~8 MiB at 16 bits
CONTENT_TYPE = "application/octet-stream"  # self-described by its "MSPX" magic and header


class NoStoredValues(Exception):
    """The image has no grey stored values to window (a colour image); its message says why."""


@dataclass(frozen=True)
class StoredValues:
    values: np.ndarray  # 2-D, of one of the format's dtypes, already decimated
    header: dict


def read_stored_values(file) -> StoredValues:
    """The middle frame's stored values of the DICOM `file` (an open binary file) and its header."""
    ds = pydicom.dcmread(file, force=True)
    if not ds.file_meta.get("TransferSyntaxUID"):  # a file without File Meta: the encoding pydicom read it with
        ds.file_meta.TransferSyntaxUID = SYNTAX_BY_ENCODING[ds.original_encoding]
    grey = ds.get("PhotometricInterpretation") in ("MONOCHROME1", "MONOCHROME2")
    if int(ds.get("SamplesPerPixel", 1)) != 1 or not grey:
        raise NoStoredValues(
            f"This image is {ds.get('PhotometricInterpretation', 'colour')}: it has no grey values to window;"
            " the viewer shows its display rendition."
        )
    frames = int(get_nr_frames(ds, warn=False))
    frame = frames // 2
    stored = pixel_array(ds, index=frame)
    source_rows, source_columns = stored.shape
    step = max(1, math.ceil(max(source_rows, source_columns) / MAX_SIDE))
    stored = stored[::step, ::step]
    slope, intercept = float(ds.get("RescaleSlope", 1) or 1), float(ds.get("RescaleIntercept", 0) or 0)
    if ds.get("ModalityLUTSequence"):  # a non-linear modality LUT: send its output, with the identity rescale
        from pydicom.pixels import apply_modality_lut

        stored, slope, intercept = apply_modality_lut(stored, ds).astype(np.float32), 1.0, 0.0
    values = _as_wire_dtype(stored)
    rescaled = values.astype(np.float64) * slope + intercept
    p1, p99 = np.percentile(rescaled, [1, 99]) if rescaled.size else (0.0, 0.0)
    modality = str(ds.get("Modality", "") or "")
    header = {
        "format": FORMAT,
        "rows": int(values.shape[0]),
        "columns": int(values.shape[1]),
        "dtype": values.dtype.name,
        "slope": slope,
        "intercept": intercept,
        "units": "HU" if modality == "CT" else str(ds.get("RescaleType", "") or ""),
        "modality": modality,
        "photometric": str(ds.PhotometricInterpretation),
        "window": _first_window(ds),
        "stored_min": _number(values.min()),
        "stored_max": _number(values.max()),
        "value_min": _number(rescaled.min()),
        "value_max": _number(rescaled.max()),
        "p1": _number(p1),
        "p99": _number(p99),
        "frame": frame,
        "frames": frames,
        "source_rows": int(source_rows),
        "source_columns": int(source_columns),
        "step": step,
    }
    return StoredValues(values=values, header=header)


def pack(stored: StoredValues) -> bytes:
    """The medsite-pixels/1 bytes (uncompressed)."""
    header = json.dumps(stored.header, separators=(",", ":")).encode()
    header += b" " * (-(8 + len(header)) % 8)
    values = stored.values.astype(stored.values.dtype.newbyteorder("<"))
    return MAGIC + struct.pack("<I", len(header)) + header + values.tobytes()


def unpack(data: bytes) -> StoredValues:
    """pack's inverse (for tests and Python clients); accepts gzip-compressed bytes too."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if data[:4] != MAGIC:
        raise ValueError("Not medsite-pixels data.")
    (length,) = struct.unpack_from("<I", data, 4)
    header = json.loads(data[8 : 8 + length])
    values = np.frombuffer(data, dtype=np.dtype(header["dtype"]).newbyteorder("<"), offset=8 + length)
    return StoredValues(values=values.reshape(header["rows"], header["columns"]), header=header)


def compress(data: bytes) -> bytes:
    """gzip at level 1: 16-bit medical images shrink to about half, in ~30 ms for 2048 x 2048."""
    return gzip.compress(data, compresslevel=1, mtime=0)


def _as_wire_dtype(stored: np.ndarray) -> np.ndarray:
    if stored.dtype in (np.uint8, np.int16, np.uint16):
        return np.ascontiguousarray(stored)
    if stored.dtype == np.int8:
        return stored.astype(np.int16)
    return stored.astype(np.float32)  # 32-bit integers and floats


def _first_window(ds) -> dict | None:
    centre, width = ds.get("WindowCenter"), ds.get("WindowWidth")
    if centre is None or width is None or ds.get("VOILUTSequence"):
        return None
    centre = centre[0] if isinstance(centre, pydicom.multival.MultiValue) else centre
    width = width[0] if isinstance(width, pydicom.multival.MultiValue) else width
    try:
        return {"center": float(centre), "width": float(width)} if float(width) >= 1 else None
    except (TypeError, ValueError):
        return None


def _number(value) -> float | int:
    value = float(value)
    return int(value) if value.is_integer() else round(value, 4)
