from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.sex_enum import SexEnum

T = TypeVar("T", bound="WorklistPatient")


@_attrs_define
class WorklistPatient:
    """The patient of a worklist row (the row is the study: selectors.worklist_studies).

    Attributes:
        id (int):
        mrn (str):
        name (str):
        sex (SexEnum): * `F` - Female
            * `M` - Male
            * `O` - Other
            * `U` - Unknown
        age (int | None): Whole years today; null without a birth date
    """

    id: int
    mrn: str
    name: str
    sex: SexEnum
    age: int | None
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        mrn = self.mrn

        name = self.name

        sex = self.sex.value

        age: int | None
        age = self.age

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "mrn": mrn,
                "name": name,
                "sex": sex,
                "age": age,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        mrn = d.pop("mrn")

        name = d.pop("name")

        sex = SexEnum(d.pop("sex"))

        def _parse_age(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        age = _parse_age(d.pop("age"))

        worklist_patient = cls(
            id=id,
            mrn=mrn,
            name=name,
            sex=sex,
            age=age,
        )

        worklist_patient.additional_properties = d
        return worklist_patient

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
