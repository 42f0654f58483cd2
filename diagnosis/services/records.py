"""Patients, studies and uploaded images: validated, stored, audited, and queued for inference."""

import contextlib
import errno
import logging
import re
import struct
import unicodedata
import uuid
import zlib
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
from celery import current_app
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.audit import SYSTEM, Client, audit_record
from accounts.models import AuditEvent, Membership, Role, Site, User
from diagnosis import listings
from diagnosis.dicom import DicomImage, is_dicom, read_dicom
from diagnosis.models import Image, Patient, Study
from diagnosis.task_names import INFERENCE_TASK
from diagnosis.uploads import check_size, decode_failure, file_sha256, inspect_image
from medsite.errors import DomainError
from mlcore.imaging import DataError, load_image

log = logging.getLogger(__name__)
STORAGE_FULL = (errno.ENOSPC, errno.EDQUOT)  # the image storage has no room (disk full, or over its quota)
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


def patient_update(*, patient: Patient, changed_by: User, client: Client = SYSTEM, **fields) -> Patient:
    """Change demographics (mrn, name, birth_date, sex). The audit event lists which fields changed."""
    return _update(patient, fields, site=patient.site, changed_by=changed_by, client=client)


def _update(record: Patient | Study, fields: dict, *, site: Site, changed_by: User, client: Client):
    """Apply the fields that differ, validate, save only those, and audit their names (not their values)."""
    changed = sorted(name for name, value in fields.items() if getattr(record, name) != value)
    if not changed:
        return record
    for name in changed:
        setattr(record, name, fields[name])
    try:
        record.full_clean(exclude=["created_by"])
    except ValidationError as exc:  # e.g. the new MRN is taken at this site
        raise DomainError.from_validation(exc) from None
    with transaction.atomic():
        record.save(update_fields=changed)
        listings.results_changed(site.pk)
        audit_record(
            actor=changed_by,
            action=AuditEvent.Action.UPDATE,
            obj=record,
            site=site,
            client=client,
            detail={"fields": changed},
        )
    return record


@transaction.atomic
def study_create(
    *,
    patient: Patient,
    modality: str,
    body_part: str,
    study_date=None,
    accession_number: str = "",
    description: str = "",
    referring_clinician: str = "",
    study_instance_uid: str = "",
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
        referring_clinician=referring_clinician.strip(),
        study_instance_uid=study_instance_uid.strip(),
        created_by=created_by,
    )
    audit_record(actor=created_by, action=AuditEvent.Action.CREATE, obj=study, site=patient.site, client=client)
    listings.studies_changed(patient.site_id)
    return study


def study_update(*, study: Study, changed_by: User, client: Client = SYSTEM, **fields) -> Study:
    if "body_part" in fields:
        fields["body_part"] = fields["body_part"].strip().upper()
    return _update(study, fields, site=study.site, changed_by=changed_by, client=client)


def study_refresh_status(*, study: Study) -> str:
    status = study.derived_status()
    Study.objects.filter(pk=study.pk).exclude(status=status).update(status=status)
    return status


# --- uploads ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Decoded:
    """An upload, checked and decoded: what is stored and what the row records."""

    format: str
    pixels: np.ndarray  # uint8 (H, W), for the display rendition and the model
    bits: int
    sha256: str
    dicom: DicomImage | None = None


def _decode(file) -> _Decoded:
    check_size(file)
    if is_dicom(file):
        dicom = read_dicom(file)
        return _Decoded(Image.Format.DICOM, dicom.pixels, dicom.bits_stored, file_sha256(file), dicom)
    info = inspect_image(file)
    file.seek(0)
    try:
        pixels = load_image(file)
    except DataError as exc:
        raise DomainError(decode_failure(file.name, exc)) from None
    return _Decoded(info.format, pixels, info.bits, info.sha256)


