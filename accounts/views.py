import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template import loader

from accounts.adapter import SESSION_KEY
from accounts.models import Invitation


def invitation_accept(request, token: str):
    """Open an invitation link: remember it in the session and go to sign-up."""
    invitation = Invitation.objects.filter(token=token).first()
    if invitation is None or not invitation.is_usable():
        return render(request, "accounts/invitation_invalid.html", status=410)
    request.session[SESSION_KEY] = invitation.token
    return redirect("account_signup")


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
        response = JsonResponse({"detail": message}, status=status)
    else:
        response = HttpResponse(
            loader.get_template("500.html").render({"message": message, "unavailable": unavailable}), status=status
        )
    if unavailable:
        response["Retry-After"] = "5"
    return response
