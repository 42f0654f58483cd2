"""The hostile corpus (tests/hostile/corpus.py) through the four ways files come in: the study page's upload, the
DICOM import page, and their two REST twins, each as a clinician of the site.

Each file is refused with a 4xx and a message a person understands, and leaves nothing behind (no row, no patient
or study, no file under MEDIA_ROOT or in the upload temp folder); or it is accepted as the corpus says, with a
display rendition. A last test runs a live worker through the accepted ones and a good image after them.
"""

import html
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL.Image
import pydicom
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import ApiToken
from diagnosis.models import Image, Patient, Study
from diagnosis.services import records
from diagnosis.services.training import model_register
from tests import live
from tests.datasets import DICOM_SAMPLES
from tests.diagnosis.conftest import png_file
from tests.factories import PatientFactory, StudyFactory
from tests.hostile.corpus import CORPUS, HOSTILE_PATIENT_ID, HTML, PHP, Hostile, _gradient

pytestmark = [
    pytest.mark.django_db,
    # pydicom warns, and carries on, about what these files feed it on purpose
    pytest.mark.filterwarnings("ignore::UserWarning:pydicom.*"),
    pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning"),
]

NOT_DICOM = "is not a DICOM file"


@dataclass(frozen=True)
class Answer:
    status: int
    message: str  # what the person is shown: the page's alert, or the API's error messages
    body: str


@dataclass(frozen=True)
class Way:
    """One way files come in: web or API, into a study or as a DICOM import."""

    name: str
    post: Callable[..., Answer]
    imports: bool  # DICOM import: a file that is not DICOM is refused with NOT_DICOM
    accepted_status: int


def _alert(response) -> Answer:
    body = response.content.decode()
    alert = re.search(r'<div class="error" role="alert">(.*?)</div>', body, re.S)
    text = html.unescape(re.sub(r"<[^>]+>", " ", alert.group(1))) if alert else ""
    return Answer(response.status_code, " ".join(text.split()), body)


def _errors(response) -> Answer:
    body = response.content.decode()
    data = response.json()
    if "errors" in data:
        message = " ".join(error["message"] for error in data["errors"])
    else:  # DRF's field errors
        message = " ".join(str(value) for value in data.values())
    return Answer(response.status_code, message, body)


def _web_study(world, uploads):
    client = Client()
    client.force_login(world.clinician)
    return _alert(client.post(reverse("diagnosis:study_upload", args=[world.study.pk]), {"files": uploads}))


def _web_import(world, uploads):
    client = Client()
    client.force_login(world.clinician)
    return _alert(client.post(reverse("diagnosis:dicom_import"), {"site": world.site.pk, "files": uploads}))


def _api_client(world) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {ApiToken.objects.create(user=world.clinician, name='test')[1]}")
    return client


def _api_study(world, uploads):
    url = reverse("api:study-images", args=[world.study.pk])
    return _errors(_api_client(world).post(url, {"files": uploads}, format="multipart"))


def _api_import(world, uploads):
    url = reverse("api:import-list")
    return _errors(_api_client(world).post(url, {"site": world.site.pk, "files": uploads}, format="multipart"))


WAYS = [
    Way("web study upload", _web_study, imports=False, accepted_status=302),
    Way("web DICOM import", _web_import, imports=True, accepted_status=200),
    Way("API study images", _api_study, imports=False, accepted_status=201),
    Way("API DICOM import", _api_import, imports=True, accepted_status=201),
]


def _refusal(item: Hostile, way: Way) -> str | None:
    """The phrase the refusal must hold this way in, or None when the file is accepted."""
    if way.imports and not item.dicom and item.refusal != "empty":
        return NOT_DICOM
    return item.refusal


@pytest.fixture
def world(site, clinician):
    """A clinician's study of the patient the corpus' DICOM files name (their PatientID and PatientName: an import
    under a known MRN compares the name too)."""
    patient = PatientFactory(site=site, mrn=HOSTILE_PATIENT_ID, name="Test Hostile")
    return type("World", (), {"site": site, "clinician": clinician, "study": StudyFactory(patient=patient)})


