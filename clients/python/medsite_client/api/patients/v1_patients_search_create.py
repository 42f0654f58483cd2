from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.paginated_patient_list import PaginatedPatientList
from ...models.patient_search import PatientSearch
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    body: PatientSearch,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    params: dict[str, Any] = {}

    params["page"] = page

    params["page_size"] = page_size

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/api/v1/patients/search/",
        "params": params,
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> PaginatedPatientList | Problem | None:
    if response.status_code == 200:
        response_200 = PaginatedPatientList.from_dict(response.json())

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

    if response.status_code == 409:
        response_409 = Problem.from_dict(response.json())

        return response_409

    if response.status_code == 413:
        response_413 = Problem.from_dict(response.json())

        return response_413

    if response.status_code == 415:
        response_415 = Problem.from_dict(response.json())

        return response_415

    if response.status_code == 429:
        response_429 = Problem.from_dict(response.json())

        return response_429

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[PaginatedPatientList | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: PatientSearch,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
) -> Response[PaginatedPatientList | Problem]:
    """Search patients of your sites by MRN or name

     The search term goes in the JSON body, so that it never appears in a URL (proxy and server logs,
    browser history, Referer headers). Pages as the list does (`?page=`); newest first. One VIEW audit
    event per page, with the count and never the term.

    Args:
        page (int | Unset):
        page_size (int | Unset):
        body (PatientSearch):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[PaginatedPatientList | Problem]
    """

    kwargs = _get_kwargs(
        body=body,
        page=page,
        page_size=page_size,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    body: PatientSearch,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
) -> PaginatedPatientList | Problem | None:
    """Search patients of your sites by MRN or name

     The search term goes in the JSON body, so that it never appears in a URL (proxy and server logs,
    browser history, Referer headers). Pages as the list does (`?page=`); newest first. One VIEW audit
    event per page, with the count and never the term.

    Args:
        page (int | Unset):
        page_size (int | Unset):
        body (PatientSearch):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        PaginatedPatientList | Problem
    """

    return sync_detailed(
        client=client,
        body=body,
        page=page,
        page_size=page_size,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: PatientSearch,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
) -> Response[PaginatedPatientList | Problem]:
    """Search patients of your sites by MRN or name

     The search term goes in the JSON body, so that it never appears in a URL (proxy and server logs,
    browser history, Referer headers). Pages as the list does (`?page=`); newest first. One VIEW audit
    event per page, with the count and never the term.

    Args:
        page (int | Unset):
        page_size (int | Unset):
        body (PatientSearch):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[PaginatedPatientList | Problem]
    """

    kwargs = _get_kwargs(
        body=body,
        page=page,
        page_size=page_size,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    body: PatientSearch,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
) -> PaginatedPatientList | Problem | None:
    """Search patients of your sites by MRN or name

     The search term goes in the JSON body, so that it never appears in a URL (proxy and server logs,
    browser history, Referer headers). Pages as the list does (`?page=`); newest first. One VIEW audit
    event per page, with the count and never the term.

    Args:
        page (int | Unset):
        page_size (int | Unset):
        body (PatientSearch):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        PaginatedPatientList | Problem
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
            page=page,
            page_size=page_size,
        )
    ).parsed