def image_upload(*, study: Study, file, uploaded_by: User, client: Client = SYSTEM) -> Image:
    """Validate, store and queue one file for a study. Bad input raises DomainError and stores nothing."""
    decoded = _decode(file)
    if decoded.dicom is not None:
        _check_dicom_belongs_to(decoded.dicom, study, file.name)
    return _store(study=study, file=file, decoded=decoded, uploaded_by=uploaded_by, client=client)


def dicom_import(*, site: Site, file, uploaded_by: User, client: Client = SYSTEM, hold: bool = False) -> Image:
    """Store a DICOM file without a chosen study: its PatientID and StudyInstanceUID find or create them.
    With hold, the image waits (HELD) for the rest of its study: study_release_held queues it."""
    check_size(file)
    if not is_dicom(file):
        raise DomainError(
            f"{file.name} is not a DICOM file. PNG and JPEG images carry no patient or study: "
            "upload them from a study page."
        )
    decoded = _decode(file)
    dicom = decoded.dicom
    if not dicom.patient_id or not dicom.study_instance_uid:
        raise DomainError(f"{file.name} has no PatientID or StudyInstanceUID; upload it from a study page instead.")
    with transaction.atomic():
        # Imports at one site take turns here: two files of a new patient arriving at once must not both create it.
        Site.objects.select_for_update().filter(pk=site.pk).first()
        patient = Patient.objects.filter(site=site, mrn=dicom.patient_id).first()
        if patient is not None:
            _check_dicom_identity(dicom, patient, file.name)
        patient = patient or patient_create(
            site=site,
            mrn=dicom.patient_id,
            name=dicom.patient_name or dicom.patient_id,
            birth_date=dicom.patient_birth_date,
            sex=dicom.patient_sex or Patient.Sex.UNKNOWN,
            created_by=uploaded_by,
            client=client,
        )
        study = Study.objects.filter(patient=patient, study_instance_uid=dicom.study_instance_uid).first()
        if study is None:
            if Study.objects.filter(patient__site=site, study_instance_uid=dicom.study_instance_uid).exists():
                raise DomainError(f"{file.name}: its StudyInstanceUID already belongs to another patient at this site.")
            study = study_create(
                patient=patient,
                modality=_modality(dicom),
                body_part=dicom.body_part or "UNKNOWN",
                study_date=dicom.study_date,
                accession_number=dicom.accession_number,
                description=dicom.study_description,
                study_instance_uid=dicom.study_instance_uid,
                created_by=uploaded_by,
                client=client,
            )
    return _store(study=study, file=file, decoded=decoded, uploaded_by=uploaded_by, client=client, hold=hold)


def dicom_receive(
    *,
    site: Site,
    file,
    sop_instance_uid: str,
    client: Client = SYSTEM,
    uploaded_by: User | None = None,
    hold: bool = False,
) -> tuple[Image, bool]:
    """One instance received over DICOM (C-STORE, STOW-RS): dicom_import, de-duplicated by SOPInstanceUID within
    the site. Returns the image and whether it is new; a resent instance returns the image already stored and stores
    nothing. uploaded_by: the signed-in sender (STOW-RS), None for a DICOM peer. With hold, the image waits for the
    rest of its study (study_release_held).
    """
    stored = Image.objects.filter(study__patient__site=site, sop_instance_uid=sop_instance_uid)
    if sop_instance_uid and (image := stored.first()) is not None:
        return image, False
    try:
        return dicom_import(site=site, file=file, uploaded_by=uploaded_by, client=client, hold=hold), True
    except ValidationError:
        if sop_instance_uid and (image := stored.first()) is not None:  # the same instance, on two associations
            return image, False
        raise


def _modality(dicom: DicomImage) -> str:
    return dicom.modality if dicom.modality in Study.Modality.values else Study.Modality.OT


