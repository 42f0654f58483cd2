from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.problem import Problem
from ...models.result_delivery import ResultDelivery
from ...types import Response


def _get_kwargs(
    id: int,
) -> dict[str, Any]:

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/v1/predictions/{id}/deliveries/".format(
            id=quote(str(id), safe=""),
        ),
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Problem | list[ResultDelivery] | None:
    if response.status_code == 200:
        response_200 = []
        _response_200 = response.json()
        for response_200_item_data in _response_200:
            response_200_item = ResultDelivery.from_dict(response_200_item_data)

            response_200.append(response_200_item)

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

    if response.status_code == 429:
        response_429 = Problem.from_dict(response.json())

        return response_429

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[Problem | list[ResultDelivery]]:
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
) -> Response[Problem | list[ResultDelivery]]:
    """Where this result was sent: each SR, heatmap and FHIR report per PACS or FHIR server, with status

     Predictions on images of your sites, with the model version that made them and their reviews.

    Order by `created_at`, `max_probability` (the top class probability) or `abnormality` (1 -
    P(normal)).
    The radiologists' triage worklist is `?reviewed=false&ordering=-abnormality`; `?ordering=margin`
    puts the
    least certain first (active learning: the labels the model learns most from). A shadow version's
    predictions are never listed: they are compared with the active model's on the model pages.

    Args:
        id (int):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | list[ResultDelivery]]
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
) -> Problem | list[ResultDelivery] | None:
    """Where this result was sent: each SR, heatmap and FHIR report per PACS or FHIR server, with status

     Predictions on images of your sites, with the model version that made them and their reviews.

    Order by `created_at`, `max_probability` (the top class probability) or `abnormality` (1 -
    P(normal)).
    The radiologists' triage worklist is `?reviewed=false&ordering=-abnormality`; `?ordering=margin`
    puts the
    least certain first (active learning: the labels the model learns most from). A shadow version's
    predictions are never listed: they are compared with the active model's on the model pages.

    Args:
        id (int):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | list[ResultDelivery]
    """

    return sync_detailed(
        id=id,
        client=client,
    ).parsed


async def asyncio_detailed(
    id: int,
    *,
    client: AuthenticatedClient,
) -> Response[Problem | list[ResultDelivery]]:
    """Where this result was sent: each SR, heatmap and FHIR report per PACS or FHIR server, with status

     Predictions on images of your sites, with the model version that made them and their reviews.

    Order by `created_at`, `max_probability` (the top class probability) or `abnormality` (1 -
    P(normal)).
    The radiologists' triage worklist is `?reviewed=false&ordering=-abnormality`; `?ordering=margin`
    puts the
    least certain first (active learning: the labels the model learns most from). A shadow version's
    predictions are never listed: they are compared with the active model's on the model pages.

    Args:
        id (int):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | list[ResultDelivery]]
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
) -> Problem | list[ResultDelivery] | None:
    """Where this result was sent: each SR, heatmap and FHIR report per PACS or FHIR server, with status

     Predictions on images of your sites, with the model version that made them and their reviews.

    Order by `created_at`, `max_probability` (the top class probability) or `abnormality` (1 -
    P(normal)).
    The radiologists' triage worklist is `?reviewed=false&ordering=-abnormality`; `?ordering=margin`
    puts the
    least certain first (active learning: the labels the model learns most from). A shadow version's
    predictions are never listed: they are compared with the active model's on the model pages.

    Args:
        id (int):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | list[ResultDelivery]
    """

    return (
        await asyncio_detailed(
            id=id,
            client=client,
        )
    ).parsed
