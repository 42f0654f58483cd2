import json
import shutil

import numpy as np
import pytest
from django.core.management import call_command
from django.urls import reverse
from PIL import Image

from accounts.models import Membership, Role, User
from diagnosis.models import ModelVersion, TrainingRun
from diagnosis.services.training import model_register, training_run_execute

pytestmark = pytest.mark.django_db


@pytest.fixture
def tiny_npz(tmp_path):
    """A MedMNIST-layout file with the same keys and 28x28 images as pneumoniamnist.npz."""
    rng = np.random.default_rng(0)

    def split(n):
        images = rng.integers(0, 60, size=(2 * n, 28, 28), dtype=np.uint8)
        images[n:, 7:21, 7:21] = 220
        return images, np.array([[0]] * n + [[1]] * n, dtype=np.uint8)

    arrays = {}
    for name, n in [("train", 24), ("val", 8), ("test", 8)]:
        arrays[f"{name}_images"], arrays[f"{name}_labels"] = split(n)
    path = tmp_path / "pneumoniamnist.npz"
    np.savez(path, **arrays)
    return path


@pytest.fixture
def starter(settings, tmp_path, tiny_bundle):
    """The demo's starter folder holding one small bundle, and no data sets."""
    folder = tmp_path / "starter"
    shutil.copytree(tiny_bundle, folder / tiny_bundle.name)
    settings.MEDSITE_STARTER_BUNDLES = folder
    settings.MEDSITE_STARTER_DATASET = tmp_path / "no-chest-data"
    settings.MEDSITE_BRAIN_DATASET = tmp_path / "no-brain-data"
    settings.MEDSITE_MODEL_ROOT = tmp_path / "models"
    return tiny_bundle


def test_seed_demo_creates_one_user_per_role_idempotently(starter):
    call_command("seed_demo")
    call_command("seed_demo")
    roles = dict(Membership.objects.values_list("user__email", "role"))
    assert roles == {
        "clinician@demo.medsite": Role.CLINICIAN,
        "radiologist@demo.medsite": Role.RADIOLOGIST,
        "admin@demo.medsite": Role.ADMIN,
    }
    assert User.objects.get(email="admin@demo.medsite").is_staff
    assert User.objects.get(email="clinician@demo.medsite").check_password("medsite-demo-2026")
    assert not TrainingRun.objects.exists()  # no brain data: nothing queued, the UI explains


def test_seed_demo_registers_the_committed_starter_model_as_active(starter, capsys):
    call_command("seed_demo")
    version = ModelVersion.objects.get()
    assert (version.bundle_sha256, version.task, version.status) == (starter.name, "chest-xray", "active")
    assert "Registered the starter chest-xray model" in capsys.readouterr().out
    call_command("seed_demo")
    assert ModelVersion.objects.count() == 1  # idempotent


def test_seed_demo_trains_a_brain_model_in_the_background_from_its_recipe(
    starter, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.MEDSITE_BRAIN_DATASET = _brain_tree(tmp_path / "brain")
    with django_capture_on_commit_callbacks() as callbacks:
        call_command("seed_demo")
    run = TrainingRun.objects.get()
    assert (run.task, run.status, len(callbacks)) == ("brain-mri", TrainingRun.Status.QUEUED, 1)
    recipe = json.loads((settings.BASE_DIR / "mlcore" / "configs" / "brain-mri.json").read_text())
    assert run.config["backbone"] == recipe["backbone"] == "efficientnet_lite0"
    assert run.config["dedup_pool"] is True and "source" not in run.config

    TrainingRun.objects.filter(pk=run.pk).update(
        config={
            **run.config,
            "epochs": 2,
            "fine_tune_blocks": 0,
            "fine_tune_epochs": 0,
            "image_size": 64,
            "min_side": 32,
        }
    )
    training_run_execute(run_pk=run.pk)  # what the training worker does
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    brain = ModelVersion.objects.get(task="brain-mri")
    assert brain.status == "active" and brain.classes == [
        "glioma_tumor",
        "meningioma_tumor",
        "no_tumor",
        "pituitary_tumor",
    ]


def _brain_tree(root):
    """A Training/Testing tree of four classes of distinct 80 px grey images."""
    rng = np.random.default_rng(0)
    for split, n in (("Training", 8), ("Testing", 3)):
        for c in ("glioma_tumor", "meningioma_tumor", "no_tumor", "pituitary_tumor"):
            folder = root / split / c
            folder.mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 255, (80, 80), dtype=np.uint8)).save(folder / f"{i}.png")
    return root


def test_train_model_command_registers_candidates_after_the_first(tiny_npz):
    call_command("train_model", str(tiny_npz), "--epochs", "1")
    call_command("train_model", str(tiny_npz), "--epochs", "2")
    assert list(ModelVersion.objects.order_by("created_at").values_list("status", flat=True)) == ["active", "candidate"]


def test_register_model_files_under_a_task_as_shadow_and_warns_about_unrouted_tasks(tiny_bundle, capsys):
    from django.core.management.base import CommandError

    call_command("register_model", str(tiny_bundle), "--task", "brain-mri", "--shadow")
    version = ModelVersion.objects.get()
    assert (version.task, version.status) == ("brain-mri", ModelVersion.Status.SHADOW)
    assert "shadow" in capsys.readouterr().out
    ModelVersion.objects.all().delete()
    call_command("register_model", str(tiny_bundle), "--task", "knee-xray", "--activate")
    assert "No study is routed to task 'knee-xray'" in capsys.readouterr().err
    with pytest.raises(CommandError, match="Not a valid bundle"):
        call_command("register_model", "/nonexistent/bundle")


def test_the_committed_starter_registers_with_its_operating_point_calibration_and_scope(
    settings, tmp_path, login, clinician
):
    settings.MEDSITE_MODEL_ROOT = tmp_path / "models"
    (bundle,) = [m.parent for m in settings.MEDSITE_STARTER_BUNDLES.glob("*/manifest.json")]
    version = model_register(bundle_path=bundle, activate=True)
    assert version.operating_point == {"rule": "sensitivity", "target": 0.95, "split": "val"}
    assert version.calibration["method"] == "temperature" and version.scope["domain"] == "chest radiograph"

    client = login(clinician)
    page = client.get(reverse("diagnosis:model_detail", args=[version.pk])).content.decode()
    assert "the highest threshold that keeps sensitivity at least 0.95 on the validation split" in page
    assert "calibrated by temperature scaling on the validation split" in page
    assert "reads chest radiographs of at least 128 px on each side" in page
    assert "At threshold 0.5: accuracy, sensitivity / specificity" in page
    api = client.get(f"/api/v1/models/{version.pk}/").json()
    assert api["operating_point"]["target"] == 0.95 and api["scope"]["min_side"] == 128
