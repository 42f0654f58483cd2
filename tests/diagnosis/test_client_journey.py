"""The whole journey through the generated Python client (clients/python/) against a live server and a live Celery
worker, with real API tokens: patient -> study (an Idempotency-Key retry, an edit with If-Match) -> upload ->
prediction -> review -> retraining run -> promotion -> rollback.

The clinician and the radiologist use their own API tokens. Training runs, promotion and rollback are for superusers
(diagnosis/api/learning.py, registry.py), whose tokens MedSite refuses by design (docs/security.md): those steps go
through the same client on a signed-in session (its cookie and CSRF token), as a person at the keyboard would.
"""

import io

import pytest
from django.conf import settings
from django.middleware.csrf import get_token
from django.test import Client as DjangoClient
from django.test import RequestFactory
from medsite_client import AuthenticatedClient, Client
from medsite_client.api.images import v1_images_retrieve
from medsite_client.api.learning import v1_training_runs_create, v1_training_runs_list, v1_training_runs_retrieve
from medsite_client.api.models import v1_models_evaluations_list, v1_models_promote_create, v1_models_rollback_create
from medsite_client.api.patients import v1_patients_create
from medsite_client.api.reviews import v1_reviews_create
from medsite_client.api.studies import (
    v1_studies_create,
    v1_studies_images_create,
    v1_studies_partial_update,
    v1_studies_retrieve,
)
from medsite_client.models import (
    ImageStatusEnum,
    ModalityEnum,
    ModelPromote,
    ModelRollback,
    ModelVersionStatusEnum,
    PatchedStudyUpdate,
    PatientCreate,
    Problem,
    ReviewCreate,
    StudyCreate,
    TrainingRunCreate,
    TrainingRunStatusEnum,
    Upload,
)
from medsite_client.types import File

from accounts.models import ApiToken
from diagnosis.models import LearningPolicy
from diagnosis.services.training import model_register
from tests import live
from tests.conftest import png_bytes
from tests.diagnosis.test_learning import toy_npz

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def _with_token(live_server, user) -> AuthenticatedClient:
    """The client as an integrator makes it: a token its user created, sent as `Authorization: Token ...`."""
    _, token = ApiToken.objects.create(user=user, name="client journey")
    return AuthenticatedClient(base_url=live_server.url, token=token, prefix="Token", raise_on_unexpected_status=True)


def _signed_in(live_server, user) -> Client:
    """The client on a signed-in session of `user`: the session cookie, and a CSRF cookie with its header."""
    browser = DjangoClient()
    browser.force_login(user)
    request = RequestFactory().get("/")
    csrf_header = get_token(request)
    cookies = {
        settings.SESSION_COOKIE_NAME: browser.cookies[settings.SESSION_COOKIE_NAME].value,
        settings.CSRF_COOKIE_NAME: request.META["CSRF_COOKIE"],
    }
    return Client(
        base_url=live_server.url, cookies=cookies, headers={"X-CSRFToken": csrf_header}, raise_on_unexpected_status=True
    )


