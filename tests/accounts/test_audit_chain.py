"""The audit chain against its database's owner: HMAC links under a key the database never sees, signed checkpoints
of the chain heads outside the database, key rotation, and the rewrite that issue 20 showed on a copy."""

import hashlib
import hmac
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from accounts.audit import AuditKey, audit_keys, audit_record, audit_verify, audit_verify_report
from accounts.audit_checkpoints import checkpoint_read
from accounts.models import AuditEvent

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DJANGO_SECRET_KEY": "x7$k2!p9@v4#m8^w1&q6*z3(e5)r0_t-y+u=i]o[a;s:d'f,g.h/j<l>b?n|c~v`",
    "DJANGO_ALLOWED_HOSTS": "medsite.example-hospital.org",
    "DATABASE_URL": "postgres://medsite@127.0.0.1:5432/medsite",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
}


def _events(n):
    return [
        audit_record(actor=None, action=AuditEvent.Action.LOGIN_FAILED, actor_email=f"u{i}@x.example") for i in range(n)
    ]


def _as_database_owner(*statements):
    """What the database's owner can do whatever the app's role may: switch the trigger off and rewrite rows."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # flush the test transaction's deferred checks
        cursor.execute("ALTER TABLE accounts_auditevent DISABLE TRIGGER accounts_auditevent_append_only")
        for sql, params in statements:
            cursor.execute(sql, params)
        cursor.execute("ALTER TABLE accounts_auditevent ENABLE TRIGGER accounts_auditevent_append_only")


def _recompute_chain(chain, *, link, key_id):
    """The attacker's script: relink every row of ``chain`` from the genesis with ``link(message)``."""
    previous, statements = "0" * 64, []
    for event in AuditEvent.objects.filter(chain=chain).order_by("id"):
        event.prev_hash = previous
        previous = link((previous + event.canonical_content()).encode())
        statements.append(
            (
                "UPDATE accounts_auditevent SET prev_hash = %s, hash = %s, key_id = %s WHERE id = %s",
                [event.prev_hash, previous, key_id, event.pk],
            )
        )
    _as_database_owner(*statements)


def _verify_fails(*fragments):
    with pytest.raises(CommandError) as failure:
        call_command("verify_audit")
    for fragment in fragments:
        assert fragment in str(failure.value)
    return str(failure.value)


def test_production_refuses_to_start_without_an_audit_key_of_its_own():
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "CELERY_", "MEDSITE_"))}

    def check(extra):
        return subprocess.run(
            [sys.executable, "manage.py", "check"],
            cwd=ROOT,
            env=clean | PRODUCTION_ENV | extra,
            capture_output=True,
            text=True,
            timeout=120,
        )

    missing = check({})
    assert missing.returncode != 0 and "MEDSITE_AUDIT_KEY must be set" in missing.stderr
    reused = check({"MEDSITE_AUDIT_KEY": PRODUCTION_ENV["DJANGO_SECRET_KEY"]})
    assert reused.returncode != 0 and "differ from DJANGO_SECRET_KEY" in reused.stderr
    short = check({"MEDSITE_AUDIT_KEY": "too-short"})
    assert short.returncode != 0 and "32 or more characters" in short.stderr


