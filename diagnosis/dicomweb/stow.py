"""STOW-RS (PS3.18 10.5): each part of a request imported by the DICOM receiver's service (records.dicom_receive),
and the answer: the instances stored, and those that failed with a reason (the DIMSE status the receiver answers
for the same case) and a message for the person who sent them."""

import io
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

import pydicom
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from pydicom.dataset import Dataset

from accounts.audit import Client
from accounts.models import Site, User
from diagnosis.dicom import PARSE_ERRORS
from diagnosis.dicomweb import instances, multipart
from diagnosis.models import Image
from diagnosis.services import records

log = logging.getLogger(__name__)
# FailureReason (0008,1197): PS3.4 Table B.2-1, as the DICOM receiver answers C-STORE (docs/dicom-conformance.md)
OUT_OF_RESOURCES, DOES_NOT_MATCH_SOP_CLASS, CANNOT_UNDERSTAND = 0xA700, 0xA900, 0xC000


@dataclass(frozen=True)
class Outcome:
    """What became of one part: its image, or the reason and message of its failure."""

    sop_class: str
    sop_uid: str
    image: Image | None = None
    reason: int = 0
    message: str = ""


def store(
    *, site: Site, body, boundary: str, study_uid: str | None, client: Client, uploaded_by: User | None = None
) -> list[Outcome]:
    """Import every part of `body` (a spooled file) into `site`, after checking that the whole body is well formed
    (raises multipart.MalformedBody, and stores nothing, when it is not). With study_uid (POST .../studies/{uid}),
    an instance of another study fails. The request is the study's association: its images wait for the rest of it
    (HELD) and go to inference together when it ends."""
    if not sum(1 for _ in multipart.parts(body, boundary)):
        raise multipart.MalformedBody("The body holds no part.")
    outcomes, studies = [], set()
    try:
        for number, part in enumerate(multipart.parts(body, boundary), start=1):
            outcomes.append(outcome := _store_part(site, study_uid, part, number, client, uploaded_by))
            if outcome.image is not None:
                studies.add(outcome.image.study_id)
    finally:
        if studies:
            records.study_release_held(study_pks=sorted(studies))
    return outcomes


def _store_part(
    site: Site, study_uid: str | None, part: multipart.Part, number: int, client: Client, uploaded_by: User | None
) -> Outcome:
    try:
        header = pydicom.dcmread(
            io.BytesIO(part.content), force=True,
            specific_tags=["SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "PixelData"],
        )  # fmt: skip
    except (*PARSE_ERRORS, KeyError, IndexError, OverflowError):  # a first look only: the import service judges
        header = Dataset()
    sop_class, sop_uid = (_uid(header.get(keyword)) for keyword in ("SOPClassUID", "SOPInstanceUID"))
    name = f"part {number}" + (f" ({sop_uid})" if sop_uid else "")
    failed = lambda reason, message: Outcome(sop_class, sop_uid, reason=reason, message=message)  # noqa: E731
    if part.content_type not in ("", "application/dicom"):
        return failed(CANNOT_UNDERSTAND, f"{name} is {part.content_type[:60]}, not application/dicom.")
    if study_uid and str(header.get("StudyInstanceUID", "")) != study_uid:
        return failed(DOES_NOT_MATCH_SOP_CLASS, f"{name} belongs to another study than the one named.")
    if sop_class and "PixelData" not in header:
        return failed(DOES_NOT_MATCH_SOP_CLASS, f"{name} contains no image (no pixel data).")
    try:
        image, _ = records.dicom_receive(
            site=site, file=ContentFile(part.content, name=name), sop_instance_uid=sop_uid, client=client,
            uploaded_by=uploaded_by, hold=True,
        )  # fmt: skip
    except ValidationError as exc:  # the service's message: it names what is wrong, never patient data
        storage_full = getattr(exc, "code", None) == "storage_full"
        return failed(OUT_OF_RESOURCES if storage_full else CANNOT_UNDERSTAND, " ".join(exc.messages))
    except OSError:
        log.exception("STOW-RS: part %s could not be stored", number)
        return failed(OUT_OF_RESOURCES, f"{name} could not be stored; try again later.")
    return Outcome(sop_class, instances.image_uids(image)[1], image=image)


def _uid(value) -> str:
    """A UID read from a part, or "" when it is none (it goes into messages and the answer)."""
    text = str(value or "").strip()
    return text if re.fullmatch(r"[0-9][0-9.]{0,63}", text) else ""


def answer(outcomes: list[Outcome], study_uid: str | None, url: Callable[..., str]) -> tuple[dict, int]:
    """The response (DICOM JSON) and its status: 200 all stored, 202 some, 409 none. url(name, *uids) makes a
    RetrieveURL."""
    stored = [outcome for outcome in outcomes if outcome.image is not None]
    failed = [outcome for outcome in outcomes if outcome.image is None]
    result = Dataset()
    uids = {instances.study_uid(outcome.image.study) for outcome in stored}
    if study_uid or len(uids) == 1:
        result.RetrieveURL = url("study", study_uid or uids.pop())
    result.ReferencedSOPSequence = [_referenced(outcome, url) for outcome in stored]
    if failed:
        result.FailedSOPSequence = [_failure(outcome) for outcome in failed]
    body = result.to_json_dict()
    for item, outcome in zip(body.get("00081198", {}).get("Value", []), failed, strict=True):
        item["00000902"] = {"vr": "LO", "Value": [outcome.message]}  # ErrorComment, whatever its length
    return body, 200 if not failed else 202 if stored else 409


def _referenced(outcome: Outcome, url) -> Dataset:
    image = outcome.image
    series_uid, sop_uid = instances.image_uids(image)
    item = Dataset()
    item.ReferencedSOPClassUID = outcome.sop_class
    item.ReferencedSOPInstanceUID = sop_uid
    item.RetrieveURL = url("instance", instances.study_uid(image.study), series_uid, sop_uid)
    return item


def _failure(outcome: Outcome) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = outcome.sop_class
    item.ReferencedSOPInstanceUID = outcome.sop_uid
    item.FailureReason = outcome.reason
    return item
