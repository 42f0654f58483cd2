import time

from allauth.mfa.models import Authenticator
from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.shortcuts import redirect

SESSION_FLAG = "medsite_mfa_checked"
RENEWED_AT = "medsite_renewed_at"
EXEMPT_PREFIXES = ("/accounts/", "/static/")


def mfa_required(user) -> bool:
    """From the memberships the request already loaded (no query): a role or superuser status that needs TOTP."""
    roles = settings.MEDSITE_MFA_REQUIRED_ROLES
    return bool(roles) and (
        user.is_superuser or any(membership.role in roles for membership in user.memberships_by_role())
    )


class RequireMFAMiddleware:
    """Send a signed-in user whose role requires MFA to TOTP set-up until they have it.

    The requirement is worked out on every request from the user as loaded for that request, so a role raised or
    superuser status granted mid-session applies at the next request. Whether the user has TOTP is read from the
    database until it is seen once; the session then remembers it (and forgets it when the user removes an
    authenticator: accounts.receivers). allauth's own account and MFA pages stay reachable.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if (
            user.is_authenticated
            and not request.path.startswith(EXEMPT_PREFIXES)
            and mfa_required(user)
            and not request.session.get(SESSION_FLAG)
        ):
            if not is_mfa_enabled(user, [Authenticator.Type.TOTP]):
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
