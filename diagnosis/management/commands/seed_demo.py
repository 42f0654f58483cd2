"""Create a demo site with one user per role and, when possible, queue a starter model."""

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import Role, Site, User
from accounts.services import membership_set
from diagnosis.models import LearningPolicy, ModelVersion, TrainingRun
from diagnosis.services.records import CHEST_XRAY
from diagnosis.services.training import training_run_create

DEMO_PASSWORD = "medsite-demo-2026"
DEMO_USERS = [
    ("clinician@demo.medsite", Role.CLINICIAN, "Clara", "Clinician"),
    ("radiologist@demo.medsite", Role.RADIOLOGIST, "Ravi", "Radiologist"),
    ("admin@demo.medsite", Role.ADMIN, "Ada", "Admin"),
]


class Command(BaseCommand):
    help = "Seed the demo site and users (idempotent); queue a starter model when none is registered."

    def add_arguments(self, parser):
        parser.add_argument("--no-train", action="store_true", help="Do not queue the starter model")

    @transaction.atomic
    def handle(self, *args, no_train: bool, **options):
        site, _ = Site.objects.get_or_create(slug="demo", defaults={"name": "Demo Hospital"})
        for email, role, first, last in DEMO_USERS:
            user = User.objects.filter(email=email).first()
            if user is None:
                user = User.objects.create_user(email, DEMO_PASSWORD, first_name=first, last_name=last)
            if role == Role.ADMIN and not user.is_superuser:
                user.is_staff = user.is_superuser = True
                user.save(update_fields=["is_staff", "is_superuser"])
            membership_set(user=user, site=site, role=role)
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for email, role, *_ in DEMO_USERS:
            self.stdout.write(f"  {role.label:<12} {email}")
        if not no_train:
            self._queue_starter_model()

    def _queue_starter_model(self) -> None:
        if ModelVersion.objects.exists() or TrainingRun.objects.exclude(status=TrainingRun.Status.FAILED).exists():
            return
        source = settings.MEDSITE_STARTER_DATASET
        if not source.exists():
            self.stdout.write(f"No model registered and no starter dataset at {source}; see README 'Models'.")
            return
        training_run_create(task=CHEST_XRAY, source=source, config={"image_size": 28})
        self.stdout.write(f"Queued a starter chest X-ray model trained on {source}.")
        # The learning loop for the starter task: retrain on the same data plus 20 new reviewed images, judged on
        # its official test split; an admin promotes through the gate.
        LearningPolicy.objects.get_or_create(
            task=CHEST_XRAY, defaults={"base_dataset": str(source), "retrain_after": 20}
        )
