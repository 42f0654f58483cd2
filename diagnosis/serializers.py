"""REST API representations. Serializers validate and render; permissions and writes live elsewhere."""

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import AuditEvent, Site
from diagnosis.models import (
    Image,
    ModelEvaluation,
    ModelVersion,
    Patient,
    Prediction,
    ResultDelivery,
    RetrainingItem,
    Review,
    Study,
    TrainingRun,
)
from diagnosis.services.registry import REASON_REQUIRED

# --- output ----------------------------------------------------------------------------------


class PatientSerializer(serializers.ModelSerializer):
    class Meta:
        model = Patient
        fields = ["id", "site", "mrn", "name", "birth_date", "sex", "created_at"]


class ModelVersionSerializer(serializers.ModelSerializer):
    """The model version that made a prediction."""

    class Meta:
        model = ModelVersion
        fields = ["id", "task", "bundle_sha256", "classes", "threshold", "positive_class", "status"]


class ModelVersionDetailSerializer(serializers.ModelSerializer):
    """A registered model version with its validation and test metrics and operating point."""

    registered_by = serializers.EmailField(source="registered_by.email", default=None, allow_null=True, read_only=True)

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "task",
            "bundle_sha256",
            "classes",
            "image_size",
            "backbone",
            "threshold",
            "positive_class",
            "status",
            "metrics",
            "operating_point",
            "calibration",
            "scope",
            "data_sha256",
            "registered_by",
            "created_at",
            "activated_at",
        ]


class ModelStatusChangeSerializer(serializers.Serializer):
    """Shadow and retire: the reason is optional (neither changes what readers are shown); the audit trail
    keeps it when given."""

    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)


class ModelReasonSerializer(serializers.Serializer):
    """Promote and roll back: a written reason is required, and the audit trail keeps it."""

    reason = serializers.CharField(
        max_length=500,
        help_text="Why (required, kept in the audit trail)",
        error_messages={
            "required": REASON_REQUIRED,
            "blank": REASON_REQUIRED,
        },
    )


class ModelRollbackSerializer(ModelReasonSerializer):
    task = serializers.CharField(max_length=64)


class ModelPromoteSerializer(ModelReasonSerializer):
    override = serializers.BooleanField(
        required=False, default=False, help_text="Promote although the gate refuses (the reason says why)"
    )


class ModelEvaluationSerializer(serializers.ModelSerializer):
    """A candidate and the version active then, on the same held-out set; the gate's verdict and reasons."""

    candidate = serializers.PrimaryKeyRelatedField(read_only=True)
    baseline = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)

    class Meta:
        model = ModelEvaluation
        fields = [
            "id",
            "candidate",
            "baseline",
            "training_run",
            "holdout",
            "holdout_sha256",
            "holdout_size",
            "candidate_metrics",
            "baseline_metrics",
            "gate_passed",
            "gate_reasons",
            "tolerance",
            "created_at",
        ]


class OperatingPointSerializer(serializers.Serializer):
    sensitivity = serializers.FloatField(allow_null=True)
    specificity = serializers.FloatField(allow_null=True)
    kind = serializers.CharField(help_text="binary, finding (any finding vs normal) or macro (mean recall)")


class WeekSerializer(serializers.Serializer):
    week = serializers.DateField()
    reviews = serializers.IntegerField()
    agreed = serializers.IntegerField()
    rate = serializers.FloatField()


class DriftSerializer(serializers.Serializer):
    alert = serializers.BooleanField()
    reviews = serializers.IntegerField()
    rate = serializers.FloatField(allow_null=True)
    level = serializers.FloatField()
    days = serializers.IntegerField()


