"""Reads that the web UI and the REST API share (HackSoftware's selectors): keyword-only, site-scoped.

Each `<entity>_list(*, user, filters)` gives the rows of the user's sites; `filters` are query parameters, applied
as the entity's FilterSet says (diagnosis/filters.py), the same for the web page and the API list. The API's own
filter backends validate them first (a bad value is a 400); a web page shows its filter form's errors."""

from collections.abc import Mapping
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    F,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Concat
from django.utils import timezone

from accounts.models import AuditEvent, Role
from diagnosis import access
from diagnosis.filters import (
    AuditEventFilter,
    PredictionFilter,
    StudyFilter,
    WorklistFilter,
    with_prediction_facts,
)
from diagnosis.models import NORMAL_CLASS_NAMES, Image, Patient, Prediction, Review, Study, study_details


def _ai_summary(outer: str) -> dict:
    """Triage annotations for a list row (`outer` is the prediction lookup that joins it: "image__study" for a study,
    "image__study__patient" for a patient), each one subquery of the row, so a page of rows costs no extra query:

    - `unread_count`: AI results (of the active or earlier versions, never a shadow's) that nobody has read yet;
    - `ai_flag_label` and `ai_flag_abnormality`: among those unread results, the most likely abnormal one whose label
      is a finding (not normal, no_tumor...), its label and P(abnormal); None when no unread result suggests one.
    A result read by a radiologist no longer flags: their read replaces the AI's suggestion."""
    unread = Prediction.objects.filter(
        is_shadow=False, image__status=Image.Status.DONE, **{outer: OuterRef("pk")}
    ).exclude(Exists(Review.objects.filter(prediction=OuterRef("pk"))))
    counts = unread.order_by().values(outer).annotate(n=Count("pk")).values("n")[:1]
    flagged = unread.exclude(label__in=NORMAL_CLASS_NAMES).order_by(F("abnormality").desc(nulls_last=True), "pk")
    return {
        "unread_count": Coalesce(Subquery(counts, output_field=IntegerField()), 0),
        "ai_flag_label": Subquery(flagged.values("label")[:1]),
        "ai_flag_abnormality": Subquery(flagged.values("abnormality")[:1]),
    }


def patient_list(*, user, query: str = "") -> QuerySet[Patient]:
    """The patients of the user's sites, newest first; with a query, those whose MRN or name contains it. Each row
    carries its AI triage summary (_ai_summary: unread_count, ai_flag_label, ai_flag_abnormality).

    The query comes from a POST body (the web's search form, POST /api/v1/patients/search/), never from a URL:
    names and MRNs in a query string end up in proxy logs, browser history and Referer headers."""
    patients = Patient.objects.filter(site__in=access.sites_for(user)).select_related("site")
    if query:
        patients = patients.filter(Q(mrn__icontains=query) | Q(name__icontains=query))
    return patients.annotate(**_ai_summary("image__study__patient")).order_by("-created_at", "-id")


def study_list(*, user, filters: Mapping | None = None) -> QuerySet[Study]:
    """The studies of the user's sites, newest first, with what the study list shows of each, and its AI triage
    summary (_ai_summary: unread_count, ai_flag_label, ai_flag_abnormality)."""
    studies = (
        Study.objects.filter(patient__site__in=access.site_list_for(user))
        .prefetch_related(*study_details())
        .annotate(**_ai_summary("image__study"))
    )
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


# STAT, then urgent, then routine. The triage order puts the requester's priority before the AI's score: a STAT
# request is read first whatever the model thinks (the model may miss what the clinician saw); within one priority,
# the most likely abnormal study comes first, so the AI reorders the routine pile, where the delays are.
PRIORITY_RANK = Case(
    When(priority=Study.Priority.STAT, then=Value(0)),
    When(priority=Study.Priority.URGENT, then=Value(1)),
    default=Value(2),
    output_field=IntegerField(),
)
WORKLIST_STUDY_ORDERS = {
    "triage": ("priority_rank", F("abnormality").desc(nulls_last=True), "waiting_since", "pk"),
    "abnormal": (F("abnormality").desc(nulls_last=True), "priority_rank", "waiting_since", "pk"),
    "uncertain": (F("margin").asc(nulls_last=True), "waiting_since", "pk"),
    "oldest": ("waiting_since", "pk"),
    "newest": ("-waiting_since", "-pk"),
    "priority": ("priority_rank", "waiting_since", "pk"),
}


def claim_cutoff(now: datetime | None = None) -> datetime:
    """A reading claim taken (or refreshed) before this instant has lapsed (MEDSITE_READING_CLAIM_MINUTES)."""
    return (now or timezone.now()) - timedelta(minutes=settings.MEDSITE_READING_CLAIM_MINUTES)


def worklist_filter(filters: Mapping | None) -> WorklistFilter:
    """The worklist's filters, validated: `.errors` for the page's form; the selector uses only the valid ones."""
    params = WorklistFilter(filters or {}, queryset=Study.objects.all())
    params.errors  # noqa: B018 -- runs the validation; form.cleaned_data then holds the valid filters
    return params


def worklist_study_order(filters: Mapping | None) -> str:
    """The worklist order `filters` asks for (`order`), or the default, triage."""
    order = (filters or {}).get("order")
    return order if order in WORKLIST_STUDY_ORDERS else "triage"


