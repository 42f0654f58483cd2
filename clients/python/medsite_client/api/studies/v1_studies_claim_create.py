from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.problem import Problem
from ...models.study_claim import StudyClaim
from ...types import Response


def _get_kwargs(
    id: int,
) -> dict[str, Any]:

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/api/v1/studies/{id}/claim/".format(
            id=quote(str(id), safe=""),
        ),
    }

    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Problem | StudyClaim | None:
    if response.status_code == 200:
        response_200 = StudyClaim.from_dict(response.json())

        return response_200

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = Problem.from_dict(response.json())

        return response_403

    if response.status_code == 404:
        response_404 = Problem.from_dict(response.json())

        return response_404

    if response.status_code == 409:
        response_409 = Problem.from_dict(response.json())

        return response_409

    if response.status_code == 429:
        response_429 = Problem.from_dict(response.json())

        return response_429

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[Problem | StudyClaim]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    id: int,
    *,
    client: AuthenticatedClient,
) -> Response[Problem | StudyClaim]:
    """Claim the study for your read ('being read by' you), or refresh your claim

     Radiologists. Others see the claim on the worklist until you release it, the last image waiting for
    you is read, or MEDSITE_READING_CLAIM_MINUTES pass without a refresh. 409 while another reader's
    claim is live (the problem's detail says whose, since when).

    Args:
        id (int):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | StudyClaim]
    """

    kwargs = _get_kwargs(
        id=id,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    id: int,
    *,
    client: AuthenticatedClient,
) -> Problem | StudyClaim | None:
    """Claim the study for your read ('being read by' you), or refresh your claim

     Radiologists. Others see the claim on the worklist until you release it, the last image waiting for
    you is read, or MEDSITE_READING_CLAIM_MINUTES pass without a refresh. 409 while another reader's
    claim is live (the problem's detail says whose, since when).

    Args:
        id (int):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | StudyClaim
    """

    return sync_detailed(
        id=id,
        client=client,
    ).parsed


async def asyncio_detailed(
    id: int,
    *,
    client: AuthenticatedClient,
) -> Response[Problem | StudyClaim]:
    """Claim the study for your read ('being read by' you), or refresh your claim

     Radiologists. Others see the claim on the worklist until you release it, the last image waiting for
    you is read, or MEDSITE_READING_CLAIM_MINUTES pass without a refresh. 409 while another reader's
    claim is live (the problem's detail says whose, since when).

    Args:
        id (int):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | StudyClaim]
    """

    kwargs = _get_kwargs(
        id=id,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    id: int,
    *,
    client: AuthenticatedClient,
) -> Problem | StudyClaim | None:
    """Claim the study for your read ('being read by' you), or refresh your claim

     Radiologists. Others see the claim on the worklist until you release it, the last image waiting for
    you is read, or MEDSITE_READING_CLAIM_MINUTES pass without a refresh. 409 while another reader's
    claim is live (the problem's detail says whose, since when).

    Args:
        id (int):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | StudyClaim
    """

    return (
        await asyncio_detailed(
            id=id,
            client=client,
        )
    ).parsed
