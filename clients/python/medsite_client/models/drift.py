from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="Drift")


@_attrs_define
class Drift:
    """
    Attributes:
        alert (bool):
        reviews (int):
        rate (float | None):
        level (float):
        days (int):
    """

    alert: bool
    reviews: int
    rate: float | None
    level: float
    days: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        alert = self.alert

        reviews = self.reviews

        rate: float | None
        rate = self.rate

        level = self.level

        days = self.days

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "alert": alert,
                "reviews": reviews,
                "rate": rate,
                "level": level,
                "days": days,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        alert = d.pop("alert")

        reviews = d.pop("reviews")

        def _parse_rate(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        rate = _parse_rate(d.pop("rate"))

        level = d.pop("level")

        days = d.pop("days")

        drift = cls(
            alert=alert,
            reviews=reviews,
            rate=rate,
            level=level,
            days=days,
        )

        drift.additional_properties = d
        return drift

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
