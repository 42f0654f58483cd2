"""Authentication events go to the audit trail. Django only reports them as signals."""

from allauth.mfa import signals as mfa_signals
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from accounts.audit import SYSTEM, Client, audit_record
from accounts.middleware import SESSION_FLAG
from accounts.models import AuditEvent


def _client(request) -> Client:
    return Client.from_request(request) if request is not None else SYSTEM


@receiver(user_logged_in, dispatch_uid="audit_login")
def audit_login(sender, request, user, **kwargs) -> None:
    audit_record(actor=user, action=AuditEvent.Action.LOGIN, client=_client(request))


@receiver(user_logged_out, dispatch_uid="audit_logout")
def audit_logout(sender, request, user, **kwargs) -> None:
    audit_record(actor=user, action=AuditEvent.Action.LOGOUT, client=_client(request))


@receiver(user_login_failed, dispatch_uid="audit_login_failed")
def audit_login_failed(sender, credentials, request=None, **kwargs) -> None:
    # credentials are already scrubbed of the password by Django; keep only the address tried.
    tried = str(credentials.get("email") or credentials.get("username") or "")[:254]
    audit_record(actor=None, action=AuditEvent.Action.LOGIN_FAILED, actor_email=tried, client=_client(request))


@receiver(mfa_signals.authenticator_added, dispatch_uid="audit_mfa_added")
@receiver(mfa_signals.authenticator_removed, dispatch_uid="audit_mfa_removed")
@receiver(mfa_signals.authenticator_reset, dispatch_uid="audit_mfa_reset")
def audit_mfa_change(sender, request, user, authenticator, signal, **kwargs) -> None:
    change = {
        mfa_signals.authenticator_added: "added",
        mfa_signals.authenticator_removed: "removed",
        mfa_signals.authenticator_reset: "reset",
    }[signal]
    if change == "removed" and request is not None:
        request.session.pop(SESSION_FLAG, None)  # RequireMFAMiddleware looks again at the next request
    audit_record(
        actor=user,
        action=AuditEvent.Action.MFA_CHANGE,
        client=_client(request),
        detail={"authenticator": authenticator.type, "change": change},
    )
