from django.contrib import admin, messages

from accounts.admin import ReadOnlyAdmin
from accounts.models import Role
from diagnosis.access import sites_for
from diagnosis.models import (
    Image,
    ModelVersion,
    Patient,
    Prediction,
    RetrainingItem,
    Review,
    Study,
    TrainingRun,
)
from diagnosis.services.registry import model_activate


class SiteScopedAdmin(ReadOnlyAdmin):
    """Staff see the records of sites where they hold the admin role; superusers see every site."""

    site_path = "site"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{f"{self.site_path}__in": sites_for(request.user, [Role.ADMIN])})


@admin.register(Patient)
class PatientAdmin(SiteScopedAdmin):
    list_display = ["mrn", "site", "sex", "birth_date", "created_at"]
    list_filter = ["site"]
    search_fields = ["mrn"]


@admin.register(Study)
class StudyAdmin(SiteScopedAdmin):
    site_path = "patient__site"
    list_display = ["id", "patient", "modality", "body_part", "study_date", "status", "created_at"]
    list_filter = ["modality", "status", "patient__site"]


@admin.register(Image)
class ImageAdmin(SiteScopedAdmin):
    site_path = "study__patient__site"
    list_display = ["id", "study", "format", "width", "height", "status", "uploaded_at"]
    list_filter = ["status", "format"]
    exclude = ["file", "original_name"]


@admin.register(Prediction)
class PredictionAdmin(SiteScopedAdmin):
    site_path = "image__study__patient__site"
    list_display = ["id", "image", "label", "model_version", "inference_ms", "created_at"]


@admin.register(Review)
class ReviewAdmin(SiteScopedAdmin):
    site_path = "prediction__image__study__patient__site"
    list_display = ["id", "prediction", "decision", "label", "reviewer", "created_at"]


@admin.register(RetrainingItem)
class RetrainingItemAdmin(SiteScopedAdmin):
    site_path = "image__study__patient__site"
    list_display = ["id", "task", "label", "created_at", "claimed_at"]
    list_filter = ["task", "label"]


@admin.register(TrainingRun)
class TrainingRunAdmin(ReadOnlyAdmin):
    list_display = ["id", "task", "status", "progress", "created_at", "finished_at"]
    list_filter = ["status", "task"]


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdmin):
    list_display = ["short_sha", "task", "status", "threshold", "created_at"]
    list_filter = ["task", "status"]
    actions = ["activate"]

    @admin.action(description="Make the selected version the active model of its task")
    def activate(self, request, queryset) -> None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to activate.", messages.ERROR)
            return
        version = model_activate(model_version=queryset.get(), actor=request.user)
        self.message_user(request, f"{version} is now the active {version.task} model.")

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser  # needed for the action; fields stay read-only below

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]
