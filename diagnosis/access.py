"""Site-scoped access to patient data, and its audit trail.

get_<thing>_for_user returns the object, raises Http404 when it belongs to a site the user
is not a member of (so its existence does not leak), or PermissionDenied when the user's
role at that site may not do what is asked. Either refusal writes one DENIED event naming the
record (its type and id, never its contents), for the admins of the record's site.

record_view and record_list write the one VIEW (or DOWNLOAD) event of a response that carries
patient data; the web views and the API call them alike, after the check and before rendering.
"""

from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404

from accounts.audit import Client, audit_record
from accounts.models import AuditEvent, Membership, Role, Site
from diagnosis.models import Image, Patient, Prediction, ResultDelivery, Review, Study

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


def _check(request, obj: Model, site: Site, roles) -> None:
    role = role_at(request.user, site)
    if role is None:
        _record_denied(request, site, 404, obj=obj)
        raise Http404("No such record.")
    if role not in roles:
        _record_denied(request, site, 403, obj=obj)
        raise PermissionDenied("Your role at this site does not allow this.")


def _record_denied(request, site: Site | None, status: int, *, obj: Model | None = None, object_type: str = ""):
    """One DENIED event: who tried, which record (type and id) or kind of page, and the answer they got."""
    audit_record(
        actor=request.user,
        action=AuditEvent.Action.DENIED,
        obj=obj,
        object_type=object_type,
        site=site,
        client=Client.from_request(request),
        detail={"status": status},
    )


def deny(request, object_type: str, message: str) -> PermissionDenied:
    """A page or list of patient data the user's roles may not see: audited, and the error for the caller to
    raise (`raise access.deny(...)`)."""
    _record_denied(request, None, 403, object_type=object_type)
    return PermissionDenied(message)


def get_patient_for_user(request, pk: int, roles=ANY_ROLE) -> Patient:
    patient = get_object_or_404(Patient.objects.select_related("site"), pk=pk)
    _check(request, patient, patient.site, roles)
    return patient


def get_study_for_user(request, pk: int, roles=ANY_ROLE) -> Study:
    study = get_object_or_404(Study.objects.select_related("patient__site"), pk=pk)
    _check(request, study, study.patient.site, roles)
    return study


def get_image_for_user(request, pk: int, roles=ANY_ROLE) -> Image:
    image = get_object_or_404(Image.objects.select_related("study__patient__site"), pk=pk)
    _check(request, image, image.study.patient.site, roles)
    return image


def get_prediction_for_user(request, pk: int, roles=ANY_ROLE) -> Prediction:
    prediction = get_object_or_404(
        Prediction.objects.select_related("image__study__patient__site", "model_version"), pk=pk, is_shadow=False
    )  # a shadow version's output is never shown as a result, nor reviewed
    _check(request, prediction, prediction.image.study.patient.site, roles)
    return prediction


def get_review_for_user(request, pk: int, roles=ANY_ROLE) -> Review:
    review = get_object_or_404(
        Review.objects.select_related(
            "prediction__image__study__patient__site", "prediction__model_version", "reviewer"
        ),
        pk=pk,
    )
    _check(request, review, review.prediction.image.study.patient.site, roles)
    return review


def get_delivery_for_user(request, pk: int, roles=ANY_ROLE) -> ResultDelivery:
    """A result sent (or being sent) to a PACS or FHIR server, checked at its site."""
    delivery = get_object_or_404(ResultDelivery.objects.select_related("site", "destination", "fhir_server"), pk=pk)
    _check(request, delivery, delivery.site, roles)
    return delivery


def get_site_for_user(request, pk: int, roles=ANY_ROLE) -> Site:
    """A site named in a request (e.g. where to create a patient), checked like the records above."""
    site = get_object_or_404(Site, pk=pk)
    _check(request, site, site, roles)
    return site


def check_model_admin(request, object_type: str = "learning") -> None:
    """The retraining queue, training runs and model promotion belong to superusers: the admins who run the
    models for every site, as in Django admin's model registry. A refusal is audited (DENIED, object_type)."""
    if not request.user.is_superuser:
        raise deny(request, object_type, "Only an administrator manages training and model promotion.")


# --- the reads -------------------------------------------------------------------------------------------------


def record_view(request, obj: Model, site: Site | None, *, action=AuditEvent.Action.VIEW, detail=None) -> None:
    """The one VIEW (or DOWNLOAD) event of a response that shows `obj` (and its site; None for what belongs to
    none, such as a training run)."""
    audit_record(
        actor=request.user, action=action, obj=obj, site=site, client=Client.from_request(request), detail=detail
    )


def record_list(request, object_type: str, count: int, site: Site | None, detail: dict | None = None) -> None:
    """The one VIEW event of a page of a list: the kind of row and how many were shown (with `site` when they
    all belong to one); never names, MRNs or search terms."""
    audit_record(
        actor=request.user,
        action=AuditEvent.Action.VIEW,
        object_type=object_type,
        site=site,
        client=Client.from_request(request),
        detail={"count": count} | (detail or {}),
    )
