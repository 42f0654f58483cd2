"""The audit trail is append-only in the database and tamper-evident through its hash chain."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from accounts.audit import GENESIS, audit_keys, audit_record, audit_verify
from accounts.models import AuditEvent

pytestmark = pytest.mark.django_db


def _events(n=3):
    return [
        audit_record(actor=None, action=AuditEvent.Action.LOGIN_FAILED, actor_email=f"u{i}@x.example") for i in range(n)
    ]


def test_events_are_chained():
    first, second, third = _events()
    assert first.prev_hash == GENESIS
    assert second.prev_hash == first.hash and third.prev_hash == second.hash
    assert audit_verify() == (3, None)


def test_an_event_is_stored_as_returned_with_its_detail_and_client():
    from accounts.audit import Client

    event = audit_record(
        actor=None,
        action=AuditEvent.Action.VIEW,
        object_type="worklist",
        client=Client(ip="10.1.2.3", user_agent="Mozilla/5.0 (é)"),
        detail={"count": 50, "page": 2, "ratio": 0.1, "ids": [1, 2]},
    )
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.hash, stored.prev_hash) == (event.hash, event.prev_hash)
    assert stored.detail == {"count": 50, "page": 2, "ratio": 0.1, "ids": [1, 2]}
    assert (stored.ip, stored.user_agent, stored.at) == ("10.1.2.3", "Mozilla/5.0 (é)", event.at)
    assert stored.compute_hash(audit_keys()[0].secret) == stored.hash  # the HMAC over what the database holds
    assert audit_verify() == (1, None)


@pytest.mark.django_db(transaction=True)
def test_writers_in_parallel_extend_the_chains_without_a_fork():
    # Eight threads (eight database connections, as eight web processes) append at once: no fork, no gap.
    import threading

    barrier = threading.Barrier(8)

    def write(n):
        barrier.wait()
        try:
            for i in range(25):
                audit_record(actor=None, action=AuditEvent.Action.LOGIN_FAILED, actor_email=f"w{n}-{i}@x.example")
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert audit_verify() == (200, None)
    for chain in AuditEvent.objects.values_list("chain", flat=True).distinct():
        links = AuditEvent.objects.filter(chain=chain)
        assert links.values("prev_hash").distinct().count() == links.count()  # no two events follow the same one


@pytest.mark.django_db(transaction=True)
def test_a_writer_does_not_wait_for_a_chain_another_transaction_holds():
    import threading

    from accounts.audit import CHAINS

    with transaction.atomic():  # this connection holds its chain's lock until the block ends
        held = audit_record(actor=None, action=AuditEvent.Action.LOGIN_FAILED, actor_email="slow@x.example")
        written = []

        def write():
            try:
                written.append(audit_record(actor=None, action=AuditEvent.Action.VIEW, object_type="worklist"))
            finally:
                connection.close()

        other = threading.Thread(target=write)
        other.start()
        other.join(timeout=10)
        assert not other.is_alive() and len(written) == 1  # it did not wait for the open transaction
    assert written[0].chain != held.chain and 0 <= written[0].chain < CHAINS
    assert audit_verify() == (2, None)


def test_an_event_inside_a_rolled_back_transaction_leaves_the_chain_whole():
    (first,) = _events(1)
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_record(actor=None, action=AuditEvent.Action.LOGIN_FAILED, actor_email="gone@x.example")
        raise RuntimeError("the caller's work failed")
    (last,) = _events(1)
    assert last.prev_hash == first.hash and audit_verify() == (2, None)


def test_database_refuses_update_and_delete():
    (event,) = _events(1)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="login")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.get(pk=event.pk).action == AuditEvent.Action.LOGIN_FAILED


def _behind_the_triggers_back(sql, params):
    """What someone with direct database access could do: switch the trigger off and edit."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # flush the test transaction's deferred checks
            cursor.execute("ALTER TABLE accounts_auditevent DISABLE TRIGGER accounts_auditevent_append_only")
            cursor.execute(sql, params)
            cursor.execute("ALTER TABLE accounts_auditevent ENABLE TRIGGER accounts_auditevent_append_only")
        else:
            cursor.execute("DROP TRIGGER accounts_auditevent_no_update")
            cursor.execute("DROP TRIGGER accounts_auditevent_no_delete")
            cursor.execute(sql, params)


def test_verify_audit_finds_an_edited_row(capsys):
    first, second, third = _events()
    call_command("verify_audit")
    assert "3 events verified" in capsys.readouterr().out
    _behind_the_triggers_back("UPDATE accounts_auditevent SET actor_email = %s WHERE id = %s", ["x@y.z", second.pk])
    with pytest.raises(CommandError, match=f"broken at event {second.pk}: its contents no longer match"):
        call_command("verify_audit")


