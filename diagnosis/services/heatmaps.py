"""The stored Grad-CAM heatmap, read back for the web, the API and the DICOM objects sent to PACS (issue 23).

What is stored (diagnosis.services.inference, mlcore.gradcam.heatmap_png) is the CAM itself as an 8-bit greyscale
PNG; heatmaps stored before issue 23 are jet-coloured and read back to CAM values (mlcore.heatmap.cam_from_png).
Every rendering of it goes through mlcore.heatmap: the CAM's upper half only, one hue, outlined.
"""

import io

import numpy as np
from PIL import Image as PILImage

from diagnosis.models import Prediction
from mlcore import heatmap

STYLES = ("overlay", "cam")


def heatmap_cam(prediction: Prediction) -> np.ndarray:
    """The prediction's CAM, uint8 (H, W) at the stored heatmap's size."""
    with prediction.heatmap.open("rb") as fh:
        return heatmap.cam_from_png(fh.read())


def heatmap_rendition(prediction: Prediction, *, style: str = "overlay") -> bytes:
    """The heatmap as a PNG: "overlay", the RGBA overlay the web draws over the image (transparent below the
    threshold); "cam", the CAM as 8-bit greyscale."""
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}")
    cam = heatmap_cam(prediction)
    return heatmap.cam_overlay_png(cam) if style == "overlay" else heatmap.cam_png(cam)


def heatmap_over_image(prediction: Prediction) -> np.ndarray:
    """The heatmap drawn over the greyscale display image, RGB uint8 at the heatmap's size: the same overlay as the
    web's, composited (for the Secondary Capture sent to PACS)."""
    cam = heatmap_cam(prediction)
    image = prediction.image
    if image.display_file:
        with image.display_file.open("rb") as fh:
            grey = PILImage.open(io.BytesIO(fh.read())).convert("L").resize((cam.shape[1], cam.shape[0]))
        base = np.asarray(grey, dtype=np.uint8)
    else:
        base = np.zeros(cam.shape, dtype=np.uint8)
    return heatmap.blend_overlay(base, cam)
