"""Django admin and patient data: confined to the user's sites (superusers too), every page audited.

The admin registry is walked: every admin of a model that identifies a patient (Patient, and every model with a
foreign-key path to it) must show only the user's sites' rows, write one VIEW event per page, and answer an id of
another site with admin's "doesn't exist" and one DENIED event. A new admin of such a model that does not fails here.
"""

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.urls import reverse

from accounts.models import AuditEvent, Role
from diagnosis.admin import BREAK_GLASS, SiteScopedAdmin
from diagnosis.models import Patient
from tests.conftest import with_totp
from tests.factories import MembershipFactory, SiteFactory, StudyFactory, UserFactory

pytestmark = pytest.mark.django_db


def _patient_data_models() -> set:
    """Patient and every model with a foreign-key path to it."""
    found = {Patient}
    grown = True
    while grown:
        grown = False
        for model in apps.get_models():
            if model not in found and any(
                field.many_to_one and field.related_model in found for field in model._meta.get_fields()
            ):
                found.add(model)
                grown = True
    return found


PATIENT_DATA_ADMINS = sorted(
    (model._meta.model_name for model in admin.site._registry if model in _patient_data_models()),
)


def _url(model_name: str, page: str, *args) -> str:
    return reverse(f"admin:diagnosis_{model_name}_{page}", args=args)


def _row(world, model_name: str):
    """The world's row of that model; a new patient-data model needs a line here (and so gets tested)."""
    rows = {
        "patient": world.patient,
        "study": world.study,
        "image": world.image,
        "prediction": world.prediction,
        "review": world.retraining_item.review,
        "retrainingitem": world.retraining_item,
        "resultdelivery": world.delivery,
    }
    assert model_name in rows, f"add a row of {model_name} to _row: its admin shows patient data"
    return rows[model_name]


def _staff_admin(site):
    """A site admin with the Django admin permissions the admin guide's recipe grants."""
    user = with_totp(MembershipFactory(site=site, role=Role.ADMIN, user__is_staff=True).user)
    user.user_permissions.add(*Permission.objects.filter(codename__in=[f"view_{m}" for m in PATIENT_DATA_ADMINS]))
    return user


def _superuser(site):
    """A platform administrator who is a member (a clinician) of `site` only, like admin@demo.medsite."""
    user = with_totp(UserFactory(is_superuser=True, is_staff=True))
    MembershipFactory(site=site, user=user, role=Role.CLINICIAN)
    return user


def _mark() -> int:
    """The id of the newest audit event so far."""
    return AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def _events(since: int, **filters) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(pk__gt=since, **filters).order_by("id"))


def test_the_walk_finds_every_patient_data_admin():
    assert set(PATIENT_DATA_ADMINS) >= {"patient", "study", "image", "prediction", "review", "retrainingitem"}
    for model_admin in admin.site._registry.values():  # nor may patient data come in as an inline of another admin
        inlines = [inline.model for inline in model_admin.inlines if inline.model in _patient_data_models()]
        assert not inlines or isinstance(model_admin, SiteScopedAdmin), type(model_admin).__name__


@pytest.mark.parametrize("model_name", PATIENT_DATA_ADMINS)
@pytest.mark.parametrize("persona", ["site_admin", "superuser"])
def test_each_patient_data_page_in_scope_writes_one_view_event(client, world, other_world, model_name, persona):
    user = _staff_admin(world.site) if persona == "site_admin" else _superuser(world.site)
    row = _row(world, model_name)
    _row(other_world, model_name)  # and one at another site, which the list must leave out
    client.force_login(user)
    mark = _mark()

    response = client.get(_url(model_name, "changelist"))
    assert response.status_code == 200
    [event] = _events(mark, actor=user)
    assert (event.action, event.object_type, event.site_id) == ("view", model_name, world.site.pk)
    assert event.detail["ids"] == [row.pk] and event.detail["count"] == 1
    assert world.patient.mrn not in str(event.detail) and world.patient.name not in str(event.detail)

    mark = _mark()
    response = client.get(_url(model_name, "change", row.pk))
    assert response.status_code == 200
    [event] = _events(mark, actor=user)
    assert (event.action, event.object_type, event.object_id, event.site_id) == (
        "view",
        model_name,
        str(row.pk),
        world.site.pk,
    )


@pytest.mark.parametrize("model_name", PATIENT_DATA_ADMINS)
@pytest.mark.parametrize("persona", ["site_admin", "superuser"])
def test_another_sites_record_is_denied_audited_and_never_shown(client, world, other_site, model_name, persona):
    """The finding: a superuser who is a member of one site only read another site's patients (200, MRN, name,
    birth date) in admin, unaudited. Now: the normal "doesn't exist", one DENIED event, no patient data."""
    user = _staff_admin(other_site) if persona == "site_admin" else _superuser(other_site)
    row = _row(world, model_name)
    client.force_login(user)
    mark = _mark()

    for page in ("change", "history"):
        response = client.get(_url(model_name, page, row.pk), follow=True)
        body = response.content.decode()
        assert response.redirect_chain and response.status_code == 200, page
        assert "doesn’t exist" in body
        assert world.patient.mrn not in body and world.patient.name not in body
    denied = _events(mark, actor=user, action=AuditEvent.Action.DENIED)
    assert [(e.object_type, e.object_id, e.site_id) for e in denied] == [(model_name, str(row.pk), world.site.pk)] * 2

    response = client.get(_url(model_name, "changelist"))
    body = response.content.decode()
    assert response.status_code == 200 and world.patient.mrn not in body and world.patient.name not in body
    assert world.site.name not in body  # not even in the site filter
    [event] = _events(mark, actor=user, action=AuditEvent.Action.VIEW)
    assert event.detail["ids"] == [] and event.site_id is None


