import factory

from accounts.models import Membership, Role, Site, User
from diagnosis.models import Image, ModelVersion, Patient, Prediction, Review, Study

PASSWORD = "correct-horse-battery-staple"


class SiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Site

    name = factory.Sequence(lambda n: f"Hospital {n}")
    slug = factory.Sequence(lambda n: f"hospital-{n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@hospital.example")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    site = factory.SubFactory(SiteFactory)
    role = Role.CLINICIAN


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    site = factory.SubFactory(SiteFactory)
    mrn = factory.Sequence(lambda n: f"MRN{n:06d}")
    name = factory.Sequence(lambda n: f"Test Patient {n}")
    sex = Patient.Sex.FEMALE


class StudyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Study

    patient = factory.SubFactory(PatientFactory)
    modality = Study.Modality.CR
    body_part = "CHEST"


class ModelVersionFactory(factory.django.DjangoModelFactory):
    """A registry row without a bundle on disk: for tests of what is shown and listed, not of inference. The task's
    active version unless a status is given (one active version per task: the same row comes back)."""

    class Meta:
        model = ModelVersion
        django_get_or_create = ("task", "status")

    task = "chest-xray"
    classes = factory.LazyFunction(lambda: ["normal", "pneumonia"])
    bundle_sha256 = factory.Sequence(lambda n: f"{n:064x}")
    image_size = 16
    threshold = 0.5
    positive_class = "pneumonia"
    status = ModelVersion.Status.ACTIVE


class ImageFactory(factory.django.DjangoModelFactory):
    """An analysed PNG's row; the file name is a placeholder (no file is written)."""

    class Meta:
        model = Image

    study = factory.SubFactory(StudyFactory)
    file = factory.Sequence(lambda n: f"images/test-{n}.png")
    original_name = "chest.png"
    format = Image.Format.PNG
    width = 16
    height = 16
    bits = 8
    sha256 = factory.Sequence(lambda n: f"{n:064x}")
    status = Image.Status.DONE


class PredictionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Prediction

    image = factory.SubFactory(ImageFactory)
    model_version = factory.SubFactory(ModelVersionFactory)
    label = "pneumonia"
    probabilities = factory.LazyFunction(lambda: {"normal": 0.2, "pneumonia": 0.8})
    abnormality = 0.8
    threshold = 0.5
    inference_ms = 3.0


class ReviewFactory(factory.django.DjangoModelFactory):
    """A radiologist's read, written behind review_submit's back (no retraining item, no study status)."""

    class Meta:
        model = Review

    prediction = factory.SubFactory(PredictionFactory)
    reviewer = factory.SubFactory(UserFactory)
    decision = Review.Decision.CONFIRM
    label = "pneumonia"
