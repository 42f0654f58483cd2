"""The inference pipeline in-process, with real Keras models: routing, batching, heatmaps, timings, shadow
versions, claims and requeueing, the registry and its admin, and the triage worklist.

The same behaviour with a live worker process on PostgreSQL and Redis is in test_inference_live.py.
"""

import io
import re
from datetime import timedelta

import PIL.Image
import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent
from diagnosis.models import Image, ModelVersion, Prediction, Review
from diagnosis.services import records, registry
from diagnosis.services.inference import NO_MODEL_REASON, image_run_inference, prediction_create
from diagnosis.services.requeue import inference_requeue_stalled
from diagnosis.services.training import model_register
from tests.conftest import train_tiny_bundle
from tests.diagnosis.conftest import passing_evaluation, png_file
from tests.factories import PatientFactory, StudyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def second_chest_bundle(tmp_path_factory):
    return train_tiny_bundle(tmp_path_factory.mktemp("chest2"), seed=7)


@pytest.fixture(scope="module")
def brain_bundle(tmp_path_factory):
    classes = ("glioma_tumor", "meningioma_tumor", "no_tumor", "pituitary_tumor")
    return train_tiny_bundle(tmp_path_factory.mktemp("brain"), task="brain-mri", classes=classes)


@pytest.fixture
def chest(tiny_bundle):
    return model_register(bundle_path=tiny_bundle, activate=True)


def _upload(study, clinician, n=1, size=(40, 30)):
    """Queued images (on_commit never fires inside a test transaction, so no worker is asked)."""
    return [
        records.image_upload(
            study=study, file=png_file(f"i{i}.png", size=(size[0] + i, size[1])), uploaded_by=clinician
        )
        for i in range(n)
    ]


def test_a_worker_batches_waiting_images_of_the_same_task(settings, chest, site, clinician):
    settings.MEDSITE_INFERENCE_BATCH_SIZE = 3
    chest_study = StudyFactory(patient=PatientFactory(site=site), modality="DX", body_part="CHEST")
    brain_study = StudyFactory(patient=PatientFactory(site=site), modality="MR", body_part="HEAD")
    images = _upload(chest_study, clinician, n=4)
    (brain_image,) = _upload(brain_study, clinician)

    finished = image_run_inference(image_pk=images[0].pk, worker="inference@test")

    assert [image.pk for image in finished] == [image.pk for image in images[:3]]  # oldest waiting first
    statuses = dict(Image.objects.values_list("pk", "status"))
    assert [statuses[image.pk] for image in images] == ["done", "done", "done", "queued"]
    assert statuses[brain_image.pk] == "queued"  # another task's image is never in the batch
    for image in images[:3]:
        prediction = Prediction.objects.get(image=image)
        assert prediction.model_version == chest and not prediction.is_shadow
        assert prediction.batch_size == 3
        assert prediction.inference_ms > 0 and prediction.preprocess_ms > 0 and prediction.heatmap_ms > 0
        assert prediction.queue_ms >= 0
        assert prediction.abnormality == pytest.approx(1 - prediction.probabilities["normal"])
        with prediction.heatmap.open("rb") as fh:
            heatmap = PIL.Image.open(io.BytesIO(fh.read()))
        assert heatmap.format == "PNG" and heatmap.mode == "L"  # the CAM itself, 8-bit grey (issue 23)
        assert heatmap.size == (image.width, image.height)  # the display image's shape (under the 512 px cap)
    # The batch mates' own messages arrive later and find nothing to do.
    assert image_run_inference(image_pk=images[1].pk, worker="inference@test") == []
    assert Prediction.objects.filter(image=images[1]).count() == 1


def test_heatmaps_keep_the_aspect_ratio_under_the_size_cap(settings, chest, study, clinician):
    settings.MEDSITE_HEATMAP_MAX_SIDE = 64
    (image,) = _upload(study, clinician, size=(200, 100))
    image_run_inference(image_pk=image.pk)
    with Prediction.objects.get(image=image).heatmap.open("rb") as fh:
        assert PIL.Image.open(io.BytesIO(fh.read())).size == (64, 32)


