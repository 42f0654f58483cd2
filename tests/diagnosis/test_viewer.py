"""The viewer's server side (issue 23): the heatmap is off by default on the study page and comes as a thresholded,
single-hue overlay (or the CAM itself, from the API); the inline viewer is a plain image without JavaScript; the
dialog and the inline viewer share one control markup."""

import io
import re
from types import SimpleNamespace

import numpy as np
import PIL.Image
import pytest
from django.template.loader import render_to_string
from django.urls import reverse

from accounts.models import AuditEvent
from mlcore import heatmap

pytestmark = pytest.mark.django_db


def _png(response) -> PIL.Image.Image:
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return PIL.Image.open(io.BytesIO(body))


def test_the_study_page_shows_the_heatmap_off_by_default(login, world, clinician):
    page = login(clinician).get(reverse("diagnosis:study_detail", args=[world.study.pk])).content.decode()
    overlay = re.search(r'<img id="heatmap-\d+"[^>]*>', page).group(0)
    assert " hidden" in overlay and 'loading="lazy"' in overlay
    toggle = re.search(r'<input type="checkbox"[^>]*data-heatmap-toggle[^>]*>', page).group(0)
    assert "checked" not in toggle
    assert 'data-viewer-heatmap="' in page  # the viewer can still show it, off until asked for
    assert "data-viewer-pixels" not in page  # a PNG upload: the viewer keeps the 8-bit path and does not ask


def test_the_heatmap_is_an_overlay_on_the_web_and_the_cam_on_request(client, api, world, clinician):
    client.force_login(clinician)
    web = client.get(reverse("diagnosis:prediction_heatmap", args=[world.prediction.pk]))
    assert web.status_code == 200 and web["Cache-Control"] == "private, no-store"
    overlay = _png(web)
    assert overlay.mode == "RGBA"
    with world.prediction.heatmap.open("rb") as fh:
        cam = heatmap.cam_from_png(fh.read())
    rgba = np.asarray(overlay)
    assert not rgba[cam < heatmap.CAM_THRESHOLD].any()  # transparent wherever the CAM is low
    assert (rgba[cam >= heatmap.CAM_THRESHOLD][:, :3] == heatmap.CAM_COLOUR).all()
    client_api = api(clinician)
    from_api = client_api.get(reverse("api:prediction-heatmap", args=[world.prediction.pk]))
    assert np.array_equal(np.asarray(_png(from_api)), rgba)  # the same overlay by default
    raw = client_api.get(reverse("api:prediction-heatmap", args=[world.prediction.pk]), {"style": "cam"})
    assert _png(raw).mode == "L"
    np.testing.assert_array_equal(np.asarray(_png(raw)), cam)
    bad = client_api.get(reverse("api:prediction-heatmap", args=[world.prediction.pk]), {"style": "jet"})
    assert bad.status_code == 400
    styles = AuditEvent.objects.filter(action=AuditEvent.Action.VIEW, object_type="prediction")
    assert sorted(e.detail["style"] for e in styles) == ["cam", "overlay", "overlay"]


def test_a_jet_heatmap_stored_before_is_served_as_the_new_overlay(client, world, clinician):
    """Heatmaps stored before issue 23 are jet-coloured RGB: read back to the CAM by nearest colour."""
    cam = np.tile(np.arange(0, 256, 16, dtype=np.uint8), (16, 1))
    buffer = io.BytesIO()
    PIL.Image.fromarray(heatmap.jet_lut()[cam], mode="RGB").save(buffer, format="PNG")
    with world.prediction.heatmap.open("wb") as fh:
        fh.write(buffer.getvalue())
    client.force_login(clinician)
    rgba = np.asarray(_png(client.get(reverse("diagnosis:prediction_heatmap", args=[world.prediction.pk]))))
    np.testing.assert_array_equal(rgba, heatmap.cam_overlay_rgba(cam))


def _inline(**image) -> str:
    values = {"pk": 7, "format": "DICOM", "original_name": "CT_small.dcm", "width": 128, "height": 96}
    values.update(image)
    image = SimpleNamespace(**values, study=SimpleNamespace(modality="CT"))
    return render_to_string(
        "diagnosis/_viewer_inline.html", {"image": image, "prediction": SimpleNamespace(pk=3, heatmap="x.png")}
    )


def test_the_inline_viewer_is_a_plain_image_without_javascript():
    html = _inline()
    img = re.search(r'<img class="viewer-fallback"[^>]*>', html).group(0)
    assert 'src="/images/7/display.png"' in img and 'alt="CT_small.dcm (display image)"' in img
    assert 'width="128"' in img and 'height="96"' in img
    assert re.search(r"<canvas[^>]*hidden", html) and re.search(r"data-viewer-controls hidden", html)
    for attribute, value in [
        ("data-viewer-src", "/images/7/display.png"),
        ("data-viewer-pixels", "/images/7/pixels/"),
        ("data-viewer-heatmap", "/predictions/3/heatmap.png"),
        ("data-viewer-modality", "CT"),
    ]:
        assert f'{attribute}="{value}"' in html, attribute
    assert "data-viewer-pixels" not in _inline(format="PNG")


def test_the_dialog_and_the_inline_viewer_share_their_controls():
    dialog = render_to_string("diagnosis/_viewer.html")
    inline = _inline()
    for html, prefix in [(dialog, "viewer-"), (inline, "viewer7-")]:
        for control in ("preset", "level", "window", "heatmap-opacity", "help"):
            assert f'id="{prefix}{control}"' in html, (prefix, control)
        assert 'aria-keyshortcuts="w"' in html and 'aria-keyshortcuts="h"' in html
        assert re.search(r"<input type=\"checkbox\" data-viewer-heatmap[^>]*>", html).group(0).count("checked") == 0
    assert "<kbd>Esc</kbd> close" in dialog and "<kbd>Esc</kbd>" not in inline
