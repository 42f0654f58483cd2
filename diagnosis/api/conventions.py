"""The API's HTTP conventions (docs/api.md): Location on 201, strong ETags with If-None-Match and If-Match, and
Idempotency-Key on creates. The errors they raise are DRF exceptions; the API's exception handler shapes them."""

import functools
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from contextlib import contextmanager

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Model
from django.urls import reverse
from django.utils.http import parse_etags
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers, status
from rest_framework.exceptions import APIException
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from diagnosis.services import idempotency
from diagnosis.services.idempotency import Claim


class PreconditionRequired(APIException):
    status_code = 428
    default_detail = "This change needs an If-Match header with the record's ETag, as a GET of it gave."
    default_code = "precondition_required"


class PreconditionFailed(APIException):
    status_code = 412
    default_detail = (
        "The record changed since you read it: its ETag is no longer the one in If-Match. GET it again, and make "
        "your change on what it says now."
    )
    default_code = "precondition_failed"


class Conflict(APIException):
    status_code = 409
    default_detail = "The request conflicts with the state of the record."
    default_code = "conflict"


class IdempotencyKeyReused(APIException):
    status_code = 422
    default_detail = (
        "This Idempotency-Key was already used, within the last 24 hours, for a different request (another path "
        "or body). Use a new key for a new request."
    )
    default_code = "idempotency_key_reused"


IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="Any unique string (a UUID), 1 to 255 visible ASCII characters. A retry with the same key within "
    "24 hours gets the first answer again (status, body, Location) instead of creating twice; the same key with "
    "another request is 422; while the first is still running, 409.",
)
IF_MATCH = OpenApiParameter(
    "If-Match",
    str,
    OpenApiParameter.HEADER,
    required=True,
    description="The ETag of the record as you last read it: 428 without it, 412 when the record has changed since.",
)


def etag_of(representation) -> str:
    """A strong ETag: the sha256 of the JSON the API sends for the record."""
    return '"' + hashlib.sha256(JSONRenderer().render(representation)).hexdigest()[:40] + '"'


class ConditionalGetMixin:
    """A single record's GET (and PATCH) answer carries a strong ETag; a GET whose If-None-Match holds it is a 304
    without a body. The read is still audited: the client asked for the record, and holds it."""

    etag_actions = ("retrieve", "partial_update")

    def finalize_response(self, request, response, *args, **kwargs):
        if (
            getattr(self, "action", None) in self.etag_actions
            and response.status_code == status.HTTP_200_OK
            and isinstance(response.data, Mapping)
        ):
            tag = etag_of(response.data)
            response["ETag"] = tag
            held = [t.removeprefix("W/") for t in parse_etags(request.headers.get("If-None-Match", ""))]
            if request.method in ("GET", "HEAD") and (tag in held or "*" in held):
                response = Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": tag})
        return super().finalize_response(request, response, *args, **kwargs)


@contextmanager
def if_match(request, obj: Model, represent: Callable[[Model], Mapping]):
    """For a PATCH: lock the record's row, check If-Match against its representation now (428 without the header,
    412 when it differs; `*` matches any), and yield the locked row for the change. Two edits made from the same
    ETag cannot both pass: the second waits for the lock, then sees the new ETag."""
    header = request.headers.get("If-Match")
    if header is None:
        raise PreconditionRequired()
    with transaction.atomic():
        current = type(obj)._default_manager.select_for_update().get(pk=obj.pk)
        tags = parse_etags(header)
        if "*" not in tags and etag_of(represent(current)) not in tags:
            raise PreconditionFailed()
        yield current


def absolute(request, url_name: str, pk: int) -> str:
    return request.build_absolute_uri(reverse(f"api:{url_name}", args=[pk]))


def created(request, body, url_name: str, pk: int) -> Response:
    """201 with the new record, and its URL in Location."""
    return Response(body, status=status.HTTP_201_CREATED, headers={"Location": absolute(request, url_name, pk)})


IDEMPOTENCY_KEY_FORMAT = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII


def idempotent(handler):
    """For a create action: with an Idempotency-Key header, the first answer (whatever its status) is kept 24 hours
    and a retry with the same key and the same request gets it again, marked `Idempotent-Replayed: true`; the same
    key with another request is 422; a retry while the first is still running is 409. An exception (an error
    answer) keeps nothing: a retry runs again. Without the header nothing changes."""

    @functools.wraps(handler)
    def wrapper(self, request, *args, **kwargs):
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return handler(self, request, *args, **kwargs)
        if not IDEMPOTENCY_KEY_FORMAT.fullmatch(key):
            raise serializers.ValidationError({"Idempotency-Key": ["1 to 255 visible ASCII characters (a UUID)."]})
        claimed = idempotency.idempotency_claim(
            user=request.user,
            key=key,
            method=request.method,
            path=request.get_full_path(),
            request_hash=request_fingerprint(request),
        )
        if claimed.outcome is Claim.MISMATCH:
            raise IdempotencyKeyReused()
        if claimed.outcome is Claim.IN_PROGRESS:
            raise Conflict("A request with this Idempotency-Key is still being processed: retry in a moment.")
        if claimed.outcome is Claim.REPLAY:
            record = claimed.record
            headers = {**record.headers, "Idempotent-Replayed": "true"}
            return Response(record.body, status=record.status, headers=headers)
        try:
            response = handler(self, request, *args, **kwargs)
        except BaseException:
            idempotency.idempotency_release(record=claimed.record)
            raise
        headers = {"Location": response["Location"]} if response.has_header("Location") else {}
        idempotency.idempotency_complete(
            record=claimed.record, status=response.status_code, body=response.data, headers=headers
        )
        return response

    return wrapper


def request_fingerprint(request) -> str:
    """sha256 of the method, the path with its query, and the body (JSON; or form fields and files' bytes)."""
    digest = hashlib.sha256(f"{request.method} {request.get_full_path()}".encode())

    def add(part: bytes) -> None:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)

    data = request.data
    if hasattr(data, "lists"):  # a form or multipart body: fields and files
        for name, values in sorted(data.lists(), key=lambda item: item[0]):
            for value in values:
                add(name.encode())
                if isinstance(value, UploadedFile):
                    add((value.name or "").encode())
                    for chunk in value.chunks():
                        digest.update(chunk)
                    value.seek(0)
                else:
                    add(str(value).encode())
    else:
        add(json.dumps(data, sort_keys=True, default=str).encode())
    return digest.hexdigest()
