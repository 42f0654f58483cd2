import datetime
from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.paginated_worklist_study_list import PaginatedWorklistStudyList
from ...models.problem import Problem
from ...models.v1_worklist_list_claimed import V1WorklistListClaimed
from ...models.v1_worklist_list_modality import V1WorklistListModality
from ...models.v1_worklist_list_order import V1WorklistListOrder
from ...models.v1_worklist_list_priority import V1WorklistListPriority
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    claimed: V1WorklistListClaimed | Unset = UNSET,
    created_after: datetime.date | Unset = UNSET,
    created_before: datetime.date | Unset = UNSET,
    label: str | Unset = UNSET,
    modality: V1WorklistListModality | Unset = UNSET,
    order: V1WorklistListOrder | Unset = UNSET,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
    priority: V1WorklistListPriority | Unset = UNSET,
    site: int | Unset = UNSET,
    task: str | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    json_claimed: str | Unset = UNSET
    if not isinstance(claimed, Unset):
        json_claimed = claimed.value

    params["claimed"] = json_claimed

    json_created_after: str | Unset = UNSET
    if not isinstance(created_after, Unset):
        json_created_after = created_after.isoformat()
    params["created_after"] = json_created_after

    json_created_before: str | Unset = UNSET
    if not isinstance(created_before, Unset):
        json_created_before = created_before.isoformat()
    params["created_before"] = json_created_before

    params["label"] = label

    json_modality: str | Unset = UNSET
    if not isinstance(modality, Unset):
        json_modality = modality.value

    params["modality"] = json_modality

    json_order: str | Unset = UNSET
    if not isinstance(order, Unset):
        json_order = order.value

    params["order"] = json_order

    params["page"] = page

    params["page_size"] = page_size

    json_priority: str | Unset = UNSET
    if not isinstance(priority, Unset):
        json_priority = priority.value

    params["priority"] = json_priority

    params["site"] = site

    params["task"] = task

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/v1/worklist/",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> PaginatedWorklistStudyList | Problem | None:
    if response.status_code == 200:
        response_200 = PaginatedWorklistStudyList.from_dict(response.json())

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
) -> Response[PaginatedWorklistStudyList | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    claimed: V1WorklistListClaimed | Unset = UNSET,
    created_after: datetime.date | Unset = UNSET,
    created_before: datetime.date | Unset = UNSET,
    label: str | Unset = UNSET,
    modality: V1WorklistListModality | Unset = UNSET,
    order: V1WorklistListOrder | Unset = UNSET,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
    priority: V1WorklistListPriority | Unset = UNSET,
    site: int | Unset = UNSET,
    task: str | Unset = UNSET,
) -> Response[PaginatedWorklistStudyList | Problem]:
    """Studies at your radiologist sites with at least one analysed image waiting for your read (unread; at
    a site
    with a second reader, also read once by someone else), the web worklist's rows in the web worklist's
    order.

    `order`: triage (the default: STAT, then urgent, then routine; the most likely abnormal first within
    each),
    abnormal, uncertain, oldest, newest, priority. Filters: `site`, `modality`, `priority`, `task`,
    `label`,
    `created_after`/`created_before` (when the AI result was made), `claimed` (mine, unclaimed, others).
    Any other
    parameter (`reviewed`, `ordering`...) is a 400: every row here waits for your read.

    Args:
        claimed (V1WorklistListClaimed | Unset):
        created_after (datetime.date | Unset):
        created_before (datetime.date | Unset):
        label (str | Unset):
        modality (V1WorklistListModality | Unset):
        order (V1WorklistListOrder | Unset):
        page (int | Unset):
        page_size (int | Unset):
        priority (V1WorklistListPriority | Unset):
        site (int | Unset):
        task (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[PaginatedWorklistStudyList | Problem]
    """

    kwargs = _get_kwargs(
        claimed=claimed,
        created_after=created_after,
        created_before=created_before,
        label=label,
        modality=modality,
        order=order,
        page=page,
        page_size=page_size,
        priority=priority,
        site=site,
        task=task,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    claimed: V1WorklistListClaimed | Unset = UNSET,
    created_after: datetime.date | Unset = UNSET,
    created_before: datetime.date | Unset = UNSET,
    label: str | Unset = UNSET,
    modality: V1WorklistListModality | Unset = UNSET,
    order: V1WorklistListOrder | Unset = UNSET,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
    priority: V1WorklistListPriority | Unset = UNSET,
    site: int | Unset = UNSET,
    task: str | Unset = UNSET,
) -> PaginatedWorklistStudyList | Problem | None:
    """Studies at your radiologist sites with at least one analysed image waiting for your read (unread; at
    a site
    with a second reader, also read once by someone else), the web worklist's rows in the web worklist's
    order.

    `order`: triage (the default: STAT, then urgent, then routine; the most likely abnormal first within
    each),
    abnormal, uncertain, oldest, newest, priority. Filters: `site`, `modality`, `priority`, `task`,
    `label`,
    `created_after`/`created_before` (when the AI result was made), `claimed` (mine, unclaimed, others).
    Any other
    parameter (`reviewed`, `ordering`...) is a 400: every row here waits for your read.

    Args:
        claimed (V1WorklistListClaimed | Unset):
        created_after (datetime.date | Unset):
        created_before (datetime.date | Unset):
        label (str | Unset):
        modality (V1WorklistListModality | Unset):
        order (V1WorklistListOrder | Unset):
        page (int | Unset):
        page_size (int | Unset):
        priority (V1WorklistListPriority | Unset):
        site (int | Unset):
        task (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        PaginatedWorklistStudyList | Problem
    """

    return sync_detailed(
        client=client,
        claimed=claimed,
        created_after=created_after,
        created_before=created_before,
        label=label,
        modality=modality,
        order=order,
        page=page,
        page_size=page_size,
        priority=priority,
        site=site,
        task=task,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    claimed: V1WorklistListClaimed | Unset = UNSET,
    created_after: datetime.date | Unset = UNSET,
    created_before: datetime.date | Unset = UNSET,
    label: str | Unset = UNSET,
    modality: V1WorklistListModality | Unset = UNSET,
    order: V1WorklistListOrder | Unset = UNSET,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
    priority: V1WorklistListPriority | Unset = UNSET,
    site: int | Unset = UNSET,
    task: str | Unset = UNSET,
) -> Response[PaginatedWorklistStudyList | Problem]:
    """Studies at your radiologist sites with at least one analysed image waiting for your read (unread; at
    a site
    with a second reader, also read once by someone else), the web worklist's rows in the web worklist's
    order.

    `order`: triage (the default: STAT, then urgent, then routine; the most likely abnormal first within
    each),
    abnormal, uncertain, oldest, newest, priority. Filters: `site`, `modality`, `priority`, `task`,
    `label`,
    `created_after`/`created_before` (when the AI result was made), `claimed` (mine, unclaimed, others).
    Any other
    parameter (`reviewed`, `ordering`...) is a 400: every row here waits for your read.

    Args:
        claimed (V1WorklistListClaimed | Unset):
        created_after (datetime.date | Unset):
        created_before (datetime.date | Unset):
        label (str | Unset):
        modality (V1WorklistListModality | Unset):
        order (V1WorklistListOrder | Unset):
        page (int | Unset):
        page_size (int | Unset):
        priority (V1WorklistListPriority | Unset):
        site (int | Unset):
        task (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[PaginatedWorklistStudyList | Problem]
    """

    kwargs = _get_kwargs(
        claimed=claimed,
        created_after=created_after,
        created_before=created_before,
        label=label,
        modality=modality,
        order=order,
        page=page,
        page_size=page_size,
        priority=priority,
        site=site,
        task=task,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    claimed: V1WorklistListClaimed | Unset = UNSET,
    created_after: datetime.date | Unset = UNSET,
    created_before: datetime.date | Unset = UNSET,
    label: str | Unset = UNSET,
    modality: V1WorklistListModality | Unset = UNSET,
    order: V1WorklistListOrder | Unset = UNSET,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
    priority: V1WorklistListPriority | Unset = UNSET,
    site: int | Unset = UNSET,
    task: str | Unset = UNSET,
) -> PaginatedWorklistStudyList | Problem | None:
    """Studies at your radiologist sites with at least one analysed image waiting for your read (unread; at
    a site
    with a second reader, also read once by someone else), the web worklist's rows in the web worklist's
    order.

    `order`: triage (the default: STAT, then urgent, then routine; the most likely abnormal first within
    each),
    abnormal, uncertain, oldest, newest, priority. Filters: `site`, `modality`, `priority`, `task`,
    `label`,
    `created_after`/`created_before` (when the AI result was made), `claimed` (mine, unclaimed, others).
    Any other
    parameter (`reviewed`, `ordering`...) is a 400: every row here waits for your read.

    Args:
        claimed (V1WorklistListClaimed | Unset):
        created_after (datetime.date | Unset):
        created_before (datetime.date | Unset):
        label (str | Unset):
        modality (V1WorklistListModality | Unset):
        order (V1WorklistListOrder | Unset):
        page (int | Unset):
        page_size (int | Unset):
        priority (V1WorklistListPriority | Unset):
        site (int | Unset):
        task (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        PaginatedWorklistStudyList | Problem
    """

    return (
        await asyncio_detailed(
            client=client,
            claimed=claimed,
            created_after=created_after,
            created_before=created_before,
            label=label,
            modality=modality,
            order=order,
            page=page,
            page_size=page_size,
            priority=priority,
            site=site,
            task=task,
        )
    ).parsed
