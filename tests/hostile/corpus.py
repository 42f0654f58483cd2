"""A corpus of hostile upload files, generated when the tests run (nothing binary is committed).

Each entry says what a person uploading it should see: refused with a phrase of the message, or accepted as a
PNG, JPEG or DICOM image. The rules are the app's own (README, "Upload images"): files are judged by their
content, never by their name; PNG, JPEG and DICOM images within the size and pixel limits are accepted, whatever
else they carry (a payload after the image data or in a comment is stored in the original, which is only ever
sent as a download, and never reaches the display rendition, which is re-encoded from the pixels).

DICOM entries are built from pydicom's bundled test files and from the shared real samples (tests.datasets),
and carry PatientID HOSTILE_PATIENT_ID, so that the study upload path judges their content, not their patient.
"""

import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import PIL.Image
import pydicom
from pydicom.data import get_testdata_file
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_file_meta_info
from pydicom.tag import Tag
from pydicom.uid import DeflatedExplicitVRLittleEndian, JPEGBaseline8Bit

from tests.datasets import DICOM_SAMPLES

HOSTILE_PATIENT_ID = "HOSTILE-1"
HOSTILE_STUDY_UID = "1.2.826.0.1.3680043.8.498.1"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Hostile:
    name: str  # as uploaded; the extension may lie
    build: Callable[[], bytes]
    refusal: str | None  # a phrase of the message when it is refused (study upload); None when accepted
    accepted_as: str | None = None  # "PNG", "JPEG" or "DICOM" when accepted
    dicom: bool = False  # DICOM by content: the import paths judge it like the study path (others: not DICOM)
    needs_samples: bool = False  # built from the shared real samples

    def __post_init__(self):
        assert (self.refusal is None) == (self.accepted_as is not None), self.name

    @property
    def content(self) -> bytes:
        return _built(self.build)


@cache
def _built(build: Callable[[], bytes]) -> bytes:
    return build()


# --- building blocks -------------------------------------------------------------------------------------------


def _png(pixels: np.ndarray | None = None, **save) -> bytes:
    if pixels is None:
        pixels = _gradient()
    buffer = io.BytesIO()
    PIL.Image.fromarray(pixels).save(buffer, format="PNG", **save)
    return buffer.getvalue()


def _jpeg(mode: str = "L", **save) -> bytes:
    buffer = io.BytesIO()
    PIL.Image.fromarray(_gradient()).convert(mode).save(buffer, format="JPEG", quality=95, **save)
    return buffer.getvalue()


def _gradient(height: int = 48, width: int = 64) -> np.ndarray:
    """A diagonal ramp with a bright square: easy to recognise in a display rendition."""
    ramp = np.add.outer(np.arange(height), np.arange(width)) * (200 / (height + width))
    ramp[12:36, 16:48] = 250
    return ramp.astype(np.uint8)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_header(width: int, height: int, bit_depth: int = 8, colour: int = 0) -> bytes:
    return PNG_SIGNATURE + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0))


def _png_with_chunks(*chunks: bytes) -> bytes:
    """A real PNG with extra chunks inserted after IHDR."""
    png = _png()
    ihdr_end = 8 + 25
    return png[:ihdr_end] + b"".join(chunks) + png[ihdr_end:]


def _deflate_bomb_png(width: int, height: int) -> bytes:
    """A PNG whose IDAT really inflates to width x height zero pixels (plus filter bytes)."""
    compressor = zlib.compressobj(9)
    row = b"\0" * (width + 1)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return _png_header(width, height) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def _jpeg_with_size(width: int, height: int) -> bytes:
    """A real JPEG whose start-of-frame header claims another size."""
    data = bytearray(_jpeg())
    sof = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


def _dataset(name: str = "MR_small.dcm") -> Dataset:
    ds = pydicom.dcmread(get_testdata_file(name))
    ds.PatientID, ds.PatientName, ds.StudyInstanceUID = HOSTILE_PATIENT_ID, "Hostile^Test", HOSTILE_STUDY_UID
    return ds


