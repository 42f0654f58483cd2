"""A full image storage (disk full, quota): an upload is refused with a clear message and leaves nothing behind;
a heatmap that finds no room is retried, never turns an accepted image into a failed one.

The same with a real full tmpfs, a live worker and gunicorn is tests/faults (make test-faults).
"""

import errno
import os

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import FileSystemStorage

from diagnosis.models import Image, Prediction
from diagnosis.services import records
from diagnosis.services.training import model_register
from diagnosis.tasks import run_inference_task
from tests.diagnosis.conftest import png_file

pytestmark = pytest.mark.django_db


@pytest.fixture
def full_disk(monkeypatch):
    """Writes under `folder` leave a partial file and fail with ENOSPC, `times` times (0: always)."""

    def make(folder: str, times: int = 0):
        real_save = FileSystemStorage._save
        left = [times]

        def save(storage, name, content):
            if name.startswith(folder) and (times == 0 or left[0] > 0):
                left[0] -= 1
                path = storage.path(name)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "wb") as fh:
                    fh.write(b"\x89PNG partial")
                raise OSError(errno.ENOSPC, "No space left on device")
            return real_save(storage, name, content)

        monkeypatch.setattr(FileSystemStorage, "_save", save)

    return make


def _files(settings) -> list[str]:
    return sorted(str(p.relative_to(settings.MEDIA_ROOT)) for p in settings.MEDIA_ROOT.rglob("*") if p.is_file())


def test_an_upload_refused_for_a_full_disk_says_so_and_leaves_no_file_or_row(settings, full_disk, study, clinician):
    full_disk("display/")  # the original fits, the display rendition does not
    with pytest.raises(ValidationError, match="the image storage is full. Nothing was kept"):
        records.image_upload(study=study, file=png_file("chest.png"), uploaded_by=clinician)
    assert not Image.objects.exists()
    assert _files(settings) == []  # neither the stored original nor the partial display file


def test_a_heatmap_without_room_is_retried_and_the_image_predicted_once(
    settings, full_disk, tiny_bundle, site, clinician
):
    model_register(bundle_path=tiny_bundle, activate=True)
    study = records.study_create(
        patient=records.patient_create(site=site, mrn="F-1", name="F", created_by=clinician),
        modality="CR",
        body_part="CHEST",
        created_by=clinician,
    )
    image = records.image_upload(study=study, file=png_file("chest.png"), uploaded_by=clinician)
    full_disk("heatmaps/", times=2)  # two attempts find the disk full, the third has room
    run_inference_task.apply(kwargs={"image_pk": image.pk})
    image.refresh_from_db()
    assert (image.status, image.failure_reason) == (Image.Status.DONE, "")
    prediction = Prediction.objects.get(image=image)
    heatmaps = [name for name in _files(settings) if name.startswith("heatmaps/")]
    assert heatmaps == [prediction.heatmap.name]  # the partial files of the failed attempts are gone
