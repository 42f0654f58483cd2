"""Writes for users, sites, memberships, invitations and API tokens."""

from allauth.mfa.models import Authenticator
from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.audit import SYSTEM, Client, audit_record
from accounts.backends import SUPERUSER_REFUSED
from accounts.middleware import mfa_required
from accounts.models import ApiToken, AuditEvent, Invitation, Membership, Role, Site, User
from medsite.errors import DomainError


@transaction.atomic
def membership_set(
    *, user: User, site: Site, role: Role | str, actor: User | None = None, client: Client = SYSTEM
) -> Membership:
    """Give ``user`` the role at ``site`` (adding or changing a membership); audited as a role change."""
    existing = Membership.objects.select_for_update().filter(user=user, site=site).first()
    previous = existing.role if existing else None
    membership, _ = Membership.objects.update_or_create(user=user, site=site, defaults={"role": role})
    if previous != membership.role:
        audit_record(
            actor=actor,
            action=AuditEvent.Action.ROLE_CHANGE,
            obj=user,
            site=site,
            client=client,
            detail={"from": previous, "to": str(membership.role)},
        )
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, actor: User | None = None, client: Client = SYSTEM) -> None:
    audit_record(
        actor=actor,
        action=AuditEvent.Action.ROLE_CHANGE,
        obj=membership.user,
        site=membership.site,
        client=client,
        detail={"from": membership.role, "to": None},
    )
    membership.delete()


def invitation_create(
    *, email: str, site: Site, role: Role | str, invited_by: User | None, base_url: str
) -> Invitation:
    """Create an invitation and email its link once the row is committed."""
    invitation = Invitation.objects.create(email=email.lower(), site=site, role=role, invited_by=invited_by)
    link = base_url.rstrip("/") + reverse("accounts:invitation_accept", args=[invitation.token])
    transaction.on_commit(lambda: invitation_send(invitation=invitation, link=link))
    return invitation


def invitation_send(*, invitation: Invitation, link: str) -> None:
    send_mail(
        subject=f"You are invited to MedSite at {invitation.site}",
        message=(
            f"You have been invited to MedSite as {invitation.get_role_display()} at {invitation.site}.\n\n"
            f"Create your account here (valid for {settings.INVITATION_VALID_DAYS} days):\n{link}\n"
        ),
        from_email=None,
        recipient_list=[invitation.email],
    )
    Invitation.objects.filter(pk=invitation.pk).update(sent_at=timezone.now())


INVITATION_UNUSABLE = "This invitation has expired or was already used. Ask your site's admin for a new one."


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user: User) -> User:
    """Save the new user and give them the invited role. Single use."""
    locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if not locked.is_usable():
        raise DomainError(
            INVITATION_UNUSABLE,
            code="invitation_unusable",
            kind="conflict",
        )
    user.save()
    membership_set(user=user, site=locked.site, role=locked.role, actor=locked.invited_by)
    locked.accepted_at = timezone.now()
    locked.save(update_fields=["accepted_at"])
    return user


def _token_detail(token: ApiToken) -> dict:
    """What the audit trail keeps of a token: its name, owner and displayed prefix; never the token or its digest
    (the digest is the primary key, so events name no object id)."""
    return {"name": token.name, "prefix": token.token_key, "user": token.user_id}


@transaction.atomic
def api_token_create(*, user: User, name: str, client: Client = SYSTEM) -> tuple[ApiToken, str]:
    """A new API token for ``user``, who creates it while signed in (with TOTP where their role needs it), and its
    raw value, for the caller to show once: only the SHA-512 digest is stored. It expires after REST_KNOX's
    TOKEN_TTL (MEDSITE_API_TOKEN_TTL_DAYS). Refused (DomainError) to superusers, whose tokens would be
    refused anyway, and to a user whose role requires TOTP and who has not set it up."""
    if user.is_superuser:
        raise DomainError(SUPERUSER_REFUSED, code="superuser_refused", kind="forbidden")
    if mfa_required(user) and not is_mfa_enabled(user, [Authenticator.Type.TOTP]):
        raise DomainError(
            "Your role requires two-factor authentication: set it up before creating an API token.",
            code="mfa_required",
            kind="forbidden",
        )
    token, raw = ApiToken.objects.create(user=user, name=name.strip())
    audit_record(
        actor=user,
        action=AuditEvent.Action.CREATE,
        object_type="apitoken",
        client=client,
        detail={**_token_detail(token), "expiry": token.expiry.isoformat() if token.expiry else None},
    )
    return token, raw


@transaction.atomic
def api_token_revoke(*, token: ApiToken, actor: User, client: Client = SYSTEM) -> None:
    """Delete the token: the next request that sends it is refused."""
    audit_record(
        actor=actor, action=AuditEvent.Action.DELETE, object_type="apitoken", client=client, detail=_token_detail(token)
    )
    token.delete()
