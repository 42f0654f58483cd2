from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.paginated_retraining_item_list import PaginatedRetrainingItemList
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    label: str | Unset = UNSET,
    ordering: str | Unset = UNSET,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
    task: str | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    params["label"] = label

    params["ordering"] = ordering

    params["page"] = page

    params["page_size"] = page_size

    params["task"] = task

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/v1/retraining-items/",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> PaginatedRetrainingItemList | Problem | None:
    if response.status_code == 200:
        response_200 = PaginatedRetrainingItemList.from_dict(response.json())

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
) -> Response[PaginatedRetrainingItemList | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    label: str | Unset = UNSET,
    ordering: str | Unset = UNSET,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
    task: str | Unset = UNSET,
) -> Response[PaginatedRetrainingItemList | Problem]:
    """Reviewed images queued for training, newest first. Filter with `?task=` and `?label=`; an item is
    used
    by the next run unless excluded or superseded by a later review of its image (`superseded`);
    `used_in_runs`
    lists the training runs that trained on it.

    Args:
        label (str | Unset):
        ordering (str | Unset):
        page (int | Unset):
        page_size (int | Unset):
        task (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[PaginatedRetrainingItemList | Problem]
    """

    kwargs = _get_kwargs(
        label=label,
        ordering=ordering,
        page=page,
        page_size=page_size,
        task=task,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    label: str | Unset = UNSET,
    ordering: str | Unset = UNSET,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
    task: str | Unset = UNSET,
) -> PaginatedRetrainingItemList | Problem | None:
    """Reviewed images queued for training, newest first. Filter with `?task=` and `?label=`; an item is
    used
    by the next run unless excluded or superseded by a later review of its image (`superseded`);
    `used_in_runs`
    lists the training runs that trained on it.

    Args:
        label (str | Unset):
        ordering (str | Unset):
        page (int | Unset):
        page_size (int | Unset):
        task (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        PaginatedRetrainingItemList | Problem
    """

    return sync_detailed(
        client=client,
        label=label,
        ordering=ordering,
        page=page,
        page_size=page_size,
        task=task,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    label: str | Unset = UNSET,
    ordering: str | Unset = UNSET,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
    task: str | Unset = UNSET,
) -> Response[PaginatedRetrainingItemList | Problem]:
    """Reviewed images queued for training, newest first. Filter with `?task=` and `?label=`; an item is
    used
    by the next run unless excluded or superseded by a later review of its image (`superseded`);
    `used_in_runs`
    lists the training runs that trained on it.

    Args:
        label (str | Unset):
        ordering (str | Unset):
        page (int | Unset):
        page_size (int | Unset):
        task (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[PaginatedRetrainingItemList | Problem]
    """

    kwargs = _get_kwargs(
        label=label,
        ordering=ordering,
        page=page,
        page_size=page_size,
        task=task,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    label: str | Unset = UNSET,
    ordering: str | Unset = UNSET,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
    task: str | Unset = UNSET,
) -> PaginatedRetrainingItemList | Problem | None:
    """Reviewed images queued for training, newest first. Filter with `?task=` and `?label=`; an item is
    used
    by the next run unless excluded or superseded by a later review of its image (`superseded`);
    `used_in_runs`
    lists the training runs that trained on it.

    Args:
        label (str | Unset):
        ordering (str | Unset):
        page (int | Unset):
        page_size (int | Unset):
        task (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        PaginatedRetrainingItemList | Problem
    """

    return (
        await asyncio_detailed(
            client=client,
            label=label,
            ordering=ordering,
            page=page,
            page_size=page_size,
            task=task,
        )
    ).parsed