def _check_dicom_belongs_to(dicom: DicomImage, study: Study, name: str) -> None:
    """Refuse a DICOM file whose own identifiers say it belongs to another patient or study, or that has no
    PatientID to tell (a file without one cannot be checked against the patient it is filed under)."""
    if not dicom.patient_id:
        raise DomainError(
            f"{name} has no PatientID, so MedSite cannot check that it is this patient's. Nothing was stored: "
            "ask for a copy of the file that carries the patient's ID."
        )
    if dicom.patient_id != study.patient.mrn:
        raise DomainError(f"{name} is for a different patient (its PatientID is not this patient's MRN).")
    if study.study_instance_uid and dicom.study_instance_uid and dicom.study_instance_uid != study.study_instance_uid:
        raise DomainError(f"{name} belongs to a different study (StudyInstanceUID differs).")


def _check_dicom_identity(dicom: DicomImage, patient: Patient, name: str) -> None:
    """Refuse an imported file whose PatientID is this patient's MRN but whose PatientName or PatientBirthDate
    differs from the patient's: one of the two records is wrong, and a person must find out which. The message
    names what differs, never the values (they reach no log and no audit event).

    A value missing on either side is not a mismatch: the MRN matched, and nothing contradicts it (a patient
    created from a file without a name is named by its MRN, which counts as no name).
    """
    differs = []
    stored_name = "" if patient.name == patient.mrn else patient.name
    if dicom.patient_name and stored_name and not person_names_match(dicom.patient_name, stored_name):
        differs.append("name")
    if dicom.patient_birth_date and patient.birth_date and dicom.patient_birth_date != patient.birth_date:
        differs.append("birth date")
    if differs:
        raise DomainError(
            f"{name}: its PatientID is the MRN of a patient at this site, but its patient {' and '.join(differs)} "
            f"{'differ' if len(differs) > 1 else 'differs'} from that patient's record. Nothing was stored: check "
            "which is right, correct the record or the file, and import it again."
        )


def _name_tokens(text: str) -> set[str]:
    """Lower-case words without accents: "Doe-Smith, Zoë" -> {"doe", "smith", "zoe"}."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return set(re.findall(r"[a-z0-9]+", plain))


def person_names_match(dicom_name: str, stored_name: str) -> bool:
    """Whether a DICOM person name (FAMILY^GIVEN^MIDDLE^PREFIX^SUFFIX; its alphabetic group, before any "=") names
    the same person as a name typed in MedSite ("Jane Doe", "DOE, Jane"), in any order, case and accents: one
    side's words hold the other's, so that a middle name, prefix or suffix may be on one side only ("Doe^Jane^M"
    and "Jane Doe", "Doe^Jane" and "Jane M. Doe" match; "Doe^Jane" and "Jane Smith", "Doe^J" and "Jane Doe" do not).
    """
    parts = dicom_name.split("=")[0].split("^")
    core, whole = _name_tokens(" ".join(parts[:2])), _name_tokens(" ".join(parts))
    stored = _name_tokens(stored_name)
    return bool(core and stored) and (core <= stored or stored <= whole)


def _png(pixels: np.ndarray) -> bytes:
    """The display rendition: an 8-bit greyscale PNG of ``pixels`` (uint8, H x W). Written here, not by Pillow, whose
    encoder tries all five PNG filters on every row: that took half of a received 2048 x 2048 image's time (125-155
    ms). Each row minus the one above (PNG filter 2, "Up"), deflated with zlib's run-length strategy, holds the same
    pixels in 30-35 ms, and radiographs come out smaller than Pillow's level-1 files (make bench-dicom)."""
    height, width = pixels.shape
    rows = np.empty((height, width + 1), dtype=np.uint8)
    rows[:, 0] = 2  # each row's filter type, Up (above the first row PNG reads zeros)
    rows[0, 1:] = pixels[0]
    np.subtract(pixels[1:], pixels[:-1], out=rows[1:, 1:])  # uint8 wraps modulo 256, as the filter does
    deflate = zlib.compressobj(1, zlib.DEFLATED, zlib.MAX_WBITS, 9, zlib.Z_RLE)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey, deflate, filters, no interlace
    chunks = ((b"IHDR", header), (b"IDAT", deflate.compress(rows) + deflate.flush()), (b"IEND", b""))
    return b"\x89PNG\r\n\x1a\n" + b"".join(
        struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body)) for kind, body in chunks
    )


