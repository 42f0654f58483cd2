"""Writes for users, sites, memberships and invitations."""

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.audit import SYSTEM, Client, audit_record
from accounts.models import AuditEvent, Invitation, Membership, Role, Site, User


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


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user: User) -> User:
    """Save the new user and give them the invited role. Single use."""
    locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if not locked.is_usable():
        raise ValueError("This invitation has expired or was already used.")
    user.save()
    membership_set(user=user, site=locked.site, role=locked.role, actor=locked.invited_by)
    locked.accepted_at = timezone.now()
    locked.save(update_fields=["accepted_at"])
    return user