class LivePerformanceSerializer(serializers.Serializer):
    """A version's shown results judged by the radiologists' newest confirm/correct reviews."""

    reviews = serializers.IntegerField()
    agreed = serializers.IntegerField()
    agreement = serializers.FloatField(allow_null=True)
    operating = OperatingPointSerializer(allow_null=True)
    classes = serializers.ListField(child=serializers.CharField())
    confusion = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField()),
        help_text="Rows: the radiologists' label; columns: the AI label; in the order of classes",
    )
    trend = WeekSerializer(many=True)
    drift = DriftSerializer(allow_null=True)


class TrainingRunSerializer(serializers.ModelSerializer):
    """A training run: what it trained on, live progress, its log and the candidate it produced."""

    requested_by = serializers.EmailField(source="requested_by.email", default=None, allow_null=True, read_only=True)
    duration_s = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = TrainingRun
        fields = [
            "id",
            "task",
            "status",
            "trigger",
            "retrain",
            "source",
            "config",
            "base_version",
            "progress",
            "log",
            "data_manifest",
            "data_sha256",
            "error",
            "model_version",
            "requested_by",
            "created_at",
            "started_at",
            "finished_at",
            "duration_s",
        ]
        read_only_fields = fields


class TrainingRunCreateSerializer(serializers.Serializer):
    task = serializers.CharField(max_length=64)


class RetrainingItemSerializer(serializers.ModelSerializer):
    """A reviewed image in the retraining queue: its label, the patient's pseudonym, and any exclusion."""

    excluded_by = serializers.EmailField(source="excluded_by.email", default=None, allow_null=True, read_only=True)
    superseded = serializers.SerializerMethodField(
        help_text="A later review of the prediction, or a later item for the same image, replaced this one: no later "
        "training run uses it"
    )
    used_in_runs = serializers.SerializerMethodField(help_text="Training runs that trained on this item, oldest first")

    class Meta:
        model = RetrainingItem
        fields = [
            "id",
            "task",
            "label",
            "image",
            "review",
            "patient_key",
            "created_at",
            "excluded_at",
            "excluded_by",
            "exclusion_reason",
            "superseded",
            "used_in_runs",
        ]
        read_only_fields = fields

    def get_superseded(self, item) -> bool:
        if hasattr(item, "superseded"):  # annotated by RetrainingItem.objects.with_superseded()
            return item.superseded
        return RetrainingItem.objects.with_superseded().values_list("superseded", flat=True).get(pk=item.pk)

    def get_used_in_runs(self, item) -> list[int]:
        runs = TrainingRun.objects.filter(data_manifest__contains=[{"item": item.pk}]).order_by("created_at", "pk")
        return list(runs.values_list("pk", flat=True))


class ExclusionSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, help_text="Why the item must not be trained on (kept, audited)")


class PredictionTimingsSerializer(serializers.Serializer):
    """Milliseconds per stage. inference_ms is for the whole batch the image ran in (see batch_size)."""

    queue_ms = serializers.FloatField(allow_null=True, help_text="Upload to a worker taking the image")
    preprocess_ms = serializers.FloatField(allow_null=True, help_text="Reading, decoding and resizing")
    inference_ms = serializers.FloatField(help_text="Forward pass and Grad-CAM (one pass) of the batch")
    heatmap_ms = serializers.FloatField(allow_null=True, help_text="Rendering this image's heatmap PNG")
    batch_size = serializers.IntegerField()


class ReviewSerializer(serializers.ModelSerializer):
    reviewer = serializers.EmailField(source="reviewer.email")

    class Meta:
        model = Review
        fields = ["id", "prediction", "decision", "label", "note", "reviewer", "created_at"]


