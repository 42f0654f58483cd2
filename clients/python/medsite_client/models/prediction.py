from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.model_version import ModelVersion
    from ..models.prediction_timings import PredictionTimings
    from ..models.review import Review


T = TypeVar("T", bound="Prediction")


@_attrs_define
class Prediction:
    """
    Attributes:
        id (int):
        image (int):
        label (str):
        probabilities (Any): Probability per class name
        max_probability (float | None):
        heatmap_url (None | str): Path of the Grad-CAM PNG for the label (needs the same authentication), or null
        timings (PredictionTimings): Milliseconds per stage. inference_ms is for the whole batch the image ran in (see
            batch_size).
        model_version (ModelVersion): The model version that made a prediction.
        reviews (list[Review]):
        created_at (datetime.datetime):
        threshold (float | None | Unset):
        abnormality (float | None | Unset): 1 - P(normal class); the top probability when the model has none. Triage key
        margin (float | None | Unset): Distance from the decision: |P(positive) - threshold| for two classes, top minus
            second otherwise
    """

    id: int
    image: int
    label: str
    probabilities: Any
    max_probability: float | None
    heatmap_url: None | str
    timings: PredictionTimings
    model_version: ModelVersion
    reviews: list[Review]
    created_at: datetime.datetime
    threshold: float | None | Unset = UNSET
    abnormality: float | None | Unset = UNSET
    margin: float | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        image = self.image

        label = self.label

        probabilities = self.probabilities

        max_probability: float | None
        max_probability = self.max_probability

        heatmap_url: None | str
        heatmap_url = self.heatmap_url

        timings = self.timings.to_dict()

        model_version = self.model_version.to_dict()

        reviews = []
        for reviews_item_data in self.reviews:
            reviews_item = reviews_item_data.to_dict()
            reviews.append(reviews_item)

        created_at = self.created_at.isoformat()

        threshold: float | None | Unset
        if isinstance(self.threshold, Unset):
            threshold = UNSET
        else:
            threshold = self.threshold

        abnormality: float | None | Unset
        if isinstance(self.abnormality, Unset):
            abnormality = UNSET
        else:
            abnormality = self.abnormality

        margin: float | None | Unset
        if isinstance(self.margin, Unset):
            margin = UNSET
        else:
            margin = self.margin

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "image": image,
                "label": label,
                "probabilities": probabilities,
                "max_probability": max_probability,
                "heatmap_url": heatmap_url,
                "timings": timings,
                "model_version": model_version,
                "reviews": reviews,
                "created_at": created_at,
            }
        )
        if threshold is not UNSET:
            field_dict["threshold"] = threshold
        if abnormality is not UNSET:
            field_dict["abnormality"] = abnormality
        if margin is not UNSET:
            field_dict["margin"] = margin

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.model_version import ModelVersion  # noqa: PLC0415
        from ..models.prediction_timings import PredictionTimings  # noqa: PLC0415
        from ..models.review import Review  # noqa: PLC0415

        d = dict(src_dict)
        id = d.pop("id")

        image = d.pop("image")

        label = d.pop("label")

        probabilities = d.pop("probabilities")

        def _parse_max_probability(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        max_probability = _parse_max_probability(d.pop("max_probability"))

        def _parse_heatmap_url(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        heatmap_url = _parse_heatmap_url(d.pop("heatmap_url"))

        timings = PredictionTimings.from_dict(d.pop("timings"))

        model_version = ModelVersion.from_dict(d.pop("model_version"))

        reviews = []
        _reviews = d.pop("reviews")
        for reviews_item_data in _reviews:
            reviews_item = Review.from_dict(reviews_item_data)

            reviews.append(reviews_item)

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        def _parse_threshold(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        threshold = _parse_threshold(d.pop("threshold", UNSET))

        def _parse_abnormality(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        abnormality = _parse_abnormality(d.pop("abnormality", UNSET))

        def _parse_margin(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        margin = _parse_margin(d.pop("margin", UNSET))

        prediction = cls(
            id=id,
            image=image,
            label=label,
            probabilities=probabilities,
            max_probability=max_probability,
            heatmap_url=heatmap_url,
            timings=timings,
            model_version=model_version,
            reviews=reviews,
            created_at=created_at,
            threshold=threshold,
            abnormality=abnormality,
            margin=margin,
        )

        prediction.additional_properties = d
        return prediction

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
