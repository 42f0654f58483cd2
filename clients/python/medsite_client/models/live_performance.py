from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.drift import Drift
    from ..models.operating_point import OperatingPoint
    from ..models.week import Week


T = TypeVar("T", bound="LivePerformance")


@_attrs_define
class LivePerformance:
    """A version's shown results judged by the radiologists' newest confirm/correct reviews.

    Attributes:
        reviews (int):
        agreed (int):
        agreement (float | None):
        operating (None | OperatingPoint):
        classes (list[str]):
        confusion (list[list[int]]): Rows: the radiologists' label; columns: the AI label; in the order of classes
        trend (list[Week]):
        drift (Drift | None):
    """

    reviews: int
    agreed: int
    agreement: float | None
    operating: None | OperatingPoint
    classes: list[str]
    confusion: list[list[int]]
    trend: list[Week]
    drift: Drift | None
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.drift import Drift  # noqa: PLC0415
        from ..models.operating_point import OperatingPoint  # noqa: PLC0415

        reviews = self.reviews

        agreed = self.agreed

        agreement: float | None
        agreement = self.agreement

        operating: dict[str, Any] | None
        if isinstance(self.operating, OperatingPoint):
            operating = self.operating.to_dict()
        else:
            operating = self.operating

        classes = self.classes

        confusion = []
        for confusion_item_data in self.confusion:
            confusion_item = confusion_item_data

            confusion.append(confusion_item)

        trend = []
        for trend_item_data in self.trend:
            trend_item = trend_item_data.to_dict()
            trend.append(trend_item)

        drift: dict[str, Any] | None
        if isinstance(self.drift, Drift):
            drift = self.drift.to_dict()
        else:
            drift = self.drift

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "reviews": reviews,
                "agreed": agreed,
                "agreement": agreement,
                "operating": operating,
                "classes": classes,
                "confusion": confusion,
                "trend": trend,
                "drift": drift,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.drift import Drift  # noqa: PLC0415
        from ..models.operating_point import OperatingPoint  # noqa: PLC0415
        from ..models.week import Week  # noqa: PLC0415

        d = dict(src_dict)
        reviews = d.pop("reviews")

        agreed = d.pop("agreed")

        def _parse_agreement(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        agreement = _parse_agreement(d.pop("agreement"))

        def _parse_operating(data: object) -> None | OperatingPoint:
            if data is None:
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                operating_type_1 = OperatingPoint.from_dict(data)

                return operating_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | OperatingPoint, data)

        operating = _parse_operating(d.pop("operating"))

        classes = cast(list[str], d.pop("classes"))

        confusion = []
        _confusion = d.pop("confusion")
        for confusion_item_data in _confusion:
            confusion_item = cast(list[int], confusion_item_data)

            confusion.append(confusion_item)

        trend = []
        _trend = d.pop("trend")
        for trend_item_data in _trend:
            trend_item = Week.from_dict(trend_item_data)

            trend.append(trend_item)

        def _parse_drift(data: object) -> Drift | None:
            if data is None:
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                drift_type_1 = Drift.from_dict(data)

                return drift_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(Drift | None, data)

        drift = _parse_drift(d.pop("drift"))

        live_performance = cls(
            reviews=reviews,
            agreed=agreed,
            agreement=agreement,
            operating=operating,
            classes=classes,
            confusion=confusion,
            trend=trend,
            drift=drift,
        )

        live_performance.additional_properties = d
        return live_performance

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
