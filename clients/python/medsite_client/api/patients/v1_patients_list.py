from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.paginated_patient_list import PaginatedPatientList
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    ordering: str | Unset = UNSET,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
    site: int | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    params["ordering"] = ordering

    params["page"] = page

    params["page_size"] = page_size

    params["site"] = site

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/v1/patients/",
        "params": params,
    }

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
    ordering: str | Unset = UNSET,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
    site: int | Unset = UNSET,
) -> Response[PaginatedPatientList | Problem]:
    """Patients of your sites (to search them, POST to search/)

     Patients. Any member of the patient's site reads them; clinicians register and edit them. No delete.

    Args:
        ordering (str | Unset):
        page (int | Unset):
        page_size (int | Unset):
        site (int | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[PaginatedPatientList | Problem]
    """

    kwargs = _get_kwargs(
        ordering=ordering,
        page=page,
        page_size=page_size,
        site=site,
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
    site: int | Unset = UNSET,
) -> PaginatedPatientList | Problem | None:
    """Patients of your sites (to search them, POST to search/)

     Patients. Any member of the patient's site reads them; clinicians register and edit them. No delete.

    Args:
        ordering (str | Unset):
        page (int | Unset):
        page_size (int | Unset):
        site (int | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        PaginatedPatientList | Problem
    """

    return sync_detailed(
        client=client,
        ordering=ordering,
        page=page,
        page_size=page_size,
        site=site,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    ordering: str | Unset = UNSET,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
    site: int | Unset = UNSET,
) -> Response[PaginatedPatientList | Problem]:
    """Patients of your sites (to search them, POST to search/)

     Patients. Any member of the patient's site reads them; clinicians register and edit them. No delete.

    Args:
        ordering (str | Unset):
        page (int | Unset):
        page_size (int | Unset):
        site (int | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[PaginatedPatientList | Problem]
    """

    kwargs = _get_kwargs(
        ordering=ordering,
        page=page,
        page_size=page_size,
        site=site,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    ordering: str | Unset = UNSET,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
    site: int | Unset = UNSET,
) -> PaginatedPatientList | Problem | None:
    """Patients of your sites (to search them, POST to search/)

     Patients. Any member of the patient's site reads them; clinicians register and edit them. No delete.

    Args:
        ordering (str | Unset):
        page (int | Unset):
        page_size (int | Unset):
        site (int | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        PaginatedPatientList | Problem
    """

    return (
        await asyncio_detailed(
            client=client,
            ordering=ordering,
            page=page,
            page_size=page_size,
            site=site,
        )
    ).parsed