def _dicom(ds: Dataset | None = None, **elements) -> bytes:
    """MR_small (64x64, 16-bit) for the hostile patient, with ``elements`` set (raw values are bytes)."""
    ds = _dataset() if ds is None else ds
    for keyword, value in elements.items():
        if isinstance(value, bytes):  # written as it is, however invalid
            tag = Tag(tag_for_keyword(keyword))
            ds[tag] = RawDataElement(tag, dictionary_VR(tag), len(value), value, 0, False, True)
        else:
            setattr(ds, keyword, value)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _without(*keywords: str) -> bytes:
    ds = _dataset()
    for keyword in keywords:
        del ds[keyword]
    return _dicom(ds)


def _cut(data: bytes, fraction: float) -> bytes:
    return data[: int(len(data) * fraction)]


def _sample(name: str) -> bytes:
    return (DICOM_SAMPLES / name).read_bytes()


def _sample_for_hostile_patient(name: str) -> bytes:
    ds = pydicom.dcmread(DICOM_SAMPLES / name, force=True)
    ds.PatientID, ds.StudyInstanceUID = HOSTILE_PATIENT_ID, HOSTILE_STUDY_UID
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=bool(ds.file_meta.get("TransferSyntaxUID")))
    return buffer.getvalue()


def _relabelled(data: bytes, uid: str) -> bytes:
    """``data`` (a DICOM file with File Meta) with another TransferSyntaxUID in its File Meta, and nothing else
    changed: the dataset stays encoded as it was (pydicom itself would refuse to write such a file)."""
    meta_end = 144 + int.from_bytes(data[140:144], "little")
    meta = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True).file_meta
    meta.TransferSyntaxUID = uid
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, False
    write_file_meta_info(buffer, meta, enforce_standard=True)
    return data[:132] + buffer.getvalue() + data[meta_end:]


def _with_syntax(uid: str) -> bytes:
    return _relabelled(_dicom(), uid)


def _deflate_bomb_dicom() -> bytes:
    """A Deflated Explicit VR Little Endian file whose dataset inflates to more than the 200 MB upload limit."""
    ds = _dataset()
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    data = buffer.getvalue()
    meta_end = 144 + int.from_bytes(data[140:144], "little")
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    header = struct.pack("<HH2sHI", 0x0009, 0x0010, b"OB", 0, 0xFFFFFFF0)  # a private blob, 4 GB long
    zeros = b"\0" * (1 << 20)
    body = compressor.compress(header) + b"".join(compressor.compress(zeros) for _ in range(210))
    return data[:meta_end] + body + compressor.flush()


def _deflated_garbage() -> bytes:
    data = _with_syntax(DeflatedExplicitVRLittleEndian)  # the dataset is not deflated at all
    meta_end = 144 + int.from_bytes(data[140:144], "little")
    return data[:meta_end] + bytes(range(256)) * 8


def _huge_private_tag() -> bytes:
    ds = _dataset()
    ds.add_new(0x00091010, "LO", "HOSTILE")  # private creator
    ds.add_new(0x00091011, "OB", b"\xab" * (8 * 1024 * 1024))  # 8 MB in a private element
    return _dicom(ds)


def _lying_private_length() -> bytes:
    """A private element that claims 2 GB just before the pixel data."""
    data = _dicom()
    pixel_tag = data.rfind(b"\xe0\x7f\x10\x00")
    lie = struct.pack("<HH2sHI", 0x0009, 0x1011, b"OB", 0, 0x7FFFFFF0)
    return data[:pixel_tag] + lie + data[pixel_tag:]


def _bad_element_length() -> bytes:
    """An explicit-VR element (Rows, US) whose 2-byte length says 0xFFFF."""
    data = bytearray(_dicom())
    rows = data.find(b"\x28\x00\x10\x00US")
    struct.pack_into("<H", data, rows + 6, 0xFFFF)
    return bytes(data)


def _preamble_png() -> bytes:
    """A valid DICOM file whose 128-byte preamble holds a PNG signature and header."""
    data = bytearray(_dicom())
    header = _png_header(64, 64)
    data[: len(header)] = header
    return bytes(data)


def _png_claiming_dicom() -> bytes:
    """A PNG whose bytes 128..132 spell DICM, as a DICOM file's would (a text chunk puts them there)."""
    png = _png()
    filler = 128 - 33 - 8 - len(b"Comment\0")  # 33: signature + IHDR; 8: the text chunk's length and type
    text = _chunk(b"tEXt", b"Comment\0" + b"x" * filler + b"DICM" + b"\0" * 64)
    return png[:33] + text + png[33:]


