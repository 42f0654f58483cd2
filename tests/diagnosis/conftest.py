import pytest

from diagnosis.models import Image, ModelVersion, Prediction


@pytest.fixture
def model_version(db):
    return ModelVersion.objects.create(
        task="chest-xray",
        classes=["normal", "pneumonia"],
        bundle_sha256="a" * 64,
        image_size=16,
        threshold=0.5,
        positive_class="pneumonia",
        status=ModelVersion.Status.ACTIVE,
    )


@pytest.fixture
def prediction(study, model_version):
    image = Image.objects.create(
        study=study,
        file="images/x.png",
        original_name="x.png",
        format="PNG",
        width=16,
        height=16,
        bits=8,
        sha256="b" * 64,
        status=Image.Status.DONE,
    )
    return Prediction.objects.create(
        image=image,
        model_version=model_version,
        label="pneumonia",
        probabilities={"normal": 0.2, "pneumonia": 0.8},
        threshold=0.5,
        inference_ms=3.0,
    )