def test_malformed_audit_settings_are_refused():
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "MEDSITE_"))}
    for setting, value, error in [
        ("MEDSITE_AUDIT_CHECKPOINT_SECONDS", "0", "MEDSITE_AUDIT_CHECKPOINT_SECONDS must be between 10 and 86400"),
        ("MEDSITE_AUDIT_SYSLOG_URL", "siem.internal:514", "MEDSITE_AUDIT_SYSLOG_URL must look like udp://host:514"),
        ("MEDSITE_AUDIT_SYSLOG_URL", "tls://siem.internal", "MEDSITE_AUDIT_SYSLOG_URL must look like"),
    ]:
        result = subprocess.run(
            [sys.executable, "manage.py", "check"],
            cwd=ROOT,
            env=clean | {"DJANGO_DEBUG": "true", setting: value},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode != 0 and error in result.stderr, (setting, value)


def test_each_link_is_an_hmac_under_the_audit_key_not_a_plain_hash():
    first, second = _events(2)
    key = AuditKey.from_setting(settings.MEDSITE_AUDIT_KEY)
    message = (second.prev_hash + second.canonical_content()).encode()
    assert second.prev_hash == first.hash and second.key_id == key.id
    assert second.hash == hmac.new(settings.MEDSITE_AUDIT_KEY.encode(), message, hashlib.sha256).hexdigest()
    assert second.hash != hashlib.sha256(message).hexdigest()
    assert AuditEvent.objects.get(pk=second.pk).hash == second.hash
    assert settings.MEDSITE_AUDIT_KEY not in json.dumps(list(AuditEvent.objects.values()), default=str)


# The rewrite of issue 20: event 2 deleted, event 1 edited, the chain relinked by someone who owns the database.
SHA256 = hashlib.sha256


def _hmac_under(secret):
    return lambda message: hmac.new(secret, message, hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    "relink, marked, caught_by_the_links",
    [
        pytest.param(lambda m: SHA256(m).hexdigest(), "kept", "no longer match its HMAC", id="sha256"),
        pytest.param(lambda m: SHA256(m).hexdigest(), "", None, id="sha256-passed-off-as-pre-key-events"),
        pytest.param(_hmac_under(b"a guess at the key"), "kept", "no longer match its HMAC", id="wrong-key"),
        pytest.param(
            _hmac_under(b"a guess at the key"),
            AuditKey.from_setting("a guess at the key").id,
            "not configured",
            id="wrong-key-under-its-own-id",
        ),
        pytest.param(None, "kept", None, id="the-right-key-leaked"),
    ],
)
def test_the_chain_rewrite_of_issue_20_is_detected(relink, marked, caught_by_the_links):
    events = _events(4)
    chain = events[0].chain
    assert {event.chain for event in events} == {chain}  # one connection, one chain
    call_command("audit_checkpoint")
    _as_database_owner(
        ("DELETE FROM accounts_auditevent WHERE id = %s", [events[1].pk]),
        ("UPDATE accounts_auditevent SET actor_email = %s WHERE id = %s", ["someone-else@x.example", events[0].pk]),
    )
    key = audit_keys()[0]
    _recompute_chain(chain, link=relink or _hmac_under(key.secret), key_id=key.id if marked == "kept" else marked)

    report = audit_verify_report(checkpoints=checkpoint_read().checkpoints)
    # The links: an HMAC the attacker could not compute...
    if caught_by_the_links:
        assert report.link_break.event_id == events[0].pk and caught_by_the_links in report.link_break.reason
    else:  # ...unless relinked as events from before keys, or with the key itself
        assert (report.checked, report.link_break) == (3, None)
    # The checkpoint, on its own, in every case: the head it recorded is no longer what the database holds.
    (contradiction,) = report.checkpoint_breaks
    assert "checkpoint of" in contradiction.reason
    assert contradiction.event_id == events[3].pk and "the chain was rewritten" in contradiction.reason
    message = _verify_fails(f"Audit chain broken at event {contradiction.event_id}: {contradiction.reason}")
    if caught_by_the_links:
        assert caught_by_the_links in message  # and the broken link, first


def test_removing_a_chains_newest_events_after_a_checkpoint_is_detected():
    events = _events(4)
    call_command("audit_checkpoint")
    _as_database_owner(("DELETE FROM accounts_auditevent WHERE id >= %s", [events[2].pk]))
    assert audit_verify() == (2, None)  # what is left is a whole, shorter chain: the links cannot tell
    _verify_fails(
        f"broken at event {events[3].pk}: it is missing",
        f"recorded it as the head of chain {events[3].chain} (4 events)",
        "newest events were removed",
    )


def test_events_removed_before_a_checkpointed_head_change_its_count():
    events = _events(4)
    call_command("audit_checkpoint")
    # Event 2 removed and the rest relinked with the (leaked) key: the head keeps its id, not its hash or count.
    _as_database_owner(("DELETE FROM accounts_auditevent WHERE id = %s", [events[1].pk]))
    _recompute_chain(events[0].chain, link=_hmac_under(audit_keys()[0].secret), key_id=audit_keys()[0].id)
    _verify_fails(f"broken at event {events[3].pk}", "the chain was rewritten")


def test_a_tampered_checkpoint_line_is_reported():
    _events(3)
    call_command("audit_checkpoint")
    call_command("audit_checkpoint")
    call_command("verify_audit")
    path = Path(settings.MEDSITE_AUDIT_CHECKPOINT_FILE)
    first, second = path.read_text().splitlines()
    record = json.loads(first)
    record["chains"][0]["count"] = 2  # lower the count, as if fewer events had been written
    path.write_text(json.dumps(record) + "\n" + second + "\n")
    _verify_fails("checkpoint of", "(line 1): its signature does not match (the line was edited)")


def test_a_checkpoint_line_removed_from_the_file_is_reported():
    _events(2)
    for _ in range(3):
        call_command("audit_checkpoint")
    path = Path(settings.MEDSITE_AUDIT_CHECKPOINT_FILE)
    lines = path.read_text().splitlines()
    path.write_text(lines[0] + "\n" + lines[2] + "\n")
    _verify_fails("(line 2) does not follow the line before it")


def test_a_checkpoint_made_up_without_the_key_is_reported():
    _events(2)
    call_command("audit_checkpoint")
    path = Path(settings.MEDSITE_AUDIT_CHECKPOINT_FILE)
    record = json.loads(path.read_text())
    record["key"] = AuditKey.from_setting("a guess at the key").id
    with path.open("a") as file:
        file.write(json.dumps(record) + "\n")
    _verify_fails("(line 2) is signed with audit key", "not configured")


def test_an_unkeyed_event_after_a_keyed_one_is_refused():
    first, second = _events(2)
    unkeyed = hashlib.sha256((second.prev_hash + second.canonical_content()).encode()).hexdigest()
    _as_database_owner(("UPDATE accounts_auditevent SET hash = %s, key_id = '' WHERE id = %s", [unkeyed, second.pk]))
    checked, problem = audit_verify()
    assert (checked, problem.event_id) == (1, second.pk)
    assert "unkeyed (plain SHA-256) after keyed events" in problem.reason


def test_events_and_checkpoints_signed_with_an_old_key_verify_after_rotation(settings):
    settings.MEDSITE_AUDIT_KEY = "the-first-audit-key-" + "a" * 32
    old = _events(2)
    call_command("audit_checkpoint")
    settings.MEDSITE_AUDIT_KEY, settings.MEDSITE_AUDIT_OLD_KEYS = (
        "the-second-audit-key-" + "b" * 32,
        [settings.MEDSITE_AUDIT_KEY],
    )
    new = audit_record(actor=None, action=AuditEvent.Action.LOGOUT, actor_email="n@x.example")
    call_command("audit_checkpoint")
    assert new.key_id != old[0].key_id and new.prev_hash in (old[1].hash, "0" * 64)
    call_command("verify_audit")
    settings.MEDSITE_AUDIT_OLD_KEYS = []  # the old key forgotten: its events and checkpoint no longer verify
    _verify_fails(f"names audit key {old[0].key_id}, which is not configured", "(line 1) is signed with audit key")


def test_checkpoints_are_appended_by_the_command_and_the_beat_task(capsys):
    from accounts.tasks import audit_checkpoint_task

    events = _events(3)
    call_command("audit_checkpoint")
    assert "(3 events) appended" in capsys.readouterr().out
    audit_record(actor=None, action=AuditEvent.Action.LOGOUT, actor_email="n@x.example")
    audit_checkpoint_task()
    lines = [json.loads(line) for line in Path(settings.MEDSITE_AUDIT_CHECKPOINT_FILE).read_text().splitlines()]
    assert [sum(c["count"] for c in line["chains"]) for line in lines] == [3, 4]
    head = {"chain": events[0].chain, "last_id": events[2].pk, "hash": events[2].hash, "count": 3}
    assert lines[0]["chains"] == [head]
    assert lines[1]["prev"] == lines[0]["sig"] and lines[0]["prev"] == ""
    schedule = settings.CELERY_BEAT_SCHEDULE["audit-checkpoint"]
    assert (schedule["task"], schedule["schedule"]) == ("accounts.tasks.audit_checkpoint_task", 300)
    call_command("verify_audit")
    out = capsys.readouterr().out
    assert "4 events verified" in out and "2 checkpoints match" in out


def test_verify_audit_can_require_checkpoints(capsys):
    _events(1)
    call_command("verify_audit")
    assert "No audit checkpoints at" in capsys.readouterr().err
    with pytest.raises(CommandError, match="No audit checkpoints at"):
        call_command("verify_audit", "--require-checkpoints")


def test_verify_audit_checks_an_off_host_copy_of_the_checkpoints(tmp_path):
    events = _events(3)
    call_command("audit_checkpoint")
    local = Path(settings.MEDSITE_AUDIT_CHECKPOINT_FILE)
    copy = tmp_path / "shipped-checkpoints.jsonl"
    copy.write_bytes(local.read_bytes())
    # Someone with the database and this host removes the newest event and the local checkpoint file.
    _as_database_owner(("DELETE FROM accounts_auditevent WHERE id = %s", [events[2].pk]))
    local.unlink()
    call_command("verify_audit")  # only a warning: no local file
    with pytest.raises(CommandError, match=f"broken at event {events[2].pk}: it is missing"):
        call_command("verify_audit", "--checkpoints", str(copy))


def test_events_made_up_as_if_written_before_keys_are_refused_after_the_first_checkpoint():
    (real,) = _events(1)
    call_command("audit_checkpoint")
    # A chain of its own, unkeyed and linked with plain SHA-256 from the genesis, as events from before 0008 were.
    forged = AuditEvent(chain=(real.chain + 1) % 8, action=AuditEvent.Action.LOGIN, actor_email="ghost@x.example")
    forged.prev_hash = "0" * 64
    forged.hash = forged.compute_hash()
    forged.save(force_insert=True)
    report = audit_verify_report(checkpoints=checkpoint_read().checkpoints)
    assert report.link_break is None  # its link holds: only the checkpoint can tell
    (problem,) = report.checkpoint_breaks
    assert problem.event_id == forged.pk and "unkeyed (plain SHA-256) but newer than chain" in problem.reason
    _verify_fails(f"broken at event {forged.pk}: it is unkeyed")
