"""Audit links keyed with an HMAC that the database never sees: the server only hands out a chain.

Until now the server computed each link (unkeyed sha256) in accounts_audit_append(). Whoever could drop the
append-only trigger could then edit or delete rows and recompute every later link. Now each link is
HMAC-SHA256(MEDSITE_AUDIT_KEY, previous hash + canonical JSON), computed in Python, and the key stays in the
application's environment. The server's part shrinks to accounts_audit_claim_chain(): in one statement it takes
the advisory lock of a chain no other transaction is extending (the connection's own first, waiting only when all
are busy, as before) and returns that chain and its last hash; Python computes the HMAC and inserts the row in the
same transaction, so the lock is held for two round trips, until it commits.

Existing rows keep their unkeyed links, marked by an empty key_id, and still verify; `manage.py verify_audit`
refuses an unkeyed row after a keyed one in the same chain.
"""

from importlib import import_module

from django.db import migrations, models

POSTGRES_UP = """
DROP FUNCTION IF EXISTS accounts_audit_append(
    integer, integer, text, timestamptz, bigint, varchar, bigint, varchar, varchar, varchar, jsonb, inet, varchar);
CREATE FUNCTION accounts_audit_claim_chain(p_lock integer, p_chains integer)
RETURNS TABLE (event_chain smallint, event_prev_hash varchar)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    own integer := pg_backend_pid() % p_chains;
    lane integer;
    previous varchar;
BEGIN
    FOR i IN 0 .. p_chains - 1 LOOP
        IF pg_try_advisory_xact_lock(p_lock, (own + i) % p_chains) THEN
            lane := (own + i) % p_chains;
            EXIT;
        END IF;
    END LOOP;
    IF lane IS NULL THEN  -- every chain is being extended: wait for this connection's own
        lane := own;
        PERFORM pg_advisory_xact_lock(p_lock, lane);
    END IF;
    -- A VOLATILE function's statements each take a fresh snapshot (READ COMMITTED): this sees the event that the
    -- lock's previous holder committed while this call waited for the lock.
    SELECT e.hash INTO previous FROM accounts_auditevent AS e WHERE e.chain = lane ORDER BY e.id DESC LIMIT 1;
    RETURN QUERY SELECT lane::smallint, coalesce(previous, repeat('0', 64))::varchar;
END;
$$;
"""
POSTGRES_DOWN = "DROP FUNCTION IF EXISTS accounts_audit_claim_chain(integer, integer);"
# Adding a column with a default does not rebuild an SQLite table, but make sure the triggers are there.
SQLITE_UP = [
    f"""CREATE TRIGGER IF NOT EXISTS accounts_auditevent_no_{op.lower()} BEFORE {op} ON accounts_auditevent
        BEGIN SELECT RAISE(ABORT, 'audit events are append-only: {op} refused'); END;"""
    for op in ("UPDATE", "DELETE")
]


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_UP, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_UP:
            schema_editor.execute(statement, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_DOWN, params=None)
        schema_editor.execute(import_module("accounts.migrations.0006_audit_chains").POSTGRES_UP, params=None)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0007_audit_actions_and_api_tokens")]
    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="key_id",
            field=models.CharField(
                blank=True,
                default="",
                help_text="Fingerprint of the audit key whose HMAC links this event; empty for an unkeyed SHA-256 "
                "link (events written before migration 0008)",
                max_length=16,
            ),
        ),
        migrations.RunPython(forwards, backwards),
    ]
