"""Reads that the web UI and the REST API share (HackSoftware's selectors): keyword-only, site-scoped."""

from django.db.models import Q, QuerySet

from diagnosis import access
from diagnosis.models import Patient


def patient_list(*, user, query: str = "") -> QuerySet[Patient]:
    """The patients of the user's sites, newest first; with a query, those whose MRN or name contains it.

    The query comes from a POST body (the web's search form, POST /api/v1/patients/search/), never from a URL:
    names and MRNs in a query string end up in proxy logs, browser history and Referer headers."""
    patients = Patient.objects.filter(site__in=access.sites_for(user)).select_related("site")
    if query:
        patients = patients.filter(Q(mrn__icontains=query) | Q(name__icontains=query))
    return patients.order_by("-created_at", "-id")
