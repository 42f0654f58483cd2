from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.action_enum import ActionEnum
from ..types import UNSET, Unset

T = TypeVar("T", bound="AuditEvent")


@_attrs_define
class AuditEvent:
    """
    Attributes:
        id (int):
        action (ActionEnum): * `login` - Logged in
            * `logout` - Logged out
            * `login_failed` - Failed login
            * `mfa_change` - Changed MFA
            * `role_change` - Changed role
            * `create` - Created
            * `update` - Updated
            * `delete` - Deleted
            * `view` - Viewed
            * `denied` - Denied access
            * `break_glass` - Break-glass access
            * `download` - Downloaded
            * `review` - Reviewed
            * `activate` - Activated model
            * `rollback` - Rolled back model
            * `model_status` - Changed model status
            * `exclude` - Excluded from training
            * `train` - Started training
            * `evaluate` - Evaluated model
            * `send` - Sent to another system
        at (datetime.datetime | Unset):
        actor_email (str | Unset): As written at the time
        site (int | None | Unset):
        object_type (str | Unset):
        object_id (str | Unset):
        detail (Any | Unset):
        ip (None | str | Unset):
        user_agent (str | Unset):
    """

    id: int
    action: ActionEnum
    at: datetime.datetime | Unset = UNSET
    actor_email: str | Unset = UNSET
    site: int | None | Unset = UNSET
    object_type: str | Unset = UNSET
    object_id: str | Unset = UNSET
    detail: Any | Unset = UNSET
    ip: None | str | Unset = UNSET
    user_agent: str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        action = self.action.value

        at: str | Unset = UNSET
        if not isinstance(self.at, Unset):
            at = self.at.isoformat()

        actor_email = self.actor_email

        site: int | None | Unset
        if isinstance(self.site, Unset):
            site = UNSET
        else:
            site = self.site

        object_type = self.object_type

        object_id = self.object_id

        detail = self.detail

        ip: None | str | Unset
        if isinstance(self.ip, Unset):
            ip = UNSET
        else:
            ip = self.ip

        user_agent = self.user_agent

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "action": action,
            }
        )
        if at is not UNSET:
            field_dict["at"] = at
        if actor_email is not UNSET:
            field_dict["actor_email"] = actor_email
        if site is not UNSET:
            field_dict["site"] = site
        if object_type is not UNSET:
            field_dict["object_type"] = object_type
        if object_id is not UNSET:
            field_dict["object_id"] = object_id
        if detail is not UNSET:
            field_dict["detail"] = detail
        if ip is not UNSET:
            field_dict["ip"] = ip
        if user_agent is not UNSET:
            field_dict["user_agent"] = user_agent

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        action = ActionEnum(d.pop("action"))

        _at = d.pop("at", UNSET)
        at: datetime.datetime | Unset
        if isinstance(_at, Unset):
            at = UNSET
        else:
            at = datetime.datetime.fromisoformat(_at)

        actor_email = d.pop("actor_email", UNSET)

        def _parse_site(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        site = _parse_site(d.pop("site", UNSET))

        object_type = d.pop("object_type", UNSET)

        object_id = d.pop("object_id", UNSET)

        detail = d.pop("detail", UNSET)

        def _parse_ip(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        ip = _parse_ip(d.pop("ip", UNSET))

        user_agent = d.pop("user_agent", UNSET)

        audit_event = cls(
            id=id,
            action=action,
            at=at,
            actor_email=actor_email,
            site=site,
            object_type=object_type,
            object_id=object_id,
            detail=detail,
            ip=ip,
            user_agent=user_agent,
        )

        audit_event.additional_properties = d
        return audit_event

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
