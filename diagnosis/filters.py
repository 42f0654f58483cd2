"""Query-string filters for the REST API's lists (django-filter). They narrow rows; they never widen them:
every list starts from the rows of the user's own sites. They mean what they say: a parameter the list does not
know, an ordering it does not offer, or a boolean other than true/false is a 400, never silently ignored."""

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Exists, FloatField, Func, OuterRef, QuerySet
from django.forms.utils import ErrorDict, ErrorList
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import serializers
from rest_framework.filters import BaseFilterBackend, OrderingFilter, SearchFilter

from accounts.models import AuditEvent
from diagnosis.models import Patient, Prediction, Review, Study


class MaxJsonValue(Func):
    """The largest number among a JSON object's values: a prediction's top probability."""

    output_field = FloatField()
    template = "(SELECT MAX(CAST(value AS REAL)) FROM json_each(%(expressions)s))"  # SQLite

    def as_postgresql(self, compiler, connection, **extra_context):
        template = "(SELECT MAX(value::double precision) FROM jsonb_each_text(%(expressions)s))"
        return self.as_sql(compiler, connection, template=template, **extra_context)


class StrictBooleanField(forms.Field):
    """true or false (any case); empty means "not filtered"; anything else (1, 0, yes, no...) is refused."""

    default_error_messages = {"invalid": "Use true or false."}

    def to_python(self, value):
        if value in (None, ""):
            return None
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower()
        if word not in ("true", "false"):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return word == "true"

    def validate(self, value):  # None is allowed: the filter is then not applied
        pass


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


class StrictOrderingFilter(OrderingFilter):
    """An ordering the list does not offer is a 400 naming the ones it does (DRF's drops it silently)."""

    def get_ordering(self, request, queryset, view):
        param = request.query_params.get(self.ordering_param)
        if not param:
            return self.get_default_ordering(view)
        fields = [term.strip() for term in param.split(",")]
        ordering = self.remove_invalid_fields(queryset, fields, view, request)
        unknown = [term for term in fields if term not in ordering]
        if unknown:
            offered = ", ".join(name for name, _ in self.get_valid_fields(queryset, view, {"request": request}))
            message = f"Unknown ordering: {', '.join(unknown)}. Order by {offered} (- for descending)."
            raise serializers.ValidationError({self.ordering_param: [message]})
        return ordering


class KnownParametersFilter(BaseFilterBackend):
    """Refuses (400) a query parameter that neither the list's filters, its ordering, its search nor the
    pagination knows: a misspelt filter would otherwise return every row. It runs before the other backends."""

    always = ("format",)  # DRF's renderer override (?format=json)

    def filter_queryset(self, request, queryset, view):
        known = set(self.always)
        for backend in view.filter_backends:
            known |= parameters_of(backend, request, queryset, view)
        paginator = getattr(view, "paginator", None)
        if paginator is not None:
            known |= {getattr(paginator, "page_query_param", "page"), getattr(paginator, "page_size_query_param", "")}
        unknown = sorted(set(request.query_params) - known)
        if unknown:
            takes = ", ".join(sorted(name for name in known if name))
            raise serializers.ValidationError(
                {name: [f"Unknown query parameter. This list takes: {takes}."] for name in unknown}
            )
        return queryset


def parameters_of(backend, request, queryset, view) -> set[str]:
    """The query parameters one filter backend reads on this view."""
    if issubclass(backend, DjangoFilterBackend):
        filterset_class = backend().get_filterset_class(view, queryset)
        if filterset_class is None:
            return set()
        names = set()
        for name, declared in filterset_class.base_filters.items():
            suffixes = getattr(declared.field.widget, "suffixes", None)  # ranges: created_after, created_before
            names |= {f"{name}_{suffix}" if suffix else name for suffix in suffixes} if suffixes else {name}
        return names
    if issubclass(backend, OrderingFilter):
        return {backend.ordering_param}
    if issubclass(backend, SearchFilter):
        return {backend.search_param} if getattr(view, "search_fields", None) else set()
    return set()


def with_prediction_facts(predictions: QuerySet[Prediction]) -> QuerySet[Prediction]:
    """Annotate what the prediction list filters and sorts on."""
    return predictions.annotate(
        max_probability=MaxJsonValue("probabilities"),
        reviewed=Exists(Review.objects.filter(prediction=OuterRef("pk"))),
    )


class FilterSet(django_filters.FilterSet):
    """Errors name the query parameter at fault: a bad `created_after` is reported under created_after, not under
    the range filter's own name (created), which is no parameter at all."""

    @property
    def errors(self) -> ErrorDict:
        errors = ErrorDict()
        for name, messages in self.form.errors.items():
            field = self.form.fields.get(name)
            suffixes = getattr(getattr(field, "widget", None), "suffixes", None)
            for suffix, part in zip(suffixes or (), getattr(field, "fields", ()), strict=False):
                parameter = f"{name}_{suffix}" if suffix else name
                try:
                    part.clean(self.form.data.get(parameter))
                except ValidationError as exc:
                    errors[parameter] = ErrorList(exc.error_list)
            if not any(key.startswith(f"{name}_") for key in errors) and name not in errors:
                errors[name] = messages  # the range as a whole (after > before), or a plain filter
        return errors


class PatientFilter(FilterSet):
    site = django_filters.NumberFilter(field_name="site")

    class Meta:
        model = Patient
        fields: list[str] = []


