"""Checkpoints shipped to an S3 bucket with Object Lock (compliance mode), on moto's S3."""

from datetime import timedelta

import boto3
import pytest
from botocore.exceptions import ClientError
from django.core.management import call_command
from django.core.management.base import CommandError
from moto import mock_aws

from accounts.audit import audit_record
from accounts.audit_checkpoints import S3_PREFIX
from accounts.models import AuditEvent
from tests.accounts.test_audit_chain import _as_database_owner

pytestmark = pytest.mark.django_db
BUCKET = "medsite-audit-checkpoints"


@pytest.fixture
def bucket(settings, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        client = boto3.client("s3", region_name="eu-west-1")
        client.create_bucket(
            Bucket=BUCKET,
            CreateBucketConfiguration={"LocationConstraint": "eu-west-1"},
            ObjectLockEnabledForBucket=True,
        )
        settings.MEDSITE_AUDIT_CHECKPOINT_S3_BUCKET = BUCKET
        settings.MEDSITE_AUDIT_CHECKPOINT_S3_CLIENT = {"region_name": "eu-west-1"}
        yield client


def _events(n):
    return [
        audit_record(actor=None, action=AuditEvent.Action.LOGIN_FAILED, actor_email=f"s{i}@x.example") for i in range(n)
    ]


def test_each_checkpoint_is_an_object_no_one_can_delete_or_overwrite(bucket, settings):
    _events(2)
    call_command("audit_checkpoint")
    call_command("audit_checkpoint")
    objects = bucket.list_object_versions(Bucket=BUCKET, Prefix=S3_PREFIX)["Versions"]
    assert len(objects) == 2
    key, version = objects[0]["Key"], objects[0]["VersionId"]
    head = bucket.head_object(Bucket=BUCKET, Key=key, VersionId=version)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"] - head["LastModified"] > timedelta(days=3640)  # ten years by default
    with pytest.raises(ClientError, match="AccessDenied"):
        bucket.delete_object(Bucket=BUCKET, Key=key, VersionId=version)
    with pytest.raises(ClientError, match="AccessDenied"):
        bucket.delete_object(Bucket=BUCKET, Key=key, VersionId=version, BypassGovernanceRetention=True)
    call_command("verify_audit", "--checkpoints-s3")


def test_verify_audit_against_the_bucket_finds_a_chain_trimmed_along_with_the_local_file(bucket, settings):
    events = _events(3)
    call_command("audit_checkpoint")
    # Someone with the database and the host removes the newest event and the local checkpoint file.
    _as_database_owner(("DELETE FROM accounts_auditevent WHERE id = %s", [events[2].pk]))
    settings.MEDSITE_AUDIT_CHECKPOINT_FILE.unlink()
    call_command("verify_audit")  # the local file is gone: a warning only
    with pytest.raises(CommandError, match=f"broken at event {events[2].pk}: it is missing"):
        call_command("verify_audit", "--checkpoints-s3")


def test_a_checkpoint_that_cannot_reach_the_bucket_is_an_error_but_stays_in_the_file(bucket, settings):
    _events(1)
    settings.MEDSITE_AUDIT_CHECKPOINT_S3_BUCKET = "no-such-bucket"
    with pytest.raises(CommandError, match="written to the local file but not to s3://no-such-bucket"):
        call_command("audit_checkpoint")
    assert len(settings.MEDSITE_AUDIT_CHECKPOINT_FILE.read_text().splitlines()) == 1