class LedgerEntrySerializer(ReviewSerializer):
    """One row of the agreement ledger: the AI's output as the radiologist saw it, and their decision."""

    task = serializers.CharField(source="prediction.model_version.task")
    model_version = serializers.IntegerField(source="prediction.model_version_id")
    model_sha256 = serializers.CharField(source="prediction.model_version.bundle_sha256")
    ai_label = serializers.CharField(source="prediction.label")
    ai_probabilities = serializers.DictField(child=serializers.FloatField(), source="prediction.probabilities")
    threshold = serializers.FloatField(source="prediction.threshold", allow_null=True)
    image = serializers.IntegerField(source="prediction.image_id")
    agrees = serializers.SerializerMethodField(help_text="true: confirmed; false: corrected; null: uncertain")

    class Meta(ReviewSerializer.Meta):
        fields = [
            "id",
            "created_at",
            "reviewer",
            "task",
            "model_version",
            "model_sha256",
            "image",
            "prediction",
            "ai_label",
            "ai_probabilities",
            "threshold",
            "decision",
            "label",
            "agrees",
            "note",
        ]

    def get_agrees(self, review: Review) -> bool | None:
        return None if review.decision == Review.Decision.UNCERTAIN else review.decision == Review.Decision.CONFIRM


class PredictionSerializer(serializers.ModelSerializer):
    model_version = ModelVersionSerializer()
    reviews = ReviewSerializer(many=True, source="review_list")
    max_probability = serializers.SerializerMethodField()
    timings = PredictionTimingsSerializer(source="*")
    heatmap_url = serializers.SerializerMethodField(
        help_text="Path of the Grad-CAM PNG for the label (needs the same authentication), or null"
    )

    class Meta:
        model = Prediction
        fields = [
            "id",
            "image",
            "label",
            "probabilities",
            "max_probability",
            "threshold",
            "abnormality",
            "margin",
            "heatmap_url",
            "timings",
            "model_version",
            "reviews",
            "created_at",
        ]

    def get_max_probability(self, prediction: Prediction) -> float | None:
        return max(prediction.probabilities.values(), default=None)

    def get_heatmap_url(self, prediction: Prediction) -> str | None:
        return reverse("api:prediction-heatmap", args=[prediction.pk]) if prediction.heatmap else None


class ResultDeliverySerializer(serializers.ModelSerializer):
    """One result object sent (or being sent) to a PACS or FHIR server. status `pending` with attempts > 0: the
    last try failed for a passing reason (error says why) and Celery tries again; `failed`: refused, or still
    failing after the last retry, until a site admin sends it again (POST .../retry/)."""

    target = serializers.SerializerMethodField(help_text="The destination's or FHIR server's name")
    target_type = serializers.SerializerMethodField(help_text="`dicom` or `fhir`")

    class Meta:
        model = ResultDelivery
        fields = [
            "id",
            "prediction",
            "review",
            "kind",
            "target",
            "target_type",
            "status",
            "attempts",
            "peer_status",
            "error",
            "sop_instance_uid",
            "created_at",
            "sent_at",
        ]

    def get_target(self, delivery: ResultDelivery) -> str:
        return (delivery.destination or delivery.fhir_server).name

    def get_target_type(self, delivery: ResultDelivery) -> str:
        return "dicom" if delivery.destination_id else "fhir"


class ImageSerializer(serializers.ModelSerializer):
    """An image's technical metadata. Never its original file name, which may name the patient.

    status `unsuitable`: the image is outside the model's scope (too small, or unlike the images it was trained on),
    so it has no predictions; status_reason says why. Like `done`, it is final.

    burned_in: why the pixels may carry a burned-in name or ID (empty when they should not); while
    burned_in_withheld, the de-identified file is refused (403) and the image is not used for training, until an
    admin of its site clears it."""

    predictions = PredictionSerializer(many=True, source="shown_predictions", read_only=True)
    burned_in_withheld = serializers.BooleanField(read_only=True)
    status_reason = serializers.CharField(
        source="failure_reason",
        read_only=True,
        help_text="Why the image has its status, for a person: no_model (no model reads this kind of image), "
        "unsuitable (outside the model's scope) or failed; empty otherwise",
    )
    failure_reason = serializers.SerializerMethodField(
        help_text="Why the analysis failed: only when status is failed, else empty (see status_reason)"
    )

    class Meta:
        model = Image
        fields = [
            "id",
            "study",
            "format",
            "width",
            "height",
            "bits",
            "photometric",
            "frames",
            "transfer_syntax",
            "series_instance_uid",
            "sop_instance_uid",
            "sha256",
            "status",
            "status_reason",
            "failure_reason",
            "burned_in",
            "burned_in_withheld",
            "uploaded_at",
            "predictions",
        ]

    def get_failure_reason(self, image) -> str:
        return image.failure_reason if image.status == Image.Status.FAILED else ""


