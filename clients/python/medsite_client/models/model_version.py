from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.model_version_status_enum import ModelVersionStatusEnum
from ..types import UNSET, Unset

T = TypeVar("T", bound="ModelVersion")


@_attrs_define
class ModelVersion:
    """The model version that made a prediction.

    Attributes:
        id (int):
        task (str):
        bundle_sha256 (str):
        classes (Any):
        threshold (float | None | Unset):
        positive_class (str | Unset):
        status (ModelVersionStatusEnum | Unset): * `candidate` - Candidate
            * `shadow` - Shadow
            * `active` - Active
            * `retired` - Retired Default: ModelVersionStatusEnum.CANDIDATE.
    """

    id: int
    task: str
    bundle_sha256: str
    classes: Any
    threshold: float | None | Unset = UNSET
    positive_class: str | Unset = UNSET
    status: ModelVersionStatusEnum | Unset = ModelVersionStatusEnum.CANDIDATE
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        task = self.task

        bundle_sha256 = self.bundle_sha256

        classes = self.classes

        threshold: float | None | Unset
        if isinstance(self.threshold, Unset):
            threshold = UNSET
        else:
            threshold = self.threshold

        positive_class = self.positive_class

        status: str | Unset = UNSET
        if not isinstance(self.status, Unset):
            status = self.status.value

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "task": task,
                "bundle_sha256": bundle_sha256,
                "classes": classes,
            }
        )
        if threshold is not UNSET:
            field_dict["threshold"] = threshold
        if positive_class is not UNSET:
            field_dict["positive_class"] = positive_class
        if status is not UNSET:
            field_dict["status"] = status

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        task = d.pop("task")

        bundle_sha256 = d.pop("bundle_sha256")

        classes = d.pop("classes")

        def _parse_threshold(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        threshold = _parse_threshold(d.pop("threshold", UNSET))

        positive_class = d.pop("positive_class", UNSET)

        _status = d.pop("status", UNSET)
        status: ModelVersionStatusEnum | Unset
        if isinstance(_status, Unset):
            status = UNSET
        else:
            status = ModelVersionStatusEnum(_status)

        model_version = cls(
            id=id,
            task=task,
            bundle_sha256=bundle_sha256,
            classes=classes,
            threshold=threshold,
            positive_class=positive_class,
            status=status,
        )

        model_version.additional_properties = d
        return model_version

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
