import time

from allauth.mfa.models import Authenticator
from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.shortcuts import redirect

SESSION_FLAG = "medsite_mfa_checked"
RENEWED_AT = "medsite_renewed_at"
EXEMPT_PREFIXES = ("/accounts/", "/static/")


def mfa_required(user) -> bool:
    roles = settings.MEDSITE_MFA_REQUIRED_ROLES
    return bool(roles) and (user.is_superuser or user.memberships.filter(role__in=roles).exists())


class RequireMFAMiddleware:
    """Send a signed-in user whose role requires MFA to TOTP set-up until they have it.

    Checked once per session; allauth's own account and MFA pages stay reachable.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if (
            user.is_authenticated
            and not request.session.get(SESSION_FLAG)
            and not request.path.startswith(EXEMPT_PREFIXES)
        ):
            if mfa_required(user) and not is_mfa_enabled(user, [Authenticator.Type.TOTP]):
                return redirect("mfa_activate_totp")
            request.session[SESSION_FLAG] = True
        return self.get_response(request)


class SessionRenewalMiddleware:
    """The idle timeout: a signed-in session's expiry (and its cookie's) moves SESSION_COOKIE_AGE ahead of the
    latest request, rewritten at most once per MEDSITE_SESSION_RENEW_SECONDS instead of on every request (one
    database write a minute per user, not one per page). A session left idle therefore ends between
    SESSION_COOKIE_AGE and that much plus a minute after its last request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        session = request.session
        if session.get("_auth_user_id"):  # signed in (still, after this request)
            now = int(time.time())
            if now - session.get(RENEWED_AT, 0) >= settings.MEDSITE_SESSION_RENEW_SECONDS:
                session[RENEWED_AT] = now  # modified: SessionMiddleware saves it and sends the cookie again
        return response
