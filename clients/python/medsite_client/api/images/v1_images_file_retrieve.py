from http import HTTPStatus
from io import BytesIO
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.problem import Problem
from ...models.v1_images_file_retrieve_rendition import V1ImagesFileRetrieveRendition
from ...types import UNSET, File, Response, Unset


def _get_kwargs(
    id: int,
    *,
    rendition: V1ImagesFileRetrieveRendition | Unset = V1ImagesFileRetrieveRendition.DISPLAY,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    json_rendition: str | Unset = UNSET
    if not isinstance(rendition, Unset):
        json_rendition = rendition.value

    params["rendition"] = json_rendition

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/v1/images/{id}/file/".format(
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
    rendition: V1ImagesFileRetrieveRendition | Unset = V1ImagesFileRetrieveRendition.DISPLAY,
) -> Response[File | Problem]:
    """Download an image file

     display: the 8-bit PNG without metadata; original: the file as uploaded; deidentified: the de-
    identified DICOM (DICOM uploads only). Never cached; every download is audited.

    Args:
        id (int):
        rendition (V1ImagesFileRetrieveRendition | Unset):  Default:
            V1ImagesFileRetrieveRendition.DISPLAY.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[File | Problem]
    """

    kwargs = _get_kwargs(
        id=id,
        rendition=rendition,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    id: int,
    *,
    client: AuthenticatedClient,
    rendition: V1ImagesFileRetrieveRendition | Unset = V1ImagesFileRetrieveRendition.DISPLAY,
) -> File | Problem | None:
    """Download an image file

     display: the 8-bit PNG without metadata; original: the file as uploaded; deidentified: the de-
    identified DICOM (DICOM uploads only). Never cached; every download is audited.

    Args:
        id (int):
        rendition (V1ImagesFileRetrieveRendition | Unset):  Default:
            V1ImagesFileRetrieveRendition.DISPLAY.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        File | Problem
    """

    return sync_detailed(
        id=id,
        client=client,
        rendition=rendition,
    ).parsed


async def asyncio_detailed(
    id: int,
    *,
    client: AuthenticatedClient,
    rendition: V1ImagesFileRetrieveRendition | Unset = V1ImagesFileRetrieveRendition.DISPLAY,
) -> Response[File | Problem]:
    """Download an image file

     display: the 8-bit PNG without metadata; original: the file as uploaded; deidentified: the de-
    identified DICOM (DICOM uploads only). Never cached; every download is audited.

    Args:
        id (int):
        rendition (V1ImagesFileRetrieveRendition | Unset):  Default:
            V1ImagesFileRetrieveRendition.DISPLAY.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[File | Problem]
    """

    kwargs = _get_kwargs(
        id=id,
        rendition=rendition,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    id: int,
    *,
    client: AuthenticatedClient,
    rendition: V1ImagesFileRetrieveRendition | Unset = V1ImagesFileRetrieveRendition.DISPLAY,
) -> File | Problem | None:
    """Download an image file

     display: the 8-bit PNG without metadata; original: the file as uploaded; deidentified: the de-
    identified DICOM (DICOM uploads only). Never cached; every download is audited.

    Args:
        id (int):
        rendition (V1ImagesFileRetrieveRendition | Unset):  Default:
            V1ImagesFileRetrieveRendition.DISPLAY.

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
            rendition=rendition,
        )
    ).parsed
