import datetime
from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.paginated_audit_event_list import PaginatedAuditEventList
from ...models.problem import Problem
from ...models.v1_audit_events_list_action import V1AuditEventsListAction
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    action: V1AuditEventsListAction | Unset = UNSET,
    actor: int | Unset = UNSET,
    actor_email: str | Unset = UNSET,
    at_after: datetime.date | Unset = UNSET,
    at_before: datetime.date | Unset = UNSET,
    object_id: str | Unset = UNSET,
    object_type: str | Unset = UNSET,
    ordering: str | Unset = UNSET,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
    since: datetime.datetime | Unset = UNSET,
    until: datetime.datetime | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    json_action: str | Unset = UNSET
    if not isinstance(action, Unset):
        json_action = action.value

    params["action"] = json_action

    params["actor"] = actor

    params["actor_email"] = actor_email

    json_at_after: str | Unset = UNSET
    if not isinstance(at_after, Unset):
        json_at_after = at_after.isoformat()
    params["at_after"] = json_at_after

    json_at_before: str | Unset = UNSET
    if not isinstance(at_before, Unset):
        json_at_before = at_before.isoformat()
    params["at_before"] = json_at_before

    params["object_id"] = object_id

    params["object_type"] = object_type

    params["ordering"] = ordering

    params["page"] = page

    params["page_size"] = page_size

    json_since: str | Unset = UNSET
    if not isinstance(since, Unset):
        json_since = since.isoformat()
    params["since"] = json_since

    json_until: str | Unset = UNSET
    if not isinstance(until, Unset):
        json_until = until.isoformat()
    params["until"] = json_until

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/v1/audit-events/",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> PaginatedAuditEventList | Problem | None:
    if response.status_code == 200:
        response_200 = PaginatedAuditEventList.from_dict(response.json())

        return response_200

    if response.status_code == 400:
        response_400 = Problem.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = Problem.from_dict(response.json())

        return response_403

    if response.status_code == 429:
        response_429 = Problem.from_dict(response.json())

        return response_429

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[PaginatedAuditEventList | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    action: V1AuditEventsListAction | Unset = UNSET,
    actor: int | Unset = UNSET,
    actor_email: str | Unset = UNSET,
    at_after: datetime.date | Unset = UNSET,
    at_before: datetime.date | Unset = UNSET,
    object_id: str | Unset = UNSET,
    object_type: str | Unset = UNSET,
    ordering: str | Unset = UNSET,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
    since: datetime.datetime | Unset = UNSET,
    until: datetime.datetime | Unset = UNSET,
) -> Response[PaginatedAuditEventList | Problem]:
    """Audit events of the sites where you are an admin (staff superusers see every event, including those
    that belong to no site, such as failed logins).

    Args:
        action (V1AuditEventsListAction | Unset):
        actor (int | Unset):
        actor_email (str | Unset):
        at_after (datetime.date | Unset):
        at_before (datetime.date | Unset):
        object_id (str | Unset):
        object_type (str | Unset):
        ordering (str | Unset):
        page (int | Unset):
        page_size (int | Unset):
        since (datetime.datetime | Unset):
        until (datetime.datetime | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[PaginatedAuditEventList | Problem]
    """

    kwargs = _get_kwargs(
        action=action,
        actor=actor,
        actor_email=actor_email,
        at_after=at_after,
        at_before=at_before,
        object_id=object_id,
        object_type=object_type,
        ordering=ordering,
        page=page,
        page_size=page_size,
        since=since,
        until=until,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    action: V1AuditEventsListAction | Unset = UNSET,
    actor: int | Unset = UNSET,
    actor_email: str | Unset = UNSET,
    at_after: datetime.date | Unset = UNSET,
    at_before: datetime.date | Unset = UNSET,
    object_id: str | Unset = UNSET,
    object_type: str | Unset = UNSET,
    ordering: str | Unset = UNSET,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
    since: datetime.datetime | Unset = UNSET,
    until: datetime.datetime | Unset = UNSET,
) -> PaginatedAuditEventList | Problem | None:
    """Audit events of the sites where you are an admin (staff superusers see every event, including those
    that belong to no site, such as failed logins).

    Args:
        action (V1AuditEventsListAction | Unset):
        actor (int | Unset):
        actor_email (str | Unset):
        at_after (datetime.date | Unset):
        at_before (datetime.date | Unset):
        object_id (str | Unset):
        object_type (str | Unset):
        ordering (str | Unset):
        page (int | Unset):
        page_size (int | Unset):
        since (datetime.datetime | Unset):
        until (datetime.datetime | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        PaginatedAuditEventList | Problem
    """

    return sync_detailed(
        client=client,
        action=action,
        actor=actor,
        actor_email=actor_email,
        at_after=at_after,
        at_before=at_before,
        object_id=object_id,
        object_type=object_type,
        ordering=ordering,
        page=page,
        page_size=page_size,
        since=since,
        until=until,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    action: V1AuditEventsListAction | Unset = UNSET,
    actor: int | Unset = UNSET,
    actor_email: str | Unset = UNSET,
    at_after: datetime.date | Unset = UNSET,
    at_before: datetime.date | Unset = UNSET,
    object_id: str | Unset = UNSET,
    object_type: str | Unset = UNSET,
    ordering: str | Unset = UNSET,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
    since: datetime.datetime | Unset = UNSET,
    until: datetime.datetime | Unset = UNSET,
) -> Response[PaginatedAuditEventList | Problem]:
    """Audit events of the sites where you are an admin (staff superusers see every event, including those
    that belong to no site, such as failed logins).

    Args:
        action (V1AuditEventsListAction | Unset):
        actor (int | Unset):
        actor_email (str | Unset):
        at_after (datetime.date | Unset):
        at_before (datetime.date | Unset):
        object_id (str | Unset):
        object_type (str | Unset):
        ordering (str | Unset):
        page (int | Unset):
        page_size (int | Unset):
        since (datetime.datetime | Unset):
        until (datetime.datetime | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[PaginatedAuditEventList | Problem]
    """

    kwargs = _get_kwargs(
        action=action,
        actor=actor,
        actor_email=actor_email,
        at_after=at_after,
        at_before=at_before,
        object_id=object_id,
        object_type=object_type,
        ordering=ordering,
        page=page,
        page_size=page_size,
        since=since,
        until=until,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    action: V1AuditEventsListAction | Unset = UNSET,
    actor: int | Unset = UNSET,
    actor_email: str | Unset = UNSET,
    at_after: datetime.date | Unset = UNSET,
    at_before: datetime.date | Unset = UNSET,
    object_id: str | Unset = UNSET,
    object_type: str | Unset = UNSET,
    ordering: str | Unset = UNSET,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
    since: datetime.datetime | Unset = UNSET,
    until: datetime.datetime | Unset = UNSET,
) -> PaginatedAuditEventList | Problem | None:
    """Audit events of the sites where you are an admin (staff superusers see every event, including those
    that belong to no site, such as failed logins).

    Args:
        action (V1AuditEventsListAction | Unset):
        actor (int | Unset):
        actor_email (str | Unset):
        at_after (datetime.date | Unset):
        at_before (datetime.date | Unset):
        object_id (str | Unset):
        object_type (str | Unset):
        ordering (str | Unset):
        page (int | Unset):
        page_size (int | Unset):
        since (datetime.datetime | Unset):
        until (datetime.datetime | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        PaginatedAuditEventList | Problem
    """

    return (
        await asyncio_detailed(
            client=client,
            action=action,
            actor=actor,
            actor_email=actor_email,
            at_after=at_after,
            at_before=at_before,
            object_id=object_id,
            object_type=object_type,
            ordering=ordering,
            page=page,
            page_size=page_size,
            since=since,
            until=until,
        )
    ).parsed
