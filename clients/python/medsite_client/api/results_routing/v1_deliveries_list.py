from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.paginated_result_delivery_list import PaginatedResultDeliveryList
from ...models.problem import Problem
from ...models.v1_deliveries_list_kind import V1DeliveriesListKind
from ...models.v1_deliveries_list_status import V1DeliveriesListStatus
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    kind: V1DeliveriesListKind | Unset = UNSET,
    ordering: str | Unset = UNSET,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
    prediction: int | Unset = UNSET,
    status: V1DeliveriesListStatus | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    json_kind: str | Unset = UNSET
    if not isinstance(kind, Unset):
        json_kind = kind.value

    params["kind"] = json_kind

    params["ordering"] = ordering

    params["page"] = page

    params["page_size"] = page_size

    params["prediction"] = prediction

    json_status: str | Unset = UNSET
    if not isinstance(status, Unset):
        json_status = status.value

    params["status"] = json_status

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/v1/deliveries/",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> PaginatedResultDeliveryList | Problem | None:
    if response.status_code == 200:
        response_200 = PaginatedResultDeliveryList.from_dict(response.json())

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
) -> Response[PaginatedResultDeliveryList | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    kind: V1DeliveriesListKind | Unset = UNSET,
    ordering: str | Unset = UNSET,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
    prediction: int | Unset = UNSET,
    status: V1DeliveriesListStatus | Unset = UNSET,
) -> Response[PaginatedResultDeliveryList | Problem]:
    """Result objects sent, or being sent, to your sites' PACS and FHIR servers: the AI's preliminary SR
    and heatmap
    Secondary Capture, the final SR after review, and FHIR DiagnosticReports. Filter by `status`
    (pending, sent,
    failed), `kind` (sr, sc, final_sr, fhir) or `prediction`. A prediction's own are also at
    /api/v1/predictions/{id}/deliveries/.

    Args:
        kind (V1DeliveriesListKind | Unset):
        ordering (str | Unset):
        page (int | Unset):
        page_size (int | Unset):
        prediction (int | Unset):
        status (V1DeliveriesListStatus | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[PaginatedResultDeliveryList | Problem]
    """

    kwargs = _get_kwargs(
        kind=kind,
        ordering=ordering,
        page=page,
        page_size=page_size,
        prediction=prediction,
        status=status,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    kind: V1DeliveriesListKind | Unset = UNSET,
    ordering: str | Unset = UNSET,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
    prediction: int | Unset = UNSET,
    status: V1DeliveriesListStatus | Unset = UNSET,
) -> PaginatedResultDeliveryList | Problem | None:
    """Result objects sent, or being sent, to your sites' PACS and FHIR servers: the AI's preliminary SR
    and heatmap
    Secondary Capture, the final SR after review, and FHIR DiagnosticReports. Filter by `status`
    (pending, sent,
    failed), `kind` (sr, sc, final_sr, fhir) or `prediction`. A prediction's own are also at
    /api/v1/predictions/{id}/deliveries/.

    Args:
        kind (V1DeliveriesListKind | Unset):
        ordering (str | Unset):
        page (int | Unset):
        page_size (int | Unset):
        prediction (int | Unset):
        status (V1DeliveriesListStatus | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        PaginatedResultDeliveryList | Problem
    """

    return sync_detailed(
        client=client,
        kind=kind,
        ordering=ordering,
        page=page,
        page_size=page_size,
        prediction=prediction,
        status=status,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    kind: V1DeliveriesListKind | Unset = UNSET,
    ordering: str | Unset = UNSET,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
    prediction: int | Unset = UNSET,
    status: V1DeliveriesListStatus | Unset = UNSET,
) -> Response[PaginatedResultDeliveryList | Problem]:
    """Result objects sent, or being sent, to your sites' PACS and FHIR servers: the AI's preliminary SR
    and heatmap
    Secondary Capture, the final SR after review, and FHIR DiagnosticReports. Filter by `status`
    (pending, sent,
    failed), `kind` (sr, sc, final_sr, fhir) or `prediction`. A prediction's own are also at
    /api/v1/predictions/{id}/deliveries/.

    Args:
        kind (V1DeliveriesListKind | Unset):
        ordering (str | Unset):
        page (int | Unset):
        page_size (int | Unset):
        prediction (int | Unset):
        status (V1DeliveriesListStatus | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[PaginatedResultDeliveryList | Problem]
    """

    kwargs = _get_kwargs(
        kind=kind,
        ordering=ordering,
        page=page,
        page_size=page_size,
        prediction=prediction,
        status=status,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    kind: V1DeliveriesListKind | Unset = UNSET,
    ordering: str | Unset = UNSET,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
    prediction: int | Unset = UNSET,
    status: V1DeliveriesListStatus | Unset = UNSET,
) -> PaginatedResultDeliveryList | Problem | None:
    """Result objects sent, or being sent, to your sites' PACS and FHIR servers: the AI's preliminary SR
    and heatmap
    Secondary Capture, the final SR after review, and FHIR DiagnosticReports. Filter by `status`
    (pending, sent,
    failed), `kind` (sr, sc, final_sr, fhir) or `prediction`. A prediction's own are also at
    /api/v1/predictions/{id}/deliveries/.

    Args:
        kind (V1DeliveriesListKind | Unset):
        ordering (str | Unset):
        page (int | Unset):
        page_size (int | Unset):
        prediction (int | Unset):
        status (V1DeliveriesListStatus | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        PaginatedResultDeliveryList | Problem
    """

    return (
        await asyncio_detailed(
            client=client,
            kind=kind,
            ordering=ordering,
            page=page,
            page_size=page_size,
            prediction=prediction,
            status=status,
        )
    ).parsed
