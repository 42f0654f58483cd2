import pytest
from allauth.account.adapter import DefaultAccountAdapter
from django.contrib.auth.models import Permission
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, Invitation, Membership, Role, User
from accounts.services import invitation_accept, invitation_create
from medsite.errors import DomainError
from tests.conftest import with_totp
from tests.factories import MembershipFactory, PatientFactory

pytestmark = pytest.mark.django_db


def test_login_by_email_is_audited(client, clinician, password):
    response = client.post(reverse("account_login"), {"login": clinician.email, "password": password})
    assert response.status_code == 302
    event = AuditEvent.objects.get(action=AuditEvent.Action.LOGIN)
    assert event.actor == clinician
    assert event.ip == "127.0.0.1"


def test_failed_login_is_audited_without_password(client, clinician):
    response = client.post(reverse("account_login"), {"login": clinician.email, "password": "wrong-password"})
    assert response.status_code == 200
    event = AuditEvent.objects.get(action=AuditEvent.Action.LOGIN_FAILED)
    assert event.actor is None
    assert event.actor_email == clinician.email
    assert "wrong-password" not in str(event.__dict__)


def test_logout_is_audited(client, clinician):
    client.force_login(clinician)
    client.post(reverse("account_logout"))
    assert AuditEvent.objects.filter(action=AuditEvent.Action.LOGOUT, actor=clinician).exists()


def test_signup_is_closed_without_invitation(client):
    response = client.post(
        reverse("account_signup"),
        {"email": "walk-in@x.example", "password1": "a-long-pass-1", "password2": "a-long-pass-1"},
    )
    assert b"invitation only" in response.content
    assert not User.objects.filter(email="walk-in@x.example").exists()


@pytest.mark.django_db(transaction=True)
def test_invitation_signup_creates_user_with_role(client, site, site_admin):
    invitation = invitation_create(
        email="New.Doctor@Hospital.example",
        site=site,
        role=Role.RADIOLOGIST,
        invited_by=site_admin,
        base_url="https://medsite.example",
    )
    assert len(mail.outbox) == 1
    link = f"https://medsite.example/accounts/invitation/{invitation.token}/"
    assert link in mail.outbox[0].body

    response = client.get(reverse("accounts:invitation_accept", args=[invitation.token]))
    assert response.status_code == 302
    password = "a-strong-pass-2026"
    response = client.post(
        reverse("account_signup"),
        {"email": "new.doctor@hospital.example", "password1": password, "password2": password},
    )
    assert response.status_code == 302
    user = User.objects.get(email="new.doctor@hospital.example")
    assert Membership.objects.get(user=user).role == Role.RADIOLOGIST
    invitation.refresh_from_db()
    assert invitation.accepted_at is not None
    # Single use: the link no longer works.
    client.logout()
    assert client.get(reverse("accounts:invitation_accept", args=[invitation.token])).status_code == 410


def test_a_used_invitation_is_a_domain_error_and_saves_nobody(site):
    invitation = Invitation.objects.create(
        email="late@hospital.example", site=site, role=Role.CLINICIAN, accepted_at=timezone.now()
    )
    with pytest.raises(DomainError, match="expired or was already used") as refused:
        invitation_accept(invitation=invitation, user=User(email="late@hospital.example"))
    assert (refused.value.kind, refused.value.code) == ("conflict", "invitation_unusable")
    assert not User.objects.filter(email="late@hospital.example").exists()


def test_an_invitation_used_while_the_form_was_sent_is_a_403_in_words(client, site, monkeypatch):
    """Two sign-ups with one link: the second passes the form's checks, then finds the invitation used. It gets a
    page that says so, not a 500, and no account."""
    invitation = Invitation.objects.create(email="twice@hospital.example", site=site, role=Role.CLINICIAN)
    client.get(reverse("accounts:invitation_accept", args=[invitation.token]))
    save_user = DefaultAccountAdapter.save_user

    def the_other_sign_up_wins(self, request, user, form, commit=True):
        Invitation.objects.filter(pk=invitation.pk).update(accepted_at=timezone.now())
        return save_user(self, request, user, form, commit=commit)

    monkeypatch.setattr(DefaultAccountAdapter, "save_user", the_other_sign_up_wins)
    password = "a-strong-pass-2026"
    response = client.post(
        reverse("account_signup"), {"email": "twice@hospital.example", "password1": password, "password2": password}
    )
    assert response.status_code == 403
    assert b"expired or was already used" in response.content
    assert not User.objects.filter(email="twice@hospital.example").exists()


def test_invitation_requires_the_invited_address(client, site, site_admin):
    invitation = Invitation.objects.create(email="invited@hospital.example", site=site, role=Role.CLINICIAN)
    client.get(reverse("accounts:invitation_accept", args=[invitation.token]))
    password = "a-strong-pass-2026"
    response = client.post(
        reverse("account_signup"), {"email": "someone.else@x.example", "password1": password, "password2": password}
    )
    assert response.status_code == 200
    assert b"the invitation was sent to" in response.content
    assert not User.objects.filter(email="someone.else@x.example").exists()


def test_admin_manages_users_sites_and_memberships(client, site):
    admin = with_totp(User.objects.create_superuser("root@hospital.example", "pw-for-admin-123"))
    client.force_login(admin)
    for name in ["user", "site", "membership", "invitation"]:
        assert client.get(reverse(f"admin:accounts_{name}_changelist")).status_code == 200
    response = client.post(
        reverse("admin:accounts_invitation_add"),
        {"email": "viaadmin@hospital.example", "site": site.pk, "role": "clinician"},
    )
    assert response.status_code == 302
    assert Invitation.objects.filter(email="viaadmin@hospital.example").exists()


def test_admin_pages_are_scoped_to_the_staff_members_sites(client, site, other_site, site_admin):
    site_admin.is_staff = True
    site_admin.save()
    site_admin.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_patient", "view_membership", "change_membership"])
    )
    mine, theirs = PatientFactory(site=site, mrn="MINE-1"), PatientFactory(site=other_site, mrn="THEIRS-1")
    MembershipFactory(site=other_site, user__email="stranger@other.example")
    client.force_login(site_admin)
    patients = client.get(reverse("admin:diagnosis_patient_changelist")).content.decode()
    assert mine.mrn in patients and theirs.mrn not in patients
    memberships = client.get(reverse("admin:accounts_membership_changelist")).content.decode()
    assert "stranger@other.example" not in memberships
