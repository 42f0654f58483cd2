from pathlib import Path
from types import SimpleNamespace

import pydicom
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from pydicom.data import get_testdata_file
from rest_framework.test import APIClient

from accounts.models import Role
from diagnosis.models import (
    DicomDestination,
    Image,
    ModelEvaluation,
    ModelVersion,
    Prediction,
    ResultDelivery,
    RetrainingItem,
    Review,
    TrainingRun,
)
from diagnosis.services import records
from tests import live
from tests.conftest import png_bytes, with_totp
from tests.factories import (
    ImageFactory,
    MembershipFactory,
    ModelVersionFactory,
    PatientFactory,
    PredictionFactory,
    ReviewFactory,
    StudyFactory,
    UserFactory,
)


@pytest.fixture
def model_version(db):
    """The active chest-xray version (a registry row, no bundle on disk)."""
    return ModelVersionFactory()


@pytest.fixture
def prediction(study, model_version):
    """An analysed image of `study` and the active version's prediction on it (pneumonia, 0.8)."""
    return PredictionFactory(image=ImageFactory(study=study), model_version=model_version)


def shadow_version(active: ModelVersion) -> ModelVersion:
    """A shadow model version of active's task: its predictions are stored, never shown."""
    return ModelVersionFactory(
        task=active.task,
        classes=active.classes,
        positive_class=active.positive_class,
        status=ModelVersion.Status.SHADOW,
    )


def predicted_image(study, version, n: int, **prediction) -> Prediction:
    """An analysed image of study (n makes its file and hash unique) with an unreviewed "normal" prediction by
    version; prediction overrides its fields."""
    image = ImageFactory(study=study, original_name=f"{n}.png", width=8, height=8)
    fields = {"label": "normal", "probabilities": {"normal": 0.9, "pneumonia": 0.1}, "abnormality": None}
    return PredictionFactory(image=image, model_version=version, inference_ms=1.0, **{**fields, **prediction})


def reviewed_image(study, versions, reviewer, n: int) -> Image:
    """An analysed image of study with a prediction by each of versions (is_shadow for a shadow version's), the
    shown one reviewed by reviewer. n makes its file and hash unique."""
    image = ImageFactory(study=study, original_name=f"{n}.png")
    for version in versions:
        shadow = version.status == ModelVersion.Status.SHADOW
        prediction = PredictionFactory(image=image, model_version=version, abnormality=None, is_shadow=shadow)
        if not prediction.is_shadow:
            ReviewFactory(prediction=prediction, reviewer=reviewer)
    return image


def png_file(name: str = "chest.png", **kwargs) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, png_bytes(**kwargs), content_type="image/png")


@pytest.fixture
def outside_radiologist(other_site):
    return with_totp(MembershipFactory(site=other_site, role=Role.RADIOLOGIST).user)


@pytest.fixture
def outside_admin(other_site):
    return with_totp(MembershipFactory(site=other_site, role=Role.ADMIN).user)


def _records_at(site, clinician, model_version) -> "World":
    """One of everything at `site`: patient, study, a stored PNG image and a prediction on it."""
    from diagnosis.services.inference import prediction_create  # TensorFlow: not while the tests are collected

    patient = PatientFactory(site=site)
    study = StudyFactory(patient=patient)
    image = records.image_upload(study=study, file=png_file(), uploaded_by=clinician)
    prediction = prediction_create(
        image=image,
        model_version=model_version,
        label="pneumonia",
        probabilities={"normal": 0.2, "pneumonia": 0.8},
        threshold=0.5,
        inference_ms=3.0,
        heatmap_png=png_bytes(size=(20, 20)),
    )
    return World(
        site=site, patient=patient, study=study, image=image, prediction=prediction, model_version=model_version
    )


@pytest.fixture
def superuser(db):
    """A platform administrator (Django superuser): runs the model registry."""
    return with_totp(UserFactory(is_superuser=True, is_staff=True))


@pytest.fixture
def world(site, clinician, model_version):
    world = _records_at(site, clinician, model_version)
    world.candidate = ModelVersionFactory(status=ModelVersion.Status.CANDIDATE, threshold=None, positive_class="")
    return world


class World(SimpleNamespace):
    """One of everything at a site. The learning loop's records are made on first use only, so that the tests
    that do not ask for them see an unreviewed prediction."""

    def __getattr__(self, name: str):
        if name == "retraining_item":
            reviewer = MembershipFactory(site=self.site, role=Role.RADIOLOGIST).user
            review = Review.objects.create(
                prediction=self.prediction, reviewer=reviewer, decision="confirm", label="pneumonia"
            )
            value = RetrainingItem.objects.create(
                image=self.image, review=review, task="chest-xray", label="pneumonia", patient_key="p" * 32
            )
        elif name == "training_run":
            value = TrainingRun.objects.create(task="chest-xray", source="base.npz", retrain=True)
        elif name == "delivery":  # a failed C-STORE of the prediction's SR to the site's PACS
            destination = DicomDestination.objects.create(
                site=self.site, name="Main PACS", ae_title="PACS", host="127.0.0.1", port=1
            )
            value = ResultDelivery.objects.create(
                key=f"d{destination.pk}:sr:p{self.prediction.pk}", site=self.site, destination=destination,
                kind="sr", prediction=self.prediction, status="failed", attempts=9, peer_status="no answer",
                error="No DICOM answer from 127.0.0.1:1.",
            )  # fmt: skip
        elif name == "dicom_image":  # a DICOM image (MR): it has stored values and a de-identified rendition
            path = Path(get_testdata_file("MR_small.dcm"))
            patient = PatientFactory(site=self.site, mrn=str(pydicom.dcmread(path).PatientID))
            study = StudyFactory(patient=patient, modality="MR", body_part="HEAD")
            upload = SimpleUploadedFile("mr.dcm", path.read_bytes())
            value = records.image_upload(study=study, file=upload, uploaded_by=None)
        elif name == "task":
            value = SimpleNamespace(pk="chest-xray")  # for URLs that name a task
        else:
            raise AttributeError(name)
        setattr(self, name, value)
        return value


@pytest.fixture
def other_world(other_site, outsider, model_version):
    return _records_at(other_site, outsider, model_version)


@pytest.fixture
def api():
    """An API client signed in (by session) as `user`, or anonymous."""

    def _as(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_login(user)
        return client

    return _as


def passing_evaluation(candidate, *, baseline, passed=True):
    """A held-out evaluation row of candidate against baseline, as the training worker records one."""
    metrics = {"roc_auc": 0.9, "operating": {"sensitivity": 0.9, "specificity": 0.8, "kind": "binary"}}
    return ModelEvaluation.objects.create(
        candidate=candidate,
        baseline=baseline,
        holdout="holdout.npz",
        holdout_sha256="d" * 64,
        holdout_size=10,
        candidate_metrics=metrics,
        baseline_metrics=metrics,
        gate_passed=passed,
        gate_reasons=["ROC AUC is not worse."] if passed else ["ROC AUC is worse: 0.800 against 0.900."],
    )


@pytest.fixture
def live_env(settings, tmp_path):
    """The environment for live worker processes on this test's PostgreSQL and Redis (see tests/live.py)."""
    env = live.postgres_redis_env(settings, tmp_path / "var")
    if env is None:
        pytest.skip("needs DATABASE_URL=postgres://... and CELERY_BROKER_URL=redis://... (make test sets them)")
    return env
