from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.kind_enum import KindEnum
from ..models.result_delivery_status_enum import ResultDeliveryStatusEnum
from ..types import UNSET, Unset

T = TypeVar("T", bound="ResultDelivery")


@_attrs_define
class ResultDelivery:
    """One result object sent (or being sent) to a PACS or FHIR server. status `pending` with attempts > 0: the
    last try failed for a passing reason (error says why) and Celery tries again; `failed`: refused, or still
    failing after the last retry, until a site admin sends it again (POST .../retry/).

        Attributes:
            id (int):
            prediction (int):
            kind (KindEnum): * `sr` - AI SR (preliminary)
                * `sc` - Heatmap Secondary Capture
                * `final_sr` - Final SR (reviewed)
                * `fhir` - FHIR DiagnosticReport
            target (str): The destination's or FHIR server's name
            target_type (str): `dicom` or `fhir`
            created_at (datetime.datetime):
            review (int | None | Unset):
            status (ResultDeliveryStatusEnum | Unset): * `pending` - Pending
                * `sent` - Sent
                * `failed` - Failed
            attempts (int | Unset):
            peer_status (str | Unset): DIMSE status (0x0000) or HTTP status code
            error (str | Unset): Why the last attempt failed; no patient data
            sop_instance_uid (str | Unset):
            sent_at (datetime.datetime | None | Unset):
    """

    id: int
    prediction: int
    kind: KindEnum
    target: str
    target_type: str
    created_at: datetime.datetime
    review: int | None | Unset = UNSET
    status: ResultDeliveryStatusEnum | Unset = UNSET
    attempts: int | Unset = UNSET
    peer_status: str | Unset = UNSET
    error: str | Unset = UNSET
    sop_instance_uid: str | Unset = UNSET
    sent_at: datetime.datetime | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        prediction = self.prediction

        kind = self.kind.value

        target = self.target

        target_type = self.target_type

        created_at = self.created_at.isoformat()

        review: int | None | Unset
        if isinstance(self.review, Unset):
            review = UNSET
        else:
            review = self.review

        status: str | Unset = UNSET
        if not isinstance(self.status, Unset):
            status = self.status.value

        attempts = self.attempts

        peer_status = self.peer_status

        error = self.error

        sop_instance_uid = self.sop_instance_uid

        sent_at: None | str | Unset
        if isinstance(self.sent_at, Unset):
            sent_at = UNSET
        elif isinstance(self.sent_at, datetime.datetime):
            sent_at = self.sent_at.isoformat()
        else:
            sent_at = self.sent_at

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "prediction": prediction,
                "kind": kind,
                "target": target,
                "target_type": target_type,
                "created_at": created_at,
            }
        )
        if review is not UNSET:
            field_dict["review"] = review
        if status is not UNSET:
            field_dict["status"] = status
        if attempts is not UNSET:
            field_dict["attempts"] = attempts
        if peer_status is not UNSET:
            field_dict["peer_status"] = peer_status
        if error is not UNSET:
            field_dict["error"] = error
        if sop_instance_uid is not UNSET:
            field_dict["sop_instance_uid"] = sop_instance_uid
        if sent_at is not UNSET:
            field_dict["sent_at"] = sent_at

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        prediction = d.pop("prediction")

        kind = KindEnum(d.pop("kind"))

        target = d.pop("target")

        target_type = d.pop("target_type")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        def _parse_review(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        review = _parse_review(d.pop("review", UNSET))

        _status = d.pop("status", UNSET)
        status: ResultDeliveryStatusEnum | Unset
        if isinstance(_status, Unset):
            status = UNSET
        else:
            status = ResultDeliveryStatusEnum(_status)

        attempts = d.pop("attempts", UNSET)

        peer_status = d.pop("peer_status", UNSET)

        error = d.pop("error", UNSET)

        sop_instance_uid = d.pop("sop_instance_uid", UNSET)

        def _parse_sent_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                sent_at_type_0 = datetime.datetime.fromisoformat(data)

                return sent_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        sent_at = _parse_sent_at(d.pop("sent_at", UNSET))

        result_delivery = cls(
            id=id,
            prediction=prediction,
            kind=kind,
            target=target,
            target_type=target_type,
            created_at=created_at,
            review=review,
            status=status,
            attempts=attempts,
            peer_status=peer_status,
            error=error,
            sop_instance_uid=sop_instance_uid,
            sent_at=sent_at,
        )

        result_delivery.additional_properties = d
        return result_delivery

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
