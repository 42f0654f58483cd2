from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.sex_enum import SexEnum
from ..types import UNSET, Unset

T = TypeVar("T", bound="PatchedPatientUpdate")


@_attrs_define
class PatchedPatientUpdate:
    """
    Attributes:
        mrn (str | Unset): Medical record number, unique within the site
        name (str | Unset):
        birth_date (datetime.date | None | Unset):
        sex (SexEnum | Unset): * `F` - Female
            * `M` - Male
            * `O` - Other
            * `U` - Unknown
    """

    mrn: str | Unset = UNSET
    name: str | Unset = UNSET
    birth_date: datetime.date | None | Unset = UNSET
    sex: SexEnum | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        mrn = self.mrn

        name = self.name

        birth_date: None | str | Unset
        if isinstance(self.birth_date, Unset):
            birth_date = UNSET
        elif isinstance(self.birth_date, datetime.date):
            birth_date = self.birth_date.isoformat()
        else:
            birth_date = self.birth_date

        sex: str | Unset = UNSET
        if not isinstance(self.sex, Unset):
            sex = self.sex.value

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({})
        if mrn is not UNSET:
            field_dict["mrn"] = mrn
        if name is not UNSET:
            field_dict["name"] = name
        if birth_date is not UNSET:
            field_dict["birth_date"] = birth_date
        if sex is not UNSET:
            field_dict["sex"] = sex

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        mrn = d.pop("mrn", UNSET)

        name = d.pop("name", UNSET)

        def _parse_birth_date(data: object) -> datetime.date | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                birth_date_type_0 = datetime.date.fromisoformat(data)

                return birth_date_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.date | None | Unset, data)

        birth_date = _parse_birth_date(d.pop("birth_date", UNSET))

        _sex = d.pop("sex", UNSET)
        sex: SexEnum | Unset
        if isinstance(_sex, Unset):
            sex = UNSET
        else:
            sex = SexEnum(_sex)

        patched_patient_update = cls(
            mrn=mrn,
            name=name,
            birth_date=birth_date,
            sex=sex,
        )

        patched_patient_update.additional_properties = d
        return patched_patient_update

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