def test_routing_sends_each_study_to_its_task_or_says_no_model(chest, brain_bundle, site, clinician):
    brain = model_register(bundle_path=brain_bundle, activate=True)
    routes = {
        ("CR", "CHEST"): chest,
        ("DX", "chest"): chest,
        ("MR", "HEAD"): brain,
        ("CT", "BRAIN"): brain,
        ("MR", "KNEE"): None,
        ("OT", "CHEST"): None,
    }
    for (modality, body_part), expected in routes.items():
        study = StudyFactory(patient=PatientFactory(site=site), modality=modality, body_part=body_part)
        (image,) = _upload(study, clinician)
        image_run_inference(image_pk=image.pk)
        image.refresh_from_db()
        if expected is None:
            assert (image.status, image.failure_reason) == (Image.Status.NO_MODEL, NO_MODEL_REASON)
            assert not image.predictions.exists()
        else:
            assert image.status == Image.Status.DONE, (modality, body_part)
            assert image.predictions.get().model_version == expected
            assert set(image.predictions.get().probabilities) == set(expected.classes)


def test_shadow_version_predicts_but_is_never_shown(
    chest, second_chest_bundle, study, clinician, radiologist, superuser, client
):
    shadow = model_register(bundle_path=second_chest_bundle)
    registry.model_set_shadow(model_version=shadow, actor=superuser)
    (image,) = _upload(study, clinician)
    image_run_inference(image_pk=image.pk)

    assert {(p.model_version_id, p.is_shadow) for p in image.predictions.all()} == {
        (chest.pk, False),
        (shadow.pk, True),
    }
    hidden = Prediction.objects.get(image=image, is_shadow=True)
    assert not hidden.heatmap  # shadows are compared on labels; no Grad-CAM is spent on them
    image.refresh_from_db()
    assert image.current_prediction().model_version == chest

    client.force_login(radiologist)
    page = client.get(reverse("diagnosis:study_results", args=[study.pk])).content.decode()
    assert chest.short_sha in page and shadow.short_sha not in page
    body = client.get(reverse("api:image-detail", args=[image.pk])).json()
    assert [p["model_version"]["id"] for p in body["predictions"]] == [chest.pk]
    listed = client.get(reverse("api:prediction-list")).json()["results"]
    assert hidden.pk not in [p["id"] for p in listed]
    assert client.get(reverse("api:prediction-detail", args=[hidden.pk])).status_code == 404
    review = client.post(reverse("diagnosis:review_submit", args=[hidden.pk]), {"label": "normal"})
    assert review.status_code == 404 and not Review.objects.exists()

    detail = client.get(reverse("diagnosis:model_detail", args=[shadow.pk])).content.decode()
    assert 'data-testid="shadow-agreement"' in detail
    agreement = registry.shadow_agreement(model_version=shadow)
    assert agreement["compared"] == 1 and agreement["agreed"] in (0, 1)


def test_promotion_is_picked_up_by_the_next_image_and_rollback_restores(
    chest, second_chest_bundle, study, clinician, superuser
):
    (first,) = _upload(study, clinician)
    image_run_inference(image_pk=first.pk)
    candidate = model_register(bundle_path=second_chest_bundle)
    registry.model_activate(model_version=candidate, actor=superuser, reason="better AUC")
    chest.refresh_from_db()
    assert (chest.status, candidate.status) == (ModelVersion.Status.RETIRED, ModelVersion.Status.ACTIVE)

    (second,) = _upload(study, clinician, size=(50, 50))
    image_run_inference(image_pk=second.pk)  # the same process: its cache is keyed by version
    assert second.predictions.get().model_version == candidate

    restored = registry.model_rollback(task="chest-xray", actor=superuser, reason="back to the known version")
    assert restored == chest
    (third,) = _upload(study, clinician, size=(60, 50))
    image_run_inference(image_pk=third.pk)
    assert third.predictions.get().model_version == chest
    events = list(AuditEvent.objects.filter(object_type="modelversion").values_list("action", "detail"))
    assert (
        AuditEvent.Action.ACTIVATE,
        {"from": "candidate", "to": "active", "reason": "better AUC", "replaced": chest.bundle_sha256},
    ) in events
    assert any(
        action == AuditEvent.Action.ROLLBACK and d["rolled_back"] == candidate.bundle_sha256 for action, d in events
    )


