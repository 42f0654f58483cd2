"""The API's pages (REST_FRAMEWORK["DEFAULT_PAGINATION_CLASS"]): `?page=` and `?page_size=`, strictly read."""

from django.core.paginator import Page
from rest_framework import pagination, serializers
from rest_framework.utils.urls import replace_query_param


class PageNumberPagination(pagination.PageNumberPagination):
    """`page_size` from 1 to 200 (50 by default); anything else is a 400, not silently the default. A `page` that
    is not a whole number from 1 is a 400; a page past the end is an empty page (200, `results: []`) whose
    `previous` link is the last page, so that a client paging while rows disappear ends cleanly."""

    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        return self._whole_number(raw, self.page_size_query_param, high=self.max_page_size)

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        page_size = self.get_page_size(request)
        paginator = self.django_paginator_class(queryset, page_size)
        raw = request.query_params.get(self.page_query_param)
        number = 1 if raw is None else self._whole_number(raw, self.page_query_param)
        if number > paginator.num_pages:
            self.page = Page([], number, paginator)  # past the end: empty, not 404
        else:
            self.page = paginator.page(number)
        return list(self.page)

    def get_previous_link(self):
        if self.page.number > self.page.paginator.num_pages:
            url = self.request.build_absolute_uri()
            return replace_query_param(url, self.page_query_param, self.page.paginator.num_pages)
        return super().get_previous_link()

    def get_paginated_response_schema(self, schema):
        described = super().get_paginated_response_schema(schema)
        described["properties"]["count"]["description"] = "Rows matching the filters, on every page"
        return described

    @staticmethod
    def _whole_number(raw: str, name: str, *, high: int | None = None) -> int:
        limit = f" to {high}" if high else ""
        try:
            number = int(raw)
        except ValueError:
            number = 0
        if number < 1 or (high and number > high):
            raise serializers.ValidationError({name: [f"A whole number from 1{limit}."]})
        return number