@pytest.fixture(autouse=True)
def upload_temp_dir(settings, tmp_path):
    """Uploads over FILE_UPLOAD_MAX_MEMORY_SIZE (5 MB) are spooled here by Django; it must end up empty."""
    folder = tmp_path / "upload-tmp"
    folder.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(folder)
    return folder


@pytest.fixture(scope="session")
def hostile_files(tmp_path_factory) -> dict[str, Path]:
    """The corpus, generated into a temporary folder (kept by pytest's --basetemp for a look)."""
    folder = tmp_path_factory.mktemp("hostile-corpus")
    files = {}
    for number, item in enumerate(CORPUS):
        if item.needs_samples and not DICOM_SAMPLES.is_dir():
            continue
        path = folder / f"{number:02d}-{re.sub(r'[^A-Za-z0-9.-]', '_', item.name)}"
        path.write_bytes(item.content)
        files[item.name] = path
    return files


def _media_files() -> set[Path]:
    root = Path(settings.MEDIA_ROOT)
    return {path for path in root.rglob("*") if path.is_file()} if root.exists() else set()


def _counts() -> tuple[int, int, int]:
    return Image.objects.count(), Patient.objects.count(), Study.objects.count()


def test_the_corpus_is_big_and_varied():
    assert len(CORPUS) >= 40
    assert len({item.name for item in CORPUS}) == len(CORPUS)
    assert sum(item.refusal is None for item in CORPUS) >= 10  # and some hostile files are fine images


NO_SAMPLES = pytest.mark.skipif(not DICOM_SAMPLES.is_dir(), reason="the shared DICOM samples were not found")
CASES = [
    pytest.param(item, way, id=f"{item.name} via {way.name}", marks=[NO_SAMPLES] if item.needs_samples else [])
    for item in CORPUS
    for way in WAYS
]


@pytest.mark.parametrize(("item", "way"), CASES)
def test_hostile_file(world, hostile_files, upload_temp_dir, item, way):
    before_rows, before_files = _counts(), _media_files()
    answer = way.post(world, [SimpleUploadedFile(item.name, hostile_files[item.name].read_bytes())])
    assert answer.status < 500
    assert "Traceback" not in answer.body
    assert list(upload_temp_dir.iterdir()) == [], "an upload temp file was left behind"
    refusal = _refusal(item, way)
    if refusal is not None:
        assert 400 <= answer.status < 500
        assert refusal in answer.message, answer.message or answer.body[:2000]
        assert _counts() == before_rows, "a refused file left a row (image, patient or study)"
        assert _media_files() == before_files, "a refused file left a file under MEDIA_ROOT"
        return
    assert answer.status == way.accepted_status, answer.message or answer.body[:2000]
    image = Image.objects.latest("pk")
    assert _counts()[0] == before_rows[0] + 1
    assert image.format == item.accepted_as
    new_files = _media_files() - before_files
    assert len(new_files) == (3 if image.format == "DICOM" else 2)  # original, display (and de-identified)
    assert all(Path(settings.MEDIA_ROOT) in path.parents for path in new_files)
    with image.display_file.open("rb") as fh:
        display = PIL.Image.open(fh)
        assert (display.format, display.mode, display.size) == ("PNG", "L", (image.width, image.height))


# --- what accepted hostile files become ---------------------------------------------------------------------


def _stored(world, item_name: str) -> Image:
    item = next(item for item in CORPUS if item.name == item_name)
    upload = SimpleUploadedFile(item.name, item.content)
    return records.image_upload(study=world.study, file=upload, uploaded_by=world.clinician)


def _display(image: Image) -> np.ndarray:
    with image.display_file.open("rb") as fh:
        return np.asarray(PIL.Image.open(fh))


