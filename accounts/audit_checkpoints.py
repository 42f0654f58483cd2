"""Signed checkpoints of the audit chains' heads, appended to a file outside the database.

The HMAC links stop anyone without the audit key from editing or removing events in the middle of a chain, but
removing a chain's newest events leaves a shorter chain that is still whole. A checkpoint records, for every chain,
its newest event's id and hash and how many events it holds; `manage.py verify_audit` then requires each
checkpointed head to be in the database with that hash and count, so the newest events can be removed unnoticed only
back to the last checkpoint. Celery beat writes one every MEDSITE_AUDIT_CHECKPOINT_SECONDS
(accounts.tasks.audit_checkpoint_task), and `manage.py audit_checkpoint` writes one on demand.

Each checkpoint is one line of JSON, signed with an HMAC under a key derived from the audit key, and naming the
signature of the line before it, so that a line edited, removed from the middle or made up is reported. The file is
opened for appending only and fsynced after each line; make it append-only (`chattr +a`) and ship it off the host
(docs/deployment.md): whoever can rewrite this file and the database together, and holds the key, can rewrite the
trail.
"""

import fcntl
import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from accounts.audit import AuditKey, ChainHead, Checkpoint, audit_chain_heads, audit_keys

VERSION = 1
_TAIL = 64 * 1024  # a checkpoint line is well under this (8 chains of about 120 characters)


def _canonical(record: dict) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":")).encode()


def _signature(key: AuditKey, record: dict) -> str:
    unsigned = {name: value for name, value in record.items() if name != "sig"}
    return hmac.new(key.checkpoint_secret(), _canonical(unsigned), hashlib.sha256).hexdigest()


def _last_signature(fd: int) -> str:
    size = os.fstat(fd).st_size
    start = max(0, size - _TAIL)
    lines = os.pread(fd, size - start, start).splitlines()
    if not lines:
        return ""
    try:
        return str(json.loads(lines[-1]).get("sig", ""))
    except (ValueError, AttributeError):
        return ""


def checkpoint_write(*, path: Path | None = None) -> dict:
    """Append one signed checkpoint of every chain's head to the checkpoint file; return what was written."""
    path = Path(path or settings.MEDSITE_AUDIT_CHECKPOINT_FILE)
    created = not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    key, _ = audit_keys()
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # one writer at a time, so each line names the one before it
        record = {
            "v": VERSION,
            "at": timezone.now().isoformat(),
            "key": key.id,
            "prev": _last_signature(fd),
            "chains": [
                {"chain": head.chain, "last_id": head.last_id, "hash": head.hash, "count": head.count}
                for head in audit_chain_heads()
            ],
        }
        record["sig"] = _signature(key, record)
        os.write(fd, _canonical(record) + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:  # the new file's name must survive a crash too
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    return record


@dataclass(frozen=True)
class CheckpointFile:
    """The checkpoints of a file whose signatures verified, oldest first, and what was wrong with the others."""

    checkpoints: list[Checkpoint]
    problems: list[str]
    exists: bool


def checkpoint_read(*, path: Path | None = None) -> CheckpointFile:
    path = Path(path or settings.MEDSITE_AUDIT_CHECKPOINT_FILE)
    if not path.exists():
        return CheckpointFile([], [], exists=False)
    _, keys = audit_keys()
    checkpoints: list[Checkpoint] = []
    problems: list[str] = []
    previous = ""
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                heads = tuple(
                    ChainHead(int(c["chain"]), int(c["last_id"]), str(c["hash"]), int(c["count"]))
                    for c in record["chains"]
                )
                key_id, signature, at = str(record["key"]), str(record["sig"]), str(record["at"])
            except (ValueError, KeyError, TypeError, AttributeError):
                problems.append(f"checkpoint line {number} is not a checkpoint (the file was edited or cut)")
                previous = ""
                continue
            label = f"checkpoint of {at} (line {number})"
            key = keys.get(key_id)
            if key is None:
                problems.append(
                    f"{label} is signed with audit key {key_id}, which is not configured (MEDSITE_AUDIT_KEY, "
                    "MEDSITE_AUDIT_OLD_KEYS): made up, or an old key is missing"
                )
            elif not hmac.compare_digest(_signature(key, record), signature):
                problems.append(f"{label}: its signature does not match (the line was edited)")
            elif record.get("prev", "") != previous:
                problems.append(f"{label} does not follow the line before it (a line was removed or inserted)")
                checkpoints.append(Checkpoint(label, heads))  # its own signature holds: its heads still count
            else:
                checkpoints.append(Checkpoint(label, heads))
            previous = signature
    return CheckpointFile(checkpoints, problems, exists=True)
