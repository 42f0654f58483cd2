from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Exists, OuterRef, Prefetch, Q
from django.utils import timezone

from accounts.models import Site


def related_rows(instance: models.Model, relation: str) -> list:
    """The rows of one of instance's reverse relations, in the related model's order: the list that
    Prefetch(relation, to_attr="prefetched_" + relation) left on it (see image_details: no queryset is made per
    instance, which is most of prefetch_related's cost on a page of 50 studies), else the related manager's rows
    (prefetch_related's cache, or one query)."""
    rows = instance.__dict__.get(f"prefetched_{relation}")
    return rows if rows is not None else list(getattr(instance, relation).all())


def image_details(path: str = "") -> tuple[Prefetch | str, ...]:
    """prefetch_related lookups for what an image shows: its predictions, their model versions, their reviews and
    reviewers, as lists (related_rows reads them). `path` leads to the images, e.g. "prefetched_images__"."""
    predictions = f"{path}prefetched_predictions"
    return (
        Prefetch(f"{path}predictions", to_attr="prefetched_predictions"),
        f"{predictions}__model_version",
        Prefetch(f"{predictions}__reviews", to_attr="prefetched_reviews"),
        f"{predictions}__prefetched_reviews__reviewer",
    )


def study_details() -> tuple[Prefetch | str, ...]:
    """prefetch_related lookups for a study with its images and everything image_details lists."""
    return (Prefetch("images", to_attr="prefetched_images"), *image_details("prefetched_images__"))


class Patient(models.Model):
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="patients")
    mrn = models.CharField("MRN", max_length=64, help_text="Medical record number, unique within the site")
    name = models.CharField(max_length=200)
    birth_date = models.DateField(null=True, blank=True)

    class Sex(models.TextChoices):
        FEMALE = "F", "Female"
        MALE = "M", "Male"
        OTHER = "O", "Other"
        UNKNOWN = "U", "Unknown"

    sex = models.CharField(max_length=1, choices=Sex.choices, default=Sex.UNKNOWN)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["site", "mrn"], name="unique_mrn_per_site")]

    def __str__(self) -> str:
        return f"{self.name} ({self.mrn})"

    @property
    def age(self) -> int | None:
        """Whole years since the birth date, today (None without one)."""
        if self.birth_date is None:
            return None
        today, born = timezone.localdate(), self.birth_date
        return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


class Study(models.Model):
    class Modality(models.TextChoices):
        CR = "CR", "Computed radiography (CR)"
        DX = "DX", "Digital radiography (DX)"
        MR = "MR", "Magnetic resonance (MR)"
        CT = "CT", "Computed tomography (CT)"
        OT = "OT", "Other (OT)"

    class Status(models.TextChoices):
        REGISTERED = "registered", "Registered"
        ANALYSING = "analysing", "Images being analysed"
        AWAITING_REVIEW = "awaiting_review", "Awaiting review"
        # Every image is final, and some have no AI result (no model, or outside its scope): a human reads them.
        AWAITING_READ = "awaiting_read", "Awaiting a human read (no AI analysis)"
        COMPLETE = "complete", "Complete"  # every image has an AI result, and every one is read

    class Priority(models.TextChoices):  # DICOM RequestedProcedurePriority / HL7 ORC-7 in their plain meanings
        ROUTINE = "routine", "Routine"
        URGENT = "urgent", "Urgent"
        STAT = "stat", "STAT"

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="studies")
    accession_number = models.CharField(max_length=64, blank=True)
    modality = models.CharField(max_length=2, choices=Modality.choices, default=Modality.CR)
    body_part = models.CharField(max_length=64, default="CHEST")
    study_date = models.DateField(null=True, blank=True)
    description = models.CharField(max_length=200, blank=True)
    referring_clinician = models.CharField(max_length=200, blank=True)
    study_instance_uid = models.CharField("StudyInstanceUID", max_length=64, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.REGISTERED)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.ROUTINE)
    # The reader who opened the study to read it ("being read by"); a claim lapses after MEDSITE_READING_CLAIM_MINUTES.
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "studies"
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "study_instance_uid"], condition=~Q(study_instance_uid=""), name="unique_study_uid"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_modality_display()} {self.body_part} {self.study_date or ''}".strip()

    @property
    def site(self) -> Site:
        return self.patient.site

    def image_list(self) -> list["Image"]:
        """The study's images, oldest first (uses prefetched rows, see study_details)."""
        return related_rows(self, "images")

    def derived_status(self) -> str:
        """The lifecycle stage implied by the study's images, predictions and reviews."""
        images = self.image_list()
        if not images:
            return self.Status.REGISTERED
        if any(image.is_pending for image in images):
            return self.Status.ANALYSING
        # Reviews as plain lists (to_attr): no queryset per prediction, and so no reference cycle per prediction for
        # the garbage collector, since a worker runs this on every image it finishes.
        predictions = Prediction.objects.filter(image__study=self, is_shadow=False).prefetch_related(
            Prefetch("reviews", to_attr="prefetched_reviews")
        )
        second_reader = self.patient.site.second_reader
        if any(p.reading(second_reader=second_reader)[0] != Prediction.Reading.FINAL for p in predictions):
            return self.Status.AWAITING_REVIEW
        # An image without an AI result (no model for it, outside the model's scope, or its analysis failed) is read
        # by a person in the usual reporting workflow, which MedSite does not record: the study never claims to be
        # complete, it stays "awaiting a human read" (docs/user-guide.md, "Study statuses").
        if any(image.status in Image.WITHOUT_AI for image in images):
            return self.Status.AWAITING_READ
        return self.Status.COMPLETE


