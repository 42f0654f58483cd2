"""Django admin's model registry: promote and roll back ask for the written reason the registry requires, on a
confirmation page (the standard admin pattern: the action renders a form with the selected ids, and the POST back
with `apply` makes the change), audited as from the web and the API."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent
from diagnosis.models import ModelVersion
from diagnosis.services import registry
from tests.diagnosis.conftest import passing_evaluation

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:diagnosis_modelversion_changelist"
REQUIRED = "Write why: the reason is kept in the audit trail."


@pytest.fixture
def rolled_forward(model_version, world, superuser):
    """The candidate is active (promoted with a reason); model_version is the one a rollback goes back to."""
    ModelVersion.objects.filter(pk=model_version.pk).update(activated_at=timezone.now() - timedelta(days=30))
    passing_evaluation(world.candidate, baseline=model_version)
    registry.model_promote(model_version=world.candidate, actor=superuser, reason="passed the gate")
    return world.candidate


def test_rollback_action_shows_the_task_the_target_and_a_required_reason(
    client, superuser, model_version, rolled_forward
):
    client.force_login(superuser)
    url = reverse(CHANGELIST)
    page = client.post(url, {"action": "rollback", "_selected_action": [rolled_forward.pk]})
    assert page.status_code == 200
    html = page.content.decode()
    assert "Roll back chest-xray" in html
    assert f"goes back to version <strong>{model_version}</strong>" in html
    assert f"The active version <strong>{rolled_forward}</strong> is retired" in html
    assert 'name="reason"' in html and "required" in html and 'name="apply"' in html
    assert f'name="_selected_action" value="{rolled_forward.pk}"' in html and 'name="action" value="rollback"' in html
    rolled_forward.refresh_from_db()
    assert rolled_forward.status == ModelVersion.Status.ACTIVE  # nothing changed yet


def test_rollback_without_a_reason_shows_the_page_again_with_the_message(client, superuser, rolled_forward):
    client.force_login(superuser)
    for reason in ("", "   "):
        body = {"action": "rollback", "_selected_action": [rolled_forward.pk], "apply": "yes", "reason": reason}
        page = client.post(reverse(CHANGELIST), body)
        assert page.status_code == 200 and page.content.decode().count(REQUIRED) == 1
    rolled_forward.refresh_from_db()
    assert rolled_forward.status == ModelVersion.Status.ACTIVE
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.ROLLBACK).exists()


def test_rollback_with_a_reason_rolls_back_and_audits_it(client, superuser, model_version, rolled_forward):
    client.force_login(superuser)
    body = {"action": "rollback", "_selected_action": [rolled_forward.pk], "apply": "yes", "reason": " ward: misses "}
    response = client.post(reverse(CHANGELIST), body, follow=True)
    assert f"Rolled back: {model_version} is the active chest-xray model again." in response.content.decode()
    model_version.refresh_from_db()
    rolled_forward.refresh_from_db()
    assert (model_version.status, rolled_forward.status) == (ModelVersion.Status.ACTIVE, ModelVersion.Status.RETIRED)
    event = AuditEvent.objects.get(action=AuditEvent.Action.ROLLBACK)
    assert event.actor == superuser and event.detail["reason"] == "ward: misses"
    assert event.detail["rolled_back"] == rolled_forward.bundle_sha256


def test_rollback_with_nothing_to_go_back_to_says_so_without_a_form(client, superuser, model_version):
    client.force_login(superuser)
    response = client.post(
        reverse(CHANGELIST), {"action": "rollback", "_selected_action": [model_version.pk]}, follow=True
    )
    assert "There is no earlier active version of chest-xray to roll back to." in response.content.decode()
    assert 'name="apply"' not in response.content.decode()


def test_promote_action_asks_for_a_reason_and_shows_the_gate(client, superuser, model_version, world):
    client.force_login(superuser)
    url = reverse(CHANGELIST)
    select = {"action": "promote", "_selected_action": [world.candidate.pk]}
    html = client.post(url, select).content.decode()
    assert "refuses it" in html and "not been evaluated against the active version" in html
    passing_evaluation(world.candidate, baseline=model_version)
    html = client.post(url, select).content.decode()
    assert "lets it through" in html and 'name="reason"' in html
    assert client.post(url, select | {"apply": "yes", "reason": ""}).content.decode().count(REQUIRED) == 1
    world.candidate.refresh_from_db()
    assert world.candidate.status == ModelVersion.Status.CANDIDATE
    done = client.post(url, select | {"apply": "yes", "reason": "better sensitivity"}, follow=True)
    assert f"Promoted: {world.candidate} is now the active chest-xray model." in done.content.decode()
    event = AuditEvent.objects.get(action=AuditEvent.Action.ACTIVATE, object_id=str(world.candidate.pk))
    assert event.detail["reason"] == "better sensitivity" and event.actor == superuser