def test_the_whole_journey_through_the_generated_client(
    live_server, live_env, tmp_path, tiny_bundle, site, clinician, radiologist, superuser
):
    # What a site's administrator set up beforehand: the active model, and the learning policy's base data.
    active = model_register(bundle_path=tiny_bundle, activate=True)
    LearningPolicy.objects.create(
        task="chest-xray", base_dataset=str(toy_npz(tmp_path / "base.npz")), gate_tolerance=0.05
    )
    clinic, reading, admin = (
        _with_token(live_server, clinician),
        _with_token(live_server, radiologist),
        _signed_in(live_server, superuser),
    )

    with live.worker(live_env, tmp_path / "worker.log"), clinic, reading, admin:
        # Patient, study, upload: the clinician's token.
        patient = v1_patients_create.sync(
            client=clinic, body=PatientCreate(site=site.pk, mrn="MRN-CLIENT-1", name="Journey^Client")
        )
        # A create retried with its Idempotency-Key (the answer was lost, say) is the first one, replayed.
        new_study = StudyCreate(patient=patient.id, modality=ModalityEnum.CR, body_part="CHEST")
        first = v1_studies_create.sync_detailed(client=clinic, body=new_study, idempotency_key="journey-study-1")
        again = v1_studies_create.sync_detailed(client=clinic, body=new_study, idempotency_key="journey-study-1")
        study = first.parsed
        assert (first.status_code, again.status_code, again.parsed.id) == (201, 201, study.id)
        assert again.headers["Idempotent-Replayed"] == "true"
        assert first.headers["Location"].endswith(f"/api/v1/studies/{study.id}/")

        # An edit names the version it was made on: the ETag of the last read.
        read = v1_studies_retrieve.sync_detailed(study.id, client=clinic)
        edited = v1_studies_partial_update.sync_detailed(
            study.id, client=clinic, body=PatchedStudyUpdate(description="PA chest"), if_match=read.headers["ETag"]
        )
        assert edited.parsed.description == "PA chest" and edited.headers["ETag"] != read.headers["ETag"]
        chest = File(payload=io.BytesIO(png_bytes(size=(40, 40))), file_name="chest.png", mime_type="image/png")
        upload = v1_studies_images_create.sync(study.id, client=clinic, body=Upload(files=[chest]))
        assert upload.errors == [] and len(upload.images) == 1

        # The prediction, made by the live worker.
        image = live.wait_for(
            lambda: _finished(v1_images_retrieve.sync(upload.images[0].id, client=clinic)),
            timeout=120,
            what="the image's prediction",
        )
        assert image.status == ImageStatusEnum.DONE, (tmp_path / "worker.log").read_text()[-3000:]
        prediction = image.predictions[0]
        assert prediction.model_version.id == active.pk and prediction.label in ("normal", "pneumonia")

        # The radiologist's review, with their own token: it queues the image for retraining.
        review = v1_reviews_create.sync(
            client=reading, body=ReviewCreate(prediction=prediction.id, label="pneumonia", note="bright centre")
        )
        assert review.prediction == prediction.id and review.label == "pneumonia"

        # A superuser's token is refused (a typed problem: every operation declares its errors); the learning loop
        # takes a signed-in session.
        with _with_token(live_server, superuser) as platform:
            refused = v1_training_runs_list.sync_detailed(client=platform)
        assert refused.status_code == 401 and isinstance(refused.parsed, Problem)
        assert refused.parsed.status == 401 and refused.parsed.detail

        # A retraining run on the training queue, then the candidate's held-out evaluation.
        run = v1_training_runs_create.sync(client=admin, body=TrainingRunCreate(task="chest-xray"))
        run = live.wait_for(
            lambda: _ended(v1_training_runs_retrieve.sync(run.id, client=admin)), timeout=300, what="the training run"
        )
        assert run.status == TrainingRunStatusEnum.SUCCEEDED, f"{run.error}\n{run.log[-3000:]}"
        assert len(run.data_manifest) == 1, run.data_manifest  # the reviewed image, from the retraining queue
        candidate = run.model_version
        evaluation = live.wait_for(
            lambda: v1_models_evaluations_list.sync(candidate, client=admin),
            timeout=120,
            what="the candidate's evaluation",
        )[0]
        assert evaluation.baseline == active.pk and evaluation.gate_passed, evaluation.gate_reasons

        # Promotion through the gate, then a rollback to the version before.
        promoted = v1_models_promote_create.sync(
            candidate, client=admin, body=ModelPromote(reason="the gate passed on the held-out set")
        )
        assert (promoted.id, promoted.status) == (candidate, ModelVersionStatusEnum.ACTIVE)
        restored = v1_models_rollback_create.sync(
            client=admin, body=ModelRollback(task="chest-xray", reason="client journey")
        )
        assert (restored.id, restored.status) == (active.pk, ModelVersionStatusEnum.ACTIVE)


def _finished(image):
    return image if image.status not in (ImageStatusEnum.QUEUED, ImageStatusEnum.PROCESSING) else None


def _ended(run):
    return run if run.status in (TrainingRunStatusEnum.SUCCEEDED, TrainingRunStatusEnum.FAILED) else None