class Image(models.Model):
    class Status(models.TextChoices):
        # Received over DICOM while its study is still arriving: queued for inference once the study is complete
        # (the sender released the association, or no instance came for MEDSITE_DICOM_STUDY_QUIET_SECONDS).
        HELD = "held", "Waiting for the rest of the study"
        QUEUED = "queued", "Queued"
        PROCESSING = "processing", "Processing"
        DONE = "done", "Done"
        NO_MODEL = "no_model", "No model for this kind of image"
        # Final, like done: the model gave no label because the image is outside its scope (too small, or unlike
        # the images it was trained on); it is read without AI support. failure_reason says why.
        UNSUITABLE = "unsuitable", "Outside the model's scope"
        FAILED = "failed", "Failed"

    # Final without an AI result: a person reads these without AI support (their study is awaiting_read).
    WITHOUT_AI = (Status.NO_MODEL, Status.UNSUITABLE, Status.FAILED)

    class Format(models.TextChoices):
        DICOM = "DICOM", "DICOM"
        PNG = "PNG", "PNG"
        JPEG = "JPEG", "JPEG"

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="images")
    file = models.FileField("original file", upload_to="images/%Y/%m/", max_length=255)
    display_file = models.FileField(
        upload_to="display/%Y/%m/", max_length=255, help_text="8-bit grayscale PNG without metadata: viewer and model"
    )
    deidentified_file = models.FileField(
        upload_to="deidentified/%Y/%m/", max_length=255, blank=True, help_text="DICOM de-identified per PS3.15"
    )
    original_name = models.CharField(max_length=255)
    format = models.CharField(max_length=16, choices=Format.choices)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    bits = models.PositiveSmallIntegerField()
    photometric = models.CharField("photometric interpretation", max_length=16, blank=True)
    frames = models.PositiveIntegerField(default=1)
    transfer_syntax = models.CharField(max_length=64, blank=True)
    series_instance_uid = models.CharField("SeriesInstanceUID", max_length=64, blank=True)
    sop_instance_uid = models.CharField("SOPInstanceUID", max_length=64, blank=True)
    sha256 = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    failure_reason = models.CharField(
        max_length=500,
        blank=True,
        help_text="Why the image has no AI result (status failed, unsuitable or no_model), for a person; else empty",
    )
    burned_in = models.CharField(
        "burned-in annotation",
        max_length=200,
        blank=True,
        help_text="Why the pixels may carry burned-in text such as a name or an ID (a DICOM file saying so, or a "
        "secondary capture or ultrasound image saying nothing), else empty. Such an image stays out of de-identified "
        "downloads and training until a site admin clears it.",
    )
    burned_in_cleared_at = models.DateTimeField(null=True, blank=True)
    burned_in_cleared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    burned_in_clear_reason = models.CharField(max_length=500, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True, help_text="When a worker took the image for inference")
    claimed_by = models.CharField(max_length=255, blank=True, help_text="The Celery worker (node name) that took it")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["uploaded_at"]
        constraints = [models.UniqueConstraint(fields=["study", "sha256"], name="one_copy_of_a_file_per_study")]

    def __str__(self) -> str:
        return f"Image {self.pk} ({self.format} {self.width}x{self.height})"

    @property
    def is_pending(self) -> bool:
        return self.status in (self.Status.HELD, self.Status.QUEUED, self.Status.PROCESSING)

    @property
    def burned_in_withheld(self) -> bool:
        """Flagged for burned-in text and not cleared: no de-identified download, no training."""
        return bool(self.burned_in) and self.burned_in_cleared_at is None

    @property
    def shown_predictions(self) -> list["Prediction"]:
        """Predictions shown as results, newest first: never a shadow version's (uses prefetched rows)."""
        return [p for p in related_rows(self, "predictions") if not p.is_shadow]

    def current_prediction(self) -> "Prediction | None":
        """The newest prediction shown as the result; shadow predictions never are (uses prefetched rows)."""
        return next(iter(self.shown_predictions), None)


