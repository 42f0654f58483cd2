"""What every API view shares: site-scoped, audited lists; ids the permission check reads from the body;
and the upload response used by the browser's drag-and-drop uploader."""

import functools
from collections.abc import Callable, Iterable, Mapping

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import F, prefetch_related_objects
from rest_framework import serializers, status, viewsets
from rest_framework.fields import empty
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.response import Response

from diagnosis import access, listings
from diagnosis.api.conventions import ConditionalGetMixin, absolute, created
from diagnosis.models import Image, image_details
from diagnosis.serializers import UploadResultSerializer
from diagnosis.services.records import DuplicateImage


def pk_in_body(request, name: str) -> int:
    """The id in the body that the permission check needs, read before the rest of the body is validated
    (validating first could tell an outsider that, say, an MRN is taken at another site)."""
    data = request.data if isinstance(request.data, Mapping) else {}
    try:
        return serializers.IntegerField(min_value=1).run_validation(data.get(name, empty))
    except serializers.ValidationError as exc:
        raise serializers.ValidationError({name: exc.detail}) from None


class SiteScopedViewSet(ConditionalGetMixin, viewsets.GenericViewSet):
    """A viewset over the rows of the user's sites. Subclasses set `queryset` and `site_field`, the path from
    the model to its Site; their retrieve and write actions use the access helpers, as the web views do."""

    site_field: str
    lookup_value_converter = "int"

    def get_queryset(self):
        queryset = super().get_queryset()
        if getattr(self, "swagger_fake_view", False):  # schema generation: there is no user
            return queryset.none()
        sites = access.site_list_for(self.request.user)  # the memberships list() already read: no second query
        return queryset.filter(**{f"{self.site_field}__in": sites}).annotate(listed_site_id=F(self.site_field))


class PrerenderedJSONRenderer(JSONRenderer):
    """JSON; a body that is already JSON (bytes: a cached list page) goes out as it is."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, bytes):
            return data
        return super().render(data, accepted_media_type, renderer_context)


class AuditedListMixin:
    """list(): a filtered, ordered page of the user's sites' rows, audited as one VIEW event. With
    `cached_list` (a diagnosis.listings kind of page), the page is kept as rendered JSON until the data at those
    sites changes (see diagnosis.listings)."""

    cached_list = ""
    renderer_classes = [PrerenderedJSONRenderer, BrowsableAPIRenderer]

    def list(self, request):
        sites = {site.pk: site for site in access.site_list_for(request.user)}
        if self.cached_list:
            variant = (self.basename, request.build_absolute_uri())
            build = functools.partial(self._list_page, rendered=True)
            page = listings.cached_page(self.cached_list, sites.values(), variant, build)
        else:
            page = self._list_page(rendered=False)
        access.record_list(request, self.queryset.model._meta.model_name, page["count"], sites.get(page["site_id"]))
        return Response(page["body"])

    def _list_page(self, *, rendered: bool) -> dict:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        site_ids = {row.listed_site_id for row in page}
        body = self.get_paginated_response(self.get_serializer(page, many=True).data).data
        if rendered:
            body = PrerenderedJSONRenderer().render(body)
        return {"body": body, "count": len(page), "site_id": site_ids.pop() if len(site_ids) == 1 else None}


def store_each(request, files: Iterable, store: Callable[[object], Image]) -> Response:
    """Store every file with `store`, keeping the ones that succeed. 201 when all were stored, with Location: the
    image, or for several the first one's study's images. Otherwise each refused file is listed with the service's
    message: 409 when every refused file is already in its study (`existing` is that image's URL), else 400.
    The drag-and-drop uploader reads this shape."""
    images, errors, duplicates = [], [], 0
    for file in files:
        try:
            images.append(store(file))
        except DuplicateImage as exc:
            duplicates += 1
            existing = {"image": exc.existing.pk, "existing": absolute(request, "image-detail", exc.existing.pk)}
            errors.append({"file": file.name, "message": " ".join(exc.messages), **existing})
        except DjangoValidationError as exc:
            errors.append({"file": file.name, "message": " ".join(exc.messages)})
    prefetch_related_objects(images, *image_details())  # one query per relation, not one per stored image
    body = UploadResultSerializer({"images": images, "errors": errors}).data
    if errors:
        refused = status.HTTP_409_CONFLICT if duplicates == len(errors) else status.HTTP_400_BAD_REQUEST
        return Response(body, status=refused)
    if len(images) == 1:
        return created(request, body, "image-detail", images[0].pk)
    return created(request, body, "study-images", images[0].study_id)


class IgnoreAcceptHeader(BaseContentNegotiation):
    """For file downloads: whatever the client accepts (application/dicom, image/png...), errors are JSON."""

    def select_parser(self, request, parsers):
        return parsers[0]

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type
