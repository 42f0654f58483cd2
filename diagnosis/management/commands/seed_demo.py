"""Create a demo site with one user per role, register the starter models and queue what can be trained."""

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import Role, Site, User
from accounts.services import membership_set
from diagnosis.management.commands.train_model import recipe_from_file
from diagnosis.models import DicomNode, DicomPeer, LearningPolicy, ModelVersion, TrainingRun
from diagnosis.services.records import BRAIN, CHEST_XRAY
from diagnosis.services.training import model_register, training_run_create

DEMO_PASSWORD = "medsite-demo-2026"
DEMO_USERS = [
    ("clinician@demo.medsite", Role.CLINICIAN, "Clara", "Clinician"),
    ("radiologist@demo.medsite", Role.RADIOLOGIST, "Ravi", "Radiologist"),
    ("admin@demo.medsite", Role.ADMIN, "Ada", "Admin"),
]
DEMO_DICOM_PEERS = ("DEMO-PACS", "STORESCU")


class Command(BaseCommand):
    help = "Seed the demo site and users (idempotent); add the starter models when none is registered."

    def add_arguments(self, parser):
        parser.add_argument("--no-train", action="store_true", help="Add no model: neither register nor train one")

    def handle(self, *args, no_train: bool, **options):
        with transaction.atomic():
            self._seed_users()
        if not no_train:
            self._starter_models()

    def _seed_users(self) -> None:
        site, _ = Site.objects.get_or_create(slug="demo", defaults={"name": "Demo Hospital"})
        for email, role, first, last in DEMO_USERS:
            user = User.objects.filter(email=email).first()
            if user is None:
                user = User.objects.create_user(email, DEMO_PASSWORD, first_name=first, last_name=last)
            if role == Role.ADMIN and not user.is_superuser:
                user.is_staff = user.is_superuser = True
                user.save(update_fields=["is_staff", "is_superuser"])
            membership_set(user=user, site=site, role=role)
        # The DICOM receiver (make run: 127.0.0.1:11112) takes studies sent to MEDSITE by DEMO-PACS or STORESCU.
        DicomNode.objects.get_or_create(ae_title="MEDSITE", defaults={"site": site})
        for calling in DEMO_DICOM_PEERS:
            DicomPeer.objects.get_or_create(site=site, ae_title=calling, ip="127.0.0.1")
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for email, role, *_ in DEMO_USERS:
            self.stdout.write(f"  {role.label:<12} {email}")

    def _starter_models(self) -> None:
        """The committed chest X-ray bundle becomes the active chest model, with a learning policy when its training
        data are there; a brain MRI model is trained in the background when the brain data are there."""
        if ModelVersion.objects.exists() or TrainingRun.objects.exclude(status=TrainingRun.Status.FAILED).exists():
            return
        for manifest in sorted(settings.MEDSITE_STARTER_BUNDLES.glob("*/manifest.json")):
            version = model_register(bundle_path=manifest.parent, activate=True)
            self.stdout.write(f"Registered the starter {version.task} model {version.short_sha} (active).")
        source = settings.MEDSITE_STARTER_DATASET
        if source.exists():
            # The learning loop for the chest task: retrain on the same data plus 20 new reviewed images, judged on
            # its official test split; an admin promotes through the gate.
            LearningPolicy.objects.get_or_create(
                task=CHEST_XRAY, defaults={"base_dataset": str(source), "retrain_after": 20}
            )
        brain = settings.MEDSITE_BRAIN_DATASET
        if not ModelVersion.objects.filter(task=BRAIN).exists() and brain.exists():
            recipe, _, _ = recipe_from_file(settings.BASE_DIR / "mlcore" / "configs" / "brain-mri.json", str(brain))
            training_run_create(task=BRAIN, source=brain, config=recipe)
            self.stdout.write(f"Queued a brain MRI model trained on {brain} (a few minutes on the training worker).")
        elif not brain.exists():
            self.stdout.write(
                f"No brain MRI data at {brain}: MR/CT head studies get no AI result; see README 'Models'."
            )
