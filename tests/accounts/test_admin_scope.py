"""Site admins manage their sites' people in Django admin: a scoped user picker, nothing of other sites, and no way
to raise anyone to staff or superuser. Superusers are unchanged (tests/accounts/test_auth.py)."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from accounts.models import AuditEvent, Membership, Role
from tests.conftest import with_totp
from tests.factories import MembershipFactory, SiteFactory

pytestmark = pytest.mark.django_db

RECIPE = [  # docs/admin-guide.md: what a site administrator is granted
    "view_patient", "view_study", "view_image", "view_prediction", "view_review", "view_auditevent",
    "add_membership", "change_membership", "delete_membership", "view_membership", "add_invitation",
    "view_invitation",
]  # fmt: skip


def _site_admin(*sites, extra=()):
    """Staff with the admin role at each of sites and the recipe's permissions (plus extra)."""
    user = with_totp(MembershipFactory(site=sites[0], role=Role.ADMIN, user__is_staff=True).user)
    for site in sites[1:]:
        MembershipFactory(site=site, user=user, role=Role.ADMIN)
    user.user_permissions.add(*Permission.objects.filter(codename__in=[*RECIPE, *extra]))
    return user


def _picker(client, term=""):
    response = client.get(
        reverse("admin:autocomplete"),
        {"app_label": "accounts", "model_name": "membership", "field_name": "user", "term": term},
    )
    assert response.status_code == 200
    return {row["text"] for row in response.json()["results"]}


def test_a_site_admin_picks_a_member_of_their_sites_and_adds_them(client, site):
    """The admin guide's recipe could not add a membership: the user picker needed view_user, and then listed
    every user of every site."""
    second = SiteFactory(name="Second Campus")
    admin = _site_admin(site, second)
    colleague = MembershipFactory(site=second, role=Role.CLINICIAN, user__email="colleague@second.example").user
    MembershipFactory(site=SiteFactory(), user__email="stranger@other.example")
    client.force_login(admin)

    assert _picker(client) == {admin.email, colleague.email}
    assert _picker(client, "stranger") == set()
    assert "send an invitation" in client.get(reverse("admin:accounts_membership_add")).content.decode()

    response = client.post(
        reverse("admin:accounts_membership_add"), {"user": colleague.pk, "site": site.pk, "role": Role.RADIOLOGIST}
    )
    assert response.status_code == 302
    assert Membership.objects.get(user=colleague, site=site).role == Role.RADIOLOGIST
    assert AuditEvent.objects.filter(action=AuditEvent.Action.ROLE_CHANGE, actor=admin, site=site).exists()


def test_a_site_admin_cannot_grant_membership_to_other_sites_people_or_at_other_sites(client, site, other_site):
    admin = _site_admin(site)
    member = MembershipFactory(site=site, role=Role.CLINICIAN).user
    stranger = MembershipFactory(site=other_site, role=Role.CLINICIAN).user
    client.force_login(admin)
    add = reverse("admin:accounts_membership_add")

    assert client.post(add, {"user": stranger.pk, "site": site.pk, "role": Role.ADMIN}).status_code == 200  # the form
    assert client.post(add, {"user": member.pk, "site": other_site.pk, "role": Role.ADMIN}).status_code == 200
    assert client.post(add, {"user": admin.pk, "site": other_site.pk, "role": Role.ADMIN}).status_code == 200
    assert not Membership.objects.filter(user=stranger, site=site).exists()
    assert not Membership.objects.filter(site=other_site).exclude(user=stranger).exists()


def test_a_site_admin_sees_only_their_sites_users_and_sites(client, site, other_site):
    """Even with view_user granted (the old recipe's workaround), users of other sites stay out of sight."""
    admin = _site_admin(site, extra=["view_user", "view_site"])
    member = MembershipFactory(site=site, role=Role.CLINICIAN, user__email="member@mine.example").user
    MembershipFactory(site=other_site, user=member, role=Role.RADIOLOGIST)  # also a member elsewhere
    stranger = MembershipFactory(site=other_site, user__email="stranger@other.example").user
    client.force_login(admin)

    users = client.get(reverse("admin:accounts_user_changelist")).content.decode()
    assert member.email in users and stranger.email not in users
    page = client.get(reverse("admin:accounts_user_change", args=[member.pk])).content.decode()
    assert member.email in page and other_site.name not in page  # the membership inline shows this site only
    hidden = client.get(reverse("admin:accounts_user_change", args=[stranger.pk]), follow=True)
    assert "doesn’t exist" in hidden.content.decode()
    sites = client.get(reverse("admin:accounts_site_changelist")).content.decode()
    assert site.name in sites and other_site.name not in sites


def test_a_site_admin_cannot_make_anyone_staff_or_superuser(client, site):
    """Even with change_user and add_user granted: accounts are changed by superusers only."""
    admin = _site_admin(site, extra=["change_user", "add_user", "change_site"])
    member = MembershipFactory(site=site, role=Role.CLINICIAN).user
    client.force_login(admin)

    response = client.post(
        reverse("admin:accounts_user_change", args=[member.pk]),
        {"email": member.email, "is_active": "on", "is_staff": "on", "is_superuser": "on"},
    )
    assert response.status_code == 403
    member.refresh_from_db()
    assert not member.is_staff and not member.is_superuser
    assert client.get(reverse("admin:accounts_user_add")).status_code == 403
    assert client.get(reverse("admin:auth_user_password_change", args=[member.pk])).status_code == 403
    admin.refresh_from_db()
    assert not admin.is_superuser


def test_site_filters_list_only_the_admins_sites(client, site, other_site):
    admin = _site_admin(site)
    MembershipFactory(site=site)
    MembershipFactory(site=other_site)
    client.force_login(admin)
    for name in ("membership", "invitation", "auditevent"):
        body = client.get(reverse(f"admin:accounts_{name}_changelist")).content.decode()
        assert other_site.name not in body, name
