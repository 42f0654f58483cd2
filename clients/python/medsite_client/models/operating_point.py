from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="OperatingPoint")


@_attrs_define
class OperatingPoint:
    """
    Attributes:
        sensitivity (float | None):
        specificity (float | None):
        kind (str): binary, finding (any finding vs normal) or macro (mean recall)
    """

    sensitivity: float | None
    specificity: float | None
    kind: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        sensitivity: float | None
        sensitivity = self.sensitivity

        specificity: float | None
        specificity = self.specificity

        kind = self.kind

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "sensitivity": sensitivity,
                "specificity": specificity,
                "kind": kind,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)

        def _parse_sensitivity(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        sensitivity = _parse_sensitivity(d.pop("sensitivity"))

        def _parse_specificity(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        specificity = _parse_specificity(d.pop("specificity"))

        kind = d.pop("kind")

        operating_point = cls(
            sensitivity=sensitivity,
            specificity=specificity,
            kind=kind,
        )

        operating_point.additional_properties = d
        return operating_point

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
