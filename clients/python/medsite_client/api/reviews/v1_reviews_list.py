import datetime
from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.paginated_ledger_entry_list import PaginatedLedgerEntryList
from ...models.problem import Problem
from ...models.v1_reviews_list_decision import V1ReviewsListDecision
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    created_after: datetime.date | Unset = UNSET,
    created_before: datetime.date | Unset = UNSET,
    decision: V1ReviewsListDecision | Unset = UNSET,
    model_version: int | Unset = UNSET,
    ordering: str | Unset = UNSET,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
    reviewer: str | Unset = UNSET,
    task: str | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    json_created_after: str | Unset = UNSET
    if not isinstance(created_after, Unset):
        json_created_after = created_after.isoformat()
    params["created_after"] = json_created_after

    json_created_before: str | Unset = UNSET
    if not isinstance(created_before, Unset):
        json_created_before = created_before.isoformat()
    params["created_before"] = json_created_before

    json_decision: str | Unset = UNSET
    if not isinstance(decision, Unset):
        json_decision = decision.value

    params["decision"] = json_decision

    params["model_version"] = model_version

    params["ordering"] = ordering

    params["page"] = page

    params["page_size"] = page_size

    params["reviewer"] = reviewer

    params["task"] = task

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/v1/reviews/",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> PaginatedLedgerEntryList | Problem | None:
    if response.status_code == 200:
        response_200 = PaginatedLedgerEntryList.from_dict(response.json())

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
) -> Response[PaginatedLedgerEntryList | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    created_after: datetime.date | Unset = UNSET,
    created_before: datetime.date | Unset = UNSET,
    decision: V1ReviewsListDecision | Unset = UNSET,
    model_version: int | Unset = UNSET,
    ordering: str | Unset = UNSET,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
    reviewer: str | Unset = UNSET,
    task: str | Unset = UNSET,
) -> Response[PaginatedLedgerEntryList | Problem]:
    """The agreement ledger: every radiologist decision with the AI output it judged (label, probabilities,
    model
    version, threshold), who decided and when. A new review of a prediction supersedes older ones; none
    is ever
    changed. Filter by `task`, `model_version`, `decision`, `reviewer` (email),
    `created_after`/`created_before`;
    `export/` gives the same rows as CSV.

    Args:
        created_after (datetime.date | Unset):
        created_before (datetime.date | Unset):
        decision (V1ReviewsListDecision | Unset):
        model_version (int | Unset):
        ordering (str | Unset):
        page (int | Unset):
        page_size (int | Unset):
        reviewer (str | Unset):
        task (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[PaginatedLedgerEntryList | Problem]
    """

    kwargs = _get_kwargs(
        created_after=created_after,
        created_before=created_before,
        decision=decision,
        model_version=model_version,
        ordering=ordering,
        page=page,
        page_size=page_size,
        reviewer=reviewer,
        task=task,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    created_after: datetime.date | Unset = UNSET,
    created_before: datetime.date | Unset = UNSET,
    decision: V1ReviewsListDecision | Unset = UNSET,
    model_version: int | Unset = UNSET,
    ordering: str | Unset = UNSET,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
    reviewer: str | Unset = UNSET,
    task: str | Unset = UNSET,
) -> PaginatedLedgerEntryList | Problem | None:
    """The agreement ledger: every radiologist decision with the AI output it judged (label, probabilities,
    model
    version, threshold), who decided and when. A new review of a prediction supersedes older ones; none
    is ever
    changed. Filter by `task`, `model_version`, `decision`, `reviewer` (email),
    `created_after`/`created_before`;
    `export/` gives the same rows as CSV.

    Args:
        created_after (datetime.date | Unset):
        created_before (datetime.date | Unset):
        decision (V1ReviewsListDecision | Unset):
        model_version (int | Unset):
        ordering (str | Unset):
        page (int | Unset):
        page_size (int | Unset):
        reviewer (str | Unset):
        task (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        PaginatedLedgerEntryList | Problem
    """

    return sync_detailed(
        client=client,
        created_after=created_after,
        created_before=created_before,
        decision=decision,
        model_version=model_version,
        ordering=ordering,
        page=page,
        page_size=page_size,
        reviewer=reviewer,
        task=task,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    created_after: datetime.date | Unset = UNSET,
    created_before: datetime.date | Unset = UNSET,
    decision: V1ReviewsListDecision | Unset = UNSET,
    model_version: int | Unset = UNSET,
    ordering: str | Unset = UNSET,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
    reviewer: str | Unset = UNSET,
    task: str | Unset = UNSET,
) -> Response[PaginatedLedgerEntryList | Problem]:
    """The agreement ledger: every radiologist decision with the AI output it judged (label, probabilities,
    model
    version, threshold), who decided and when. A new review of a prediction supersedes older ones; none
    is ever
    changed. Filter by `task`, `model_version`, `decision`, `reviewer` (email),
    `created_after`/`created_before`;
    `export/` gives the same rows as CSV.

    Args:
        created_after (datetime.date | Unset):
        created_before (datetime.date | Unset):
        decision (V1ReviewsListDecision | Unset):
        model_version (int | Unset):
        ordering (str | Unset):
        page (int | Unset):
        page_size (int | Unset):
        reviewer (str | Unset):
        task (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[PaginatedLedgerEntryList | Problem]
    """

    kwargs = _get_kwargs(
        created_after=created_after,
        created_before=created_before,
        decision=decision,
        model_version=model_version,
        ordering=ordering,
        page=page,
        page_size=page_size,
        reviewer=reviewer,
        task=task,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    created_after: datetime.date | Unset = UNSET,
    created_before: datetime.date | Unset = UNSET,
    decision: V1ReviewsListDecision | Unset = UNSET,
    model_version: int | Unset = UNSET,
    ordering: str | Unset = UNSET,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
    reviewer: str | Unset = UNSET,
    task: str | Unset = UNSET,
) -> PaginatedLedgerEntryList | Problem | None:
    """The agreement ledger: every radiologist decision with the AI output it judged (label, probabilities,
    model
    version, threshold), who decided and when. A new review of a prediction supersedes older ones; none
    is ever
    changed. Filter by `task`, `model_version`, `decision`, `reviewer` (email),
    `created_after`/`created_before`;
    `export/` gives the same rows as CSV.

    Args:
        created_after (datetime.date | Unset):
        created_before (datetime.date | Unset):
        decision (V1ReviewsListDecision | Unset):
        model_version (int | Unset):
        ordering (str | Unset):
        page (int | Unset):
        page_size (int | Unset):
        reviewer (str | Unset):
        task (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        PaginatedLedgerEntryList | Problem
    """

    return (
        await asyncio_detailed(
            client=client,
            created_after=created_after,
            created_before=created_before,
            decision=decision,
            model_version=model_version,
            ordering=ordering,
            page=page,
            page_size=page_size,
            reviewer=reviewer,
            task=task,
        )
    ).parsed