def _waiting_predictions(user, sites, cleaned: Mapping, study: Study | None = None) -> QuerySet[Prediction]:
    """AI results at `sites` (of `study` only, if given) that wait for this reader, narrowed by the worklist's result
    filters.

    Without a second-reader site among them, waiting is plainly "not reviewed": an anti-join, cheap wherever it is
    used. With one, _waiting_for's rule (an OR of NOT EXISTS) is worked out once here and its ids used: PostgreSQL
    would otherwise work it out again in every subquery that uses it (seconds for a thousand studies)."""
    second_reader = any(site.second_reader for site in sites)
    unread = ~Exists(Review.objects.filter(prediction=OuterRef("pk")))
    waiting = Prediction.objects.filter(
        image__study__patient__site__in=sites, image__status=Image.Status.DONE, is_shadow=False
    ).filter(_waiting_for(user) if second_reader else unread)
    if study is not None:
        waiting = waiting.filter(image__study=study)
    if cleaned.get("task"):
        waiting = waiting.filter(model_version__task=cleaned["task"])
    if cleaned.get("label"):
        waiting = waiting.filter(label=cleaned["label"])
    created = cleaned.get("created")
    if created and created.start:
        waiting = waiting.filter(created_at__date__gte=created.start)
    if created and created.stop:
        waiting = waiting.filter(created_at__date__lte=created.stop)
    if second_reader:
        waiting = Prediction.objects.filter(pk__in=list(waiting.values_list("pk", flat=True)))
    return waiting


def worklist_studies(*, user, filters: Mapping | None = None) -> QuerySet[Study]:
    """Triage, one row per study: the studies at the user's radiologist sites with at least one analysed image
    waiting for this reader (unread; at a site with a second reader, also read once by someone else), in the order
    `filters["order"]` names (WORKLIST_STUDY_ORDERS, triage by default). Each row carries:

    - `abnormality`: the highest P(abnormal) of the waiting results, with `top_label` and `top_task`, that result's;
    - `margin`: the smallest distance from a decision among them (small: uncertain);
    - `image_count` (the study's images), `unread_count` (images waiting for this reader);
    - `waiting_since`: when the oldest waiting result was made;
    - the patient (with `Patient.age`), site and claimant joined;
    - `claim`: "mine" (this reader's live claim), "other" (another reader's), or "" (none, or lapsed).

    Filters: WorklistFilter (site, modality, priority, task, label, created_after/before, claimed, order); invalid
    ones are left out here, and reported by worklist_filter(filters).errors (the web) or the API's filter backend."""
    sites = access.site_list_for(user, [Role.RADIOLOGIST])
    params = worklist_filter(filters)
    cleaned = params.form.cleaned_data
    waiting = _waiting_predictions(user, sites, cleaned)
    top = waiting.filter(image__study=OuterRef("pk")).order_by(F("abnormality").desc(nulls_last=True), "pk")
    # One pass over the studies' images and results, grouped by study: the waiting results are one uncorrelated
    # subquery (`IN`), so a thousand waiting studies cost one scan, not a subquery per study and aggregate.
    waits = Q(images__predictions__in=waiting.values("pk"))
    studies = (
        Study.objects.filter(patient__site__in=sites)
        .annotate(
            abnormality=Max("images__predictions__abnormality", filter=waits),
            margin=Min("images__predictions__margin", filter=waits),
            unread_count=Count("images", filter=waits, distinct=True),
            waiting_since=Min("images__predictions__created_at", filter=waits),
            image_count=Count("images", distinct=True),
        )
        .filter(unread_count__gt=0)
        .annotate(
            top_label=Subquery(top.values("label")[:1]),  # worked out for the rows of the page only (PostgreSQL)
            top_task=Subquery(top.values("model_version__task")[:1]),
            priority_rank=PRIORITY_RANK,
        )
    )
    studies = params.filter_queryset(studies)
    cutoff = claim_cutoff()
    live_claim = Q(claimed_by__isnull=False, claimed_at__gt=cutoff)
    studies = studies.annotate(
        claim=Case(
            When(live_claim & Q(claimed_by=user), then=Value("mine")),
            When(live_claim, then=Value("other")),
            default=Value(""),
            output_field=CharField(),
        )
    )
    claimed = cleaned.get("claimed")
    if claimed == "mine":
        studies = studies.filter(live_claim, claimed_by=user)
    elif claimed == "unclaimed":
        studies = studies.exclude(live_claim)
    elif claimed == "others":
        studies = studies.filter(live_claim).exclude(claimed_by=user)
    return studies.select_related("patient__site", "claimed_by").order_by(
        *WORKLIST_STUDY_ORDERS[worklist_study_order(cleaned)]
    )


def worklist_next_study(*, user, after: Study | None = None, filters: Mapping | None = None) -> Study | None:
    """The study to read next: the one after `after` in worklist order (the first without `after`), skipping those
    another reader has a live claim on. When `after` has left the worklist (its last image was just read) or
    nothing follows it, the first such study from the top, other than `after`: a reader who reaches the end goes
    round again to what they skipped."""
    studies = worklist_studies(user=user, filters=filters)
    cutoff = claim_cutoff()
    rows = list(studies.values_list("pk", "claimed_by", "claimed_at"))
    free = [pk for pk, holder, at in rows if holder in (None, user.pk) or at is None or at <= cutoff]
    pks = [pk for pk, _, _ in rows]
    chosen = None
    if after is not None and after.pk in pks:
        position = pks.index(after.pk)
        later = [pk for pk in pks[position + 1 :] if pk in free]
        chosen = later[0] if later else None
    if chosen is None:
        chosen = next((pk for pk in free if after is None or pk != after.pk), None)
    return None if chosen is None else studies.get(pk=chosen)


def worklist_first_waiting_image(*, user, study: Study) -> Image | None:
    """The study's first image (in upload order) with a result still waiting for this reader, or None."""
    sites = access.site_list_for(user, [Role.RADIOLOGIST])
    waiting = _waiting_predictions(user, sites, {}, study=study)
    return (
        Image.objects.filter(study=study)
        .filter(Exists(waiting.filter(image=OuterRef("pk"))))
        .order_by("uploaded_at", "pk")
        .first()
    )


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
