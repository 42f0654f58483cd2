from django.apps import AppConfig


class DiagnosisConfig(AppConfig):
    name = "diagnosis"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from diagnosis import checks  # noqa: F401  (registers system checks)
