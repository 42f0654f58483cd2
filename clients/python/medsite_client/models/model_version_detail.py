from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.model_version_status_enum import ModelVersionStatusEnum
from ..types import UNSET, Unset

T = TypeVar("T", bound="ModelVersionDetail")


@_attrs_define
class ModelVersionDetail:
    """A registered model version with its validation and test metrics and operating point.

    Attributes:
        id (int):
        task (str):
        bundle_sha256 (str):
        classes (Any):
        image_size (int):
        registered_by (None | str):
        created_at (datetime.datetime):
        backbone (str | Unset):
        threshold (float | None | Unset):
        positive_class (str | Unset):
        status (ModelVersionStatusEnum | Unset): * `candidate` - Candidate
            * `shadow` - Shadow
            * `active` - Active
            * `retired` - Retired Default: ModelVersionStatusEnum.CANDIDATE.
        metrics (Any | Unset):
        operating_point (Any | Unset): How the threshold was chosen
        calibration (Any | Unset): How the probabilities were calibrated
        scope (Any | Unset): The input domain; images outside it get no label
        data_sha256 (str | Unset):
        activated_at (datetime.datetime | None | Unset): When it last became the active version
    """

    id: int
    task: str
    bundle_sha256: str
    classes: Any
    image_size: int
    registered_by: None | str
    created_at: datetime.datetime
    backbone: str | Unset = UNSET
    threshold: float | None | Unset = UNSET
    positive_class: str | Unset = UNSET
    status: ModelVersionStatusEnum | Unset = ModelVersionStatusEnum.CANDIDATE
    metrics: Any | Unset = UNSET
    operating_point: Any | Unset = UNSET
    calibration: Any | Unset = UNSET
    scope: Any | Unset = UNSET
    data_sha256: str | Unset = UNSET
    activated_at: datetime.datetime | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        task = self.task

        bundle_sha256 = self.bundle_sha256

        classes = self.classes

        image_size = self.image_size

        registered_by: None | str
        registered_by = self.registered_by

        created_at = self.created_at.isoformat()

        backbone = self.backbone

        threshold: float | None | Unset
        if isinstance(self.threshold, Unset):
            threshold = UNSET
        else:
            threshold = self.threshold

        positive_class = self.positive_class

        status: str | Unset = UNSET
        if not isinstance(self.status, Unset):
            status = self.status.value

        metrics = self.metrics

        operating_point = self.operating_point

        calibration = self.calibration

        scope = self.scope

        data_sha256 = self.data_sha256

        activated_at: None | str | Unset
        if isinstance(self.activated_at, Unset):
            activated_at = UNSET
        elif isinstance(self.activated_at, datetime.datetime):
            activated_at = self.activated_at.isoformat()
        else:
            activated_at = self.activated_at

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "task": task,
                "bundle_sha256": bundle_sha256,
                "classes": classes,
                "image_size": image_size,
                "registered_by": registered_by,
                "created_at": created_at,
            }
        )
        if backbone is not UNSET:
            field_dict["backbone"] = backbone
        if threshold is not UNSET:
            field_dict["threshold"] = threshold
        if positive_class is not UNSET:
            field_dict["positive_class"] = positive_class
        if status is not UNSET:
            field_dict["status"] = status
        if metrics is not UNSET:
            field_dict["metrics"] = metrics
        if operating_point is not UNSET:
            field_dict["operating_point"] = operating_point
        if calibration is not UNSET:
            field_dict["calibration"] = calibration
        if scope is not UNSET:
            field_dict["scope"] = scope
        if data_sha256 is not UNSET:
            field_dict["data_sha256"] = data_sha256
        if activated_at is not UNSET:
            field_dict["activated_at"] = activated_at

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        task = d.pop("task")

        bundle_sha256 = d.pop("bundle_sha256")

        classes = d.pop("classes")

        image_size = d.pop("image_size")

        def _parse_registered_by(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        registered_by = _parse_registered_by(d.pop("registered_by"))

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        backbone = d.pop("backbone", UNSET)

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

        metrics = d.pop("metrics", UNSET)

        operating_point = d.pop("operating_point", UNSET)

        calibration = d.pop("calibration", UNSET)

        scope = d.pop("scope", UNSET)

        data_sha256 = d.pop("data_sha256", UNSET)

        def _parse_activated_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                activated_at_type_0 = datetime.datetime.fromisoformat(data)

                return activated_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        activated_at = _parse_activated_at(d.pop("activated_at", UNSET))

        model_version_detail = cls(
            id=id,
            task=task,
            bundle_sha256=bundle_sha256,
            classes=classes,
            image_size=image_size,
            registered_by=registered_by,
            created_at=created_at,
            backbone=backbone,
            threshold=threshold,
            positive_class=positive_class,
            status=status,
            metrics=metrics,
            operating_point=operating_point,
            calibration=calibration,
            scope=scope,
            data_sha256=data_sha256,
            activated_at=activated_at,
        )

        model_version_detail.additional_properties = d
        return model_version_detail

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
