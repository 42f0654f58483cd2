"""The API's exception handler (REST_FRAMEWORK["EXCEPTION_HANDLER"])."""

from rest_framework import exceptions, views

from medsite.throttling import RefusedRateThrottle


def refusals_throttled(exc, context):
    """REST_FRAMEWORK's EXCEPTION_HANDLER: DRF's, after counting a 401 (no credentials, or bad ones) against the
    client address; past the anonymous rate the refusal becomes a 429 with Retry-After."""
    if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
        throttle = RefusedRateThrottle()
        if not throttle.allow_request(context["request"], context.get("view")):
            exc = exceptions.Throttled(throttle.wait())
    return views.exception_handler(exc, context)
