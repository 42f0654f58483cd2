from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.training_run_status_enum import TrainingRunStatusEnum
from ..models.trigger_enum import TriggerEnum

T = TypeVar("T", bound="TrainingRun")


@_attrs_define
class TrainingRun:
    """A training run: what it trained on, live progress, its log and the candidate it produced.

    Attributes:
        id (int):
        task (str):
        status (TrainingRunStatusEnum): * `queued` - Queued
            * `running` - Running
            * `succeeded` - Succeeded
            * `failed` - Failed
        trigger (TriggerEnum): * `manual` - Started by an admin
            * `queue` - Enough new labels in the queue
            * `command` - Command line
        retrain (bool): Base dataset plus the retraining queue, judged on holdout
        source (str): Dataset path the run trained on
        config (Any):
        base_version (int | None): The active version whose recipe (config) the run reused
        progress (Any): Last epoch reported: epoch, epochs, loss, val_loss
        log (str): One line per epoch and per step
        data_manifest (Any): Queue items exported for the run: item id, file, label, patient pseudonym
        data_sha256 (str):
        error (str):
        model_version (int | None):
        requested_by (None | str):
        created_at (datetime.datetime):
        started_at (datetime.datetime | None):
        finished_at (datetime.datetime | None):
        duration_s (float | None):
    """

    id: int
    task: str
    status: TrainingRunStatusEnum
    trigger: TriggerEnum
    retrain: bool
    source: str
    config: Any
    base_version: int | None
    progress: Any
    log: str
    data_manifest: Any
    data_sha256: str
    error: str
    model_version: int | None
    requested_by: None | str
    created_at: datetime.datetime
    started_at: datetime.datetime | None
    finished_at: datetime.datetime | None
    duration_s: float | None
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        task = self.task

        status = self.status.value

        trigger = self.trigger.value

        retrain = self.retrain

        source = self.source

        config = self.config

        base_version: int | None
        base_version = self.base_version

        progress = self.progress

        log = self.log

        data_manifest = self.data_manifest

        data_sha256 = self.data_sha256

        error = self.error

        model_version: int | None
        model_version = self.model_version

        requested_by: None | str
        requested_by = self.requested_by

        created_at = self.created_at.isoformat()

        started_at: None | str
        if isinstance(self.started_at, datetime.datetime):
            started_at = self.started_at.isoformat()
        else:
            started_at = self.started_at

        finished_at: None | str
        if isinstance(self.finished_at, datetime.datetime):
            finished_at = self.finished_at.isoformat()
        else:
            finished_at = self.finished_at

        duration_s: float | None
        duration_s = self.duration_s

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "task": task,
                "status": status,
                "trigger": trigger,
                "retrain": retrain,
                "source": source,
                "config": config,
                "base_version": base_version,
                "progress": progress,
                "log": log,
                "data_manifest": data_manifest,
                "data_sha256": data_sha256,
                "error": error,
                "model_version": model_version,
                "requested_by": requested_by,
                "created_at": created_at,
                "started_at": started_at,
                "finished_at": finished_at,
                "duration_s": duration_s,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        task = d.pop("task")

        status = TrainingRunStatusEnum(d.pop("status"))

        trigger = TriggerEnum(d.pop("trigger"))

        retrain = d.pop("retrain")

        source = d.pop("source")

        config = d.pop("config")

        def _parse_base_version(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        base_version = _parse_base_version(d.pop("base_version"))

        progress = d.pop("progress")

        log = d.pop("log")

        data_manifest = d.pop("data_manifest")

        data_sha256 = d.pop("data_sha256")

        error = d.pop("error")

        def _parse_model_version(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        model_version = _parse_model_version(d.pop("model_version"))

        def _parse_requested_by(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        requested_by = _parse_requested_by(d.pop("requested_by"))

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        def _parse_started_at(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                started_at_type_0 = datetime.datetime.fromisoformat(data)

                return started_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        started_at = _parse_started_at(d.pop("started_at"))

        def _parse_finished_at(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                finished_at_type_0 = datetime.datetime.fromisoformat(data)

                return finished_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        finished_at = _parse_finished_at(d.pop("finished_at"))

        def _parse_duration_s(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        duration_s = _parse_duration_s(d.pop("duration_s"))

        training_run = cls(
            id=id,
            task=task,
            status=status,
            trigger=trigger,
            retrain=retrain,
            source=source,
            config=config,
            base_version=base_version,
            progress=progress,
            log=log,
            data_manifest=data_manifest,
            data_sha256=data_sha256,
            error=error,
            model_version=model_version,
            requested_by=requested_by,
            created_at=created_at,
            started_at=started_at,
            finished_at=finished_at,
            duration_s=duration_s,
        )

        training_run.additional_properties = d
        return training_run

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