NORMAL_CLASS_NAMES = frozenset({"normal", "no_tumor", "no_finding", "healthy"})


class ModelVersion(models.Model):
    """A registered model bundle. Exactly one active version per task.

    candidate: registered, not run. shadow: runs on every image of its task beside the active version; its
    predictions are stored (Prediction.is_shadow) but never shown as the result. active: gives the results.
    retired: was active (or shadow) once; the newest retired-from-active version is the rollback target.
    """

    class Status(models.TextChoices):
        CANDIDATE = "candidate", "Candidate"
        SHADOW = "shadow", "Shadow"
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"

    task = models.CharField(max_length=64)
    classes = models.JSONField()
    bundle_sha256 = models.CharField(max_length=64, unique=True)
    image_size = models.PositiveIntegerField()
    threshold = models.FloatField(null=True, blank=True)
    positive_class = models.CharField(max_length=64, blank=True)
    metrics = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CANDIDATE)
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True, help_text="When it last became the active version")
    backbone = models.CharField(max_length=32, blank=True)
    data_sha256 = models.CharField("training data sha256", max_length=64, blank=True)
    # From the bundle's manifest (mlcore.bundle.Manifest); null for bundles made before these existed.
    operating_point = models.JSONField(null=True, blank=True, help_text="How the threshold was chosen")
    calibration = models.JSONField(null=True, blank=True, help_text="How the probabilities were calibrated")
    scope = models.JSONField(null=True, blank=True, help_text="The input domain; images outside it get no label")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["task"], condition=Q(status="active"), name="one_active_model_per_task")
        ]

    def __str__(self) -> str:
        return f"{self.task} {self.short_sha}"

    @property
    def short_sha(self) -> str:
        return self.bundle_sha256[:12]

    @property
    def normal_class(self) -> str | None:
        """The class meaning "no finding" (normal, no_tumor...), if the model has one."""
        return next((c for c in self.classes if c.lower().replace(" ", "_") in NORMAL_CLASS_NAMES), None)

    def margin(self, probabilities: dict[str, float]) -> float:
        """How far a prediction is from flipping: small means uncertain (active learning asks for these)."""
        if self.threshold is not None and self.positive_class in probabilities:
            return abs(probabilities[self.positive_class] - self.threshold)
        top, second = sorted(probabilities.values(), reverse=True)[:2]
        return top - second

    def abnormality(self, probabilities: dict[str, float]) -> float:
        """How likely an image shows a finding: 1 - P(normal), or the top probability without a normal class."""
        normal = self.normal_class
        return 1.0 - probabilities[normal] if normal else max(probabilities.values())

    NEAR_MARGIN_DEFAULT = 0.05  # without a validation calibration error: a conventional grey zone (docs/user-guide.md)
    NEAR_MARGIN_FLOOR = 0.02  # an ECE of ~0 from a small, cleanly separated validation set must not hide the zone

    def _validation_ece(self) -> float | None:
        """The expected calibration error on validation of the number the decision compares: P(positive class)
        for two classes, the top class's confidence otherwise (mlcore.evaluate), when the bundle recorded it."""
        ece = ((self.metrics or {}).get("val") or {}).get("ece_positive" if self.threshold is not None else "ece")
        return float(ece) if isinstance(ece, int | float) else None

    @property
    def near_margin(self) -> float:
        """How close to the decision a probability counts as "near the threshold": the validation calibration
        error (at least NEAR_MARGIN_FLOOR), or NEAR_MARGIN_DEFAULT without one. A probability closer to the threshold
        than the model's own calibration error could as well lie on the other side."""
        ece = self._validation_ece()
        return self.NEAR_MARGIN_DEFAULT if ece is None else max(ece, self.NEAR_MARGIN_FLOOR)

    @property
    def near_margin_source(self) -> str:
        """Where near_margin comes from, in words for the result card."""
        if self._validation_ece() is None:
            return "a default grey zone: the model records no calibration error"
        return "the model's calibration error on its validation set"


