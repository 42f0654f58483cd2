from http import HTTPStatus
from io import BytesIO
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.problem import Problem
from ...models.v1_predictions_heatmap_retrieve_style import V1PredictionsHeatmapRetrieveStyle
from ...types import UNSET, File, Response, Unset


def _get_kwargs(
    id: int,
    *,
    style: V1PredictionsHeatmapRetrieveStyle | Unset = V1PredictionsHeatmapRetrieveStyle.OVERLAY,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    json_style: str | Unset = UNSET
    if not isinstance(style, Unset):
        json_style = style.value

    params["style"] = json_style

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/v1/predictions/{id}/heatmap/".format(
            id=quote(str(id), safe=""),
        ),
        "params": params,
    }

    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> File | Problem | None:
    if response.status_code == 200:
        response_200 = File(payload=BytesIO(response.content))

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


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[File | Problem]:
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
    style: V1PredictionsHeatmapRetrieveStyle | Unset = V1PredictionsHeatmapRetrieveStyle.OVERLAY,
) -> Response[File | Problem]:
    """The Grad-CAM heatmap (PNG, the display image's aspect ratio): an overlay, or the CAM itself

     Predictions on images of your sites, with the model version that made them and their reviews.

    Order by `created_at`, `max_probability` (the top class probability) or `abnormality` (1 -
    P(normal)).
    The radiologists' triage worklist is `?reviewed=false&ordering=-abnormality`; `?ordering=margin`
    puts the
    least certain first (active learning: the labels the model learns most from). A shadow version's
    predictions are never listed: they are compared with the active model's on the model pages.

    Args:
        id (int):
        style (V1PredictionsHeatmapRetrieveStyle | Unset):  Default:
            V1PredictionsHeatmapRetrieveStyle.OVERLAY.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[File | Problem]
    """

    kwargs = _get_kwargs(
        id=id,
        style=style,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    id: int,
    *,
    client: AuthenticatedClient,
    style: V1PredictionsHeatmapRetrieveStyle | Unset = V1PredictionsHeatmapRetrieveStyle.OVERLAY,
) -> File | Problem | None:
    """The Grad-CAM heatmap (PNG, the display image's aspect ratio): an overlay, or the CAM itself

     Predictions on images of your sites, with the model version that made them and their reviews.

    Order by `created_at`, `max_probability` (the top class probability) or `abnormality` (1 -
    P(normal)).
    The radiologists' triage worklist is `?reviewed=false&ordering=-abnormality`; `?ordering=margin`
    puts the
    least certain first (active learning: the labels the model learns most from). A shadow version's
    predictions are never listed: they are compared with the active model's on the model pages.

    Args:
        id (int):
        style (V1PredictionsHeatmapRetrieveStyle | Unset):  Default:
            V1PredictionsHeatmapRetrieveStyle.OVERLAY.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        File | Problem
    """

    return sync_detailed(
        id=id,
        client=client,
        style=style,
    ).parsed


async def asyncio_detailed(
    id: int,
    *,
    client: AuthenticatedClient,
    style: V1PredictionsHeatmapRetrieveStyle | Unset = V1PredictionsHeatmapRetrieveStyle.OVERLAY,
) -> Response[File | Problem]:
    """The Grad-CAM heatmap (PNG, the display image's aspect ratio): an overlay, or the CAM itself

     Predictions on images of your sites, with the model version that made them and their reviews.

    Order by `created_at`, `max_probability` (the top class probability) or `abnormality` (1 -
    P(normal)).
    The radiologists' triage worklist is `?reviewed=false&ordering=-abnormality`; `?ordering=margin`
    puts the
    least certain first (active learning: the labels the model learns most from). A shadow version's
    predictions are never listed: they are compared with the active model's on the model pages.

    Args:
        id (int):
        style (V1PredictionsHeatmapRetrieveStyle | Unset):  Default:
            V1PredictionsHeatmapRetrieveStyle.OVERLAY.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[File | Problem]
    """

    kwargs = _get_kwargs(
        id=id,
        style=style,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    id: int,
    *,
    client: AuthenticatedClient,
    style: V1PredictionsHeatmapRetrieveStyle | Unset = V1PredictionsHeatmapRetrieveStyle.OVERLAY,
) -> File | Problem | None:
    """The Grad-CAM heatmap (PNG, the display image's aspect ratio): an overlay, or the CAM itself

     Predictions on images of your sites, with the model version that made them and their reviews.

    Order by `created_at`, `max_probability` (the top class probability) or `abnormality` (1 -
    P(normal)).
    The radiologists' triage worklist is `?reviewed=false&ordering=-abnormality`; `?ordering=margin`
    puts the
    least certain first (active learning: the labels the model learns most from). A shadow version's
    predictions are never listed: they are compared with the active model's on the model pages.

    Args:
        id (int):
        style (V1PredictionsHeatmapRetrieveStyle | Unset):  Default:
            V1PredictionsHeatmapRetrieveStyle.OVERLAY.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        File | Problem
    """

    return (
        await asyncio_detailed(
            id=id,
            client=client,
            style=style,
        )
    ).parsed