def test_a_superuser_sees_the_sites_where_they_hold_any_role(client, world, other_world):
    user = _superuser(world.site)
    client.force_login(user)
    body = client.get(_url("patient", "changelist")).content.decode()
    assert world.patient.mrn in body and other_world.patient.mrn not in body
    assert client.get(_url("patient", "change", world.patient.pk)).status_code == 200
    assert client.get(_url("patient", "change", other_world.patient.pk)).status_code == 302


def test_superusers_still_run_models_users_and_sites(client, world, other_site):
    user = _superuser(world.site)
    client.force_login(user)
    for name in ("diagnosis_modelversion", "diagnosis_trainingrun", "diagnosis_learningpolicy", "accounts_user"):
        assert client.get(reverse(f"admin:{name}_changelist")).status_code == 200, name
    assert client.get(reverse("admin:accounts_site_change", args=[other_site.pk])).status_code == 200
    assert other_site.name in client.get(reverse("admin:accounts_site_changelist")).content.decode()


def test_patient_admins_have_no_search_and_are_no_autocomplete_source(client, world):
    """Admin's search sends MRNs in the URL (?q=), and its autocomplete view answers any registered admin with search
    fields: names and MRNs, unaudited."""
    client.force_login(_superuser(world.site))
    for model_name in PATIENT_DATA_ADMINS:
        assert 'id="searchbar"' not in client.get(_url(model_name, "changelist")).content.decode(), model_name
    url = reverse("admin:autocomplete")
    response = client.get(url, {"app_label": "diagnosis", "model_name": "study", "field_name": "patient", "term": ""})
    assert response.status_code == 404 and world.patient.mrn not in response.content.decode()


def test_site_filters_list_only_the_users_sites(client, world, other_world):
    user = _staff_admin(world.site)
    second = SiteFactory(name="Second Campus")
    MembershipFactory(site=second, user=user, role=Role.ADMIN)
    StudyFactory(patient__site=second)
    client.force_login(user)
    for model_name in ("patient", "study"):
        body = client.get(_url(model_name, "changelist")).content.decode()
        assert f"site__id__exact={second.pk}" in body, model_name  # the filter is there, with the user's sites
        assert other_world.site.name not in body, model_name


def test_break_glass_opens_one_site_for_an_hour_with_a_reason_audited_and_shown_to_its_admins(client, world):
    """Issue 20: a deliberate break-glass access, with a reason, audited and shown to the site's admins."""
    superuser = _superuser(SiteFactory(name="Head Office"))
    open_url = reverse("admin:diagnosis_patient_break_glass")
    change = _url("patient", "change", world.patient.pk)
    client.force_login(superuser)

    assert open_url in client.get(_url("patient", "changelist")).content.decode()
    page = client.get(open_url).content.decode()
    assert 'name="reason"' in page and world.site.name in page and "Head Office" not in page  # not a member's site
    assert client.post(open_url, {"site": world.site.pk, "reason": ""}).status_code == 200  # a reason is required
    assert client.get(change).status_code == 302
    reason = "Transferred to our ED unconscious, need prior imaging"
    response = client.post(open_url, {"site": world.site.pk, "reason": reason})
    assert response.status_code == 302 and response["Location"].endswith(f"?site__id__exact={world.site.pk}")
    [opened] = _events(0, actor=superuser, action=AuditEvent.Action.BREAK_GLASS)
    assert (opened.site_id, opened.detail["reason"], opened.detail["opened"]) == (world.site.pk, reason, True)

    mark = _mark()
    assert world.patient.mrn in client.get(change).content.decode()
    assert world.patient.mrn in client.get(_url("patient", "changelist")).content.decode()
    events = _events(mark, actor=superuser)
    assert [(e.action, e.object_id, e.site_id, e.detail["reason"]) for e in events] == [
        ("break_glass", str(world.patient.pk), world.site.pk, reason),
        ("break_glass", "", world.site.pk, reason),
    ]
    assert events[1].detail["ids"] == [world.patient.pk]

    session = client.session  # an hour later
    session[BREAK_GLASS][str(world.site.pk)]["until"] = "2000-01-01T00:00:00+00:00"
    session.save()
    mark = _mark()
    assert client.get(change).status_code == 302
    assert [e.action for e in _events(mark, actor=superuser)] == ["denied"]

    site_admin = _staff_admin(world.site)
    site_admin.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    client.force_login(site_admin)
    assert client.get(open_url).status_code == 403  # superusers only
    trail = client.get(reverse("admin:accounts_auditevent_changelist"), {"action__exact": "break_glass"})
    assert trail.content.decode().count(superuser.email) == 3
