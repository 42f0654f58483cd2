from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="RetrainingItem")


@_attrs_define
class RetrainingItem:
    """A reviewed image in the retraining queue: its label, the patient's pseudonym, and any exclusion.

    Attributes:
        id (int):
        task (str):
        label (str):
        image (int):
        review (int):
        patient_key (str): Pseudonym of the patient (keyed hash), for patient-level splits
        created_at (datetime.datetime):
        excluded_at (datetime.datetime | None):
        excluded_by (None | str):
        exclusion_reason (str):
        superseded (bool): A later review of the prediction, or a later item for the same image, replaced this one: no
            later training run uses it
        used_in_runs (list[int]): Training runs that trained on this item, oldest first
    """

    id: int
    task: str
    label: str
    image: int
    review: int
    patient_key: str
    created_at: datetime.datetime
    excluded_at: datetime.datetime | None
    excluded_by: None | str
    exclusion_reason: str
    superseded: bool
    used_in_runs: list[int]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        task = self.task

        label = self.label

        image = self.image

        review = self.review

        patient_key = self.patient_key

        created_at = self.created_at.isoformat()

        excluded_at: None | str
        if isinstance(self.excluded_at, datetime.datetime):
            excluded_at = self.excluded_at.isoformat()
        else:
            excluded_at = self.excluded_at

        excluded_by: None | str
        excluded_by = self.excluded_by

        exclusion_reason = self.exclusion_reason

        superseded = self.superseded

        used_in_runs = self.used_in_runs

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "task": task,
                "label": label,
                "image": image,
                "review": review,
                "patient_key": patient_key,
                "created_at": created_at,
                "excluded_at": excluded_at,
                "excluded_by": excluded_by,
                "exclusion_reason": exclusion_reason,
                "superseded": superseded,
                "used_in_runs": used_in_runs,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        task = d.pop("task")

        label = d.pop("label")

        image = d.pop("image")

        review = d.pop("review")

        patient_key = d.pop("patient_key")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        def _parse_excluded_at(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                excluded_at_type_0 = datetime.datetime.fromisoformat(data)

                return excluded_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        excluded_at = _parse_excluded_at(d.pop("excluded_at"))

        def _parse_excluded_by(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        excluded_by = _parse_excluded_by(d.pop("excluded_by"))

        exclusion_reason = d.pop("exclusion_reason")

        superseded = d.pop("superseded")

        used_in_runs = cast(list[int], d.pop("used_in_runs"))

        retraining_item = cls(
            id=id,
            task=task,
            label=label,
            image=image,
            review=review,
            patient_key=patient_key,
            created_at=created_at,
            excluded_at=excluded_at,
            excluded_by=excluded_by,
            exclusion_reason=exclusion_reason,
            superseded=superseded,
            used_in_runs=used_in_runs,
        )

        retraining_item.additional_properties = d
        return retraining_item

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
