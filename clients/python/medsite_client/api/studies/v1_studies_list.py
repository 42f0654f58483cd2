import datetime
from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.paginated_study_list import PaginatedStudyList
from ...models.problem import Problem
from ...models.v1_studies_list_modality import V1StudiesListModality
from ...models.v1_studies_list_status import V1StudiesListStatus
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    modality: V1StudiesListModality | Unset = UNSET,
    ordering: str | Unset = UNSET,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
    patient: int | Unset = UNSET,
    status: V1StudiesListStatus | Unset = UNSET,
    study_date_after: datetime.date | Unset = UNSET,
    study_date_before: datetime.date | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    json_modality: str | Unset = UNSET
    if not isinstance(modality, Unset):
        json_modality = modality.value

    params["modality"] = json_modality

    params["ordering"] = ordering

    params["page"] = page

    params["page_size"] = page_size

    params["patient"] = patient

    json_status: str | Unset = UNSET
    if not isinstance(status, Unset):
        json_status = status.value

    params["status"] = json_status

    json_study_date_after: str | Unset = UNSET
    if not isinstance(study_date_after, Unset):
        json_study_date_after = study_date_after.isoformat()
    params["study_date_after"] = json_study_date_after

    json_study_date_before: str | Unset = UNSET
    if not isinstance(study_date_before, Unset):
        json_study_date_before = study_date_before.isoformat()
    params["study_date_before"] = json_study_date_before

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/v1/studies/",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> PaginatedStudyList | Problem | None:
    if response.status_code == 200:
        response_200 = PaginatedStudyList.from_dict(response.json())

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
) -> Response[PaginatedStudyList | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    modality: V1StudiesListModality | Unset = UNSET,
    ordering: str | Unset = UNSET,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
    patient: int | Unset = UNSET,
    status: V1StudiesListStatus | Unset = UNSET,
    study_date_after: datetime.date | Unset = UNSET,
    study_date_before: datetime.date | Unset = UNSET,
) -> Response[PaginatedStudyList | Problem]:
    """Studies. Any member of the patient's site reads them; clinicians register, edit and upload images.

    Args:
        modality (V1StudiesListModality | Unset):
        ordering (str | Unset):
        page (int | Unset):
        page_size (int | Unset):
        patient (int | Unset):
        status (V1StudiesListStatus | Unset):
        study_date_after (datetime.date | Unset):
        study_date_before (datetime.date | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[PaginatedStudyList | Problem]
    """

    kwargs = _get_kwargs(
        modality=modality,
        ordering=ordering,
        page=page,
        page_size=page_size,
        patient=patient,
        status=status,
        study_date_after=study_date_after,
        study_date_before=study_date_before,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    modality: V1StudiesListModality | Unset = UNSET,
    ordering: str | Unset = UNSET,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
    patient: int | Unset = UNSET,
    status: V1StudiesListStatus | Unset = UNSET,
    study_date_after: datetime.date | Unset = UNSET,
    study_date_before: datetime.date | Unset = UNSET,
) -> PaginatedStudyList | Problem | None:
    """Studies. Any member of the patient's site reads them; clinicians register, edit and upload images.

    Args:
        modality (V1StudiesListModality | Unset):
        ordering (str | Unset):
        page (int | Unset):
        page_size (int | Unset):
        patient (int | Unset):
        status (V1StudiesListStatus | Unset):
        study_date_after (datetime.date | Unset):
        study_date_before (datetime.date | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        PaginatedStudyList | Problem
    """

    return sync_detailed(
        client=client,
        modality=modality,
        ordering=ordering,
        page=page,
        page_size=page_size,
        patient=patient,
        status=status,
        study_date_after=study_date_after,
        study_date_before=study_date_before,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    modality: V1StudiesListModality | Unset = UNSET,
    ordering: str | Unset = UNSET,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
    patient: int | Unset = UNSET,
    status: V1StudiesListStatus | Unset = UNSET,
    study_date_after: datetime.date | Unset = UNSET,
    study_date_before: datetime.date | Unset = UNSET,
) -> Response[PaginatedStudyList | Problem]:
    """Studies. Any member of the patient's site reads them; clinicians register, edit and upload images.

    Args:
        modality (V1StudiesListModality | Unset):
        ordering (str | Unset):
        page (int | Unset):
        page_size (int | Unset):
        patient (int | Unset):
        status (V1StudiesListStatus | Unset):
        study_date_after (datetime.date | Unset):
        study_date_before (datetime.date | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[PaginatedStudyList | Problem]
    """

    kwargs = _get_kwargs(
        modality=modality,
        ordering=ordering,
        page=page,
        page_size=page_size,
        patient=patient,
        status=status,
        study_date_after=study_date_after,
        study_date_before=study_date_before,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    modality: V1StudiesListModality | Unset = UNSET,
    ordering: str | Unset = UNSET,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
    patient: int | Unset = UNSET,
    status: V1StudiesListStatus | Unset = UNSET,
    study_date_after: datetime.date | Unset = UNSET,
    study_date_before: datetime.date | Unset = UNSET,
) -> PaginatedStudyList | Problem | None:
    """Studies. Any member of the patient's site reads them; clinicians register, edit and upload images.

    Args:
        modality (V1StudiesListModality | Unset):
        ordering (str | Unset):
        page (int | Unset):
        page_size (int | Unset):
        patient (int | Unset):
        status (V1StudiesListStatus | Unset):
        study_date_after (datetime.date | Unset):
        study_date_before (datetime.date | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        PaginatedStudyList | Problem
    """

    return (
        await asyncio_detailed(
            client=client,
            modality=modality,
            ordering=ordering,
            page=page,
            page_size=page_size,
            patient=patient,
            status=status,
            study_date_after=study_date_after,
            study_date_before=study_date_before,
        )
    ).parsed
