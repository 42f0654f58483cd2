"""Audit events in a few parallel hash chains instead of one, so concurrent writers need not take turns.

With one chain every event waits for the one before it to commit. Under load on a small machine the process holding
that lock is often descheduled while it holds it, and every other web process then waits behind it. Now each event
goes to the first of `p_chains` chains whose lock is free (trying the connection's own chain first, so one process
keeps extending one chain), and only when all are busy does it wait, for its own. Each chain is linked exactly as
the single chain was (sha256 of the previous hash of *its* chain and the event's canonical JSON), and every event
before this migration is chain 0, so `manage.py verify_audit` checks old and new rows alike, chain by chain.
"""

from importlib import import_module

from django.db import migrations, models

POSTGRES_UP = """
DROP FUNCTION IF EXISTS accounts_audit_append(
    bigint, text, timestamptz, bigint, varchar, bigint, varchar, varchar, varchar, jsonb, inet, varchar);
CREATE FUNCTION accounts_audit_append(
    p_lock integer, p_chains integer, p_content text, p_at timestamptz, p_actor_id bigint, p_actor_email varchar,
    p_site_id bigint, p_action varchar, p_object_type varchar, p_object_id varchar, p_detail jsonb, p_ip inet,
    p_user_agent varchar
) RETURNS TABLE (event_id bigint, event_chain smallint, event_prev_hash varchar, event_hash varchar)
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
    previous := coalesce(previous, repeat('0', 64));
    RETURN QUERY
    INSERT INTO accounts_auditevent AS e (at, actor_id, actor_email, site_id, action, object_type, object_id, detail,
                                          ip, user_agent, chain, prev_hash, hash)
    VALUES (p_at, p_actor_id, p_actor_email, p_site_id, p_action, p_object_type, p_object_id, p_detail, p_ip,
            p_user_agent, lane, previous, encode(sha256(convert_to(previous || p_content, 'UTF8')), 'hex'))
    RETURNING e.id, e.chain, e.prev_hash, e.hash;
END;
$$;
"""


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_UP, params=None)
    elif vendor == "sqlite":  # adding a NOT NULL column rebuilt the table, and SQLite dropped its triggers with it
        for statement in import_module("accounts.migrations.0002_audit_append_only").SQLITE_UP:
            schema_editor.execute(statement, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS accounts_audit_append;", params=None)
        schema_editor.execute(import_module("accounts.migrations.0005_audit_append_function").POSTGRES_UP, params=None)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0005_audit_append_function")]
    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="chain",
            field=models.PositiveSmallIntegerField(
                default=0, help_text="Which parallel hash chain this event extends"
            ),
        ),
        migrations.AddIndex(
            model_name="auditevent", index=models.Index(fields=["chain", "id"], name="accounts_au_chain_id_idx")
        ),
        migrations.RunPython(forwards, backwards),
    ]
