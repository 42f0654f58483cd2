"""The application's own database role (manage.py audit_db_roles) can append audit events and nothing more: it
cannot change or remove them, nor switch off or drop the trigger that keeps them append-only."""

import os

import psycopg2
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from accounts.audit import audit_record, audit_verify
from accounts.models import AuditEvent

pytestmark = pytest.mark.django_db(transaction=True)  # the grants must be committed for the role's own connection


@pytest.fixture
def app_role():
    name = f"medsite_app_test_{os.getpid()}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {name} LOGIN")
    try:
        yield name
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP OWNED BY {name}")
            cursor.execute(f"DROP ROLE {name}")


def _connect_as(role):
    settings = connection.settings_dict
    return psycopg2.connect(
        dbname=settings["NAME"], user=role, host=settings["HOST"] or "127.0.0.1", port=settings["PORT"] or 5432
    )


def test_the_app_role_appends_audit_events_but_cannot_alter_them_or_the_trigger(app_role):
    call_command("audit_db_roles", app_role=app_role, apply=True)
    first = audit_record(actor=None, action=AuditEvent.Action.LOGIN_FAILED, actor_email="owner@x.example")

    # The application's path (audit_record), on a connection logged in as the app role.
    login = connection.settings_dict["USER"]
    connection.close()
    connection.settings_dict["USER"] = app_role
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user")
            assert cursor.fetchone() == (app_role,)
        second = audit_record(actor=None, action=AuditEvent.Action.LOGIN_FAILED, actor_email="app@x.example")
    finally:
        connection.close()
        connection.settings_dict["USER"] = login
    assert AuditEvent.objects.filter(pk=second.pk).exists() and audit_verify() == (2, None)

    refused = {
        "UPDATE accounts_auditevent SET actor_email = 'x@y.z'": "permission denied",
        "DELETE FROM accounts_auditevent": "permission denied",
        "TRUNCATE accounts_auditevent": "permission denied",
        "ALTER TABLE accounts_auditevent DISABLE TRIGGER ALL": "must be owner",
        "ALTER TABLE accounts_auditevent DISABLE TRIGGER accounts_auditevent_append_only": "must be owner",
        "DROP TRIGGER accounts_auditevent_append_only ON accounts_auditevent": "must be owner",
        "DROP TABLE accounts_auditevent": "must be owner",
    }
    as_app = _connect_as(app_role)
    try:
        for statement, error in refused.items():
            with as_app.cursor() as cursor, pytest.raises(psycopg2.Error, match=error):
                cursor.execute(statement)
            as_app.rollback()
        with as_app.cursor() as cursor:  # everyday work elsewhere is allowed
            cursor.execute("UPDATE accounts_site SET name = name")
            cursor.execute("SELECT count(*) FROM accounts_auditevent")
            assert cursor.fetchone() == (2,)
        as_app.rollback()
    finally:
        as_app.close()
    assert list(AuditEvent.objects.order_by("id").values_list("pk", "actor_email")) == [
        (first.pk, "owner@x.example"),
        (second.pk, "app@x.example"),
    ]


def test_audit_db_roles_prints_the_grants_and_refuses_a_superuser(app_role, capsys):
    call_command("audit_db_roles", app_role=app_role)
    printed = capsys.readouterr().out
    assert f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{app_role}"' in printed
    assert f'REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON accounts_auditevent FROM "{app_role}"' in printed
    with pytest.raises(CommandError, match="superuser or holds the privileges of the tables' owner"):
        call_command("audit_db_roles", app_role=connection.settings_dict["USER"])
