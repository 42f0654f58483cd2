"""mlcore.heatmap: the Grad-CAM as a reader sees it (issue 23, "the heatmap hides the image"): only the CAM's upper
half, one hue, outlined, never tinting the low values; and the jet heatmaps stored before, read back to CAM values."""

import io

import numpy as np
from PIL import Image

from mlcore import heatmap


def _cam() -> np.ndarray:
    """A ramp 0..255 left to right, with a hot square in the middle."""
    cam = np.tile(np.linspace(0, 120, 64).astype(np.uint8), (48, 1))
    cam[16:32, 24:40] = 230
    return cam


def _png(array: np.ndarray, mode: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buffer, format="PNG")
    return buffer.getvalue()


def test_the_overlay_is_transparent_below_the_threshold_and_one_hue_above():
    cam = _cam()
    rgba = heatmap.cam_overlay_rgba(cam)
    below = cam < heatmap.CAM_THRESHOLD
    assert below.sum() == 48 * 64 - 16 * 16
    assert not rgba[below].any()  # no colour, no alpha: the low values tint nothing
    above = rgba[~below]
    assert (above[:, :3] == heatmap.CAM_COLOUR).all()  # a single hue, not a colour map
    assert (above[:, 3] > 0).all()


def test_the_overlay_is_outlined_and_shaded_by_the_cam():
    rgba = heatmap.cam_overlay_rgba(_cam())
    alpha = rgba[..., 3]
    assert (alpha[16, 24:40] == 255).all() and (alpha[31, 24:40] == 255).all()  # the outline: opaque
    assert (alpha[16:32, 24] == 255).all() and (alpha[16:32, 39] == 255).all()
    inside = alpha[17:31, 25:39]
    low, high = heatmap.CAM_FILL_ALPHA
    assert (inside > low).all() and (inside < high).all()  # translucent: the image shows through
    ramp = np.array([[heatmap.CAM_THRESHOLD, 200, 255]] * 3, dtype=np.uint8)
    centre = heatmap.cam_overlay_rgba(np.pad(ramp, 1, constant_values=255))[2, 1:4, 3]
    assert centre[0] < centre[1] < centre[2]  # more evidence, more colour


def test_blending_keeps_the_image_grey_where_the_cam_is_low():
    grey = np.full((48, 64), 90, dtype=np.uint8)
    cam = _cam()
    blended = heatmap.blend_overlay(grey, cam)
    below = cam < heatmap.CAM_THRESHOLD
    assert (blended[below] == 90).all()
    assert (blended[~below][:, 0] > blended[~below][:, 2]).all()  # orange where the model looked


def test_jet_heatmaps_stored_before_are_read_back_to_the_cam():
    cam = np.arange(256, dtype=np.uint8).reshape(16, 16)
    jet = heatmap.jet_lut()[cam]
    np.testing.assert_array_equal(heatmap.cam_from_png(_png(jet, "RGB")), cam)
    np.testing.assert_array_equal(heatmap.cam_from_png(_png(cam, "L")), cam)
    np.testing.assert_array_equal(heatmap.cam_from_png(heatmap.cam_png(cam)), cam)


def test_the_overlay_png_is_rgba_at_the_cams_size():
    picture = Image.open(io.BytesIO(heatmap.cam_overlay_png(_cam())))
    assert picture.mode == "RGBA" and picture.size == (64, 48)


def test_heatmap_is_importable_without_tensorflow():
    import subprocess
    import sys

    code = "import sys, mlcore.heatmap; assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