def _jpeg_syntax_codestream_size() -> bytes:
    """A JPEG baseline DICOM whose codestream claims 60000x60000 pixels while Rows/Columns say 100x100."""
    data = bytearray(Path(get_testdata_file("SC_rgb_jpeg_dcmtk.dcm")).read_bytes())
    ds = pydicom.dcmread(io.BytesIO(bytes(data)))
    ds.PatientID, ds.StudyInstanceUID = HOSTILE_PATIENT_ID, HOSTILE_STUDY_UID
    frame = bytearray(next(pydicom.encaps.generate_frames(ds.PixelData, number_of_frames=1)))
    sof = frame.find(b"\xff\xc0")
    struct.pack_into(">HH", frame, sof + 5, 60000, 60000)
    ds.PixelData = encapsulate([bytes(frame)])
    return _dicom(ds)


def _jpeg_syntax_raw_pixels() -> bytes:
    """JPEG baseline declared, but the pixel data is plain uncompressed bytes, not encapsulated."""
    return _relabelled(_dicom(), JPEGBaseline8Bit)


def _nested_sequences(depth: int = 1000) -> bytes:
    """A sequence nested ``depth`` items deep (undefined lengths), written byte by byte before the pixel data."""
    data = _dicom()
    pixel_tag = data.rfind(b"\xe0\x7f\x10\x00")
    opening = struct.pack("<HH2sHI", 0x0008, 0x1140, b"SQ", 0, 0xFFFFFFFF) + struct.pack(
        "<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF
    )
    closing = struct.pack("<HHI", 0xFFFE, 0xE00D, 0) + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    return data[:pixel_tag] + opening * depth + closing * depth + data[pixel_tag:]


def _garbage_after_dicm() -> bytes:
    return b"\0" * 128 + b"DICM" + bytes((i * 7919) % 251 for i in range(4096))


def _real_codestream_corrupt(name: str) -> bytes:
    """A real compressed sample whose codestream, after its headers, is overwritten with 0xFF bytes."""
    data = bytearray(_sample_for_hostile_patient(name))
    pixel_data = data.rfind(b"\xe0\x7f\x10\x00")
    start = pixel_data + 200
    data[start : len(data) - 64] = b"\xff" * (len(data) - 64 - start)
    return bytes(data)


def _zip_of(payload: bytes) -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("payload.html", payload)
    return buffer.getvalue()


def _other_format(fmt: str) -> bytes:
    buffer = io.BytesIO()
    PIL.Image.fromarray(_gradient()).convert("RGB" if fmt == "WEBP" else "L").save(buffer, format=fmt)
    return buffer.getvalue()


def _cmyk_jpeg() -> bytes:
    buffer = io.BytesIO()
    PIL.Image.fromarray(_gradient()).convert("CMYK").save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def _png16() -> bytes:
    return _png(_gradient().astype(np.uint16) * 257 + 3)


HTML = b"<html><body><script>alert(document.cookie)</script></body></html>"
PHP = b"<?php system($_GET['c']); ?>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\0" * 46 + b"\x80\0\0\0" + b"\0" * 64 + b"PE\0\0"
MEGABYTE_TEXT = [_chunk(b"tEXt", b"Comment\0" + b"A" * 1_000_000) for _ in range(6)]


def _ztxt_bomb() -> bytes:
    return _png_with_chunks(_chunk(b"zTXt", b"Comment\0\0" + zlib.compress(b"A" * (64 * 1024 * 1024), 9)))


def _bad_crc() -> bytes:
    data = bytearray(_png())
    data[29:33] = b"\0\0\0\0"  # IHDR's CRC
    return bytes(data)


def _jpeg_comment(payload: bytes) -> bytes:
    jpeg = _jpeg()
    return jpeg[:2] + b"\xff\xfe" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


# --- the corpus ------------------------------------------------------------------------------------------------

DAMAGED = "damaged"
NOT_IMAGE = "not an image MedSite can read"
BOMB = "decompression bomb"

