from django.shortcuts import redirect, render

from accounts.adapter import SESSION_KEY
from accounts.models import Invitation


def invitation_accept(request, token: str):
    """Open an invitation link: remember it in the session and go to sign-up."""
    invitation = Invitation.objects.filter(token=token).first()
    if invitation is None or not invitation.is_usable():
        return render(request, "accounts/invitation_invalid.html", status=410)
    request.session[SESSION_KEY] = invitation.token
    return redirect("account_signup")
