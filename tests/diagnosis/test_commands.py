import numpy as np
import pytest
from django.core.management import call_command

from accounts.models import Membership, Role, User
from diagnosis.models import ModelVersion, TrainingRun
from diagnosis.services.training import training_run_execute

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


def test_seed_demo_creates_one_user_per_role_idempotently(settings, tmp_path):
    settings.MEDSITE_STARTER_DATASET = tmp_path / "missing.npz"
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
    assert not TrainingRun.objects.exists()  # no dataset: nothing queued, the UI explains


def test_seed_demo_trains_a_starter_model_in_the_background(settings, tiny_npz, django_capture_on_commit_callbacks):
    settings.MEDSITE_STARTER_DATASET = tiny_npz
    with django_capture_on_commit_callbacks() as callbacks:
        call_command("seed_demo")
    run = TrainingRun.objects.get()
    assert run.status == TrainingRun.Status.QUEUED and len(callbacks) == 1  # sent to the training queue on commit

    training_run_execute(run_pk=run.pk)  # what the training worker does
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert run.progress["epoch"] >= 1
    version = ModelVersion.objects.get()
    assert (version.status, version.task, version.classes) == ("active", "chest-xray", ["normal", "pneumonia"])
    assert version.threshold is not None and "val" in version.metrics
    assert training_run_execute(run_pk=run.pk) is None  # a redelivered task does nothing

    call_command("seed_demo")
    assert TrainingRun.objects.count() == 1  # a model exists: nothing more is queued


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
