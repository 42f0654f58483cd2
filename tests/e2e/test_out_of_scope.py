"""The out-of-scope outcome in a real browser: a clinician uploads a photograph and a 1×1 PNG to a chest study
together with a chest image, while the active chest model has a scope (mlcore.scope) as the starter model does.
The two are "Not analysed" with their reasons and no AI label, and the study does not stay "being analysed".

Its own module: the scoped model is active only while this module runs (a module fixture), and the package's
active model is put back afterwards, so the other journeys see the model they expect, whatever the order.
"""

import io
import re

import keras
import numpy as np
import PIL.Image
import pytest
import skimage.data
from playwright.sync_api import expect

from diagnosis.models import Image, ModelVersion
from diagnosis.services.records import CHEST_XRAY
from diagnosis.services.registry import model_activate
from diagnosis.services.training import model_register
from mlcore.scope import Scope, fit_scope
from tests.conftest import tiny_dataset, train_tiny_bundle
from tests.e2e.conftest import CLINICIAN, PREDICTION_TIMEOUT, assert_no_page_errors
from tests.factories import PatientFactory, StudyFactory

pytestmark = [pytest.mark.e2e, pytest.mark.live, pytest.mark.django_db, pytest.mark.timeout(300)]

MIN_SIDE = 8  # the tiny model reads 16 px images
TOO_SMALL = f"Too small to assess (1×1 px): this model reads images of at least {MIN_SIDE} px on each side."
UNLIKE = "Not recognised as a chest radiograph like the ones this model was trained on, so the AI gave it no label"


def _pooled_features(model: keras.Model, images: np.ndarray) -> np.ndarray:
    """What the scope's feature check measures: the head's global average pooling ("pool") of raw pixels."""
    side = keras.Model(model.inputs, model.get_layer("pool").output)
    return side([images.astype(np.float32)[..., np.newaxis]], training=False).numpy()


def _chest_scope(result, data) -> Scope:
    """A size rule and a feature check fitted on the tiny model's own training images, as training with a domain
    fits one for real models."""
    return fit_scope(
        _pooled_features(result.model, data.train.images),
        data.train.labels,
        _pooled_features(result.model, data.val.images),
        domain="chest radiograph",
        min_side=MIN_SIDE,
    )


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    PIL.Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def scoped_model(site_live, tmp_path_factory):
    """A tiny chest model with a scope, the active chest model while this module runs (written outside the tests'
    transactions, like the package's fixtures, so that the worker sees it); the previous one is active again after."""
    bundle = train_tiny_bundle(tmp_path_factory.mktemp("scoped"), scope_for=_chest_scope)
    previous = ModelVersion.objects.get(task=CHEST_XRAY, status=ModelVersion.Status.ACTIVE)
    scoped = model_activate(model_version=model_register(bundle_path=bundle), actor=None, reason="e2e: scoped model")
    yield scoped
    model_activate(model_version=previous, actor=None, reason="e2e: the package's model again")


@pytest.fixture(scope="module")
def outside_study(site_live):
    patient = PatientFactory(site=site_live.site, name="Otto Outside")
    return StudyFactory(patient=patient, modality="DX", body_part="CHEST")


def test_out_of_scope_images_are_not_analysed(browser, scoped_model, outside_study, screenshot):
    page = browser.as_user(CLINICIAN)
    page.goto(f"/studies/{outside_study.pk}/")
    expect(page.locator("#results")).to_contain_text("No images yet.")
    files = {
        "chest.png": tiny_dataset().train.images[20],  # one of the model's own training images: in scope
        "cat-photo.png": skimage.data.chelsea(),  # a colour photograph, 451×300
        "one-pixel.png": np.full((1, 1), 128, dtype=np.uint8),
    }
    page.get_by_label("Choose files…").set_input_files(
        [{"name": name, "mimeType": "image/png", "buffer": _png(pixels)} for name, pixels in files.items()]
    )
    expect(page.locator("[data-upload-summary]")).to_have_text("Finished: 3 of 3 files stored.")

    cards = page.locator("#results .image-card")
    chest, photo, tiny = (cards.filter(has_text=name) for name in files)
    expect(chest.get_by_test_id("ai-label")).to_be_visible(timeout=PREDICTION_TIMEOUT)
    for card, reason in ((photo, UNLIKE), (tiny, TOO_SMALL)):
        notice = card.get_by_test_id("not-analysed")
        expect(notice).to_be_visible(timeout=PREDICTION_TIMEOUT)
        expect(notice).to_contain_text(f"Not analysed: {reason}")
        expect(notice).to_contain_text("The AI gave this image no label: read it without AI support.")
        expect(card.locator(".badge")).to_have_text("Outside the model's scope")
        expect(card.get_by_test_id("ai-label")).to_have_count(0)
        expect(card.get_by_test_id("heatmap")).to_have_count(0)
        expect(card.locator(".error")).to_have_count(0)  # a neutral notice, not a failure
    expect(chest.get_by_test_id("not-analysed")).to_have_count(0)
    expect(chest.get_by_test_id("heatmap")).to_have_count(1)  # there, and hidden until asked for (issue 23)
    expect(chest.get_by_test_id("heatmap")).to_be_hidden()

    # Final: the study waits for the chest image's review only, and the page has stopped polling.
    expect(page.get_by_test_id("study-status")).to_have_text("Awaiting review")
    expect(page.locator("#results")).not_to_have_attribute("hx-trigger", re.compile("."))
    expect(page.locator("#results-announcer")).to_contain_text("not analysed, outside the model's scope")
    images = {image.original_name: image for image in Image.objects.filter(study=outside_study)}
    assert {name: image.status for name, image in images.items()} == {
        "chest.png": Image.Status.DONE,
        "cat-photo.png": Image.Status.UNSUITABLE,
        "one-pixel.png": Image.Status.UNSUITABLE,
    }
    assert images["cat-photo.png"].failure_reason.startswith(UNLIKE)
    assert images["one-pixel.png"].failure_reason == TOO_SMALL
    assert not images["cat-photo.png"].predictions.exists() and not images["one-pixel.png"].predictions.exists()
    prediction = images["chest.png"].predictions.get()
    assert prediction.model_version == scoped_model
    expect(chest.get_by_test_id("ai-label")).to_have_text(prediction.label)
    screenshot(page)

    # A reload shows the same final page: nothing is left "being analysed".
    page.reload()
    expect(page.get_by_test_id("not-analysed")).to_have_count(2)
    expect(page.get_by_test_id("ai-label")).to_have_count(1)
    expect(page.locator("#results")).not_to_have_attribute("hx-trigger", re.compile("."))
    assert_no_page_errors(page)
