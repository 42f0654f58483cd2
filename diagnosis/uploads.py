"""Content-based validation of uploaded image files, before anything is stored."""

import hashlib
import warnings
from dataclasses import dataclass

import PIL.Image
from django.conf import settings

from medsite.errors import DomainError

ACCEPTED_FORMATS = {"PNG", "JPEG"}
BITS_BY_MODE = {"1": 1, "L": 8, "LA": 8, "P": 8, "RGB": 8, "RGBA": 8, "CMYK": 8, "I;16": 16, "I;16B": 16, "I": 16}


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int
    bits: int
    sha256: str


def check_size(file) -> None:
    """Refuse empty and oversized files before anything reads them."""
    name = getattr(file, "name", "the file")
    if file.size == 0:
        raise DomainError(f"{name} is empty (0 bytes).")
    if file.size > settings.MEDSITE_MAX_UPLOAD_BYTES:
        limit_mb = settings.MEDSITE_MAX_UPLOAD_BYTES // (1024 * 1024)
        raise DomainError(f"{name} is larger than the {limit_mb} MB upload limit.")


def inspect_image(file) -> ImageInfo:
    """Check that ``file`` really is a PNG or JPEG we can decode within the limits.

    Raises DomainError with a message for the person who uploaded it.
    """
    name = getattr(file, "name", "the file")
    check_size(file)
    file.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PIL.Image.DecompressionBombWarning)
            with PIL.Image.open(file) as image:
                if image.format not in ACCEPTED_FORMATS:
                    raise DomainError(f"{name} is a {image.format} file; upload DICOM, PNG or JPEG files.")
                width, height = image.size
                check_dimensions(name, width, height)
                image.load()  # full decode: catches truncated and corrupt data
                bits = BITS_BY_MODE.get(image.mode, 8)
                image_format = image.format
    except (PIL.Image.DecompressionBombError, PIL.Image.DecompressionBombWarning):
        raise DomainError(f"{name} declares more pixels than allowed; it looks like a decompression bomb.") from None
    except PIL.UnidentifiedImageError:
        raise DomainError(f"{name} is not an image MedSite can read; upload DICOM, PNG or JPEG files.") from None
    except (OSError, SyntaxError, ValueError) as exc:  # Pillow's own words are not for the person who uploaded
        raise DomainError(decode_failure(name, exc)) from None
    return ImageInfo(format=image_format, width=width, height=height, bits=bits, sha256=file_sha256(file))


def decode_failure(name: str, exc: Exception) -> str:
    """What to tell the person whose file Pillow could not decode (never Pillow's text: "image file is truncated
    (24 bytes not processed)", "broken data stream when reading image file")."""
    if "truncated" in str(exc).lower():
        return (
            f"{name} is truncated: the file ends before the image does. Nothing was stored; upload the complete file."
        )
    return f"{name} is damaged: its image data cannot be decoded. Nothing was stored; upload an undamaged copy."


def check_dimensions(name: str, width: int, height: int) -> None:
    max_side = settings.MEDSITE_MAX_IMAGE_SIDE
    if width > max_side or height > max_side:
        raise DomainError(f"{name} is {width}x{height} pixels; the largest side allowed is {max_side}.")
    if width * height > settings.MEDSITE_MAX_IMAGE_PIXELS:
        raise DomainError(f"{name} has {width * height:,} pixels; the limit is {settings.MEDSITE_MAX_IMAGE_PIXELS:,}.")


def file_sha256(file) -> str:
    digest = hashlib.sha256()
    file.seek(0)
    for chunk in iter(lambda: file.read(1024 * 1024), b""):
        digest.update(chunk)
    file.seek(0)
    return digest.hexdigest()
