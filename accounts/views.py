import sys

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template import loader
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from knox.settings import knox_settings

from accounts import services, theme
from accounts.adapter import SESSION_KEY
from accounts.audit import Client
from accounts.models import ApiToken, Invitation
from medsite.exceptions import problem_response


def invitation_accept(request, token: str):
    """Open an invitation link: remember it in the session and go to sign-up."""
    invitation = Invitation.objects.filter(token=token).first()
    if invitation is None or not invitation.is_usable():
        return render(request, "accounts/invitation_invalid.html", status=410)
    request.session[SESSION_KEY] = invitation.token
    return redirect("account_signup")


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. the PACS bridge.")


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def api_tokens(request):
    """The signed-in user's own API tokens: each one's name, prefix, dates and last use, a form to create one, and,
    right after creating it, the token itself, in this response only (it is stored only as a digest)."""
    form = ApiTokenForm(request.POST or None)
    created = None
    if form.is_valid():
        try:
            created = services.api_token_create(
                user=request.user, name=form.cleaned_data["name"], client=Client.from_request(request)
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            form = ApiTokenForm()
    context = {
        "form": form,
        "created": created,
        "tokens": ApiToken.objects.filter(user=request.user),
        "now": timezone.now(),
        "ttl_days": knox_settings.TOKEN_TTL.days,
    }
    status = 400 if request.method == "POST" and created is None else 200
    return render(request, "accounts/api_tokens.html", context, status=status)


@login_required
@require_POST
def api_token_revoke(request):
    """Revoke one of the user's own tokens, named by its prefix in the form (never in the URL); another user's is
    a 404."""
    token = get_object_or_404(ApiToken, user=request.user, token_key=request.POST.get("prefix", ""))
    services.api_token_revoke(token=token, actor=request.user, client=Client.from_request(request))
    messages.success(request, f'The token "{token.name}" ({token.token_key}…) is revoked.')
    return redirect("accounts:api_tokens")


DATABASE_DOWN = (OperationalError, InterfaceError)


def server_error(request):
    """The 500 handler. A database or broker that is unreachable for a moment is a 503 with Retry-After: the
    request stored nothing (its transaction rolled back) and can simply be sent again."""
    exc = sys.exc_info()[1]
    unavailable = isinstance(exc, DATABASE_DOWN)
    status = 503 if unavailable else 500
    message = (
        "The database cannot be reached for a moment; nothing was stored. Please try again shortly."
        if unavailable
        else "Something went wrong. The error has been logged; please try again, or contact your administrator."
    )
    if request.path.startswith("/api/"):
        response = problem_response(status, message, code="unavailable" if unavailable else "server_error")
    else:
        response = HttpResponse(
            loader.get_template("500.html").render({"message": message, "unavailable": unavailable}), status=status
        )
    if unavailable:
        response["Retry-After"] = "5"
    return response


@require_POST
def theme_set(request):
    """The theme toggle without JavaScript: store the choice in the theme cookie and go back to the page.

    Open to everyone (the login page has the toggle too); it only sets a cookie on the caller's own browser."""
    choice = request.POST.get("theme", "")
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = "/"
    response = redirect(target)
    if theme.theme_from_cookie(choice):
        response.set_cookie(
            theme.COOKIE_NAME, choice, max_age=theme.COOKIE_MAX_AGE, samesite="Lax", secure=request.is_secure()
        )
    return response
