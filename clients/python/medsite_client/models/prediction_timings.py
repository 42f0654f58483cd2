from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="PredictionTimings")


@_attrs_define
class PredictionTimings:
    """Milliseconds per stage. inference_ms is for the whole batch the image ran in (see batch_size).

    Attributes:
        queue_ms (float | None): Upload to a worker taking the image
        preprocess_ms (float | None): Reading, decoding and resizing
        inference_ms (float): Forward pass and Grad-CAM (one pass) of the batch
        heatmap_ms (float | None): Rendering this image's heatmap PNG
        batch_size (int):
    """

    queue_ms: float | None
    preprocess_ms: float | None
    inference_ms: float
    heatmap_ms: float | None
    batch_size: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        queue_ms: float | None
        queue_ms = self.queue_ms

        preprocess_ms: float | None
        preprocess_ms = self.preprocess_ms

        inference_ms = self.inference_ms

        heatmap_ms: float | None
        heatmap_ms = self.heatmap_ms

        batch_size = self.batch_size

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "queue_ms": queue_ms,
                "preprocess_ms": preprocess_ms,
                "inference_ms": inference_ms,
                "heatmap_ms": heatmap_ms,
                "batch_size": batch_size,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)

        def _parse_queue_ms(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        queue_ms = _parse_queue_ms(d.pop("queue_ms"))

        def _parse_preprocess_ms(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        preprocess_ms = _parse_preprocess_ms(d.pop("preprocess_ms"))

        inference_ms = d.pop("inference_ms")

        def _parse_heatmap_ms(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        heatmap_ms = _parse_heatmap_ms(d.pop("heatmap_ms"))

        batch_size = d.pop("batch_size")

        prediction_timings = cls(
            queue_ms=queue_ms,
            preprocess_ms=preprocess_ms,
            inference_ms=inference_ms,
            heatmap_ms=heatmap_ms,
            batch_size=batch_size,
        )

        prediction_timings.additional_properties = d
        return prediction_timings

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
