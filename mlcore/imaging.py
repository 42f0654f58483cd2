"""Decoding single images to grayscale arrays. Pillow and NumPy only: no TensorFlow, cheap to import."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps

_HIGH_BIT_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_PIL_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)


class DataError(ValueError):
    """Input data that cannot be used; the message is meant for a human."""


def load_image(source: str | Path | BinaryIO) -> np.ndarray:
    """Decode one image (path or binary file object) to uint8 grayscale (H, W), EXIF orientation applied."""
    try:
        with Image.open(source) as opened:
            opened.load()
            img = ImageOps.exif_transpose(opened)
            if img.mode in _HIGH_BIT_MODES:
                return to_uint8(np.asarray(img))
            if img.mode in _ALPHA_MODES or (img.mode == "P" and "transparency" in img.info):
                # Transparent areas become black, the usual background of a radiograph.
                rgba = img.convert("RGBA")
                img = Image.alpha_composite(Image.new("RGBA", rgba.size, (0, 0, 0, 255)), rgba)
            return np.asarray(img.convert("L"), dtype=np.uint8)
    except _PIL_ERRORS as exc:
        raise DataError(f"unreadable image: {exc}") from exc


def to_uint8(arr: np.ndarray) -> np.ndarray:
    """Map any numeric array linearly onto 0..255 by its min and max."""
    arr = arr.astype(np.float64)
    lo, hi = float(arr.min()), float(arr.max())
    if hi <= lo:
        return np.zeros(arr.shape, dtype=np.uint8)
    return np.rint((arr - lo) * (255.0 / (hi - lo))).astype(np.uint8)


def resize_square(pixels: np.ndarray, size: int) -> np.ndarray:
    """uint8 (H, W) -> (size, size): the one resize training data and served images both go through.

    Bilinear with Pillow's support scaling is antialiased, like the model's Resizing(antialias=True).
    """
    if pixels.shape == (size, size):
        return pixels
    return np.asarray(Image.fromarray(pixels).resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)
