"""Patients, studies and uploaded images."""

import uuid
from pathlib import Path

from celery import current_app
from django.db import transaction

from accounts.models import Site, User
from diagnosis.models import AuditEvent, Image, Patient, Study
from diagnosis.services.audit import SYSTEM, Client, audit_record
from diagnosis.uploads import inspect_image

INFERENCE_TASK = "diagnosis.tasks.run_inference_task"
CHEST_XRAY = "chest-xray"
BRAIN = "brain-mri"


@transaction.atomic
def patient_create(
    *,
    site: Site,
    mrn: str,
    name: str,
    birth_date=None,
    sex: str = Patient.Sex.UNKNOWN,
    created_by: User,
    client: Client = SYSTEM,
) -> Patient:
    patient = Patient.objects.create(
        site=site, mrn=mrn.strip(), name=name.strip(), birth_date=birth_date, sex=sex, created_by=created_by
    )
    audit_record(actor=created_by, action=AuditEvent.Action.CREATE, obj=patient, site=site, client=client)
    return patient


@transaction.atomic
def study_create(
    *,
    patient: Patient,
    modality: str,
    body_part: str,
    study_date=None,
    accession_number: str = "",
    description: str = "",
    created_by: User,
    client: Client = SYSTEM,
) -> Study:
    study = Study.objects.create(
        patient=patient,
        modality=modality,
        body_part=body_part.strip().upper(),
        study_date=study_date,
        accession_number=accession_number.strip(),
        description=description.strip(),
        created_by=created_by,
    )
    audit_record(actor=created_by, action=AuditEvent.Action.CREATE, obj=study, site=patient.site, client=client)
    return study


def image_upload(*, study: Study, file, uploaded_by: User, client: Client = SYSTEM) -> Image:
    """Validate, store and queue one image. Raises ValidationError and stores nothing on bad input."""
    info = inspect_image(file)
    suffix = {"PNG": ".png", "JPEG": ".jpg"}[info.format]
    image = Image(
        study=study,
        original_name=Path(file.name).name[:255],
        format=info.format,
        width=info.width,
        height=info.height,
        bits=info.bits,
        sha256=info.sha256,
        uploaded_by=uploaded_by,
    )
    try:
        with transaction.atomic():
            # Stored under a random name: the original file name may carry patient details.
            image.file.save(f"{uuid.uuid4().hex}{suffix}", file, save=False)
            image.save()
            audit_record(actor=uploaded_by, action=AuditEvent.Action.CREATE, obj=image, site=study.site, client=client)
            transaction.on_commit(lambda: current_app.send_task(INFERENCE_TASK, kwargs={"image_pk": image.pk}))
    except Exception:
        if image.file.name:
            image.file.storage.delete(image.file.name)
        raise
    return image


def task_for_study(study: Study) -> str | None:
    """Which model task handles images of this study, or None when no task does."""
    body_part = study.body_part.upper()
    if study.modality in (Study.Modality.CR, Study.Modality.DX) and body_part == "CHEST":
        return CHEST_XRAY
    if study.modality in (Study.Modality.MR, Study.Modality.CT) and body_part in ("HEAD", "BRAIN"):
        return BRAIN
    return None
