from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.modality_enum import ModalityEnum
from ..models.study_status_enum import StudyStatusEnum
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.image import Image


T = TypeVar("T", bound="Study")


@_attrs_define
class Study:
    """A study with its images, their predictions and reviews.

    Attributes:
        id (int):
        patient (int):
        created_at (datetime.datetime):
        images (list[Image]):
        accession_number (str | Unset):
        modality (ModalityEnum | Unset): * `CR` - Computed radiography (CR)
            * `DX` - Digital radiography (DX)
            * `MR` - Magnetic resonance (MR)
            * `CT` - Computed tomography (CT)
            * `OT` - Other (OT)
        body_part (str | Unset):
        study_date (datetime.date | None | Unset):
        description (str | Unset):
        referring_clinician (str | Unset):
        study_instance_uid (str | Unset):  Default: ''.
        status (StudyStatusEnum | Unset): * `registered` - Registered
            * `analysing` - Images being analysed
            * `awaiting_review` - Awaiting review
            * `awaiting_read` - Awaiting a human read (no AI analysis)
            * `complete` - Complete
    """

    id: int
    patient: int
    created_at: datetime.datetime
    images: list[Image]
    accession_number: str | Unset = UNSET
    modality: ModalityEnum | Unset = UNSET
    body_part: str | Unset = UNSET
    study_date: datetime.date | None | Unset = UNSET
    description: str | Unset = UNSET
    referring_clinician: str | Unset = UNSET
    study_instance_uid: str | Unset = ""
    status: StudyStatusEnum | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        patient = self.patient

        created_at = self.created_at.isoformat()

        images = []
        for images_item_data in self.images:
            images_item = images_item_data.to_dict()
            images.append(images_item)

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

        description = self.description

        referring_clinician = self.referring_clinician

        study_instance_uid = self.study_instance_uid

        status: str | Unset = UNSET
        if not isinstance(self.status, Unset):
            status = self.status.value

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "patient": patient,
                "created_at": created_at,
                "images": images,
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
        if description is not UNSET:
            field_dict["description"] = description
        if referring_clinician is not UNSET:
            field_dict["referring_clinician"] = referring_clinician
        if study_instance_uid is not UNSET:
            field_dict["study_instance_uid"] = study_instance_uid
        if status is not UNSET:
            field_dict["status"] = status

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.image import Image  # noqa: PLC0415

        d = dict(src_dict)
        id = d.pop("id")

        patient = d.pop("patient")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        images = []
        _images = d.pop("images")
        for images_item_data in _images:
            images_item = Image.from_dict(images_item_data)

            images.append(images_item)

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

        description = d.pop("description", UNSET)

        referring_clinician = d.pop("referring_clinician", UNSET)

        study_instance_uid = d.pop("study_instance_uid", UNSET)

        _status = d.pop("status", UNSET)
        status: StudyStatusEnum | Unset
        if isinstance(_status, Unset):
            status = UNSET
        else:
            status = StudyStatusEnum(_status)

        study = cls(
            id=id,
            patient=patient,
            created_at=created_at,
            images=images,
            accession_number=accession_number,
            modality=modality,
            body_part=body_part,
            study_date=study_date,
            description=description,
            referring_clinician=referring_clinician,
            study_instance_uid=study_instance_uid,
            status=status,
        )

        study.additional_properties = d
        return study

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
