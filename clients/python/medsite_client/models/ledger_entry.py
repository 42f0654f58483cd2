from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.decision_enum import DecisionEnum
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.ledger_entry_ai_probabilities import LedgerEntryAiProbabilities


T = TypeVar("T", bound="LedgerEntry")


@_attrs_define
class LedgerEntry:
    """One row of the agreement ledger: the AI's output as the radiologist saw it, and their decision.

    Attributes:
        id (int):
        created_at (datetime.datetime):
        reviewer (str):
        task (str):
        model_version (int):
        model_sha256 (str):
        image (int):
        prediction (int):
        ai_label (str):
        ai_probabilities (LedgerEntryAiProbabilities):
        threshold (float | None):
        decision (DecisionEnum): * `confirm` - Confirm
            * `correct` - Correct
            * `uncertain` - Uncertain / not diagnostic
        agrees (bool | None): true: confirmed; false: corrected; null: uncertain
        label (str | Unset): The label the radiologist stands behind; empty when uncertain
        note (str | Unset):
    """

    id: int
    created_at: datetime.datetime
    reviewer: str
    task: str
    model_version: int
    model_sha256: str
    image: int
    prediction: int
    ai_label: str
    ai_probabilities: LedgerEntryAiProbabilities
    threshold: float | None
    decision: DecisionEnum
    agrees: bool | None
    label: str | Unset = UNSET
    note: str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        created_at = self.created_at.isoformat()

        reviewer = self.reviewer

        task = self.task

        model_version = self.model_version

        model_sha256 = self.model_sha256

        image = self.image

        prediction = self.prediction

        ai_label = self.ai_label

        ai_probabilities = self.ai_probabilities.to_dict()

        threshold: float | None
        threshold = self.threshold

        decision = self.decision.value

        agrees: bool | None
        agrees = self.agrees

        label = self.label

        note = self.note

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "created_at": created_at,
                "reviewer": reviewer,
                "task": task,
                "model_version": model_version,
                "model_sha256": model_sha256,
                "image": image,
                "prediction": prediction,
                "ai_label": ai_label,
                "ai_probabilities": ai_probabilities,
                "threshold": threshold,
                "decision": decision,
                "agrees": agrees,
            }
        )
        if label is not UNSET:
            field_dict["label"] = label
        if note is not UNSET:
            field_dict["note"] = note

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.ledger_entry_ai_probabilities import LedgerEntryAiProbabilities  # noqa: PLC0415

        d = dict(src_dict)
        id = d.pop("id")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        reviewer = d.pop("reviewer")

        task = d.pop("task")

        model_version = d.pop("model_version")

        model_sha256 = d.pop("model_sha256")

        image = d.pop("image")

        prediction = d.pop("prediction")

        ai_label = d.pop("ai_label")

        ai_probabilities = LedgerEntryAiProbabilities.from_dict(d.pop("ai_probabilities"))

        def _parse_threshold(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        threshold = _parse_threshold(d.pop("threshold"))

        decision = DecisionEnum(d.pop("decision"))

        def _parse_agrees(data: object) -> bool | None:
            if data is None:
                return data
            return cast(bool | None, data)

        agrees = _parse_agrees(d.pop("agrees"))

        label = d.pop("label", UNSET)

        note = d.pop("note", UNSET)

        ledger_entry = cls(
            id=id,
            created_at=created_at,
            reviewer=reviewer,
            task=task,
            model_version=model_version,
            model_sha256=model_sha256,
            image=image,
            prediction=prediction,
            ai_label=ai_label,
            ai_probabilities=ai_probabilities,
            threshold=threshold,
            decision=decision,
            agrees=agrees,
            label=label,
            note=note,
        )

        ledger_entry.additional_properties = d
        return ledger_entry

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
