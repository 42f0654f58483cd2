"""Cached worklist and study-list pages (diagnosis.listings): fast on a repeat; what people change shows at once,
what workers produce within MEDSITE_LIST_CACHE_SECONDS.

Writes here go through the services; their on-commit work other than the listings' (sending inference tasks) is
left out, so no message reaches the broker.
"""

import time
from contextlib import contextmanager

import pytest
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import AuditEvent, Role
from diagnosis.models import Image, Prediction
from diagnosis.services import records, review
from diagnosis.services.inference import image_fail, prediction_create
from tests.conftest import with_totp
from tests.diagnosis.conftest import png_file
from tests.factories import MembershipFactory, PatientFactory, StudyFactory


@pytest.fixture
def list_cache(settings):
    settings.MEDSITE_LIST_CACHE_SECONDS = 15
    caches["listings"].clear()


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run the listings' on-commit callbacks of the writes inside the block (and no others)."""

    @contextmanager
    def block():
        with django_capture_on_commit_callbacks() as callbacks:
            yield
        for callback in callbacks:
            if callback.__module__ == "diagnosis.listings":
                callback()

    return block


def _analysed(study, clinician, model_version, name, p_abnormal, committed):
    size = (30 + Image.objects.count(), 30)  # a different file each time
    with committed():
        image = records.image_upload(study=study, file=png_file(f"{name}.png", size=size), uploaded_by=clinician)
        Image.objects.filter(pk=image.pk).update(status=Image.Status.DONE)
        return prediction_create(
            image=image,
            model_version=model_version,
            probabilities={"normal": 1 - p_abnormal, "pneumonia": p_abnormal},
            label="pneumonia" if p_abnormal >= 0.5 else "normal",
            threshold=0.5,
            inference_ms=1.0,
        )


def _rows(client) -> tuple[int, str]:
    html = client.get(reverse("diagnosis:worklist")).content.decode()
    return html.count('data-testid="worklist-row"'), html


def _queries(client, url, **kwargs) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url, **kwargs).status_code == 200
    return len(captured)


def test_a_repeat_worklist_is_served_from_memory_and_still_audited(
    client, list_cache, site, clinician, radiologist, model_version, committed
):
    study = StudyFactory(patient=PatientFactory(site=site, name="Ada Cached"))
    _analysed(study, clinician, model_version, "a", 0.9, committed)
    client.force_login(radiologist)
    url = reverse("diagnosis:worklist")
    first, again = _queries(client, url), _queries(client, url)
    assert again < first - 3  # no counts, no page query: session, user, sites, audit
    assert "Ada Cached" in client.get(url).content.decode()
    views = AuditEvent.objects.filter(actor=radiologist, object_type="worklist", action=AuditEvent.Action.VIEW)
    assert views.count() == 3 and views.last().detail == {"count": 1, "page": 1}


def test_what_people_change_shows_on_the_worklist_at_once_and_new_results_within_seconds(
    client, list_cache, settings, site, clinician, radiologist, model_version, committed, time_machine
):
    patient = PatientFactory(site=site, name="Before Rename")
    study = StudyFactory(patient=patient)
    first = _analysed(study, clinician, model_version, "first", 0.9, committed)
    client.force_login(radiologist)
    assert _rows(client)[0] == 1

    settings.MEDSITE_LIST_CACHE_SECONDS = 1
    time_machine.move_to(time.time(), tick=True)  # a clock the test moves on, instead of waiting
    caches["listings"].clear()
    assert _rows(client)[0] == 1
    # a worker's new result ...
    _analysed(StudyFactory(patient=patient), clinician, model_version, "second", 0.2, committed)
    assert _rows(client)[0] == 1
    time_machine.shift(1.1)
    assert _rows(client)[0] == 2  # ... once the page has aged out
    settings.MEDSITE_LIST_CACHE_SECONDS = 15

    with committed():
        records.patient_update(patient=patient, name="After Rename", changed_by=clinician)
    assert "After Rename" in _rows(client)[1]

    with committed():
        records.study_update(study=study, body_part="ABDOMEN", changed_by=clinician)
    assert "ABDOMEN" in _rows(client)[1]

    with committed():
        review.review_submit(prediction=first, reviewer=radiologist, label="pneumonia")
    assert _rows(client)[0] == 1  # reviewed: off the worklist

    other = StudyFactory(patient=PatientFactory(site=site, name="New Patient"))
    with committed():
        records.study_create(patient=other.patient, modality="DX", body_part="CHEST", created_by=clinician)
    assert _rows(client)[0] == 1


