"""The radiologists' worklist: one row per study waiting for your read (selectors.worklist_studies, as on the web
page /worklist/). Claims are on the studies: POST /studies/{id}/claim/ and /release/ (diagnosis.api.records)."""

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import viewsets

from accounts.models import Role
from diagnosis import access, selectors
from diagnosis.filters import KnownParametersFilter, WorklistFilter
from diagnosis.models import Study
from diagnosis.serializers import WorklistStudySerializer


@extend_schema(tags=["worklist"])
class WorklistViewSet(viewsets.GenericViewSet):
    """Studies at your radiologist sites with at least one analysed image waiting for your read (unread; at a site
    with a second reader, also read once by someone else), the web worklist's rows in the web worklist's order.

    `order`: triage (the default: STAT, then urgent, then routine; the most likely abnormal first within each),
    abnormal, uncertain, oldest, newest, priority. Filters: `site`, `modality`, `priority`, `task`, `label`,
    `created_after`/`created_before` (when the AI result was made), `claimed` (mine, unclaimed, others). Any other
    parameter (`reviewed`, `ordering`...) is a 400: every row here waits for your read."""

    queryset = Study.objects.none()  # the rows listed: selectors.worklist_studies (get_queryset)
    serializer_class = WorklistStudySerializer
    filterset_class = WorklistFilter
    filter_backends = [KnownParametersFilter, DjangoFilterBackend]  # validates; the selector applies them

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: there is no user
            return Study.objects.none()
        return selectors.worklist_studies(user=self.request.user, filters=self.request.query_params)

    def list(self, request):
        sites = access.site_list_for(request.user, [Role.RADIOLOGIST])
        if not sites:
            raise access.deny(request, "worklist", "The worklist is for radiologists.")
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        site = sites[0] if len(sites) == 1 else None
        access.record_list(request, "worklist", len(page), site, detail={"page": self.paginator.page.number})
        return self.get_paginated_response(self.get_serializer(page, many=True).data)
