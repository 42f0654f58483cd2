"""accounts_audit_append(): append one audit event to the hash chain in one statement (PostgreSQL).

The chain needs one writer at a time. From Python that is a transaction of five round trips (BEGIN, the advisory
lock, read the last hash, INSERT, COMMIT) with the lock held across the last four: under load every web process
queued on it. In this function the lock is held only while the server itself reads the last hash and inserts the
row. The hash is the one AuditEvent.compute_hash() gives: sha256 of the previous hash followed by the event's
canonical JSON, which Python passes in (p_content), so `manage.py verify_audit` checks both kinds of row alike.
"""

from django.db import migrations

POSTGRES_UP = """
CREATE OR REPLACE FUNCTION accounts_audit_append(
    p_lock bigint, p_content text, p_at timestamptz, p_actor_id bigint, p_actor_email varchar, p_site_id bigint,
    p_action varchar, p_object_type varchar, p_object_id varchar, p_detail jsonb, p_ip inet, p_user_agent varchar
) RETURNS TABLE (event_id bigint, event_prev_hash varchar, event_hash varchar)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    previous varchar;
BEGIN
    PERFORM pg_advisory_xact_lock(p_lock);
    -- A VOLATILE function's statements each take a fresh snapshot (READ COMMITTED): this sees the event that the
    -- lock's previous holder committed while this call waited for the lock.
    SELECT e.hash INTO previous FROM accounts_auditevent AS e ORDER BY e.id DESC LIMIT 1;
    previous := coalesce(previous, repeat('0', 64));
    RETURN QUERY
    INSERT INTO accounts_auditevent AS e
        (at, actor_id, actor_email, site_id, action, object_type, object_id, detail, ip, user_agent, prev_hash, hash)
    VALUES (p_at, p_actor_id, p_actor_email, p_site_id, p_action, p_object_type, p_object_id, p_detail, p_ip,
            p_user_agent, previous, encode(sha256(convert_to(previous || p_content, 'UTF8')), 'hex'))
    RETURNING e.id, e.prev_hash, e.hash;
END;
$$;
"""
POSTGRES_DOWN = "DROP FUNCTION IF EXISTS accounts_audit_append;"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":  # SQLite (the demo) appends from Python
        schema_editor.execute(POSTGRES_UP, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_DOWN, params=None)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0004_learning_loop")]
    operations = [migrations.RunPython(forwards, backwards)]