def test_verify_audit_finds_a_removed_row():
    first, second, third = _events()
    _behind_the_triggers_back("DELETE FROM accounts_auditevent WHERE id = %s", [second.pk])
    checked, problem = audit_verify()
    assert (checked, problem.event_id) == (1, third.pk)
    assert "removed" in problem.reason


@pytest.mark.django_db(transaction=True)
def test_verify_audit_checks_each_chain_on_its_own():
    # Two chains, interleaved in id order (each event in its own transaction, the first chain's lock held open).
    import threading

    def write_in_another_chain():
        try:
            for email in ("b1@x.example", "b2@x.example"):  # one connection, each event its own transaction
                audit_record(actor=None, action=AuditEvent.Action.LOGIN_FAILED, actor_email=email)
        finally:
            connection.close()

    with transaction.atomic():
        first = audit_record(actor=None, action=AuditEvent.Action.LOGIN_FAILED, actor_email="a1@x.example")
        other = threading.Thread(target=write_in_another_chain)
        other.start()
        other.join(timeout=10)
        audit_record(actor=None, action=AuditEvent.Action.LOGIN_FAILED, actor_email="a2@x.example")
    chains = dict(AuditEvent.objects.values_list("actor_email", "chain"))
    assert chains["a1@x.example"] == chains["a2@x.example"] != chains["b1@x.example"] == chains["b2@x.example"]
    assert audit_verify() == (4, None)  # b1 and b2 sit between a1 and a2, yet a2 follows a1 in its own chain
    b1 = AuditEvent.objects.get(actor_email="b1@x.example")
    _behind_the_triggers_back("DELETE FROM accounts_auditevent WHERE id = %s", [b1.pk])
    checked, problem = audit_verify()
    b2 = AuditEvent.objects.get(actor_email="b2@x.example")
    assert problem.event_id == b2.pk and f"chain {b2.chain}" in problem.reason
    assert first.chain == chains["a1@x.example"]


def test_patient_views_through_ui_and_api_are_audited(login, clinician, patient, study):
    client = login(clinician)
    client.get(reverse("diagnosis:patient_detail", args=[patient.pk]), HTTP_USER_AGENT="Ward-PC Firefox")
    ui_event = AuditEvent.objects.get(action="view", object_type="patient")
    assert (ui_event.actor, ui_event.site, ui_event.user_agent) == (clinician, patient.site, "Ward-PC Firefox")
    client.get(reverse("api:study-detail", args=[study.pk]))
    assert AuditEvent.objects.filter(action="view", object_type="study", object_id=str(study.pk)).exists()


def test_admin_cannot_edit_or_delete_events(client, site_admin):
    site_admin.is_staff = site_admin.is_superuser = True
    site_admin.save()
    (event,) = _events(1)
    client.force_login(site_admin)
    assert client.get(reverse("admin:accounts_auditevent_changelist")).status_code == 200
    assert client.post(reverse("admin:accounts_auditevent_delete", args=[event.pk]), {"post": "yes"}).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_events_from_before_the_chains_migration_stay_verifiable():
    from django.db.migrations.executor import MigrationExecutor

    def migrate(target=None):
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate([("accounts", target)] if target else executor.loader.graph.leaf_nodes())

    migrate("0005_audit_append_function")
    try:
        with connection.cursor() as cursor:  # two events appended by 0005's function, as a running system had them
            for email in ("old1@x.example", "old2@x.example"):
                event = AuditEvent(action=AuditEvent.Action.LOGIN_FAILED, actor_email=email)
                cursor.execute(
                    "SELECT * FROM accounts_audit_append(%s, %s, %s, NULL, %s, NULL, %s, '', '', '{}', NULL, '')",
                    [74_656_123, event.canonical_content(), event.at, email, event.action],
                )
    finally:
        migrate()  # every app's latest: chains (0006), then keyed links (0008)
    assert set(AuditEvent.objects.values_list("chain", "key_id")) == {(0, "")}  # unkeyed, as written
    new = audit_record(actor=None, action=AuditEvent.Action.LOGIN_FAILED, actor_email="new@x.example")
    old2 = AuditEvent.objects.get(actor_email="old2@x.example")
    assert new.prev_hash == (old2.hash if new.chain == 0 else GENESIS) and new.key_id == audit_keys()[0].id
    assert audit_verify() == (3, None)
