import datetime
from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.paginated_prediction_list import PaginatedPredictionList
from ...models.problem import Problem
from ...models.v1_predictions_list_modality import V1PredictionsListModality
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    created_after: datetime.date | Unset = UNSET,
    created_before: datetime.date | Unset = UNSET,
    label: str | Unset = UNSET,
    modality: V1PredictionsListModality | Unset = UNSET,
    ordering: str | Unset = UNSET,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
    reviewed: bool | Unset = UNSET,
    site: int | Unset = UNSET,
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

    params["label"] = label

    json_modality: str | Unset = UNSET
    if not isinstance(modality, Unset):
        json_modality = modality.value

    params["modality"] = json_modality

    params["ordering"] = ordering

    params["page"] = page

    params["page_size"] = page_size

    params["reviewed"] = reviewed

    params["site"] = site

    params["task"] = task

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/v1/predictions/",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> PaginatedPredictionList | Problem | None:
    if response.status_code == 200:
        response_200 = PaginatedPredictionList.from_dict(response.json())

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
) -> Response[PaginatedPredictionList | Problem]:
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
    label: str | Unset = UNSET,
    modality: V1PredictionsListModality | Unset = UNSET,
    ordering: str | Unset = UNSET,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
    reviewed: bool | Unset = UNSET,
    site: int | Unset = UNSET,
    task: str | Unset = UNSET,
) -> Response[PaginatedPredictionList | Problem]:
    """Predictions on images of your sites, with the model version that made them and their reviews.

    Order by `created_at`, `max_probability` (the top class probability) or `abnormality` (1 -
    P(normal)).
    The radiologists' triage worklist is `?reviewed=false&ordering=-abnormality`; `?ordering=margin`
    puts the
    least certain first (active learning: the labels the model learns most from). A shadow version's
    predictions are never listed: they are compared with the active model's on the model pages.

    Args:
        created_after (datetime.date | Unset):
        created_before (datetime.date | Unset):
        label (str | Unset):
        modality (V1PredictionsListModality | Unset):
        ordering (str | Unset):
        page (int | Unset):
        page_size (int | Unset):
        reviewed (bool | Unset):
        site (int | Unset):
        task (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[PaginatedPredictionList | Problem]
    """

    kwargs = _get_kwargs(
        created_after=created_after,
        created_before=created_before,
        label=label,
        modality=modality,
        ordering=ordering,
        page=page,
        page_size=page_size,
        reviewed=reviewed,
        site=site,
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
    label: str | Unset = UNSET,
    modality: V1PredictionsListModality | Unset = UNSET,
    ordering: str | Unset = UNSET,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
    reviewed: bool | Unset = UNSET,
    site: int | Unset = UNSET,
    task: str | Unset = UNSET,
) -> PaginatedPredictionList | Problem | None:
    """Predictions on images of your sites, with the model version that made them and their reviews.

    Order by `created_at`, `max_probability` (the top class probability) or `abnormality` (1 -
    P(normal)).
    The radiologists' triage worklist is `?reviewed=false&ordering=-abnormality`; `?ordering=margin`
    puts the
    least certain first (active learning: the labels the model learns most from). A shadow version's
    predictions are never listed: they are compared with the active model's on the model pages.

    Args:
        created_after (datetime.date | Unset):
        created_before (datetime.date | Unset):
        label (str | Unset):
        modality (V1PredictionsListModality | Unset):
        ordering (str | Unset):
        page (int | Unset):
        page_size (int | Unset):
        reviewed (bool | Unset):
        site (int | Unset):
        task (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        PaginatedPredictionList | Problem
    """

    return sync_detailed(
        client=client,
        created_after=created_after,
        created_before=created_before,
        label=label,
        modality=modality,
        ordering=ordering,
        page=page,
        page_size=page_size,
        reviewed=reviewed,
        site=site,
        task=task,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    created_after: datetime.date | Unset = UNSET,
    created_before: datetime.date | Unset = UNSET,
    label: str | Unset = UNSET,
    modality: V1PredictionsListModality | Unset = UNSET,
    ordering: str | Unset = UNSET,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
    reviewed: bool | Unset = UNSET,
    site: int | Unset = UNSET,
    task: str | Unset = UNSET,
) -> Response[PaginatedPredictionList | Problem]:
    """Predictions on images of your sites, with the model version that made them and their reviews.

    Order by `created_at`, `max_probability` (the top class probability) or `abnormality` (1 -
    P(normal)).
    The radiologists' triage worklist is `?reviewed=false&ordering=-abnormality`; `?ordering=margin`
    puts the
    least certain first (active learning: the labels the model learns most from). A shadow version's
    predictions are never listed: they are compared with the active model's on the model pages.

    Args:
        created_after (datetime.date | Unset):
        created_before (datetime.date | Unset):
        label (str | Unset):
        modality (V1PredictionsListModality | Unset):
        ordering (str | Unset):
        page (int | Unset):
        page_size (int | Unset):
        reviewed (bool | Unset):
        site (int | Unset):
        task (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[PaginatedPredictionList | Problem]
    """

    kwargs = _get_kwargs(
        created_after=created_after,
        created_before=created_before,
        label=label,
        modality=modality,
        ordering=ordering,
        page=page,
        page_size=page_size,
        reviewed=reviewed,
        site=site,
        task=task,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    created_after: datetime.date | Unset = UNSET,
    created_before: datetime.date | Unset = UNSET,
    label: str | Unset = UNSET,
    modality: V1PredictionsListModality | Unset = UNSET,
    ordering: str | Unset = UNSET,
    page: int | Unset = UNSET,
    page_size: int | Unset = UNSET,
    reviewed: bool | Unset = UNSET,
    site: int | Unset = UNSET,
    task: str | Unset = UNSET,
) -> PaginatedPredictionList | Problem | None:
    """Predictions on images of your sites, with the model version that made them and their reviews.

    Order by `created_at`, `max_probability` (the top class probability) or `abnormality` (1 -
    P(normal)).
    The radiologists' triage worklist is `?reviewed=false&ordering=-abnormality`; `?ordering=margin`
    puts the
    least certain first (active learning: the labels the model learns most from). A shadow version's
    predictions are never listed: they are compared with the active model's on the model pages.

    Args:
        created_after (datetime.date | Unset):
        created_before (datetime.date | Unset):
        label (str | Unset):
        modality (V1PredictionsListModality | Unset):
        ordering (str | Unset):
        page (int | Unset):
        page_size (int | Unset):
        reviewed (bool | Unset):
        site (int | Unset):
        task (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        PaginatedPredictionList | Problem
    """

    return (
        await asyncio_detailed(
            client=client,
            created_after=created_after,
            created_before=created_before,
            label=label,
            modality=modality,
            ordering=ordering,
            page=page,
            page_size=page_size,
            reviewed=reviewed,
            site=site,
            task=task,
        )
    ).parsed