class Prediction(models.Model):
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="predictions")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="predictions")
    probabilities = models.JSONField(help_text="Probability per class name")
    label = models.CharField(max_length=64)
    threshold = models.FloatField(null=True, blank=True)
    abnormality = models.FloatField(
        null=True, blank=True, help_text="1 - P(normal class); the top probability when the model has none. Triage key"
    )
    margin = models.FloatField(
        null=True,
        blank=True,
        help_text="Distance from the decision: |P(positive) - threshold| for two classes, top minus second otherwise",
    )
    is_shadow = models.BooleanField(
        default=False, help_text="Made by a shadow version: stored for comparison, never shown as the result"
    )
    heatmap = models.FileField(
        upload_to="heatmaps/%Y/%m/", max_length=255, blank=True, help_text="Grad-CAM for the label, colour-mapped PNG"
    )
    queue_ms = models.FloatField(null=True, blank=True, help_text="Upload to a worker taking the image")
    preprocess_ms = models.FloatField(null=True, blank=True, help_text="Reading, decoding and resizing the image")
    inference_ms = models.FloatField(help_text="Forward pass and Grad-CAM (one pass) of the batch the image ran in")
    heatmap_ms = models.FloatField(null=True, blank=True, help_text="Rendering and encoding this image's heatmap PNG")
    batch_size = models.PositiveSmallIntegerField(default=1, help_text="Images run together in one forward pass")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["image", "model_version"], name="one_prediction_per_image_and_model")
        ]
        indexes = [
            models.Index(fields=["is_shadow", "created_at"], name="prediction_shadow_created"),
            models.Index(fields=["is_shadow", "-abnormality"], name="prediction_shadow_abnormality"),
        ]

    def __str__(self) -> str:
        return f"{self.label} (image {self.image_id}, model {self.model_version_id})"

    def review_list(self) -> list["Review"]:
        """The prediction's reviews, newest first (uses prefetched rows, see image_details)."""
        return related_rows(self, "reviews")

    def current_review(self) -> "Review | None":
        return next(iter(self.review_list()), None)

    class Reading(models.TextChoices):
        UNREAD = "unread", "Not reviewed yet"
        SECOND_READ = "second_read", "Awaiting a second reader"
        ADJUDICATION = "adjudication", "Readers disagree: awaiting adjudication"
        FINAL = "final", "Reviewed"

    def reading(self, *, second_reader: bool) -> tuple[str, "Review | None"]:
        """Where the prediction stands with the radiologists, and the review that decides it when final.

        One reader decides unless the site asks for a second: then the latest reads of the two most recent
        readers must agree, or the newest adjudication decides (uses prefetched reviews, newest first).
        """
        reviews = self.review_list()
        if not reviews:
            return self.Reading.UNREAD, None
        if not second_reader:
            return self.Reading.FINAL, reviews[0]
        adjudication = next((r for r in reviews if r.is_adjudication), None)
        latest_per_reader: dict[int, Review] = {}
        for review in reviews:
            if not review.is_adjudication:
                latest_per_reader.setdefault(review.reviewer_id, review)
        reads = list(latest_per_reader.values())
        if adjudication is not None and all(adjudication.created_at >= r.created_at for r in reads[:2]):
            return self.Reading.FINAL, adjudication
        if len(reads) < 2:
            return self.Reading.SECOND_READ, None
        first, second = reads[0], reads[1]
        if first.verdict == second.verdict:
            return self.Reading.FINAL, first
        return self.Reading.ADJUDICATION, None

    def readers(self) -> set[int]:
        """Ids of the radiologists who read it (adjudicators excluded)."""
        return {r.reviewer_id for r in self.review_list() if not r.is_adjudication}

    def sorted_probabilities(self) -> list[tuple[str, float]]:
        return sorted(self.probabilities.items(), key=lambda item: item[1], reverse=True)

    @property
    def positive_probability(self) -> float | None:
        """P(positive class), the number compared with the threshold (two-class models), else None."""
        if self.threshold is None:
            return None
        return self.probabilities.get(self.model_version.positive_class)

    @property
    def near_threshold(self) -> bool:
        """The result is a close call: P(positive) within the model's near_margin of the threshold (two classes),
        or the top two classes within it of each other (several)."""
        version = self.model_version
        if self.threshold is not None and version.positive_class in self.probabilities:
            distance = abs(self.probabilities[version.positive_class] - self.threshold)
        else:
            top, second = (sorted(self.probabilities.values(), reverse=True) + [0.0])[:2]
            distance = top - second
        return distance <= version.near_margin

    def review_by(self, user) -> "Review | None":
        """The newest review `user` wrote of this prediction (uses prefetched reviews), or None."""
        return next((r for r in self.review_list() if r.reviewer_id == user.pk), None)


