from rest_framework import serializers

from diagnosis.models import Image, ModelVersion, Prediction, Review, Study


class ModelVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelVersion
        fields = ["id", "task", "bundle_sha256", "classes", "threshold", "status"]


class ReviewSerializer(serializers.ModelSerializer):
    reviewer = serializers.EmailField(source="reviewer.email")

    class Meta:
        model = Review
        fields = ["id", "decision", "label", "note", "reviewer", "created_at"]


class PredictionSerializer(serializers.ModelSerializer):
    model_version = ModelVersionSerializer()
    reviews = ReviewSerializer(many=True)

    class Meta:
        model = Prediction
        fields = ["id", "label", "probabilities", "threshold", "inference_ms", "model_version", "reviews", "created_at"]


class ImageSerializer(serializers.ModelSerializer):
    predictions = PredictionSerializer(many=True)

    class Meta:
        model = Image
        fields = [
            "id",
            "format",
            "width",
            "height",
            "bits",
            "sha256",
            "status",
            "failure_reason",
            "uploaded_at",
            "predictions",
        ]


class StudySerializer(serializers.ModelSerializer):
    images = ImageSerializer(many=True)

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
            "created_at",
            "images",
        ]
