"""The Grad-CAM heatmap as a reader sees it: numpy and PIL only (no TensorFlow), so the web can render it.

Issue 23: jet colour over the whole image hid the image, and the low values tinted everything blue. The heatmap is
now stored as the CAM itself, an 8-bit greyscale PNG (0: no evidence, 255: the most; mlcore.gradcam.heatmap_png),
and shown as cam_overlay_rgba: only the CAM's upper half (>= CAM_THRESHOLD), in one hue, shaded more where the CAM
is higher, outlined where it crosses the threshold, transparent elsewhere, so the low values tint nothing.
Heatmaps stored jet-coloured before are read back to CAM values by cam_from_png (nearest colour of jet_lut()).
"""

import io

import numpy as np
from PIL import Image

OVERLAY_ALPHA = 0.4  # the jet overlay's weight, before issue 23; kept for its importers
CAM_THRESHOLD = 128  # of 255: the CAM's upper half
CAM_COLOUR = (255, 140, 0)  # one hue, orange: apart from every grey level of the image
CAM_FILL_ALPHA = (40, 120)  # the fill's alpha at the threshold and at the maximum (tissue shows through)


def to_cam8(heatmap: np.ndarray) -> np.ndarray:
    """A 0..1 heatmap as uint8 0..255."""
    return np.clip(np.rint(np.asarray(heatmap, dtype=np.float32) * 255), 0, 255).astype(np.uint8)


def cam_png(cam: np.ndarray) -> bytes:
    """The uint8 CAM (H, W) as an 8-bit greyscale PNG."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(cam, dtype=np.uint8), mode="L").save(buffer, format="PNG", compress_level=3)
    return buffer.getvalue()


def cam_from_png(data: bytes) -> np.ndarray:
    """A stored heatmap PNG as the uint8 CAM (H, W). Greyscale PNGs are the CAM; heatmaps stored before issue 23
    are jet-coloured RGB and are turned back into CAM values by the nearest colour of jet_lut()."""
    picture = Image.open(io.BytesIO(data))
    if picture.mode in ("L", "I;16", "I"):
        return np.asarray(picture.convert("L"), dtype=np.uint8)
    rgb = np.asarray(picture.convert("RGB"), dtype=np.int32)
    if (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all():
        return rgb[..., 0].astype(np.uint8)
    lut = jet_lut().astype(np.int32)  # (256, 3)
    colours, inverse = np.unique(rgb.reshape(-1, 3), axis=0, return_inverse=True)
    distances = ((colours[:, np.newaxis, :] - lut[np.newaxis, :, :]) ** 2).sum(axis=-1)  # (colours, 256)
    return distances.argmin(axis=1).astype(np.uint8)[inverse.ravel()].reshape(rgb.shape[:2])


def cam_overlay_rgba(cam: np.ndarray, threshold: int = CAM_THRESHOLD) -> np.ndarray:
    """The uint8 CAM (H, W) as an RGBA overlay (H, W, 4): fully transparent below `threshold`; at and above it
    CAM_COLOUR, its alpha growing with the CAM over CAM_FILL_ALPHA, opaque on the outline (a pixel above with a
    4-neighbour below, or on the image's edge)."""
    cam = np.asarray(cam, dtype=np.uint8)
    above = cam >= threshold
    low, high = CAM_FILL_ALPHA
    span = max(1, 255 - threshold)
    alpha = np.where(above, low + (cam.astype(np.float32) - threshold) * ((high - low) / span), 0.0)
    padded = np.pad(above, 1, mode="constant", constant_values=False)
    inside = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    alpha[above & ~inside] = 255
    rgba = np.zeros((*cam.shape, 4), dtype=np.uint8)
    rgba[above, :3] = CAM_COLOUR
    rgba[..., 3] = np.clip(np.rint(alpha), 0, 255).astype(np.uint8)
    return rgba


def cam_overlay_png(cam: np.ndarray, threshold: int = CAM_THRESHOLD) -> bytes:
    """cam_overlay_rgba as an RGBA PNG: what the web draws over the image (thumbnails and viewer)."""
    buffer = io.BytesIO()
    Image.fromarray(cam_overlay_rgba(cam, threshold), mode="RGBA").save(buffer, format="PNG", compress_level=3)
    return buffer.getvalue()


def blend_overlay(grey: np.ndarray, cam: np.ndarray, threshold: int = CAM_THRESHOLD) -> np.ndarray:
    """The grey uint8 image (H, W) with cam_overlay_rgba of the uint8 CAM (same H, W) composited over it, as RGB
    uint8. Below the threshold every pixel keeps the image's own grey."""
    overlay = cam_overlay_rgba(cam, threshold).astype(np.float32)
    alpha = overlay[..., 3:] / 255.0
    base = np.repeat(np.asarray(grey, dtype=np.float32)[..., np.newaxis], 3, axis=-1)
    return np.clip(np.rint(base * (1.0 - alpha) + overlay[..., :3] * alpha), 0, 255).astype(np.uint8)


def overlay_png(image: np.ndarray, heatmap: np.ndarray, alpha: float = OVERLAY_ALPHA) -> bytes:
    """PNG of the grey image (H, W) with the 0..1 heatmap (same H, W) over it as blend_overlay draws it. `alpha`
    is kept for the jet version's callers and unused: the overlay's alpha follows the CAM."""
    buffer = io.BytesIO()
    Image.fromarray(blend_overlay(image, to_cam8(heatmap)), mode="RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def jet_lut() -> np.ndarray:
    """(256, 3) uint8 jet-like colour map: dark blue -> cyan -> yellow -> dark red. No longer drawn (issue 23);
    cam_from_png reads the heatmaps stored with it."""
    v = np.linspace(0.0, 1.0, 256)
    channels = [np.clip(1.5 - np.abs(4.0 * v - centre), 0.0, 1.0) for centre in (3.0, 2.0, 1.0)]
    return np.rint(np.stack(channels, axis=-1) * 255).astype(np.uint8)
