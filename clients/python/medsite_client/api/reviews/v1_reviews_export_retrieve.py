from http import HTTPStatus
from io import BytesIO
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.problem import Problem
from ...types import File, Response


def _get_kwargs() -> dict[str, Any]:

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/v1/reviews/export/",
    }

    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> File | Problem | None:
    if response.status_code == 200:
        response_200 = File(payload=BytesIO(response.content))

        return response_200

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


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[File | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
) -> Response[File | Problem]:
    """The ledger as CSV (same filters as the list)

     The agreement ledger: every radiologist decision with the AI output it judged (label, probabilities,
    model
    version, threshold), who decided and when. A new review of a prediction supersedes older ones; none
    is ever
    changed. Filter by `task`, `model_version`, `decision`, `reviewer` (email),
    `created_after`/`created_before`;
    `export/` gives the same rows as CSV.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[File | Problem]
    """

    kwargs = _get_kwargs()

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
) -> File | Problem | None:
    """The ledger as CSV (same filters as the list)

     The agreement ledger: every radiologist decision with the AI output it judged (label, probabilities,
    model
    version, threshold), who decided and when. A new review of a prediction supersedes older ones; none
    is ever
    changed. Filter by `task`, `model_version`, `decision`, `reviewer` (email),
    `created_after`/`created_before`;
    `export/` gives the same rows as CSV.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        File | Problem
    """

    return sync_detailed(
        client=client,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
) -> Response[File | Problem]:
    """The ledger as CSV (same filters as the list)

     The agreement ledger: every radiologist decision with the AI output it judged (label, probabilities,
    model
    version, threshold), who decided and when. A new review of a prediction supersedes older ones; none
    is ever
    changed. Filter by `task`, `model_version`, `decision`, `reviewer` (email),
    `created_after`/`created_before`;
    `export/` gives the same rows as CSV.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[File | Problem]
    """

    kwargs = _get_kwargs()

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
) -> File | Problem | None:
    """The ledger as CSV (same filters as the list)

     The agreement ledger: every radiologist decision with the AI output it judged (label, probabilities,
    model
    version, threshold), who decided and when. A new review of a prediction supersedes older ones; none
    is ever
    changed. Filter by `task`, `model_version`, `decision`, `reviewer` (email),
    `created_after`/`created_before`;
    `export/` gives the same rows as CSV.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        File | Problem
    """

    return (
        await asyncio_detailed(
            client=client,
        )
    ).parsed