CORPUS = [
    # Truncated and corrupt DICOM
    Hostile("cut-in-preamble.dcm", lambda: _dicom()[:100], NOT_IMAGE),
    Hostile("cut-in-file-meta.dcm", lambda: _dicom()[:200], DAMAGED, dicom=True),
    Hostile("cut-in-header.dcm", lambda: _dicom()[:700], "no pixel data", dicom=True),
    Hostile("cut-in-pixels.dcm", lambda: _cut(_dicom(), 0.6), "truncated", dicom=True),
    Hostile(
        "MR_truncated.dcm", lambda: Path(get_testdata_file("MR_truncated.dcm")).read_bytes(), "truncated", dicom=True
    ),
    Hostile(
        "ct-cut-in-half.dcm",
        lambda: _cut(_sample_for_hostile_patient("693_UNCI.dcm"), 0.5),
        "truncated",
        dicom=True,
        needs_samples=True,
    ),
    Hostile(
        "cr-implicit-cut.dcm",
        lambda: _cut(_sample("CR-MONO1-10-chest.dcm"), 0.02),
        DAMAGED,
        dicom=True,
        needs_samples=True,
    ),
    Hostile(
        "chest-jpeg-cut.dcm",
        lambda: _cut(_sample_for_hostile_patient("1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm"), 0.5),
        DAMAGED,
        dicom=True,
        needs_samples=True,
    ),
    Hostile(
        "j2k-codestream-garbage.dcm",
        lambda: _real_codestream_corrupt("GH064.dcm"),
        DAMAGED,
        dicom=True,
        needs_samples=True,
    ),
    Hostile("garbage-after-dicm.dcm", _garbage_after_dicm, "no pixel data", dicom=True),
    Hostile("element-length-lies.dcm", _bad_element_length, DAMAGED, dicom=True),
    Hostile("private-length-lies.dcm", _lying_private_length, DAMAGED, dicom=True),
    Hostile("deflated-garbage.dcm", _deflated_garbage, DAMAGED, dicom=True),
    Hostile("jpeg-syntax-raw-pixels.dcm", _jpeg_syntax_raw_pixels, DAMAGED, dicom=True),
    # DICOM without pixel data, or with absurd dimensions
    Hostile("rtplan.dcm", lambda: Path(get_testdata_file("rtplan.dcm")).read_bytes(), "no pixel data", dicom=True),
    Hostile("no-pixel-data.dcm", lambda: _without("PixelData"), "image data is missing", dicom=True),
    Hostile("no-rows.dcm", lambda: _without("Rows"), "has pixel data but no Rows", dicom=True),
    Hostile("rows-65535.dcm", lambda: _dicom(Rows=65535, Columns=65535), "largest side allowed", dicom=True),
    Hostile("rows-zero.dcm", lambda: _dicom(Rows=0), "it is damaged", dicom=True),
    Hostile("pixels-over-limit.dcm", lambda: _dicom(Rows=12000, Columns=12000), "the limit is", dicom=True),
    Hostile("bits-allocated-64.dcm", lambda: _dicom(BitsAllocated=64, BitsStored=64, HighBit=63), DAMAGED, dicom=True),
    Hostile("bits-allocated-3.dcm", lambda: _dicom(BitsAllocated=3), DAMAGED, dicom=True),
    Hostile("bits-stored-over-allocated.dcm", lambda: _dicom(BitsStored=40, HighBit=39), DAMAGED, dicom=True),
    Hostile("frames-billion.dcm", lambda: _dicom(NumberOfFrames=b"999999999 "), "truncated", dicom=True),
    Hostile("frames-zero.dcm", lambda: _dicom(NumberOfFrames=b"0 "), None, "DICOM", dicom=True),  # read as 1
    Hostile("frames-negative.dcm", lambda: _dicom(NumberOfFrames=b"-5"), DAMAGED, dicom=True),
    Hostile("frames-not-a-number.dcm", lambda: _dicom(NumberOfFrames=b"many"), DAMAGED, dicom=True),
    Hostile("samples-per-pixel-4.dcm", lambda: _dicom(SamplesPerPixel=4), "samples per pixel", dicom=True),
    Hostile("photometric-unknown.dcm", lambda: _dicom(PhotometricInterpretation="BANANA"), DAMAGED, dicom=True),
    Hostile("unknown-syntax.dcm", lambda: _with_syntax("1.2.3.4.5.6.7"), "cannot decode", dicom=True),
    Hostile("mpeg2-syntax.dcm", lambda: _with_syntax("1.2.840.10008.1.2.4.100"), "cannot decode", dicom=True),
    Hostile("jpeg-codestream-60000.dcm", _jpeg_syntax_codestream_size, "compressed image is 60000x60000", dicom=True),
    Hostile("nested-sequences.dcm", _nested_sequences, DAMAGED, dicom=True),
    # Decompression bombs
    Hostile("deflate-bomb.dcm", _deflate_bomb_dicom, "inflates to more than", dicom=True),
    Hostile("bomb-60000.png", lambda: _png_header(60000, 60000) + _chunk(b"IEND", b""), BOMB),
    Hostile("bomb-deflate-96mp.png", lambda: _deflate_bomb_png(16000, 6000), BOMB),
    Hostile("bomb-81mp.png", lambda: _png_header(9000, 9000) + _chunk(b"IEND", b""), "the limit is"),
    Hostile("bomb-65000.jpg", lambda: _jpeg_with_size(65000, 65000), BOMB),
    Hostile("bomb-wide.jpg", lambda: _jpeg_with_size(20000, 8), "largest side allowed"),
    Hostile("ztxt-bomb.png", _ztxt_bomb, DAMAGED),
    # 16-bit and CMYK images: legitimate, accepted with a display rendition
    Hostile("grey-16bit.png", _png16, None, "PNG"),
    Hostile("cmyk.jpg", _cmyk_jpeg, None, "JPEG"),
    # Polyglots
    Hostile("png-then-zip.png", lambda: _png() + _zip_of(HTML), None, "PNG"),
    Hostile("png-html-text.png", lambda: _png_with_chunks(_chunk(b"tEXt", b"Comment\0" + HTML)), None, "PNG"),
    Hostile("jpeg-php-comment.jpg", lambda: _jpeg_comment(PHP), None, "JPEG"),
    Hostile("jpeg-then-html.jpg", lambda: _jpeg() + HTML, None, "JPEG"),
    Hostile("dicom-preamble-png.png", _preamble_png, None, "DICOM", dicom=True),
    Hostile("png-spelling-dicm.png", _png_claiming_dicom, "no pixel data", dicom=True),  # DICM at 128: read as DICOM
    Hostile("zip-with-html.png", lambda: _zip_of(HTML), NOT_IMAGE),
    # Zero bytes
    Hostile("empty.png", lambda: b"", "empty"),
    Hostile("empty.dcm", lambda: b"", "empty"),
    # Huge headers
    Hostile("text-chunks-6mb.png", lambda: _png_with_chunks(*MEGABYTE_TEXT), None, "PNG"),
    Hostile("private-tag-8mb.dcm", _huge_private_tag, None, "DICOM", dicom=True),
    # Damaged images
    Hostile("bad-crc.png", _bad_crc, NOT_IMAGE),
    Hostile("cut.png", lambda: _cut(_png(), 0.5), "is truncated: the file ends before the image does"),
    Hostile("cut.jpg", lambda: _cut(_jpeg(), 0.5), "is truncated: the file ends before the image does"),
    # Wrong extensions
    Hostile("jpeg-named.dcm", _jpeg, None, "JPEG"),
    Hostile("dicom-named.png", _dicom, None, "DICOM", dicom=True),
    Hostile("program.exe.png", lambda: EXE, NOT_IMAGE),
    Hostile("notes.dcm", lambda: b"Patient doing well, see you in 6 weeks.\n", NOT_IMAGE),
    Hostile("page.png", lambda: HTML, NOT_IMAGE),
    Hostile("drawing.png", lambda: SVG, NOT_IMAGE),
    Hostile("scan.jpg", lambda: _other_format("GIF"), "is a GIF file"),
    Hostile("scan.png", lambda: _other_format("TIFF"), "is a TIFF file"),
    Hostile("photo.jpg", lambda: _other_format("WEBP"), "is a WEBP file"),
    Hostile("../../../../etc/cron.d/evil.png", _png, None, "PNG"),
]
