"""The display rendition's PNG (records._png, written without Pillow's encoder for speed): any reader decodes it to
exactly the pixels it was given, whatever the size or content."""

import io

import numpy as np
import PIL.Image
import pytest

from diagnosis.services.records import _png


@pytest.mark.parametrize("shape", [(1, 1), (1, 17), (17, 1), (3, 5), (64, 64), (257, 129), (1024, 768)])
@pytest.mark.parametrize("content", ["noise", "gradient", "constant", "extremes"])
def test_the_display_png_decodes_to_the_same_pixels(shape, content):
    rng = np.random.default_rng(sum(shape))
    pixels = {
        "noise": lambda: rng.integers(0, 256, shape, dtype=np.uint8),
        "gradient": lambda: (np.indices(shape).sum(axis=0) % 256).astype(np.uint8),
        "constant": lambda: np.full(shape, 77, dtype=np.uint8),
        "extremes": lambda: np.where(rng.random(shape) < 0.5, 0, 255).astype(np.uint8),
    }[content]()
    decoded = PIL.Image.open(io.BytesIO(_png(pixels)))
    decoded.load()  # checks every chunk's CRC and the zlib stream
    assert decoded.format == "PNG" and decoded.mode == "L" and decoded.size == (shape[1], shape[0])
    assert np.array_equal(np.asarray(decoded), pixels)