class Review(models.Model):
    """A radiologist's decision on a prediction. Append-only: a new review supersedes older ones."""

    class Decision(models.TextChoices):
        CONFIRM = "confirm", "Confirm"
        CORRECT = "correct", "Correct"
        UNCERTAIN = "uncertain", "Uncertain / not diagnostic"

    prediction = models.ForeignKey(Prediction, on_delete=models.PROTECT, related_name="reviews")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviews")
    decision = models.CharField(max_length=16, choices=Decision.choices)
    label = models.CharField(
        max_length=64, blank=True, help_text="The label the radiologist stands behind; empty when uncertain"
    )
    note = models.TextField(blank=True)
    is_adjudication = models.BooleanField(
        default=False, help_text="A third radiologist's decision between two readers who disagreed"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.summary

    @property
    def verdict(self) -> tuple[str, str]:
        """What two reads are compared on: the decision kind and label (confirm and correct to the same label
        are the same verdict)."""
        return ("uncertain", "") if self.decision == self.Decision.UNCERTAIN else ("label", self.label)

    @property
    def summary(self) -> str:
        """ "Confirmed as pneumonia", "Corrected as normal" or "Marked uncertain / not diagnostic"."""
        if self.decision == self.Decision.UNCERTAIN:
            return "Marked uncertain / not diagnostic"
        return f"{self.get_decision_display()}ed as {self.label}"


class RetrainingItemQuerySet(models.QuerySet):
    def usable(self) -> "RetrainingItemQuerySet":
        """Items the next training run uses: not excluded, not of an image withheld for burned-in text, and still
        the radiologists' word on the image: no later review of the prediction (an "uncertain" one included) and no
        later item for the same image."""
        burned_in = Q(image__burned_in="") | Q(image__burned_in_cleared_at__isnull=False)  # see Image.burned_in
        return self.filter(burned_in, excluded_at=None).exclude(_superseded())

    def with_superseded(self) -> "RetrainingItemQuerySet":
        """Annotate `superseded`: a later review of the prediction, or a later item for the image, replaced it."""
        return self.annotate(superseded=models.ExpressionWrapper(_superseded(), output_field=models.BooleanField()))


def _superseded() -> Q:
    newer_item = RetrainingItem.objects.filter(image=OuterRef("image"), pk__gt=OuterRef("pk"))
    newer_review = Review.objects.filter(prediction=OuterRef("review__prediction"), pk__gt=OuterRef("review"))
    return Q(Exists(newer_item)) | Q(Exists(newer_review))


class RetrainingItem(models.Model):
    """A reviewed image waiting to be used in training: it points at the image's de-identified pixels (the
    metadata-free display PNG, stored once with the image), the label a radiologist stands behind, and a
    pseudonymous patient key for patient-level splits (never the MRN). Admins can exclude an item, with a
    reason; it is never deleted."""

    image = models.ForeignKey(Image, on_delete=models.PROTECT, related_name="retraining_items")
    review = models.OneToOneField(Review, on_delete=models.PROTECT, related_name="retraining_item")
    task = models.CharField(max_length=64)
    label = models.CharField(max_length=64)
    patient_key = models.CharField(
        max_length=64, blank=True, help_text="Pseudonym of the patient (keyed hash), for patient-level splits"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    excluded_at = models.DateTimeField(null=True, blank=True)
    excluded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    exclusion_reason = models.CharField(max_length=500, blank=True)

    objects = RetrainingItemQuerySet.as_manager()

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["task", "created_at"], name="retraining_task_created")]

    def __str__(self) -> str:
        return f"{self.task}: {self.label} (image {self.image_id})"


