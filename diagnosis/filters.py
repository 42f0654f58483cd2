"""Query-string filters for the REST API's lists (django-filter). They narrow rows; they never widen them:
every list starts from the rows of the user's own sites."""

import django_filters
from django.db.models import Exists, FloatField, Func, OuterRef, QuerySet

from accounts.models import AuditEvent
from diagnosis.models import Patient, Prediction, Review, Study


class MaxJsonValue(Func):
    """The largest number among a JSON object's values: a prediction's top probability."""

    output_field = FloatField()
    template = "(SELECT MAX(CAST(value AS REAL)) FROM json_each(%(expressions)s))"  # SQLite

    def as_postgresql(self, compiler, connection, **extra_context):
        template = "(SELECT MAX(value::double precision) FROM jsonb_each_text(%(expressions)s))"
        return self.as_sql(compiler, connection, template=template, **extra_context)


def with_prediction_facts(predictions: QuerySet[Prediction]) -> QuerySet[Prediction]:
    """Annotate what the prediction list filters and sorts on."""
    return predictions.annotate(
        max_probability=MaxJsonValue("probabilities"),
        reviewed=Exists(Review.objects.filter(prediction=OuterRef("pk"))),
    )


class PatientFilter(django_filters.FilterSet):
    site = django_filters.NumberFilter(field_name="site")

    class Meta:
        model = Patient
        fields: list[str] = []


class StudyFilter(django_filters.FilterSet):
    patient = django_filters.NumberFilter(field_name="patient")
    modality = django_filters.ChoiceFilter(choices=Study.Modality.choices)
    status = django_filters.ChoiceFilter(choices=Study.Status.choices)
    study_date = django_filters.DateFromToRangeFilter(help_text="study_date_after and/or study_date_before")

    class Meta:
        model = Study
        fields: list[str] = []


class PredictionFilter(django_filters.FilterSet):
    """The API's prediction list and the radiologists' worklist filter the same way."""

    label = django_filters.CharFilter(help_text="The AI label, e.g. pneumonia")
    task = django_filters.CharFilter(field_name="model_version__task", help_text="The model's task, e.g. chest-xray")
    reviewed = django_filters.BooleanFilter(help_text="true: reviewed by a radiologist at least once; false: not yet")
    site = django_filters.NumberFilter(field_name="image__study__patient__site", help_text="Site id")
    modality = django_filters.ChoiceFilter(field_name="image__study__modality", choices=Study.Modality.choices)
    created = django_filters.DateFromToRangeFilter(
        field_name="created_at__date", help_text="created_after and/or created_before (YYYY-MM-DD)"
    )

    class Meta:
        model = Prediction
        fields: list[str] = []


class ReviewFilter(django_filters.FilterSet):
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


class AuditEventFilter(django_filters.FilterSet):
    action = django_filters.ChoiceFilter(choices=AuditEvent.Action.choices)
    object_type = django_filters.CharFilter()
    actor_email = django_filters.CharFilter(lookup_expr="iexact")
    at = django_filters.DateFromToRangeFilter(help_text="at_after and/or at_before (dates, inclusive)")

    class Meta:
        model = AuditEvent
        fields: list[str] = []
