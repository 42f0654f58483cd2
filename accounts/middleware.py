from allauth.mfa.models import Authenticator
from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.shortcuts import redirect

SESSION_FLAG = "medsite_mfa_checked"
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
