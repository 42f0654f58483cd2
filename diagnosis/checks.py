"""System checks for settings that contradict each other."""

from django.conf import settings
from django.core.checks import Error, Warning, register


@register()
def medsite_settings_check(app_configs, **kwargs):
    problems = []
    media = settings.MEDIA_ROOT.resolve()
    static = settings.STATIC_ROOT.resolve()
    if media == static or static in media.parents or media in static.parents:
        problems.append(
            Error("MEDIA_ROOT and STATIC_ROOT overlap: uploaded images would be public.", id="medsite.E001")
        )
    if settings.MEDIA_URL not in ("", "/"):
        problems.append(
            Error("MEDIA_URL is set; patient images must only be served by the audited views.", id="medsite.E002")
        )
    if not settings.DEBUG and settings.CELERY_TASK_ALWAYS_EAGER:
        problems.append(
            Error(
                "CELERY_TASK_ALWAYS_EAGER is on in production: uploads would run inference in the web process.",
                id="medsite.E003",
            )
        )
    timeout = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout")
    if timeout is not None and timeout <= settings.CELERY_TRAINING_TIME_LIMIT:
        problems.append(
            Error(
                "The broker visibility_timeout must exceed the training time limit, or long tasks run twice.",
                id="medsite.E004",
            )
        )
    if not settings.DEBUG and settings.CELERY_BROKER_IS_FILESYSTEM:
        problems.append(
            Warning(
                "The filesystem broker serves one machine only; set CELERY_BROKER_URL to Redis or "
                "RabbitMQ in production.",
                id="medsite.W001",
            )
        )
    return problems
