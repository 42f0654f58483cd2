from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="UploadError")


@_attrs_define
class UploadError:
    """
    Attributes:
        file (str): The uploaded file's name
        message (str):
        image (int | Unset): The same file already in the study: that image's id
        existing (str | Unset): The same file already in the study: that image's URL
    """

    file: str
    message: str
    image: int | Unset = UNSET
    existing: str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        file = self.file

        message = self.message

        image = self.image

        existing = self.existing

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "file": file,
                "message": message,
            }
        )
        if image is not UNSET:
            field_dict["image"] = image
        if existing is not UNSET:
            field_dict["existing"] = existing

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        file = d.pop("file")

        message = d.pop("message")

        image = d.pop("image", UNSET)

        existing = d.pop("existing", UNSET)

        upload_error = cls(
            file=file,
            message=message,
            image=image,
            existing=existing,
        )

        upload_error.additional_properties = d
        return upload_error

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
