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
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import boto3
from django.conf import settings
from django.utils import timezone

from accounts.audit import AuditKey, ChainHead, Checkpoint, audit_chain_heads, audit_keys

VERSION = 1
_TAIL = 64 * 1024  # a checkpoint line is well under this (8 chains of about 120 characters)
S3_PREFIX = "audit-checkpoints/"


class CheckpointNotShipped(Exception):
    """The checkpoint is in the local file but did not reach the Object Lock bucket."""


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
        line = _canonical(record) + b"\n"
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:  # the new file's name must survive a crash too
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    if settings.MEDSITE_AUDIT_CHECKPOINT_S3_BUCKET:
        _ship(record, line)
    return record


def _s3():
    return boto3.client(
        "s3", **{name: value for name, value in settings.MEDSITE_AUDIT_CHECKPOINT_S3_CLIENT.items() if value}
    )


def _ship(record: dict, line: bytes) -> None:
    """The checkpoint as one object in the Object Lock bucket, in compliance mode: no one, the bucket's owner
    included, can overwrite or delete that version before its retention date."""
    bucket = settings.MEDSITE_AUDIT_CHECKPOINT_S3_BUCKET
    at = datetime.fromisoformat(record["at"])
    try:
        _s3().put_object(
            Bucket=bucket,
            Key=f"{S3_PREFIX}{at:%Y%m%dT%H%M%S%fZ}-{record['sig'][:16]}.json",
            Body=line,
            ContentType="application/json",
            ObjectLockMode="COMPLIANCE",
            ObjectLockRetainUntilDate=at + timedelta(days=settings.MEDSITE_AUDIT_CHECKPOINT_S3_RETAIN_DAYS),
            ChecksumAlgorithm="SHA256",
        )
    except Exception as exc:
        raise CheckpointNotShipped(
            f"Checkpoint of {record['at']} written to the local file but not to s3://{bucket} "
            f"({exc.__class__.__name__}); the next checkpoint will try again with its own"
        ) from exc


@dataclass(frozen=True)
class CheckpointFile:
    """The checkpoints of a file whose signatures verified, oldest first, and what was wrong with the others."""

    checkpoints: list[Checkpoint]
    problems: list[str]
    exists: bool


def checkpoint_read(*, path: Path | None = None) -> CheckpointFile:
    """The checkpoints of the local file (or ``path``): each line's signature, and that it names the line before."""
    path = Path(path or settings.MEDSITE_AUDIT_CHECKPOINT_FILE)
    if not path.exists():
        return CheckpointFile([], [], exists=False)
    with path.open("rb") as lines:
        return _parse(enumerate(lines, start=1), where="line", sequence=True)


def checkpoint_read_s3() -> CheckpointFile:
    """The checkpoints in the Object Lock bucket, oldest first. Their signatures are checked, not their sequence: a
    checkpoint that failed to reach the bucket is only a gap."""
    client, bucket = _s3(), settings.MEDSITE_AUDIT_CHECKPOINT_S3_BUCKET
    keys = sorted(
        item["Key"]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=S3_PREFIX)
        for item in page.get("Contents", ())
    )
    lines = ((key, client.get_object(Bucket=bucket, Key=key)["Body"].read()) for key in keys)
    return _parse(lines, where=f"s3://{bucket}/", sequence=False, exists=bool(keys))


def _parse(lines: Iterable[tuple[object, bytes]], *, where: str, sequence: bool, exists: bool = True) -> CheckpointFile:
    _, keys = audit_keys()
    checkpoints: list[Checkpoint] = []
    problems: list[str] = []
    previous = ""
    for place, line in lines:
        if not line.strip():
            continue
        name = f"{where} {place}" if where == "line" else f"{where}{place}"
        try:
            record = json.loads(line)
            heads = tuple(
                ChainHead(int(c["chain"]), int(c["last_id"]), str(c["hash"]), int(c["count"])) for c in record["chains"]
            )
            key_id, signature, at = str(record["key"]), str(record["sig"]), str(record["at"])
        except (ValueError, KeyError, TypeError, AttributeError):
            problems.append(f"checkpoint {name} is not a checkpoint (it was edited or cut)")
            previous = ""
            continue
        label = f"checkpoint of {at} ({name})"
        key = keys.get(key_id)
        if key is None:
            problems.append(
                f"{label} is signed with audit key {key_id}, which is not configured (MEDSITE_AUDIT_KEY, "
                "MEDSITE_AUDIT_OLD_KEYS): made up, or an old key is missing"
            )
        elif not hmac.compare_digest(_signature(key, record), signature):
            problems.append(f"{label}: its signature does not match (the line was edited)")
        else:
            if sequence and record.get("prev", "") != previous:
                problems.append(f"{label} does not follow the line before it (a line was removed or inserted)")
            checkpoints.append(Checkpoint(label, heads))  # its own signature holds: its heads count
        previous = signature
    return CheckpointFile(checkpoints, problems, exists=exists)