class DuplicateImage(DomainError):
    """The same file (by sha256) is already in the study: `existing` is that image (the API answers 409 with it)."""

    def __init__(self, message: str, *, existing: Image):
        super().__init__(message, code="duplicate_image", kind="conflict")
        self.existing = existing


def _duplicate(study: Study, file, sha256: str) -> DomainError:
    existing = Image.objects.filter(study=study, sha256=sha256).first()
    message = f"{file.name} is already in this study."
    return (
        DomainError(message, code="duplicate_image", kind="conflict")
        if existing is None
        else DuplicateImage(message, existing=existing)
    )


def _store(*, study: Study, file, decoded: _Decoded, uploaded_by: User, client: Client, hold: bool = False) -> Image:
    if Image.objects.filter(study=study, sha256=decoded.sha256).exists():
        raise _duplicate(study, file, decoded.sha256)
    dicom = decoded.dicom
    height, width = decoded.pixels.shape
    image = Image(
        study=study,
        original_name=Path(file.name).name[:255],
        format=decoded.format,
        width=width,
        height=height,
        bits=decoded.bits,
        sha256=decoded.sha256,
        uploaded_by=uploaded_by,
        photometric=dicom.photometric if dicom else "",
        frames=dicom.number_of_frames if dicom else 1,
        transfer_syntax=dicom.transfer_syntax if dicom else "",
        series_instance_uid=dicom.series_instance_uid if dicom else "",
        sop_instance_uid=dicom.sop_instance_uid if dicom else "",
        burned_in=dicom.burned_in if dicom else "",
        status=Image.Status.HELD if hold else Image.Status.QUEUED,
    )
    # Files first, under random names (an original name may carry patient details), outside the transaction.
    stem = uuid.uuid4().hex
    suffix = {Image.Format.DICOM: ".dcm", Image.Format.PNG: ".png", Image.Format.JPEG: ".jpg"}[decoded.format]
    file.seek(0)
    try:
        file_save(image.file, stem + suffix, file)
        file_save(image.display_file, stem + ".png", ContentFile(_png(decoded.pixels)))
        if dicom is not None:
            file_save(image.deidentified_file, stem + ".dcm", ContentFile(dicom.deidentified))
        with transaction.atomic():
            image.save()
            Study.objects.filter(pk=study.pk).update(status=Study.Status.ANALYSING)
            listings.studies_changed(study.patient.site_id)
            audit_record(actor=uploaded_by, action=AuditEvent.Action.CREATE, obj=image, site=study.site, client=client)
            if not hold:
                # robust: a broker that cannot be reached is logged, not raised; the image is stored and queued, and
                # the periodic sweep (diagnosis.services.requeue) sends it once MEDSITE_INFERENCE_REQUEUE_AFTER passed.
                transaction.on_commit(
                    lambda: current_app.send_task(INFERENCE_TASK, kwargs={"image_pk": image.pk}), robust=True
                )
    except Exception as exc:
        for field in (image.file, image.display_file, image.deidentified_file):
            if field.name:
                field.storage.delete(field.name)
        if isinstance(exc, IntegrityError):  # the same file, uploaded twice at the same moment
            raise _duplicate(study, file, decoded.sha256) from None
        if isinstance(exc, OSError) and exc.errno in STORAGE_FULL:
            raise DomainError(
                f"{file.name} could not be stored: the image storage is full. Nothing was kept; "
                "try again later, and tell an administrator if it goes on.",
                code="storage_full",
            ) from None
        raise
    return image


