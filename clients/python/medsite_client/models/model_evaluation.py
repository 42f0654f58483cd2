from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="ModelEvaluation")


@_attrs_define
class ModelEvaluation:
    """A candidate and the version active then, on the same held-out set; the gate's verdict and reasons.

    Attributes:
        id (int):
        candidate (int):
        baseline (int | None):
        holdout (str): Dataset whose test split was the held-out set
        holdout_sha256 (str):
        holdout_size (int):
        candidate_metrics (Any):
        gate_passed (bool):
        created_at (datetime.datetime):
        training_run (int | None | Unset):
        baseline_metrics (Any | Unset):
        gate_reasons (Any | Unset):
        tolerance (float | Unset):
    """

    id: int
    candidate: int
    baseline: int | None
    holdout: str
    holdout_sha256: str
    holdout_size: int
    candidate_metrics: Any
    gate_passed: bool
    created_at: datetime.datetime
    training_run: int | None | Unset = UNSET
    baseline_metrics: Any | Unset = UNSET
    gate_reasons: Any | Unset = UNSET
    tolerance: float | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        candidate = self.candidate

        baseline: int | None
        baseline = self.baseline

        holdout = self.holdout

        holdout_sha256 = self.holdout_sha256

        holdout_size = self.holdout_size

        candidate_metrics = self.candidate_metrics

        gate_passed = self.gate_passed

        created_at = self.created_at.isoformat()

        training_run: int | None | Unset
        if isinstance(self.training_run, Unset):
            training_run = UNSET
        else:
            training_run = self.training_run

        baseline_metrics = self.baseline_metrics

        gate_reasons = self.gate_reasons

        tolerance = self.tolerance

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "candidate": candidate,
                "baseline": baseline,
                "holdout": holdout,
                "holdout_sha256": holdout_sha256,
                "holdout_size": holdout_size,
                "candidate_metrics": candidate_metrics,
                "gate_passed": gate_passed,
                "created_at": created_at,
            }
        )
        if training_run is not UNSET:
            field_dict["training_run"] = training_run
        if baseline_metrics is not UNSET:
            field_dict["baseline_metrics"] = baseline_metrics
        if gate_reasons is not UNSET:
            field_dict["gate_reasons"] = gate_reasons
        if tolerance is not UNSET:
            field_dict["tolerance"] = tolerance

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        candidate = d.pop("candidate")

        def _parse_baseline(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        baseline = _parse_baseline(d.pop("baseline"))

        holdout = d.pop("holdout")

        holdout_sha256 = d.pop("holdout_sha256")

        holdout_size = d.pop("holdout_size")

        candidate_metrics = d.pop("candidate_metrics")

        gate_passed = d.pop("gate_passed")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        def _parse_training_run(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        training_run = _parse_training_run(d.pop("training_run", UNSET))

        baseline_metrics = d.pop("baseline_metrics", UNSET)

        gate_reasons = d.pop("gate_reasons", UNSET)

        tolerance = d.pop("tolerance", UNSET)

        model_evaluation = cls(
            id=id,
            candidate=candidate,
            baseline=baseline,
            holdout=holdout,
            holdout_sha256=holdout_sha256,
            holdout_size=holdout_size,
            candidate_metrics=candidate_metrics,
            gate_passed=gate_passed,
            created_at=created_at,
            training_run=training_run,
            baseline_metrics=baseline_metrics,
            gate_reasons=gate_reasons,
            tolerance=tolerance,
        )

        model_evaluation.additional_properties = d
        return model_evaluation

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
