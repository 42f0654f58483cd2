from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.decision_enum import DecisionEnum
from ..types import UNSET, Unset

T = TypeVar("T", bound="Review")


@_attrs_define
class Review:
    """
    Attributes:
        id (int):
        prediction (int):
        decision (DecisionEnum): * `confirm` - Confirm
            * `correct` - Correct
            * `uncertain` - Uncertain / not diagnostic
        reviewer (str):
        created_at (datetime.datetime):
        label (str | Unset): The label the radiologist stands behind; empty when uncertain
        note (str | Unset):
    """

    id: int
    prediction: int
    decision: DecisionEnum
    reviewer: str
    created_at: datetime.datetime
    label: str | Unset = UNSET
    note: str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        prediction = self.prediction

        decision = self.decision.value

        reviewer = self.reviewer

        created_at = self.created_at.isoformat()

        label = self.label

        note = self.note

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "prediction": prediction,
                "decision": decision,
                "reviewer": reviewer,
                "created_at": created_at,
            }
        )
        if label is not UNSET:
            field_dict["label"] = label
        if note is not UNSET:
            field_dict["note"] = note

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        prediction = d.pop("prediction")

        decision = DecisionEnum(d.pop("decision"))

        reviewer = d.pop("reviewer")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        label = d.pop("label", UNSET)

        note = d.pop("note", UNSET)

        review = cls(
            id=id,
            prediction=prediction,
            decision=decision,
            reviewer=reviewer,
            created_at=created_at,
            label=label,
            note=note,
        )

        review.additional_properties = d
        return review

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
