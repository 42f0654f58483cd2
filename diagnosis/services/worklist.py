"""The reading claim on a study ("being read by"): who opened it to read, so that two readers do not read the same
study at once. A claim lapses MEDSITE_READING_CLAIM_MINUTES after it was taken or last refreshed; a lapsed claim is
no claim (nothing clears it: it simply stops counting). Claims are taken with the row locked, so two readers who
open a study at the same moment get one claim and one refusal."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.formats import time_format

from accounts.audit import SYSTEM, Client, audit_record
from accounts.models import AuditEvent, User
from diagnosis import listings, selectors
from diagnosis.models import Study
from medsite.errors import DomainError


def claim_holder(study: Study, now: datetime | None = None) -> User | None:
    """The reader whose claim on the study is live, or None (no claim, or a lapsed one)."""
    if study.claimed_by_id is None or study.claimed_at is None or study.claimed_at <= selectors.claim_cutoff(now):
        return None
    return study.claimed_by


def claim_message(study: Study) -> str:
    """What others are told of a live claim: "Being read by Dr X since 10:42." (local time)."""
    since = time_format(timezone.localtime(study.claimed_at), "H:i")
    return f"Being read by {study.claimed_by} since {since}."


@transaction.atomic
def study_claim(*, study: Study, reader: User, client: Client | None = None) -> Study:
    """Claim the study for `reader`, or refresh their own claim. Refused (DomainError, conflict) while another
    reader's claim is live. A new claim is audited and shows on the worklist at once; a refresh is neither (the
    reading view refreshes it as the reader moves through the study)."""
    locked = Study.objects.select_for_update(of=("self",)).select_related("patient__site").get(pk=study.pk)
    now = timezone.now()
    holder = claim_holder(locked, now)
    if holder is not None and holder.pk != reader.pk:
        raise DomainError(claim_message(locked), code="claimed", kind="conflict")
    locked.claimed_by, locked.claimed_at = reader, now
    locked.save(update_fields=["claimed_by", "claimed_at"])
    if holder is None:
        _claim_changed(locked, reader, client, "taken")
    study.claimed_by, study.claimed_at = locked.claimed_by, locked.claimed_at
    return locked


@transaction.atomic
def study_release(*, study: Study, reader: User, client: Client | None = None) -> Study:
    """Drop `reader`'s own claim on the study (live or lapsed). Someone else's claim, or none, is left as it is."""
    locked = Study.objects.select_for_update(of=("self",)).select_related("patient__site").get(pk=study.pk)
    if locked.claimed_by_id != reader.pk:
        return locked
    live = claim_holder(locked) is not None
    locked.claimed_by, locked.claimed_at = None, None
    locked.save(update_fields=["claimed_by", "claimed_at"])
    if live:
        _claim_changed(locked, reader, client, "released")
    study.claimed_by, study.claimed_at = None, None
    return locked


def study_release_when_read(*, study: Study, reader: User, client: Client | None = None) -> None:
    """After `reader` reviewed an image of the study: once nothing in it waits for them, their claim goes, so that
    a second reader is not kept out by a finished read."""
    if study.claimed_by_id == reader.pk and selectors.worklist_first_waiting_image(user=reader, study=study) is None:
        study_release(study=study, reader=reader, client=client)


def claim_state(study: Study) -> dict:
    """Who holds the study's live claim, since when and until when (all None when nobody does)."""
    holder = claim_holder(study)
    if holder is None:
        return {"study": study.pk, "claimed_by": None, "claimed_at": None, "expires_at": None}
    expires = study.claimed_at + timedelta(minutes=settings.MEDSITE_READING_CLAIM_MINUTES)
    return {"study": study.pk, "claimed_by": str(holder), "claimed_at": study.claimed_at, "expires_at": expires}


def _claim_changed(study: Study, reader: User, client: Client | None, change: str) -> None:
    """Audit a claim taken or released (an `update` of the study) and refresh the site's worklists."""
    site = study.patient.site
    audit_record(
        actor=reader,
        action=AuditEvent.Action.UPDATE,
        obj=study,
        site=site,
        client=client or SYSTEM,
        detail={"claim": change},
    )
    listings.results_changed(site.pk)
