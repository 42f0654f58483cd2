"""Site-scoped access to patient data.

get_<thing>_for_user returns the object, raises Http404 when it belongs to a site the user
is not a member of (so its existence does not leak), or PermissionDenied when the user's
role at that site may not do what is asked.
"""

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404

from accounts.models import Membership, Role, Site
from diagnosis.models import Image, Patient, Prediction, Study

ANY_ROLE = tuple(Role)


def sites_for(user, roles=ANY_ROLE) -> QuerySet[Site]:
    return Site.objects.filter(memberships__user=user, memberships__role__in=roles).distinct()


def site_list_for(user, roles=ANY_ROLE) -> list[Site]:
    """sites_for as a list (by name), from the memberships the request's user already holds (no query of its own
    when the page's navigation read them, or the other way round)."""
    sites = {m.site_id: m.site for m in user.memberships_by_role() if m.role in roles}
    return sorted(sites.values(), key=lambda site: (site.name, site.pk))


def role_at(user, site: Site) -> str | None:
    return Membership.objects.filter(user=user, site=site).values_list("role", flat=True).first()


def _check(user, site: Site, roles) -> None:
    role = role_at(user, site)
    if role is None:
        raise Http404("No such record.")
    if role not in roles:
        raise PermissionDenied("Your role at this site does not allow this.")


def get_patient_for_user(request, pk: int, roles=ANY_ROLE) -> Patient:
    patient = get_object_or_404(Patient.objects.select_related("site"), pk=pk)
    _check(request.user, patient.site, roles)
    return patient


def get_study_for_user(request, pk: int, roles=ANY_ROLE) -> Study:
    study = get_object_or_404(Study.objects.select_related("patient__site"), pk=pk)
    _check(request.user, study.patient.site, roles)
    return study


def get_image_for_user(request, pk: int, roles=ANY_ROLE) -> Image:
    image = get_object_or_404(Image.objects.select_related("study__patient__site"), pk=pk)
    _check(request.user, image.study.patient.site, roles)
    return image


def get_prediction_for_user(request, pk: int, roles=ANY_ROLE) -> Prediction:
    prediction = get_object_or_404(
        Prediction.objects.select_related("image__study__patient__site", "model_version"), pk=pk, is_shadow=False
    )  # a shadow version's output is never shown as a result, nor reviewed
    _check(request.user, prediction.image.study.patient.site, roles)
    return prediction


def get_site_for_user(request, pk: int, roles=ANY_ROLE) -> Site:
    """A site named in a request (e.g. where to create a patient), checked like the records above."""
    site = get_object_or_404(Site, pk=pk)
    _check(request.user, site, roles)
    return site


def check_model_admin(user) -> None:
    """The retraining queue, training runs and model promotion belong to superusers: the admins who run the
    models for every site, as in Django admin's model registry."""
    if not user.is_superuser:
        raise PermissionDenied("Only an administrator manages training and model promotion.")
