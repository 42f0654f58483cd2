from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.format_enum import FormatEnum
from ..models.image_status_enum import ImageStatusEnum
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.prediction import Prediction


T = TypeVar("T", bound="Image")


@_attrs_define
class Image:
    """An image's technical metadata. Never its original file name, which may name the patient.

    status `unsuitable`: the image is outside the model's scope (too small, or unlike the images it was trained on),
    so it has no predictions; status_reason says why. Like `done`, it is final.

    burned_in: why the pixels may carry a burned-in name or ID (empty when they should not); while
    burned_in_withheld, the de-identified file is refused (403) and the image is not used for training, until an
    admin of its site clears it.

        Attributes:
            id (int):
            study (int):
            format_ (FormatEnum): * `DICOM` - DICOM
                * `PNG` - PNG
                * `JPEG` - JPEG
            width (int):
            height (int):
            bits (int):
            sha256 (str):
            status_reason (str): Why the image has its status, for a person: no_model (no model reads this kind of image),
                unsuitable (outside the model's scope) or failed; empty otherwise
            failure_reason (str): Why the analysis failed: only when status is failed, else empty (see status_reason)
            burned_in_withheld (bool):
            uploaded_at (datetime.datetime):
            predictions (list[Prediction]):
            photometric (str | Unset):
            frames (int | Unset):
            transfer_syntax (str | Unset):
            series_instance_uid (str | Unset):
            sop_instance_uid (str | Unset):
            status (ImageStatusEnum | Unset): * `held` - Waiting for the rest of the study
                * `queued` - Queued
                * `processing` - Processing
                * `done` - Done
                * `no_model` - No model for this kind of image
                * `unsuitable` - Outside the model's scope
                * `failed` - Failed
            burned_in (str | Unset): Why the pixels may carry burned-in text such as a name or an ID (a DICOM file saying
                so, or a secondary capture or ultrasound image saying nothing), else empty. Such an image stays out of de-
                identified downloads and training until a site admin clears it.
    """

    id: int
    study: int
    format_: FormatEnum
    width: int
    height: int
    bits: int
    sha256: str
    status_reason: str
    failure_reason: str
    burned_in_withheld: bool
    uploaded_at: datetime.datetime
    predictions: list[Prediction]
    photometric: str | Unset = UNSET
    frames: int | Unset = UNSET
    transfer_syntax: str | Unset = UNSET
    series_instance_uid: str | Unset = UNSET
    sop_instance_uid: str | Unset = UNSET
    status: ImageStatusEnum | Unset = UNSET
    burned_in: str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        study = self.study

        format_ = self.format_.value

        width = self.width

        height = self.height

        bits = self.bits

        sha256 = self.sha256

        status_reason = self.status_reason

        failure_reason = self.failure_reason

        burned_in_withheld = self.burned_in_withheld

        uploaded_at = self.uploaded_at.isoformat()

        predictions = []
        for predictions_item_data in self.predictions:
            predictions_item = predictions_item_data.to_dict()
            predictions.append(predictions_item)

        photometric = self.photometric

        frames = self.frames

        transfer_syntax = self.transfer_syntax

        series_instance_uid = self.series_instance_uid

        sop_instance_uid = self.sop_instance_uid

        status: str | Unset = UNSET
        if not isinstance(self.status, Unset):
            status = self.status.value

        burned_in = self.burned_in

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "study": study,
                "format": format_,
                "width": width,
                "height": height,
                "bits": bits,
                "sha256": sha256,
                "status_reason": status_reason,
                "failure_reason": failure_reason,
                "burned_in_withheld": burned_in_withheld,
                "uploaded_at": uploaded_at,
                "predictions": predictions,
            }
        )
        if photometric is not UNSET:
            field_dict["photometric"] = photometric
        if frames is not UNSET:
            field_dict["frames"] = frames
        if transfer_syntax is not UNSET:
            field_dict["transfer_syntax"] = transfer_syntax
        if series_instance_uid is not UNSET:
            field_dict["series_instance_uid"] = series_instance_uid
        if sop_instance_uid is not UNSET:
            field_dict["sop_instance_uid"] = sop_instance_uid
        if status is not UNSET:
            field_dict["status"] = status
        if burned_in is not UNSET:
            field_dict["burned_in"] = burned_in

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.prediction import Prediction  # noqa: PLC0415

        d = dict(src_dict)
        id = d.pop("id")

        study = d.pop("study")

        format_ = FormatEnum(d.pop("format"))

        width = d.pop("width")

        height = d.pop("height")

        bits = d.pop("bits")

        sha256 = d.pop("sha256")

        status_reason = d.pop("status_reason")

        failure_reason = d.pop("failure_reason")

        burned_in_withheld = d.pop("burned_in_withheld")

        uploaded_at = datetime.datetime.fromisoformat(d.pop("uploaded_at"))

        predictions = []
        _predictions = d.pop("predictions")
        for predictions_item_data in _predictions:
            predictions_item = Prediction.from_dict(predictions_item_data)

            predictions.append(predictions_item)

        photometric = d.pop("photometric", UNSET)

        frames = d.pop("frames", UNSET)

        transfer_syntax = d.pop("transfer_syntax", UNSET)

        series_instance_uid = d.pop("series_instance_uid", UNSET)

        sop_instance_uid = d.pop("sop_instance_uid", UNSET)

        _status = d.pop("status", UNSET)
        status: ImageStatusEnum | Unset
        if isinstance(_status, Unset):
            status = UNSET
        else:
            status = ImageStatusEnum(_status)

        burned_in = d.pop("burned_in", UNSET)

        image = cls(
            id=id,
            study=study,
            format_=format_,
            width=width,
            height=height,
            bits=bits,
            sha256=sha256,
            status_reason=status_reason,
            failure_reason=failure_reason,
            burned_in_withheld=burned_in_withheld,
            uploaded_at=uploaded_at,
            predictions=predictions,
            photometric=photometric,
            frames=frames,
            transfer_syntax=transfer_syntax,
            series_instance_uid=series_instance_uid,
            sop_instance_uid=sop_instance_uid,
            status=status,
            burned_in=burned_in,
        )

        image.additional_properties = d
        return image

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
