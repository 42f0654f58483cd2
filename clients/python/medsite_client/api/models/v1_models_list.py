from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.paginated_model_version_detail_list import PaginatedModelVersionDetailList
from ...models.problem import Problem
from ...models.v1_models_list_status import V1ModelsListStatus
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    ordering: str | Unset = UNSET,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
    search: str | Unset = UNSET,
    status: V1ModelsListStatus | Unset = UNSET,
    task: str | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    params["ordering"] = ordering

    params["page"] = page

    params["page_size"] = page_size

    params["search"] = search

    json_status: str | Unset = UNSET
    if not isinstance(status, Unset):
        json_status = status.value

    params["status"] = json_status

    params["task"] = task

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/v1/models/",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> PaginatedModelVersionDetailList | Problem | None:
    if response.status_code == 200:
        response_200 = PaginatedModelVersionDetailList.from_dict(response.json())

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
) -> Response[PaginatedModelVersionDetailList | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    ordering: str | Unset = UNSET,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
    search: str | Unset = UNSET,
    status: V1ModelsListStatus | Unset = UNSET,
    task: str | Unset = UNSET,
) -> Response[PaginatedModelVersionDetailList | Problem]:
    """Registered model versions: task, classes, metrics and operating threshold, and status
    (candidate, shadow, active, retired). Filter with `?task=` and `?status=`; `?search=` matches the
    task or the
    start of the bundle's sha256.

    Args:
        ordering (str | Unset):
        page (int | Unset):
        page_size (int | Unset):
        search (str | Unset):
        status (V1ModelsListStatus | Unset):
        task (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[PaginatedModelVersionDetailList | Problem]
    """

    kwargs = _get_kwargs(
        ordering=ordering,
        page=page,
        page_size=page_size,
        search=search,
        status=status,
        task=task,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    ordering: str | Unset = UNSET,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
    search: str | Unset = UNSET,
    status: V1ModelsListStatus | Unset = UNSET,
    task: str | Unset = UNSET,
) -> PaginatedModelVersionDetailList | Problem | None:
    """Registered model versions: task, classes, metrics and operating threshold, and status
    (candidate, shadow, active, retired). Filter with `?task=` and `?status=`; `?search=` matches the
    task or the
    start of the bundle's sha256.

    Args:
        ordering (str | Unset):
        page (int | Unset):
        page_size (int | Unset):
        search (str | Unset):
        status (V1ModelsListStatus | Unset):
        task (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        PaginatedModelVersionDetailList | Problem
    """

    return sync_detailed(
        client=client,
        ordering=ordering,
        page=page,
        page_size=page_size,
        search=search,
        status=status,
        task=task,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    ordering: str | Unset = UNSET,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
    search: str | Unset = UNSET,
    status: V1ModelsListStatus | Unset = UNSET,
    task: str | Unset = UNSET,
) -> Response[PaginatedModelVersionDetailList | Problem]:
    """Registered model versions: task, classes, metrics and operating threshold, and status
    (candidate, shadow, active, retired). Filter with `?task=` and `?status=`; `?search=` matches the
    task or the
    start of the bundle's sha256.

    Args:
        ordering (str | Unset):
        page (int | Unset):
        page_size (int | Unset):
        search (str | Unset):
        status (V1ModelsListStatus | Unset):
        task (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[PaginatedModelVersionDetailList | Problem]
    """

    kwargs = _get_kwargs(
        ordering=ordering,
        page=page,
        page_size=page_size,
        search=search,
        status=status,
        task=task,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    ordering: str | Unset = UNSET,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
    search: str | Unset = UNSET,
    status: V1ModelsListStatus | Unset = UNSET,
    task: str | Unset = UNSET,
) -> PaginatedModelVersionDetailList | Problem | None:
    """Registered model versions: task, classes, metrics and operating threshold, and status
    (candidate, shadow, active, retired). Filter with `?task=` and `?status=`; `?search=` matches the
    task or the
    start of the bundle's sha256.

    Args:
        ordering (str | Unset):
        page (int | Unset):
        page_size (int | Unset):
        search (str | Unset):
        status (V1ModelsListStatus | Unset):
        task (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        PaginatedModelVersionDetailList | Problem
    """

    return (
        await asyncio_detailed(
            client=client,
            ordering=ordering,
            page=page,
            page_size=page_size,
            search=search,
            status=status,
            task=task,
        )
    ).parsed
