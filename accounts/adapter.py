"""allauth adapter: sign-up is open only to someone holding a valid invitation."""

from allauth.account.adapter import DefaultAccountAdapter
from django import forms
from django.core.exceptions import PermissionDenied

from accounts import services
from accounts.clientip import client_ip
from accounts.models import Invitation
from medsite.errors import DomainError

SESSION_KEY = "medsite_invitation_token"


def pending_invitation(request) -> Invitation | None:
    token = request.session.get(SESSION_KEY) if request is not None else None
    if not token:
        return None
    invitation = Invitation.objects.filter(token=token).select_related("site").first()
    return invitation if invitation and invitation.is_usable() else None


class InvitationOnlyAccountAdapter(DefaultAccountAdapter):
    def get_client_ip(self, request) -> str:
        """The address allauth's rate limits count by: X-Forwarded-For only through MEDSITE_TRUSTED_PROXIES."""
        ip = client_ip(request)
        if not ip:
            raise PermissionDenied("Unable to determine client IP address")
        return ip

    def is_open_for_signup(self, request) -> bool:
        return pending_invitation(request) is not None

    def clean_email(self, email: str) -> str:
        email = super().clean_email(email)
        invitation = pending_invitation(self.request)
        if invitation is None or invitation.email != email.lower():
            raise forms.ValidationError("Use the email address the invitation was sent to.")
        return email.lower()

    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=False)
        invitation = pending_invitation(request)  # usable when the form was checked; another sign-up may have used it
        if invitation is None:
            raise PermissionDenied(services.INVITATION_UNUSABLE)
        try:
            services.invitation_accept(invitation=invitation, user=user)
        except DomainError as exc:  # nothing was saved: the user is saved only together with the invitation's use
            raise PermissionDenied(" ".join(exc.messages)) from exc
        request.session.pop(SESSION_KEY, None)
        return user