class LearningPolicy(models.Model):
    """How one task's model learns from reviews: its data, when to retrain, the gate and the drift alarm."""

    task = models.CharField(max_length=64, unique=True)
    base_dataset = models.CharField(
        max_length=500, help_text="Dataset every retraining starts from (.npz, manifest .csv or class folders)"
    )
    holdout_dataset = models.CharField(
        max_length=500,
        blank=True,
        help_text="Fixed held-out set both models are judged on (its test split); empty: the base dataset's test split",
    )
    retrain_after = models.PositiveIntegerField(
        default=0, help_text="Start a training run when this many new labelled items have come in (0: never by itself)"
    )
    auto_promote = models.BooleanField(
        default=False, help_text="Promote a candidate that passes the gate without waiting for an admin"
    )
    gate_tolerance = models.FloatField(
        default=0.0, help_text="How much lower AUC and sensitivity may be and still count as not worse"
    )
    drift_agreement = models.FloatField(
        default=0.8, help_text="Alert when radiologists agree with the active model less often than this"
    )
    drift_window_days = models.PositiveIntegerField(default=30)
    drift_min_reviews = models.PositiveIntegerField(
        default=20, help_text="Reviews needed in the window before the alert can fire"
    )

    class Meta:
        verbose_name_plural = "learning policies"

    def __str__(self) -> str:
        return f"Learning policy for {self.task}"


class TrainingRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    class Trigger(models.TextChoices):
        MANUAL = "manual", "Started by an admin"
        QUEUE = "queue", "Enough new labels in the queue"
        COMMAND = "command", "Command line"

    task = models.CharField(max_length=64)
    source = models.CharField(max_length=500, help_text="Dataset path the run trained on")
    config = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.COMMAND)
    retrain = models.BooleanField(default=False, help_text="Base dataset plus the retraining queue, judged on holdout")
    base_version = models.ForeignKey(
        "ModelVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The active version whose recipe (config) the run reused",
    )
    progress = models.JSONField(default=dict, help_text="Last epoch reported: epoch, epochs, loss, val_loss")
    log = models.TextField(blank=True, help_text="One line per epoch and per step")
    data_manifest = models.JSONField(
        default=list, blank=True, help_text="Queue items exported for the run: item id, file, label, patient pseudonym"
    )
    data_sha256 = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    model_version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(
        null=True, blank=True, help_text="When its message last went to the training queue (empty: run in place)"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Training run {self.pk} ({self.task}, {self.status})"

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class ModelEvaluation(models.Model):
    """A candidate and the then-active version scored on the same fixed held-out set, and the gate's verdict.

    Promotion through the gate needs an evaluation against the version active at that moment.
    """

    candidate = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="evaluations")
    baseline = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="Active then"
    )
    training_run = models.ForeignKey(TrainingRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    holdout = models.CharField(max_length=500, help_text="Dataset whose test split was the held-out set")
    holdout_sha256 = models.CharField(max_length=64)
    holdout_size = models.PositiveIntegerField()
    candidate_metrics = models.JSONField()
    baseline_metrics = models.JSONField(null=True, blank=True)
    gate_passed = models.BooleanField()
    gate_reasons = models.JSONField(default=list)
    tolerance = models.FloatField(default=0.0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Evaluation of {self.candidate} ({'passed' if self.gate_passed else 'failed'})"


class DicomNode(models.Model):
    """A DICOM AE title MedSite answers to (the called AE title), and the site whose records it receives into."""

    ae_title = models.CharField("called AE title", max_length=16, unique=True, help_text="As the sender calls it")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="dicom_nodes")

    class Meta:
        verbose_name = "DICOM node (called AE title)"

    def __str__(self) -> str:
        return f"{self.ae_title} -> {self.site}"


class DicomPeer(models.Model):
    """A calling AE title allowed to send to a site's DICOM nodes, from one address or (ip empty) from any."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="dicom_peers")
    ae_title = models.CharField("calling AE title", max_length=16)
    ip = models.GenericIPAddressField("address", null=True, blank=True, help_text="Empty: any address")

    class Meta:
        verbose_name = "DICOM peer (allowed calling AE title)"
        constraints = [models.UniqueConstraint(fields=["site", "ae_title", "ip"], name="one_dicom_peer_per_address")]

    def __str__(self) -> str:
        return f"{self.ae_title}@{self.ip or '*'} -> {self.site}"


class DicomDestination(models.Model):
    """A DICOM AE (a PACS, a viewer) that receives a site's AI results over C-STORE: the preliminary SR and the
    heatmap Secondary Capture when a prediction is made, the final SR when a radiologist has reviewed it."""

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="dicom_destinations")
    name = models.CharField(max_length=64, help_text="For people: 'Main PACS'")
    ae_title = models.CharField("called AE title", max_length=16, help_text="The destination's own AE title")
    host = models.CharField(max_length=255)
    port = models.PositiveIntegerField()
    calling_ae_title = models.CharField(
        "calling AE title", max_length=16, default="MEDSITE", help_text="MedSite's AE title as the destination knows it"
    )
    send_preliminary = models.BooleanField(default=True, help_text="The AI's SR and heatmap, as soon as predicted")
    send_final = models.BooleanField(default=True, help_text="The final SR, once a radiologist has reviewed")
    enabled = models.BooleanField(default=True)

    class Meta:
        verbose_name = "DICOM destination (results routing)"
        constraints = [models.UniqueConstraint(fields=["site", "name"], name="one_dicom_destination_name_per_site")]

    def __str__(self) -> str:
        return f"{self.name} ({self.ae_title}@{self.host}:{self.port})"


class FhirServer(models.Model):
    """A FHIR R4 server that receives a site's DiagnosticReports (preliminary, then final) by HTTP PUT."""

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="fhir_servers")
    name = models.CharField(max_length=64)
    base_url = models.URLField("base URL", help_text="e.g. https://ehr.example.org/fhir")
    authorization = models.CharField(
        max_length=500, blank=True, help_text="Sent as the Authorization header, e.g. 'Bearer ...'; never shown again"
    )
    enabled = models.BooleanField(default=True)

    class Meta:
        verbose_name = "FHIR server (results routing)"
        constraints = [models.UniqueConstraint(fields=["site", "name"], name="one_fhir_server_name_per_site")]

    def __str__(self) -> str:
        return f"{self.name} ({self.base_url})"