def test_pages_are_per_site_and_per_reader_where_a_second_reader_is_on(
    client, list_cache, site, other_site, clinician, radiologist, model_version, committed
):
    _analysed(StudyFactory(patient=PatientFactory(site=site, name="Here")), clinician, model_version, "h", 0.9,
              committed)  # fmt: skip
    elsewhere = with_totp(MembershipFactory(site=other_site, role=Role.RADIOLOGIST).user)
    client.force_login(radiologist)
    assert "Here" in _rows(client)[1]
    client.force_login(elsewhere)
    assert _rows(client)[0] == 0  # not the other site's cached page

    site.second_reader = True
    site.save()
    colleague = with_totp(MembershipFactory(site=site, role=Role.RADIOLOGIST).user)
    prediction = Prediction.objects.get()
    with committed():
        review.review_submit(prediction=prediction, reviewer=radiologist, label="pneumonia")
    client.force_login(radiologist)
    assert _rows(client)[0] == 0  # read it: the second read is someone else's
    client.force_login(colleague)
    assert _rows(client)[0] == 1


def test_the_study_list_api_shows_an_upload_at_once_and_its_progress_within_seconds(
    api, list_cache, settings, site, clinician, model_version, committed, time_machine
):
    study = StudyFactory(patient=PatientFactory(site=site))
    client, url = api(clinician), reverse("api:study-list")
    first, again = _queries(client, url), _queries(client, url)
    assert again < first
    assert client.get(url).json()["results"][0]["images"] == []
    browsable = client.get(url, HTTP_ACCEPT="text/html")  # the same cached JSON, inside DRF's browsable page
    assert browsable.status_code == 200 and "&quot;count&quot;:1" in browsable.content.decode()

    settings.MEDSITE_LIST_CACHE_SECONDS = 1  # pages from here on age out after a second
    time_machine.move_to(time.time(), tick=True)  # a clock the test moves on, instead of waiting
    with committed():
        image = records.image_upload(study=study, file=png_file("up.png"), uploaded_by=clinician)
    assert [i["status"] for i in client.get(url).json()["results"][0]["images"]] == ["queued"]  # at once

    with committed():
        image_fail(image_pk=image.pk, reason="unreadable")
    time_machine.shift(1.1)
    body = client.get(url).json()
    assert body["results"][0]["images"][0]["status"] == "failed"
    # nothing still being analysed; no AI result: a person reads it
    assert body["results"][0]["status"] == "awaiting_read"
    # Filters and pages are cached apart; every request is audited with what it returned.
    assert client.get(url, {"modality": "MR"}).json()["count"] == 0
    assert client.get(url).json()["count"] == 1
    audited = AuditEvent.objects.filter(actor=clinician, object_type="study").order_by("pk")
    assert list(audited.values_list("detail", flat=True))[-2:] == [{"count": 0}, {"count": 1}]


def test_without_the_shared_cache_lists_are_built_from_the_database(
    client, list_cache, settings, site, clinician, radiologist, model_version, committed
):
    settings.CACHES = settings.CACHES | {
        "shared": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }  # Django's test signals rebuild the cache handler for the override
    client.force_login(radiologist)
    assert _rows(client)[0] == 0
    _analysed(StudyFactory(patient=PatientFactory(site=site)), clinician, model_version, "x", 0.9, committed)
    assert _rows(client)[0] == 1  # no version to compare: never a cached page