def test_registry_refuses_impossible_changes(chest, second_chest_bundle, superuser):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="no earlier active version"):
        registry.model_rollback(task="chest-xray", actor=superuser, reason="try")
    with pytest.raises(ValidationError, match="cannot run in shadow"):
        registry.model_set_shadow(model_version=chest, actor=superuser)
    with pytest.raises(ValidationError, match="cannot be retired"):
        registry.model_retire(model_version=chest, actor=superuser)
    other = model_register(bundle_path=second_chest_bundle)
    registry.model_set_shadow(model_version=other, actor=superuser)
    registry.model_retire(model_version=other, actor=superuser, reason="drifted")
    other.refresh_from_db()
    assert other.status == ModelVersion.Status.RETIRED
    assert AuditEvent.objects.filter(action=AuditEvent.Action.MODEL_STATUS, detail__reason="drifted").exists()
    assert ModelVersion.objects.filter(task="chest-xray", status="active").get() == chest


def test_claims_skip_images_held_by_a_live_worker_and_take_back_dead_ones(settings, chest, study, clinician):
    (image,) = _upload(study, clinician)
    Image.objects.filter(pk=image.pk).update(status="processing", claimed_at=timezone.now(), claimed_by="other@host")
    assert image_run_inference(image_pk=image.pk, worker="me@host") == []  # someone else is on it
    # Its own earlier claim means that attempt died (one task at a time per inference worker).
    Image.objects.filter(pk=image.pk).update(claimed_by="me@host")
    assert [i.pk for i in image_run_inference(image_pk=image.pk, worker="me@host")] == [image.pk]
    (stale,) = _upload(study, clinician, size=(33, 33))
    long_ago = timezone.now() - timedelta(seconds=settings.CELERY_INFERENCE_TIME_LIMIT + 60)
    Image.objects.filter(pk=stale.pk).update(status="processing", claimed_at=long_ago, claimed_by="dead@host")
    assert [i.pk for i in image_run_inference(image_pk=stale.pk, worker="me@host")] == [stale.pk]
    assert Prediction.objects.filter(image__in=[image, stale]).count() == 2


def test_requeue_sends_back_what_a_dead_worker_held_and_lost_messages(settings, chest, study, clinician):
    held, lost, fresh, done = _upload(study, clinician, n=4)
    now = timezone.now()
    Image.objects.filter(pk=held.pk).update(status="processing", claimed_at=now, claimed_by="inference@host")
    Image.objects.filter(pk=lost.pk).update(
        uploaded_at=now - timedelta(seconds=settings.MEDSITE_INFERENCE_REQUEUE_AFTER + 5)
    )
    Image.objects.filter(pk=done.pk).update(status="done")
    assert inference_requeue_stalled() == 1  # the lost message; the held image's claim is fresh
    assert inference_requeue_stalled(worker="inference@host") == 1  # at that worker's restart
    statuses = dict(Image.objects.values_list("pk", "status"))
    assert [statuses[i.pk] for i in (held, lost, fresh, done)] == ["queued", "queued", "queued", "done"]
    assert inference_requeue_stalled() == 0  # requeueing restarts the clock: no storm of messages


def test_admin_actions_promote_and_roll_back_for_superusers_only(
    client, chest, second_chest_bundle, superuser, site_admin
):
    candidate = model_register(bundle_path=second_chest_bundle)
    url = reverse("admin:diagnosis_modelversion_changelist")
    promote = {"action": "promote", "_selected_action": [candidate.pk]}
    client.force_login(superuser)
    promote |= {"apply": "yes", "reason": "better on the held-out set"}  # the confirmation page's POST back
    client.post(url, promote)  # not evaluated against the active version: the gate refuses
    candidate.refresh_from_db()
    assert candidate.status == ModelVersion.Status.CANDIDATE
    passing_evaluation(candidate, baseline=chest)
    site_admin.is_staff = True
    site_admin.save()
    client.force_login(site_admin)
    response = client.post(url, promote)
    assert response.status_code in (302, 403)
    candidate.refresh_from_db()
    assert candidate.status == ModelVersion.Status.CANDIDATE

    client.force_login(superuser)
    assert client.post(url, promote).status_code == 302
    candidate.refresh_from_db()
    assert candidate.status == ModelVersion.Status.ACTIVE
    client.post(url, {"action": "rollback", "_selected_action": [candidate.pk], "apply": "yes", "reason": "ward"})
    chest.refresh_from_db()
    assert chest.status == ModelVersion.Status.ACTIVE
    assert AuditEvent.objects.filter(action=AuditEvent.Action.ROLLBACK, actor=superuser).exists()