class StudyFilter(FilterSet):
    patient = django_filters.NumberFilter(field_name="patient")
    modality = django_filters.ChoiceFilter(choices=Study.Modality.choices)
    status = django_filters.ChoiceFilter(choices=Study.Status.choices)
    study_date = django_filters.DateFromToRangeFilter(help_text="study_date_after and/or study_date_before")

    class Meta:
        model = Study
        fields: list[str] = []


class PredictionFilter(FilterSet):
    """The API's prediction list and the radiologists' worklist filter the same way."""

    label = django_filters.CharFilter(help_text="The AI label, e.g. pneumonia")
    task = django_filters.CharFilter(field_name="model_version__task", help_text="The model's task, e.g. chest-xray")
    reviewed = StrictBooleanFilter(help_text="true: reviewed by a radiologist at least once; false: not yet")
    site = django_filters.NumberFilter(field_name="image__study__patient__site", help_text="Site id")
    modality = django_filters.ChoiceFilter(field_name="image__study__modality", choices=Study.Modality.choices)
    created = django_filters.DateFromToRangeFilter(
        field_name="created_at__date", help_text="created_after and/or created_before (YYYY-MM-DD)"
    )

    class Meta:
        model = Prediction
        fields: list[str] = []


class ReviewFilter(FilterSet):
    task = django_filters.CharFilter(field_name="prediction__model_version__task")
    model_version = django_filters.NumberFilter(field_name="prediction__model_version")
    decision = django_filters.ChoiceFilter(choices=Review.Decision.choices)
    reviewer = django_filters.CharFilter(field_name="reviewer__email", lookup_expr="iexact")
    created = django_filters.DateFromToRangeFilter(
        field_name="created_at__date", help_text="created_after and/or created_before (YYYY-MM-DD)"
    )

    class Meta:
        model = Review
        fields: list[str] = []


class AuditEventFilter(FilterSet):
    """Who did what to which record, when: e.g. every access to patient 12 is
    `?object_type=patient&object_id=12`; one person's actions `?actor=7` or `?actor_email=`."""

    action = django_filters.ChoiceFilter(choices=AuditEvent.Action.choices)
    object_type = django_filters.CharFilter(help_text="The record's kind: patient, study, image, prediction...")
    object_id = django_filters.CharFilter(help_text="The record's id (with object_type)")
    actor = django_filters.NumberFilter(field_name="actor", help_text="The user's id")
    actor_email = django_filters.CharFilter(lookup_expr="iexact")
    at = django_filters.DateFromToRangeFilter(help_text="at_after and/or at_before (dates, inclusive)")
    since = django_filters.IsoDateTimeFilter(
        field_name="at", lookup_expr="gte", help_text="At or after this instant (ISO 8601, e.g. 2026-01-31T08:00:00Z)"
    )
    until = django_filters.IsoDateTimeFilter(
        field_name="at", lookup_expr="lt", help_text="Before this instant (ISO 8601)"
    )

    class Meta:
        model = AuditEvent
        fields: list[str] = []


class WorklistFilter(FilterSet):
    """The radiologists' study worklist, the web page's and the API's alike (selectors.worklist_studies reads it).

    `site`, `modality` and `priority` narrow the studies. `task`, `label` and `created_after`/`created_before`
    narrow which waiting AI results count: a study is listed when one of them waits, and its abnormality, margin
    and counts are over those. `claimed` (mine, unclaimed, others) and `order` depend on the reader and the clock:
    the selector applies them (their filters here only validate)."""

    CLAIMED = (("mine", "Claimed by me"), ("unclaimed", "Not claimed"), ("others", "Being read by others"))
    ORDERS = (  # triage: STAT, then urgent, then routine; the most likely abnormal first within each
        ("triage", "triage (priority, then AI)"),
        ("abnormal", "most likely abnormal first"),
        ("uncertain", "least certain first"),
        ("oldest", "waiting longest first"),
        ("newest", "newest first"),
        ("priority", "priority, then waiting longest"),
    )

    site = django_filters.NumberFilter(field_name="patient__site", help_text="Site id")
    modality = django_filters.ChoiceFilter(choices=Study.Modality.choices)
    priority = django_filters.ChoiceFilter(choices=Study.Priority.choices)
    task = django_filters.CharFilter(method="_by_selector", help_text="The model's task, e.g. chest-xray")
    label = django_filters.CharFilter(method="_by_selector", help_text="The AI label, e.g. pneumonia")
    created = django_filters.DateFromToRangeFilter(
        method="_by_selector", help_text="AI result made from created_after to created_before (YYYY-MM-DD)"
    )
    claimed = django_filters.ChoiceFilter(choices=CLAIMED, method="_by_selector", help_text="mine, unclaimed, others")
    order = django_filters.ChoiceFilter(
        choices=ORDERS,
        method="_by_selector",
        help_text="triage (the default), abnormal, uncertain, oldest, newest, priority",
    )

    class Meta:
        model = Study
        fields: list[str] = []

    def _by_selector(self, queryset, name, value):
        return queryset  # applied by selectors.worklist_studies, which knows the reader

    @classmethod
    def parameters(cls) -> set[str]:
        """The query parameters these filters read (a range's two: created_after, created_before)."""
        names = set()
        for name, declared in cls.base_filters.items():
            suffixes = getattr(declared.field.widget, "suffixes", None)
            names |= {f"{name}_{suffix}" if suffix else name for suffix in suffixes} if suffixes else {name}
        return names
