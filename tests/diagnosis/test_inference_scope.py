"""Images outside the active model's scope (mlcore.scope) finish as `unsuitable`: no label, no heatmap, no shadow
prediction, never on the worklist or in the retraining queue, and final for the study and its page.

Real tiny Keras bundles: one with a size rule alone (32 px), one with a feature check fitted on the pooled features
of its own training images.
"""

import io
from types import SimpleNamespace

import keras
import numpy as np
import PIL.Image
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils.html import escape

from diagnosis.models import Image, Prediction, RetrainingItem, Study
from diagnosis.services import records, registry
from diagnosis.services.inference import image_fail, image_run_inference
from diagnosis.services.review import review_submit
from diagnosis.services.training import model_register
from mlcore.scope import Scope, fit_scope
from tests.conftest import tiny_dataset, train_tiny_bundle
from tests.diagnosis.conftest import png_file

pytestmark = pytest.mark.django_db

TOO_SMALL = "Too small to assess (1×1 px): this model reads images of at least 32 px on each side."


def _pooled_features(model: keras.Model, images: np.ndarray) -> np.ndarray:
    """What the scope's feature check measures: the head's global average pooling ("pool") of raw pixels."""
    side = keras.Model(model.inputs, model.get_layer("pool").output)
    return side([images.astype(np.float32)[..., np.newaxis]], training=False).numpy()


def _feature_scope(result, data) -> Scope:
    return fit_scope(
        _pooled_features(result.model, data.train.images),
        data.train.labels,
        _pooled_features(result.model, data.val.images),
        domain="chest radiograph",
        min_side=8,
    )


@pytest.fixture(scope="module")
def sized_bundle(tmp_path_factory):
    """A chest bundle whose scope is the size rule alone: at least 32 px on each side."""
    return train_tiny_bundle(
        tmp_path_factory.mktemp("sized"), scope_for=lambda result, data: Scope("chest radiograph", min_side=32)
    )


@pytest.fixture(scope="module")
def featured_bundle(tmp_path_factory):
    """A chest bundle whose scope also checks the image's pooled features against its training images'."""
    return train_tiny_bundle(tmp_path_factory.mktemp("featured"), scope_for=_feature_scope)


@pytest.fixture(scope="module")
def plain_bundle(tmp_path_factory):
    """Another chest bundle, without a scope: it refuses nothing."""
    return train_tiny_bundle(tmp_path_factory.mktemp("plain"), seed=7)


def _png(name: str, pixels: np.ndarray) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    PIL.Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


@pytest.fixture
def upload(monkeypatch, django_capture_on_commit_callbacks):
    """Store files in a study as the upload view does; returns the images and the image_pks of the messages sent
    to the inference queue once the uploads committed (a test delivers them by calling image_run_inference)."""
    sent: list[int] = []
    broker = SimpleNamespace(send_task=lambda name, kwargs: sent.append(kwargs["image_pk"]))
    monkeypatch.setattr(records, "current_app", broker)

    def _upload(study, clinician, files) -> list[Image]:
        sent.clear()
        with django_capture_on_commit_callbacks(execute=True):
            images = [records.image_upload(study=study, file=file, uploaded_by=clinician) for file in files]
        assert sent == [image.pk for image in images]
        return images

    return _upload


def test_an_image_too_small_for_the_model_is_unsuitable_and_skips_the_forward_pass(
    settings, sized_bundle, study, clinician, radiologist, upload
):
    settings.MEDSITE_INFERENCE_BATCH_SIZE = 2
    active = model_register(bundle_path=sized_bundle, activate=True)
    tiny, large = upload(study, clinician, [png_file("tiny.png", size=(1, 1)), png_file("large.png")])

    finished = image_run_inference(image_pk=tiny.pk, worker="inference@test")

    assert {image.pk for image in finished} == {tiny.pk, large.pk}  # one batch took both
    tiny.refresh_from_db()
    large.refresh_from_db()
    assert (tiny.status, tiny.failure_reason) == (Image.Status.UNSUITABLE, TOO_SMALL)
    assert not tiny.predictions.exists()
    assert (large.status, large.failure_reason) == (Image.Status.DONE, "")
    prediction = large.predictions.get()
    assert prediction.model_version == active
    assert prediction.batch_size == 1  # the forward pass ran on the large image alone
    study.refresh_from_db()
    assert study.status == Study.Status.AWAITING_REVIEW  # the large image's result waits; the tiny one does not

    review_submit(prediction=prediction, reviewer=radiologist, label=prediction.label)
    study.refresh_from_db()
    assert study.status == Study.Status.AWAITING_READ  # the tiny image has no AI result: a person reads it
    assert list(RetrainingItem.objects.values_list("image_id", flat=True)) == [large.pk]
    assert image_run_inference(image_pk=tiny.pk) == []  # final: a redelivered message does nothing