def test_api_promote_and_rollback_answer_400_naming_reason_without_one(api, chest, second_chest_bundle, superuser):
    candidate = model_register(bundle_path=second_chest_bundle)
    passing_evaluation(candidate, baseline=chest)
    client = api(superuser)
    promote = reverse("api:model-promote", args=[candidate.pk])
    for body in ({}, {"reason": ""}, {"reason": "   "}, {"override": True}):
        refused = client.post(promote, body, format="json")
        assert refused.status_code == 400 and refused["Content-Type"] == "application/problem+json", body
        assert refused.json()["errors"] == {"reason": ["Write why: the reason is kept in the audit trail."]}, body
        assert refused.json()["detail"] == "reason: Write why: the reason is kept in the audit trail.", body
    candidate.refresh_from_db()
    assert candidate.status == ModelVersion.Status.CANDIDATE
    assert client.post(promote, {"reason": "passed the gate"}, format="json").status_code == 200
    refused = client.post(reverse("api:model-rollback"), {"task": "chest-xray"}, format="json")
    assert refused.status_code == 400 and list(refused.json()["errors"]) == ["reason"]
    assert "Write why" in refused.json()["detail"]
    candidate.refresh_from_db()
    assert (
        candidate.status == ModelVersion.Status.ACTIVE
        and not AuditEvent.objects.filter(action=AuditEvent.Action.ROLLBACK).exists()
    )
    # shadow and retire keep the reason optional: neither changes what readers are shown
    assert client.post(reverse("api:model-shadow", args=[chest.pk]), {}, format="json").status_code == 200


def test_api_promotes_and_rolls_back(api, chest, second_chest_bundle, superuser):
    candidate = model_register(bundle_path=second_chest_bundle)
    client = api(superuser)
    url = reverse("api:model-promote", args=[candidate.pk])
    refused = client.post(url, {"reason": "looks better"}, format="json")
    assert refused.status_code == 400 and "not been evaluated" in refused.json()["detail"]
    body = client.post(url, {"reason": "validated offline", "override": True}, format="json")
    assert body.status_code == 200 and body.json()["status"] == "active"
    event = AuditEvent.objects.filter(action=AuditEvent.Action.ACTIVATE, object_id=str(candidate.pk)).get()
    assert event.detail["override"] is True and event.detail["reason"] == "validated offline"
    refused = client.post(reverse("api:model-shadow", args=[candidate.pk]), {}, format="json")
    assert refused.status_code == 400 and "cannot run in shadow" in refused.json()["detail"]
    back = client.post(reverse("api:model-rollback"), {"task": "chest-xray", "reason": "drift"}, format="json")
    assert back.status_code == 200 and back.json()["id"] == chest.pk
    listed = client.get(reverse("api:model-list"), {"task": "chest-xray", "status": "retired"}).json()
    assert [row["id"] for row in listed["results"]] == [candidate.pk]


# --- triage worklist -----------------------------------------------------------------------------------