class ResultDelivery(models.Model):
    """One result object sent (or being sent) to one destination: its status, attempts and the peer's answer.
    The key makes a delivery unique, so a repeated trigger never sends the same object twice."""

    class Kind(models.TextChoices):
        PRELIMINARY_SR = "sr", "AI SR (preliminary)"
        HEATMAP_SC = "sc", "Heatmap Secondary Capture"
        FINAL_SR = "final_sr", "Final SR (reviewed)"
        FHIR_REPORT = "fhir", "FHIR DiagnosticReport"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    key = models.CharField(max_length=128, unique=True, help_text="destination, kind and object")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="+")
    destination = models.ForeignKey(
        DicomDestination, null=True, blank=True, on_delete=models.PROTECT, related_name="deliveries"
    )
    fhir_server = models.ForeignKey(
        FhirServer, null=True, blank=True, on_delete=models.PROTECT, related_name="deliveries"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    prediction = models.ForeignKey(Prediction, on_delete=models.PROTECT, related_name="deliveries")
    review = models.ForeignKey(Review, null=True, blank=True, on_delete=models.PROTECT, related_name="deliveries")
    sop_instance_uid = models.CharField("SOPInstanceUID", max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    peer_status = models.CharField(max_length=64, blank=True, help_text="DIMSE status (0x0000) or HTTP status code")
    error = models.CharField(max_length=500, blank=True, help_text="Why the last attempt failed; no patient data")
    created_at = models.DateTimeField(auto_now_add=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(
        null=True, blank=True, help_text="When its latest send message was queued; the sweep resends it long after"
    )
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "result deliveries"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(destination__isnull=False, fhir_server__isnull=True)
                | models.Q(destination__isnull=True, fhir_server__isnull=False),
                name="delivery_has_one_target",
            )
        ]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of prediction {self.prediction_id} to {self.destination or self.fhir_server}"


class IdempotencyRecord(models.Model):
    """The first answer to a POST that carried an `Idempotency-Key` header, kept 24 hours, so that a client
    retrying after a lost response gets that answer again instead of creating the record twice. One row per
    (user, key): the unique constraint is what stops two concurrent retries from both creating."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=500)
    request_hash = models.CharField(max_length=64, help_text="sha256 of the method, path and body")
    status = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Empty while the first is in progress")
    body = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    headers = models.JSONField(default=dict, blank=True, help_text="The answer's Location, if any")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="one_answer_per_idempotency_key")]

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.status or 'in progress'})"
