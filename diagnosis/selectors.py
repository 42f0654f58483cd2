"""Reads that the web UI and the REST API share (HackSoftware's selectors): keyword-only, site-scoped.

Each `<entity>_list(*, user, filters)` gives the rows of the user's sites; `filters` are query parameters, applied
as the entity's FilterSet says (diagnosis/filters.py), the same for the web page and the API list. The API's own
filter backends validate them first (a bad value is a 400); a web page shows its filter form's errors."""

from collections.abc import Mapping

from django.db.models import Case, CharField, Exists, F, OuterRef, Prefetch, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Concat

from accounts.models import AuditEvent, Role
from diagnosis import access
from diagnosis.filters import AuditEventFilter, PredictionFilter, StudyFilter, with_prediction_facts
from diagnosis.models import Image, Patient, Prediction, Review, Study, study_details


def patient_list(*, user, query: str = "") -> QuerySet[Patient]:
    """The patients of the user's sites, newest first; with a query, those whose MRN or name contains it.

    The query comes from a POST body (the web's search form, POST /api/v1/patients/search/), never from a URL:
    names and MRNs in a query string end up in proxy logs, browser history and Referer headers."""
    patients = Patient.objects.filter(site__in=access.sites_for(user)).select_related("site")
    if query:
        patients = patients.filter(Q(mrn__icontains=query) | Q(name__icontains=query))
    return patients.order_by("-created_at", "-id")


def study_list(*, user, filters: Mapping | None = None) -> QuerySet[Study]:
    """The studies of the user's sites, newest first, with what the study list shows of each."""
    studies = Study.objects.filter(patient__site__in=access.site_list_for(user)).prefetch_related(*study_details())
    return StudyFilter(filters or {}, queryset=studies).qs.order_by("-created_at", "-id")


def prediction_list(*, user, filters: Mapping | None = None) -> QuerySet[Prediction]:
    """Predictions on images of the user's sites, newest first, with the facts lists filter and sort on
    (`max_probability`, `reviewed`). A shadow version's predictions are never listed: the model pages compare them."""
    predictions = with_prediction_facts(
        Prediction.objects.filter(image__study__patient__site__in=access.site_list_for(user), is_shadow=False)
    )
    return (
        PredictionFilter(filters or {}, queryset=predictions)
        .qs.select_related("model_version")
        .prefetch_related(Prefetch("reviews", to_attr="prefetched_reviews"), "prefetched_reviews__reviewer")
        .order_by("-created_at", "-id")
    )


WORKLIST_ORDERS = {
    "abnormal": (("-abnormality", "created_at"), "most likely abnormal first"),
    "oldest": (("created_at",), "oldest first"),
    "newest": (("-created_at",), "newest first"),
    "uncertain": (("margin", "created_at"), "least certain first (labels where the model learns most)"),
}


def worklist_order(filters: Mapping | None) -> str:
    """The worklist order `filters` asks for (`order`), or the default, most likely abnormal first."""
    order = (filters or {}).get("order")
    return order if order in WORKLIST_ORDERS else "abnormal"


def worklist_list(*, user, filters: Mapping | None = None) -> QuerySet[Prediction]:
    """Triage: analysed images at the user's radiologist sites that wait for this reader (unread; at a site with a
    second reader, also read once by someone else), in the order `filters["order"]` names."""
    sites = access.site_list_for(user, [Role.RADIOLOGIST])
    waiting = with_prediction_facts(
        Prediction.objects.filter(
            image__study__patient__site__in=sites, image__status=Image.Status.DONE, is_shadow=False
        ).filter(_waiting_for(user))
    )
    predictions = PredictionFilter(filters or {}, queryset=waiting).qs
    return predictions.select_related("image__study__patient__site", "model_version").order_by(
        *WORKLIST_ORDERS[worklist_order(filters)][0]
    )


def _waiting_for(user) -> Q:
    """Unreviewed predictions; at sites with a second reader, also those read once, by someone else."""
    reviews = Review.objects.filter(prediction=OuterRef("pk"))
    first_reader = Review.objects.filter(prediction=OuterRef(OuterRef("pk"))).order_by("pk").values("reviewer")[:1]
    two_readers = reviews.filter(is_adjudication=False).exclude(reviewer=Subquery(first_reader))
    second_read = (
        Q(image__study__patient__site__second_reader=True)
        & ~Exists(reviews.filter(reviewer=user))
        & ~Exists(two_readers)
    )
    return ~Exists(reviews) | second_read


# What two reads are compared on (Review.verdict): confirm and correct to the same label are the same verdict.
_VERDICT = Case(
    When(decision=Review.Decision.UNCERTAIN, then=Value("uncertain:")),
    default=Concat(Value("label:"), "label"),
    output_field=CharField(),
)


def adjudication_list(*, user, filters: Mapping | None = None) -> QuerySet[Prediction]:
    """Predictions whose two readers disagree, at the user's radiologist sites that require a second reader, that
    this user did not read, the newest disagreement first. Decided in the database as Prediction.reading() decides
    for one row (the latest reads of the two most recent readers differ and no adjudication came after them), so
    a site's newest disagreement shows however many came before it."""
    sites = [site for site in access.site_list_for(user, [Role.RADIOLOGIST]) if site.second_reader]
    reads = Review.objects.filter(prediction=OuterRef("pk"), is_adjudication=False).order_by("-created_at", "-pk")
    latest = reads.annotate(verdict=_VERDICT)[:1]
    other_reader = reads.exclude(reviewer=OuterRef("latest_reader")).annotate(verdict=_VERDICT)[:1]
    adjudications = Review.objects.filter(prediction=OuterRef("pk"), is_adjudication=True).order_by("-created_at")
    disputed = (
        Prediction.objects.filter(image__study__patient__site__in=sites, is_shadow=False)
        .annotate(
            latest_reader=Subquery(latest.values("reviewer")),
            latest_verdict=Subquery(latest.values("verdict")),
            disputed_since=Subquery(latest.values("created_at")),
        )
        .annotate(
            other_verdict=Subquery(other_reader.values("verdict")),
            adjudicated_at=Subquery(adjudications.values("created_at")[:1]),
        )
        .filter(other_verdict__isnull=False)
        .exclude(latest_verdict=F("other_verdict"))
        .filter(Q(adjudicated_at=None) | Q(adjudicated_at__lt=F("disputed_since")))
        .exclude(Exists(reads.filter(reviewer=user)))
    )
    disputed = PredictionFilter(filters or {}, queryset=disputed).qs
    return disputed.select_related("image__study__patient__site", "model_version").order_by("-disputed_since", "-pk")


def audit_event_list(*, user, filters: Mapping | None = None) -> QuerySet[AuditEvent]:
    """Audit events of the sites where the user is an admin, newest first; staff superusers see every event,
    including those that belong to no site (such as failed logins)."""
    events = AuditEvent.objects.all()
    if not sees_every_site(user):
        events = events.filter(site__in=access.site_list_for(user, [Role.ADMIN]))
    return AuditEventFilter(filters or {}, queryset=events).qs.order_by("-id")


def sees_every_site(user) -> bool:
    return user.is_staff and user.is_superuser