def test_an_image_unlike_the_training_images_gets_no_label_heatmap_or_shadow_prediction(
    settings, featured_bundle, plain_bundle, study, clinician, superuser, upload
):
    settings.MEDSITE_INFERENCE_BATCH_SIZE = 3
    active = model_register(bundle_path=featured_bundle, activate=True)
    shadow = model_register(bundle_path=plain_bundle)
    registry.model_set_shadow(model_version=shadow, actor=superuser)
    chest_like = tiny_dataset().train.images[20]  # one of the model's own training images (bright centre)
    noise = np.random.default_rng(5).integers(0, 256, size=(16, 16), dtype=np.uint8)
    blank = np.full((16, 16), 255, dtype=np.uint8)
    files = [_png("chest.png", chest_like), _png("noise.png", noise), _png("blank.png", blank)]
    in_scope, *outside = upload(study, clinician, files)

    image_run_inference(image_pk=in_scope.pk, worker="inference@test")

    in_scope.refresh_from_db()
    assert in_scope.status == Image.Status.DONE
    assert {(p.model_version, p.is_shadow) for p in in_scope.predictions.all()} == {(active, False), (shadow, True)}
    assert in_scope.predictions.get(is_shadow=False).heatmap
    for image in outside:
        image.refresh_from_db()
        assert image.status == Image.Status.UNSUITABLE
        assert image.failure_reason.startswith(
            "Not recognised as a chest radiograph like the ones this model was trained on"
        )
        assert not image.predictions.exists()  # neither the active model's nor the shadow's
    heatmaps = list((settings.MEDIA_ROOT / "heatmaps").rglob("*.png"))
    assert len(heatmaps) == 1  # the in-scope image's only
    assert Prediction.objects.count() == 2


def test_a_study_of_unsuitable_images_is_complete_and_never_on_the_worklist(
    sized_bundle, study, clinician, radiologist, client, upload
):
    model_register(bundle_path=sized_bundle, activate=True)
    images = upload(study, clinician, [png_file("a.png", size=(1, 1)), png_file("b.png", size=(20, 40))])
    for image in images:
        image_run_inference(image_pk=image.pk)

    assert set(Image.objects.values_list("status", flat=True)) == {Image.Status.UNSUITABLE}
    assert Image.objects.get(pk=images[1].pk).failure_reason.startswith("Too small to assess (20×40 px)")
    study.refresh_from_db()
    assert study.status == Study.Status.AWAITING_READ  # like no_model: no AI result to review, a human read awaits
    client.force_login(radiologist)
    worklist = client.get(reverse("diagnosis:worklist")).content.decode()
    assert 'data-testid="worklist-row"' not in worklist
    assert client.get(reverse("api:prediction-list")).json()["results"] == []


def test_a_failure_after_the_image_was_found_unsuitable_does_not_turn_it_into_a_failure(
    sized_bundle, study, clinician, upload
):
    model_register(bundle_path=sized_bundle, activate=True)
    (image,) = upload(study, clinician, [png_file("tiny.png", size=(1, 1))])
    image_run_inference(image_pk=image.pk)

    image_fail(image_pk=image.pk, reason="Inference took too long and was stopped.")  # e.g. later in its batch

    image.refresh_from_db()
    assert (image.status, image.failure_reason) == (Image.Status.UNSUITABLE, TOO_SMALL)


def test_the_study_page_shows_the_reason_as_a_notice_and_stops_polling(sized_bundle, study, clinician, client, upload):
    model_register(bundle_path=sized_bundle, activate=True)
    (image,) = upload(study, clinician, [png_file("tiny.png", size=(1, 1))])
    client.force_login(clinician)
    assert 'hx-trigger="every 2s"' in client.get(reverse("diagnosis:study_results", args=[study.pk])).content.decode()
    image_run_inference(image_pk=image.pk)

    for name in ("study_detail", "study_results"):
        html = client.get(reverse(f"diagnosis:{name}", args=[study.pk])).content.decode()
        assert 'hx-trigger="every 2s"' not in html  # final: the poll stops
        assert '<span class="badge status-unsuitable">' + escape("Outside the model's scope") + "</span>" in html
        assert 'data-testid="not-analysed"' in html and escape(TOO_SMALL) in html
        assert "read it without AI support. It does not appear on the AI review worklist." in html
        assert 'class="error"' not in html  # not shown as a failure
        assert "AI label:" not in html
        assert escape("not analysed, outside the model's scope") in html  # what a screen reader announces


def test_the_api_gives_status_unsuitable_with_the_reason(sized_bundle, study, clinician, outsider, api, upload):
    model_register(bundle_path=sized_bundle, activate=True)
    (image,) = upload(study, clinician, [png_file("tiny.png", size=(1, 1))])
    image_run_inference(image_pk=image.pk)

    body = api(clinician).get(reverse("api:image-detail", args=[image.pk])).json()
    assert (body["status"], body["status_reason"], body["predictions"]) == ("unsuitable", TOO_SMALL, [])
    assert body["failure_reason"] == ""  # not a failure: failure_reason is for status failed only
    study_body = api(clinician).get(reverse("api:study-detail", args=[study.pk])).json()
    assert study_body["status"] == "awaiting_read"
    assert [(i["status"], i["status_reason"]) for i in study_body["images"]] == [("unsuitable", TOO_SMALL)]
    assert api(outsider).get(reverse("api:image-detail", args=[image.pk])).status_code == 404


def test_the_api_schema_lists_the_unsuitable_status(client):
    schema = client.get(reverse("schema"), {"format": "json"}).json()
    assert "unsuitable" in schema["components"]["schemas"]["ImageStatusEnum"]["enum"]
