from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.modality_enum import ModalityEnum
from ..types import UNSET, Unset

T = TypeVar("T", bound="PatchedStudyUpdate")


@_attrs_define
class PatchedStudyUpdate:
    """
    Attributes:
        modality (ModalityEnum | Unset): * `CR` - Computed radiography (CR)
            * `DX` - Digital radiography (DX)
            * `MR` - Magnetic resonance (MR)
            * `CT` - Computed tomography (CT)
            * `OT` - Other (OT)
        body_part (str | Unset):
        study_date (datetime.date | None | Unset):
        accession_number (str | Unset):
        referring_clinician (str | Unset):
        description (str | Unset):
    """

    modality: ModalityEnum | Unset = UNSET
    body_part: str | Unset = UNSET
    study_date: datetime.date | None | Unset = UNSET
    accession_number: str | Unset = UNSET
    referring_clinician: str | Unset = UNSET
    description: str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
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

        accession_number = self.accession_number

        referring_clinician = self.referring_clinician

        description = self.description

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({})
        if modality is not UNSET:
            field_dict["modality"] = modality
        if body_part is not UNSET:
            field_dict["body_part"] = body_part
        if study_date is not UNSET:
            field_dict["study_date"] = study_date
        if accession_number is not UNSET:
            field_dict["accession_number"] = accession_number
        if referring_clinician is not UNSET:
            field_dict["referring_clinician"] = referring_clinician
        if description is not UNSET:
            field_dict["description"] = description

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
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

        accession_number = d.pop("accession_number", UNSET)

        referring_clinician = d.pop("referring_clinician", UNSET)

        description = d.pop("description", UNSET)

        patched_study_update = cls(
            modality=modality,
            body_part=body_part,
            study_date=study_date,
            accession_number=accession_number,
            referring_clinician=referring_clinician,
            description=description,
        )

        patched_study_update.additional_properties = d
        return patched_study_update

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
