from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.blank_enum import BlankEnum
from ..models.claim_enum import ClaimEnum
from ..models.modality_enum import ModalityEnum
from ..models.priority_enum import PriorityEnum
from ..models.study_status_enum import StudyStatusEnum
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.worklist_patient import WorklistPatient


T = TypeVar("T", bound="WorklistStudy")


@_attrs_define
class WorklistStudy:
    """A study waiting for your read, with what triage orders it on. The AI figures are over the results that wait
    for you (and that the filters let through), never a shadow model's.

        Attributes:
            id (int):
            patient (WorklistPatient): The patient of a worklist row (the row is the study: selectors.worklist_studies).
            site (int): Site id
            abnormality (float | None): The highest P(abnormal) among the waiting AI results (an AI suggestion)
            top_label (None | str): The AI label of that most abnormal result
            top_task (None | str): Its model's task, e.g. chest-xray
            margin (float | None): The smallest distance from a decision among them: small means uncertain
            image_count (int): The study's images
            unread_count (int): Images with an AI result waiting for your read
            waiting_since (datetime.datetime): When the oldest waiting AI result was made
            claim (BlankEnum | ClaimEnum): mine, other, or empty: nobody holds a live claim (a lapsed claim is none)

                * `mine` - Claimed by you
                * `other` - Being read by another reader
                * `` - Not claimed
            claimed_by (None | str): The reader holding the live claim, else null
            claimed_at (datetime.datetime | None): When that claim was taken or last refreshed
            accession_number (str | Unset):
            modality (ModalityEnum | Unset): * `CR` - Computed radiography (CR)
                * `DX` - Digital radiography (DX)
                * `MR` - Magnetic resonance (MR)
                * `CT` - Computed tomography (CT)
                * `OT` - Other (OT)
            body_part (str | Unset):
            study_date (datetime.date | None | Unset):
            priority (PriorityEnum | Unset): * `routine` - Routine
                * `urgent` - Urgent
                * `stat` - STAT
            status (StudyStatusEnum | Unset): * `registered` - Registered
                * `analysing` - Images being analysed
                * `awaiting_review` - Awaiting review
                * `awaiting_read` - Awaiting a human read (no AI analysis)
                * `complete` - Complete
    """

    id: int
    patient: WorklistPatient
    site: int
    abnormality: float | None
    top_label: None | str
    top_task: None | str
    margin: float | None
    image_count: int
    unread_count: int
    waiting_since: datetime.datetime
    claim: BlankEnum | ClaimEnum
    claimed_by: None | str
    claimed_at: datetime.datetime | None
    accession_number: str | Unset = UNSET
    modality: ModalityEnum | Unset = UNSET
    body_part: str | Unset = UNSET
    study_date: datetime.date | None | Unset = UNSET
    priority: PriorityEnum | Unset = UNSET
    status: StudyStatusEnum | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        patient = self.patient.to_dict()

        site = self.site

        abnormality: float | None
        abnormality = self.abnormality

        top_label: None | str
        top_label = self.top_label

        top_task: None | str
        top_task = self.top_task

        margin: float | None
        margin = self.margin

        image_count = self.image_count

        unread_count = self.unread_count

        waiting_since = self.waiting_since.isoformat()

        claim: str
        if isinstance(self.claim, ClaimEnum):
            claim = self.claim.value
        else:
            claim = self.claim.value

        claimed_by: None | str
        claimed_by = self.claimed_by

        claimed_at: None | str
        if isinstance(self.claimed_at, datetime.datetime):
            claimed_at = self.claimed_at.isoformat()
        else:
            claimed_at = self.claimed_at

        accession_number = self.accession_number

        modality: str | Unset = UNSET
        if not isinstance(self.modality, Unset):
            modality = self.modality.value

        body_part = self.body_part

        study_date: None | str | Unset
        if isinstance(self.study_date, Unset):
            study_date = UNSET
        elif isinstance(self.study_date, datetime.date):
            study_date = self.study_date.isoformat()
        else:
            study_date = self.study_date

        priority: str | Unset = UNSET
        if not isinstance(self.priority, Unset):
            priority = self.priority.value

        status: str | Unset = UNSET
        if not isinstance(self.status, Unset):
            status = self.status.value

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "patient": patient,
                "site": site,
                "abnormality": abnormality,
                "top_label": top_label,
                "top_task": top_task,
                "margin": margin,
                "image_count": image_count,
                "unread_count": unread_count,
                "waiting_since": waiting_since,
                "claim": claim,
                "claimed_by": claimed_by,
                "claimed_at": claimed_at,
            }
        )
        if accession_number is not UNSET:
            field_dict["accession_number"] = accession_number
        if modality is not UNSET:
            field_dict["modality"] = modality
        if body_part is not UNSET:
            field_dict["body_part"] = body_part
        if study_date is not UNSET:
            field_dict["study_date"] = study_date
        if priority is not UNSET:
            field_dict["priority"] = priority
        if status is not UNSET:
            field_dict["status"] = status

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.worklist_patient import WorklistPatient  # noqa: PLC0415

        d = dict(src_dict)
        id = d.pop("id")

        patient = WorklistPatient.from_dict(d.pop("patient"))

        site = d.pop("site")

        def _parse_abnormality(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        abnormality = _parse_abnormality(d.pop("abnormality"))

        def _parse_top_label(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        top_label = _parse_top_label(d.pop("top_label"))

        def _parse_top_task(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        top_task = _parse_top_task(d.pop("top_task"))

        def _parse_margin(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        margin = _parse_margin(d.pop("margin"))

        image_count = d.pop("image_count")

        unread_count = d.pop("unread_count")

        waiting_since = datetime.datetime.fromisoformat(d.pop("waiting_since"))

        def _parse_claim(data: object) -> BlankEnum | ClaimEnum:
            try:
                if not isinstance(data, str):
                    raise TypeError()
                claim_type_0 = ClaimEnum(data)

                return claim_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            if not isinstance(data, str):
                raise TypeError()
            claim_type_1 = BlankEnum(data)

            return claim_type_1

        claim = _parse_claim(d.pop("claim"))

        def _parse_claimed_by(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        claimed_by = _parse_claimed_by(d.pop("claimed_by"))

        def _parse_claimed_at(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                claimed_at_type_0 = datetime.datetime.fromisoformat(data)

                return claimed_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        claimed_at = _parse_claimed_at(d.pop("claimed_at"))

        accession_number = d.pop("accession_number", UNSET)

        _modality = d.pop("modality", UNSET)
        modality: ModalityEnum | Unset
        if isinstance(_modality, Unset):
            modality = UNSET
        else:
            modality = ModalityEnum(_modality)

        body_part = d.pop("body_part", UNSET)

        def _parse_study_date(data: object) -> datetime.date | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                study_date_type_0 = datetime.date.fromisoformat(data)

                return study_date_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.date | None | Unset, data)

        study_date = _parse_study_date(d.pop("study_date", UNSET))

        _priority = d.pop("priority", UNSET)
        priority: PriorityEnum | Unset
        if isinstance(_priority, Unset):
            priority = UNSET
        else:
            priority = PriorityEnum(_priority)

        _status = d.pop("status", UNSET)
        status: StudyStatusEnum | Unset
        if isinstance(_status, Unset):
            status = UNSET
        else:
            status = StudyStatusEnum(_status)

        worklist_study = cls(
            id=id,
            patient=patient,
            site=site,
            abnormality=abnormality,
            top_label=top_label,
            top_task=top_task,
            margin=margin,
            image_count=image_count,
            unread_count=unread_count,
            waiting_since=waiting_since,
            claim=claim,
            claimed_by=claimed_by,
            claimed_at=claimed_at,
            accession_number=accession_number,
            modality=modality,
            body_part=body_part,
            study_date=study_date,
            priority=priority,
            status=status,
        )

        worklist_study.additional_properties = d
        return worklist_study

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