class StudySerializer(serializers.ModelSerializer):
    """A study with its images, their predictions and reviews."""

    images = ImageSerializer(many=True, read_only=True, source="image_list")

    class Meta:
        model = Study
        fields = [
            "id",
            "patient",
            "accession_number",
            "modality",
            "body_part",
            "study_date",
            "description",
            "referring_clinician",
            "study_instance_uid",
            "status",
            "created_at",
            "images",
        ]


class WorklistPatientSerializer(serializers.Serializer):
    """The patient of a worklist row (the row is the study: selectors.worklist_studies)."""

    id = serializers.IntegerField(source="patient.id")
    mrn = serializers.CharField(source="patient.mrn")
    name = serializers.CharField(source="patient.name")
    sex = serializers.ChoiceField(choices=Patient.Sex.choices, source="patient.sex")
    age = serializers.IntegerField(
        source="patient.age", allow_null=True, help_text="Whole years today; null without a birth date"
    )


class WorklistStudySerializer(serializers.ModelSerializer):
    """A study waiting for your read, with what triage orders it on. The AI figures are over the results that wait
    for you (and that the filters let through), never a shadow model's."""

    patient = WorklistPatientSerializer(source="*", read_only=True)
    site = serializers.IntegerField(source="patient.site_id", help_text="Site id")
    abnormality = serializers.FloatField(
        allow_null=True, help_text="The highest P(abnormal) among the waiting AI results (an AI suggestion)"
    )
    top_label = serializers.CharField(allow_null=True, help_text="The AI label of that most abnormal result")
    top_task = serializers.CharField(allow_null=True, help_text="Its model's task, e.g. chest-xray")
    margin = serializers.FloatField(
        allow_null=True, help_text="The smallest distance from a decision among them: small means uncertain"
    )
    image_count = serializers.IntegerField(help_text="The study's images")
    unread_count = serializers.IntegerField(help_text="Images with an AI result waiting for your read")
    waiting_since = serializers.DateTimeField(help_text="When the oldest waiting AI result was made")
    claim = serializers.ChoiceField(
        choices=[("mine", "Claimed by you"), ("other", "Being read by another reader"), ("", "Not claimed")],
        help_text="mine, other, or empty: nobody holds a live claim (a lapsed claim is none)",
    )
    claimed_by = serializers.SerializerMethodField(help_text="The reader holding the live claim, else null")
    claimed_at = serializers.SerializerMethodField(help_text="When that claim was taken or last refreshed")

    class Meta:
        model = Study
        fields = [
            "id",
            "patient",
            "site",
            "accession_number",
            "modality",
            "body_part",
            "study_date",
            "priority",
            "status",
            "abnormality",
            "top_label",
            "top_task",
            "margin",
            "image_count",
            "unread_count",
            "waiting_since",
            "claim",
            "claimed_by",
            "claimed_at",
        ]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_claimed_by(self, study) -> str | None:
        return str(study.claimed_by) if study.claim else None

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_claimed_at(self, study):
        return serializers.DateTimeField().to_representation(study.claimed_at) if study.claim else None


class StudyClaimSerializer(serializers.Serializer):
    """Who holds a study's reading claim after a claim or a release."""

    study = serializers.IntegerField()
    claimed_by = serializers.CharField(allow_null=True, help_text="The reader holding it; null when none")
    claimed_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(
        allow_null=True, help_text="When it lapses unless refreshed (MEDSITE_READING_CLAIM_MINUTES after claimed_at)"
    )