@pytest.fixture
def triage(site, other_site, clinician, model_version, brain_bundle):
    """Five unreviewed predictions with known P(abnormal), tasks, modalities and dates; one reviewed."""
    brain = model_register(bundle_path=brain_bundle, activate=True)
    rows = {}

    def make(name, site_, modality, body_part, version, probabilities, days_ago=0):
        study = StudyFactory(
            patient=PatientFactory(site=site_, name=f"Patient {name}"), modality=modality, body_part=body_part
        )
        image = records.image_upload(
            study=study, file=png_file(f"{name}.png", size=(30 + len(rows), 30)), uploaded_by=clinician
        )
        Image.objects.filter(pk=image.pk).update(status="done")
        label = max(probabilities, key=probabilities.get)
        prediction = prediction_create(
            image=image,
            model_version=version,
            probabilities=probabilities,
            label=label,
            threshold=None,
            inference_ms=1.0,
        )
        Prediction.objects.filter(pk=prediction.pk).update(created_at=timezone.now() - timedelta(days=days_ago))
        rows[name] = prediction

    make("low", site, "CR", "CHEST", model_version, {"normal": 0.9, "pneumonia": 0.1}, days_ago=3)
    make("high", site, "DX", "CHEST", model_version, {"normal": 0.05, "pneumonia": 0.95}, days_ago=1)
    make("mid", site, "CR", "CHEST", model_version, {"normal": 0.5, "pneumonia": 0.5}, days_ago=2)
    make(
        "tumour",
        site,
        "MR",
        "HEAD",
        brain,
        {"glioma_tumor": 0.7, "meningioma_tumor": 0.1, "no_tumor": 0.1, "pituitary_tumor": 0.1},
    )
    make("elsewhere", other_site, "CR", "CHEST", model_version, {"normal": 0.01, "pneumonia": 0.99})
    make("reviewed", site, "CR", "CHEST", model_version, {"normal": 0.02, "pneumonia": 0.98})
    Review.objects.create(prediction=rows["reviewed"], reviewer=clinician, decision="confirm", label="pneumonia")
    return rows


def _worklist_names(client, **params):
    """The patients' names on the study-level worklist, top to bottom, and the page."""
    html = client.get(reverse("diagnosis:worklist"), params).content.decode()
    patient_cell = r'data-testid="worklist-row"[^>]*>\s*<td data-label="Patient"><strong>Patient (\w+)</strong>'
    rows = re.findall(patient_cell, html)
    return rows, html


def test_worklist_puts_the_most_likely_abnormal_first_and_filters(client, radiologist, triage):
    client.force_login(radiologist)
    names, html = _worklist_names(client)
    assert names == ["high", "tumour", "mid", "low"]  # 0.95, 0.9, 0.5, 0.1; other site and reviewed left out
    assert "<strong>4</strong> studies waiting for you, <strong>4</strong> unread images" in html
    assert _worklist_names(client, order="oldest")[0] == ["low", "mid", "high", "tumour"]
    # Active learning: nearest the decision first. |0.5 - 0.5|, |0.1 - 0.5|, |0.95 - 0.5|; brain top-2 gap 0.6.
    assert _worklist_names(client, order="uncertain")[0] == ["mid", "low", "high", "tumour"]
    assert _worklist_names(client, task="brain-mri")[0] == ["tumour"]
    assert _worklist_names(client, modality="CR")[0] == ["mid", "low"]
    assert _worklist_names(client, label="pneumonia")[0] == ["high"]
    today = timezone.localdate()
    since = (today - timedelta(days=2)).isoformat()
    assert _worklist_names(client, created_after=since)[0] == ["high", "tumour", "mid"]
    assert _worklist_names(client, created_before=(today - timedelta(days=2)).isoformat())[0] == ["mid", "low"]


def test_api_worklist_is_the_prediction_list_ordered_by_abnormality(api, radiologist, triage):
    body = (
        api(radiologist).get(reverse("api:prediction-list"), {"reviewed": "false", "ordering": "-abnormality"}).json()
    )
    assert [row["id"] for row in body["results"]] == [triage[n].pk for n in ("high", "tumour", "mid", "low")]
    assert body["results"][0]["abnormality"] == pytest.approx(0.95)
    uncertain = api(radiologist).get(reverse("api:prediction-list"), {"reviewed": "false", "ordering": "margin"}).json()
    assert [row["id"] for row in uncertain["results"]] == [triage[n].pk for n in ("mid", "low", "high", "tumour")]
    assert uncertain["results"][0]["margin"] == pytest.approx(0.0)
    assert set(body["results"][0]["timings"]) == {
        "queue_ms",
        "preprocess_ms",
        "inference_ms",
        "heatmap_ms",
        "batch_size",
    }
