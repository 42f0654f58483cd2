"""Refuse UPDATE and DELETE on the audit table, in the database itself."""

from django.db import migrations

POSTGRES_UP = """
CREATE OR REPLACE FUNCTION accounts_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only: % refused', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER accounts_auditevent_append_only
    BEFORE UPDATE OR DELETE ON accounts_auditevent
    FOR EACH ROW EXECUTE FUNCTION accounts_auditevent_append_only();
"""
POSTGRES_DOWN = """
DROP TRIGGER IF EXISTS accounts_auditevent_append_only ON accounts_auditevent;
DROP FUNCTION IF EXISTS accounts_auditevent_append_only();
"""
SQLITE_UP = [
    f"""CREATE TRIGGER accounts_auditevent_no_{op.lower()} BEFORE {op} ON accounts_auditevent
        BEGIN SELECT RAISE(ABORT, 'audit events are append-only: {op} refused'); END;"""
    for op in ("UPDATE", "DELETE")
]
SQLITE_DOWN = [f"DROP TRIGGER IF EXISTS accounts_auditevent_no_{op};" for op in ("update", "delete")]


def _run(schema_editor, postgres: str, sqlite: list[str]) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(postgres, params=None)
    elif vendor == "sqlite":
        for statement in sqlite:
            schema_editor.execute(statement, params=None)
    else:
        raise RuntimeError(f"No append-only trigger for the {vendor} database; use PostgreSQL or SQLite")


def forwards(apps, schema_editor):
    _run(schema_editor, POSTGRES_UP, SQLITE_UP)


def backwards(apps, schema_editor):
    _run(schema_editor, POSTGRES_DOWN, SQLITE_DOWN)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
