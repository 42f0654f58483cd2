"""Bad input gets a 400 with a message a person understands, and nothing is stored."""

import io
import struct
import zlib

import numpy as np
import PIL.Image
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.models import AuditEvent
from diagnosis.models import Image
from tests.conftest import png_bytes

pytestmark = pytest.mark.django_db


def _upload(client, study, *files):
    return client.post(reverse("diagnosis:study_upload", args=[study.pk]), {"files": list(files)})


def _stored_files(settings):
    return [p for p in settings.MEDIA_ROOT.rglob("*") if p.is_file()] if settings.MEDIA_ROOT.exists() else []


def _bomb_png(width=60000, height=60000) -> bytes:
    """A tiny PNG whose header claims a huge image."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b"")
    )


def _image_bytes(mode, fmt="PNG", size=(32, 24)) -> bytes:
    buffer = io.BytesIO()
    array = np.random.default_rng(1).integers(0, 255, size=(size[1], size[0]), dtype=np.uint8)
    image = PIL.Image.fromarray(array)
    if mode == "I;16":
        image = PIL.Image.fromarray(array.astype(np.uint16) * 257)
    else:
        image = image.convert(mode)
    image.save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "mode", "fmt", "bits"),
    [
        ("g.png", "L", "PNG", 8),
        ("rgb.png", "RGB", "PNG", 8),
        ("rgba.png", "RGBA", "PNG", 8),
        ("pal.png", "P", "PNG", 8),
        ("g16.png", "I;16", "PNG", 16),
        ("g.jpg", "L", "JPEG", 8),
        ("rgb.jpeg", "RGB", "JPEG", 8),
    ],
)
def test_accepted_images_are_stored_and_queued(login, clinician, study, settings, name, mode, fmt, bits):
    response = _upload(login(clinician), study, SimpleUploadedFile(name, _image_bytes(mode, fmt)))
    assert response.status_code == 302
    image = Image.objects.get()
    assert (image.format, image.width, image.height, image.bits) == (fmt, 32, 24, bits)
    assert image.status == Image.Status.QUEUED
    assert len(_stored_files(settings)) == 2  # the original and its display rendition
    assert name not in image.file.name  # stored under a random name
    assert AuditEvent.objects.filter(action="create", object_type="image").count() == 1


def test_upload_queues_inference_on_commit(login, clinician, study, png_upload, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        _upload(login(clinician), study, png_upload())
    # One inference task to send; the other callback marks the site's cached study lists out of date.
    assert [callback.__module__ for callback in callbacks] == ["diagnosis.listings", "diagnosis.services.records"]


def test_several_files_in_one_upload(login, clinician, study, png_upload):
    _upload(login(clinician), study, png_upload("a.png"), png_upload("b.png", size=(80, 64)))
    assert Image.objects.count() == 2


def test_the_same_file_twice_is_refused(login, clinician, study, png_upload):
    response = _upload(login(clinician), study, png_upload("a.png"), png_upload("copy-of-a.png"))
    assert response.status_code == 400
    assert "copy-of-a.png is already in this study" in response.content.decode()
    assert Image.objects.count() == 1


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.png", b"", "empty"),
        ("notes.png", b"this is a text file, not an image", "not an image MedSite can read"),
        ("report.pdf", b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n", "not an image MedSite can read"),
        ("truncated.png", png_bytes()[:200], "truncated.png is truncated: the file ends before the image does."),
        ("bomb.png", _bomb_png(), "decompression bomb"),
        ("scan.gif", _image_bytes("P", "GIF"), "GIF file"),
        ("wide.png", _bomb_png(20000, 10), "largest side allowed"),
    ],
)
def test_bad_files_get_400_and_nothing_is_stored(login, clinician, study, settings, name, content, message):
    response = _upload(login(clinician), study, SimpleUploadedFile(name, content))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Image.objects.exists()
    assert _stored_files(settings) == []


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("cut.png", png_bytes(size=(256, 256))[:-24]),
        ("cut.jpg", _image_bytes("L", "JPEG")[:-24]),  # Pillow: "image file is truncated (N bytes not processed)"
        ("cut-early.jpg", _image_bytes("L", "JPEG")[:200]),  # Pillow: "Truncated File Read"
    ],
)
def test_a_truncated_image_is_explained_in_our_words_not_pillow_s(login, clinician, study, name, content):
    response = _upload(login(clinician), study, SimpleUploadedFile(name, content))
    page = response.content.decode()
    assert response.status_code == 400
    assert (
        f"{name} is truncated: the file ends before the image does. Nothing was stored; upload the complete file."
        in page
    )
    assert "not processed" not in page and "image file is" not in page and "Truncated File Read" not in page
    assert not Image.objects.exists()


def test_a_damaged_image_is_explained_without_pillow_s_text(login, clinician, study):
    content = bytearray(png_bytes(size=(256, 256)))
    content[100:400] = bytes(300)  # a damaged compressed stream, the file as long as before
    response = _upload(login(clinician), study, SimpleUploadedFile("damaged.png", bytes(content)))
    page = response.content.decode()
    assert response.status_code == 400
    assert "damaged.png is damaged: its image data cannot be decoded. Nothing was stored;" in page, page[-3000:]
    assert not Image.objects.exists()


def test_file_over_size_limit(login, clinician, study, settings, png_upload):
    settings.MEDSITE_MAX_UPLOAD_BYTES = 100
    response = _upload(login(clinician), study, png_upload())
    assert response.status_code == 400
    assert "upload limit" in response.content.decode()
    assert not Image.objects.exists()


def test_type_is_detected_by_content_not_extension(login, clinician, study):
    response = _upload(login(clinician), study, SimpleUploadedFile("xray.dcm", png_bytes()))
    assert response.status_code == 302
    assert Image.objects.get().format == "PNG"


def test_good_and_bad_files_together(login, clinician, study, png_upload):
    response = _upload(login(clinician), study, png_upload("good.png"), SimpleUploadedFile("bad.png", b"junk"))
    assert response.status_code == 400
    assert Image.objects.count() == 1  # the good one is kept, the bad one is reported