class UploadErrorSerializer(serializers.Serializer):
    file = serializers.CharField(help_text="The uploaded file's name")
    message = serializers.CharField()
    image = serializers.IntegerField(required=False, help_text="The same file already in the study: that image's id")
    existing = serializers.URLField(required=False, help_text="The same file already in the study: that image's URL")


class UploadResultSerializer(serializers.Serializer):
    """201 when every file was stored; 409 when every refused file was already in its study; 400 when any other
    was refused. Stored files are kept either way."""

    images = ImageSerializer(many=True)
    errors = UploadErrorSerializer(many=True)


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "at",
            "actor_email",
            "site",
            "action",
            "object_type",
            "object_id",
            "detail",
            "ip",
            "user_agent",
        ]


# --- input -----------------------------------------------------------------------------------


class PatientCreateSerializer(serializers.ModelSerializer):
    site = serializers.PrimaryKeyRelatedField(queryset=Site.objects.all())

    class Meta:
        model = Patient
        fields = ["site", "mrn", "name", "birth_date", "sex"]


class PatientSearchSerializer(serializers.Serializer):
    query = serializers.CharField(
        max_length=200, help_text="Part of an MRN or a name (case-insensitive). Sent in the body, never in a URL."
    )


class PatientUpdateSerializer(serializers.ModelSerializer):
    class Meta:
        model = Patient
        fields = ["mrn", "name", "birth_date", "sex"]


class StudyUpdateSerializer(serializers.ModelSerializer):
    class Meta:
        model = Study
        fields = ["modality", "body_part", "study_date", "accession_number", "referring_clinician", "description"]


class StudyCreateSerializer(StudyUpdateSerializer):
    patient = serializers.PrimaryKeyRelatedField(queryset=Patient.objects.all())

    class Meta(StudyUpdateSerializer.Meta):
        fields = ["patient", *StudyUpdateSerializer.Meta.fields]
        extra_kwargs = {"modality": {"required": True}, "body_part": {"required": True}}  # as the web form asks


@extend_schema_field(OpenApiTypes.BINARY)
class UploadedFileField(serializers.FileField):
    """A file sent in a multipart request: binary in the schema, as clients must send it (drf-spectacular describes a
    FileField by the URL a response would give, unless the whole schema splits request components)."""


class UploadSerializer(serializers.Serializer):
    # Empty files pass here so that the upload service refuses them with its own message, file by file.
    files = serializers.ListField(child=UploadedFileField(allow_empty_file=True), allow_empty=False)


class DicomImportSerializer(UploadSerializer):
    site = serializers.IntegerField(help_text="The site whose patients the files' PatientIDs are looked up in")


class ReviewCreateSerializer(serializers.Serializer):
    prediction = serializers.IntegerField()
    label = serializers.CharField(
        max_length=64, required=False, allow_blank=True, default="", help_text="One of the prediction's model classes"
    )
    uncertain = serializers.BooleanField(
        default=False, help_text="true: uncertain / not diagnostic (no label; the image stays out of retraining)"
    )
    note = serializers.CharField(required=False, allow_blank=True, default="")

    def validate(self, data):
        if not data["uncertain"] and not data["label"]:
            raise serializers.ValidationError({"label": ["Give a label, or set uncertain to true."]})
        if data["uncertain"] and data["label"]:
            raise serializers.ValidationError({"label": ["An uncertain review has no label."]})
        return data


class RenditionSerializer(serializers.Serializer):
    rendition = serializers.ChoiceField(choices=["display", "original", "deidentified"], default="display")


class HeatmapStyleSerializer(serializers.Serializer):
    style = serializers.ChoiceField(
        choices=["overlay", "cam"],
        default="overlay",
        help_text="overlay: RGBA PNG, transparent below the CAM's upper half, one hue, outlined (what the web shows "
        "over the image); cam: the Grad-CAM itself as an 8-bit greyscale PNG (0 = no evidence, 255 = the most).",
    )