@pytest.mark.parametrize("name", ["grey-16bit.png", "cmyk.jpg"])
def test_16_bit_and_cmyk_images_are_displayed_as_their_grey_levels(world, name):
    image = _stored(world, name)
    display = _display(image).astype(float)
    source = _gradient().astype(float)
    assert display.shape == source.shape
    assert np.corrcoef(display.ravel(), source.ravel())[0, 1] > 0.99
    assert display[20, 30] > display[2, 2] + 100  # the bright square stays bright, the dark corner dark
    assert image.bits == (16 if name.endswith(".png") else 8)


@pytest.mark.parametrize(
    ("name", "payload"),
    [
        ("png-then-zip.png", b"PK\x03\x04"),
        ("png-html-text.png", HTML),
        ("jpeg-php-comment.jpg", PHP),
        ("jpeg-then-html.jpg", HTML),
    ],
)
def test_polyglot_payloads_never_reach_the_display_rendition(world, client, name, payload):
    image = _stored(world, name)
    with image.display_file.open("rb") as fh:
        assert payload not in fh.read()
    client.force_login(world.clinician)
    # The original keeps its bytes, but is only ever a download, of its declared image type, never sniffed.
    response = client.get(reverse("diagnosis:image_original", args=[image.pk]))
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["Content-Type"] in ("image/png", "image/jpeg")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'self'" in response["Content-Security-Policy"]
    response.close()


def test_a_png_in_the_dicom_preamble_is_dropped_from_the_deidentified_copy(world):
    image = _stored(world, "dicom-preamble-png.png")
    with image.deidentified_file.open("rb") as fh:
        assert fh.read(132) == b"\0" * 128 + b"DICM"


def test_an_enormous_private_tag_is_dropped_from_the_deidentified_copy(world):
    image = _stored(world, "private-tag-8mb.dcm")
    with image.deidentified_file.open("rb") as fh:
        data = fh.read()
    assert len(data) < 100_000
    assert not [elem for elem in pydicom.dcmread(io.BytesIO(data)) if elem.tag.is_private]


# --- a live worker through it all ----------------------------------------------------------------------------


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_live_worker_survives_the_corpus_and_predicts_a_good_image_after_it(tmp_path, tiny_bundle, site, clinician):
    env = live.postgres_redis_env(settings, tmp_path / "var")
    if env is None:
        pytest.skip("needs DATABASE_URL=postgres://... and CELERY_BROKER_URL=redis://... (make test sets them)")
    model_register(bundle_path=tiny_bundle, activate=True)
    patient = PatientFactory(site=site, mrn=HOSTILE_PATIENT_ID)
    study = StudyFactory(patient=patient, modality="CR", body_part="CHEST")  # the chest model reads them all
    world = type("World", (), {"site": site, "clinician": clinician, "study": study})
    log = tmp_path / "worker.log"
    with live.worker(env, log) as proc:
        files = [SimpleUploadedFile(item.name, item.content) for item in CORPUS if not item.needs_samples]
        answer = _api_study(world, files)
        assert answer.status == 400  # most were refused; the accepted ones are stored and queued
        good = records.image_upload(study=study, file=png_file("good.png", size=(40, 40)), uploaded_by=clinician)
        live.wait_for(
            lambda: not Image.objects.filter(study=study, status__in=["queued", "processing"]).exists(),
            timeout=180,
            what="every stored image to be analysed",
        )
        assert proc.poll() is None, f"the worker died:\n{log.read_text()[-3000:]}"
    good.refresh_from_db()
    assert good.status == Image.Status.DONE, log.read_text()[-3000:]
    assert good.current_prediction().label in ("normal", "pneumonia")
    accepted = Image.objects.filter(study=study).exclude(pk=good.pk)
    assert accepted.count() == sum(item.refusal is None for item in CORPUS if not item.needs_samples)
    assert set(accepted.values_list("status", flat=True)) == {Image.Status.DONE}
