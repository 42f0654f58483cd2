from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="ReviewCreate")


@_attrs_define
class ReviewCreate:
    """
    Attributes:
        prediction (int):
        label (str | Unset): One of the prediction's model classes Default: ''.
        uncertain (bool | Unset): true: uncertain / not diagnostic (no label; the image stays out of retraining)
            Default: False.
        note (str | Unset):  Default: ''.
    """

    prediction: int
    label: str | Unset = ""
    uncertain: bool | Unset = False
    note: str | Unset = ""
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        prediction = self.prediction

        label = self.label

        uncertain = self.uncertain

        note = self.note

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "prediction": prediction,
            }
        )
        if label is not UNSET:
            field_dict["label"] = label
        if uncertain is not UNSET:
            field_dict["uncertain"] = uncertain
        if note is not UNSET:
            field_dict["note"] = note

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        prediction = d.pop("prediction")

        label = d.pop("label", UNSET)

        uncertain = d.pop("uncertain", UNSET)

        note = d.pop("note", UNSET)

        review_create = cls(
            prediction=prediction,
            label=label,
            uncertain=uncertain,
            note=note,
        )

        review_create.additional_properties = d
        return review_create

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