def study_release_held(*, study_pks=None, quiet_seconds: float | None = None) -> list[int]:
    """Queue for inference the images that waited for the rest of their study; returns their pks.

    study_pks: the studies an association delivered, released when the sender released it. quiet_seconds: every
    study whose last held image arrived longer ago than that (a sender that keeps its association open, or one that
    aborted). Two releasers racing (an association's end and the quiet-period sweep) queue each image once: the
    update from HELD is the claim. A duplicate message would be harmless anyway (inference claims the image).
    """
    held = Image.objects.filter(status=Image.Status.HELD)
    if study_pks is not None:
        held = held.filter(study__in=study_pks)
    if quiet_seconds is not None:
        still_arriving = held.filter(uploaded_at__gte=timezone.now() - timedelta(seconds=quiet_seconds))
        held = held.exclude(study__in=still_arriving.values("study"))
    released = []
    for pk in held.order_by("uploaded_at").values_list("pk", flat=True):
        if Image.objects.filter(pk=pk, status=Image.Status.HELD).update(status=Image.Status.QUEUED):
            released.append(pk)
    for pk in released:
        try:
            current_app.send_task(INFERENCE_TASK, kwargs={"image_pk": pk})
        except Exception:  # the broker is down: the requeue sweep sends it (it is QUEUED now)
            log.exception("Could not queue image %s for inference; the periodic sweep will", pk)
    return released


@transaction.atomic
def image_clear_burned_in(*, image: Image, user: User, reason: str, client: Client = SYSTEM) -> Image:
    """A site admin has looked at an image flagged for burned-in text and found nothing that identifies the patient:
    its de-identified copy may be downloaded and it may be used in training. Audited, with the reason."""
    reason = reason.strip()
    site = image.study.site
    if not Membership.objects.filter(user=user, site=site, role=Role.ADMIN).exists():
        raise DomainError("Only an admin of the image's site can clear it.", code="not_site_admin", kind="forbidden")
    if not reason:
        raise DomainError("Say what you checked: the reason is kept with the image.", code="required", field="reason")
    image = Image.objects.select_for_update().get(pk=image.pk)
    if not image.burned_in:
        raise DomainError(f"Image {image.pk} is not flagged for burned-in annotation.")
    if image.burned_in_cleared_at is not None:
        raise DomainError(f"Image {image.pk} is already cleared.", code="already_cleared", kind="conflict")
    image.burned_in_cleared_at, image.burned_in_cleared_by = timezone.now(), user
    image.burned_in_clear_reason = reason[:500]
    image.save(update_fields=["burned_in_cleared_at", "burned_in_cleared_by", "burned_in_clear_reason"])
    audit_record(
        actor=user,
        action=AuditEvent.Action.UPDATE,
        obj=image,
        site=site,
        client=client,
        detail={"fields": ["burned_in_cleared_at"], "burned_in": "cleared", "reason": image.burned_in_clear_reason},
    )
    return image


def file_save(field, name: str, content) -> None:
    """Save content to a FileField (not the row). A storage that fails part way, a full disk for one, leaves a
    partial file under a name the field never learns: remove it here, then raise."""
    target = field.field.generate_filename(field.instance, name)
    try:
        field.save(name, content, save=False)
    except Exception:
        with contextlib.suppress(Exception):
            field.storage.delete(target)
        raise


# Routing: (modalities, body parts) whose images each task's model reads.
TASK_ROUTES = {
    CHEST_XRAY: ((Study.Modality.CR, Study.Modality.DX), ("CHEST",)),
    BRAIN: ((Study.Modality.MR, Study.Modality.CT), ("HEAD", "BRAIN")),
}


def task_for_study(study: Study) -> str | None:
    """Which model task handles images of this study, or None when no task does."""
    body_part = study.body_part.upper()
    for task, (modalities, body_parts) in TASK_ROUTES.items():
        if study.modality in modalities and body_part in body_parts:
            return task
    return None


def task_study_filter(task: str) -> Q:
    """The studies task_for_study sends to this task, as a query (body part matched without case)."""
    modalities, body_parts = TASK_ROUTES[task]
    parts = Q()
    for part in body_parts:
        parts |= Q(body_part__iexact=part)
    return Q(modality__in=modalities) & parts
