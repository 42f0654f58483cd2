from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.paginated_training_run_list import PaginatedTrainingRunList
from ...models.problem import Problem
from ...models.v1_training_runs_list_status import V1TrainingRunsListStatus
from ...models.v1_training_runs_list_trigger import V1TrainingRunsListTrigger
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    ordering: str | Unset = UNSET,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
    status: V1TrainingRunsListStatus | Unset = UNSET,
    task: str | Unset = UNSET,
    trigger: V1TrainingRunsListTrigger | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    params["ordering"] = ordering

    params["page"] = page

    params["page_size"] = page_size

    json_status: str | Unset = UNSET
    if not isinstance(status, Unset):
        json_status = status.value

    params["status"] = json_status

    params["task"] = task

    json_trigger: str | Unset = UNSET
    if not isinstance(trigger, Unset):
        json_trigger = trigger.value

    params["trigger"] = json_trigger

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/v1/training-runs/",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> PaginatedTrainingRunList | Problem | None:
    if response.status_code == 200:
        response_200 = PaginatedTrainingRunList.from_dict(response.json())

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
) -> Response[PaginatedTrainingRunList | Problem]:
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
    status: V1TrainingRunsListStatus | Unset = UNSET,
    task: str | Unset = UNSET,
    trigger: V1TrainingRunsListTrigger | Unset = UNSET,
) -> Response[PaginatedTrainingRunList | Problem]:
    """Training runs with live progress (epoch, losses), log, data manifest and the candidate produced.
    `POST` with a `task` trains a candidate from the active version's recipe on the base data plus the
    queue.

    Args:
        ordering (str | Unset):
        page (int | Unset):
        page_size (int | Unset):
        status (V1TrainingRunsListStatus | Unset):
        task (str | Unset):
        trigger (V1TrainingRunsListTrigger | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[PaginatedTrainingRunList | Problem]
    """

    kwargs = _get_kwargs(
        ordering=ordering,
        page=page,
        page_size=page_size,
        status=status,
        task=task,
        trigger=trigger,
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
    status: V1TrainingRunsListStatus | Unset = UNSET,
    task: str | Unset = UNSET,
    trigger: V1TrainingRunsListTrigger | Unset = UNSET,
) -> PaginatedTrainingRunList | Problem | None:
    """Training runs with live progress (epoch, losses), log, data manifest and the candidate produced.
    `POST` with a `task` trains a candidate from the active version's recipe on the base data plus the
    queue.

    Args:
        ordering (str | Unset):
        page (int | Unset):
        page_size (int | Unset):
        status (V1TrainingRunsListStatus | Unset):
        task (str | Unset):
        trigger (V1TrainingRunsListTrigger | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        PaginatedTrainingRunList | Problem
    """

    return sync_detailed(
        client=client,
        ordering=ordering,
        page=page,
        page_size=page_size,
        status=status,
        task=task,
        trigger=trigger,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    ordering: str | Unset = UNSET,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
    status: V1TrainingRunsListStatus | Unset = UNSET,
    task: str | Unset = UNSET,
    trigger: V1TrainingRunsListTrigger | Unset = UNSET,
) -> Response[PaginatedTrainingRunList | Problem]:
    """Training runs with live progress (epoch, losses), log, data manifest and the candidate produced.
    `POST` with a `task` trains a candidate from the active version's recipe on the base data plus the
    queue.

    Args:
        ordering (str | Unset):
        page (int | Unset):
        page_size (int | Unset):
        status (V1TrainingRunsListStatus | Unset):
        task (str | Unset):
        trigger (V1TrainingRunsListTrigger | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[PaginatedTrainingRunList | Problem]
    """

    kwargs = _get_kwargs(
        ordering=ordering,
        page=page,
        page_size=page_size,
        status=status,
        task=task,
        trigger=trigger,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    ordering: str | Unset = UNSET,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
    status: V1TrainingRunsListStatus | Unset = UNSET,
    task: str | Unset = UNSET,
    trigger: V1TrainingRunsListTrigger | Unset = UNSET,
) -> PaginatedTrainingRunList | Problem | None:
    """Training runs with live progress (epoch, losses), log, data manifest and the candidate produced.
    `POST` with a `task` trains a candidate from the active version's recipe on the base data plus the
    queue.

    Args:
        ordering (str | Unset):
        page (int | Unset):
        page_size (int | Unset):
        status (V1TrainingRunsListStatus | Unset):
        task (str | Unset):
        trigger (V1TrainingRunsListTrigger | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        PaginatedTrainingRunList | Problem
    """

    return (
        await asyncio_detailed(
            client=client,
            ordering=ordering,
            page=page,
            page_size=page_size,
            status=status,
            task=task,
            trigger=trigger,
        )
    ).parsed
