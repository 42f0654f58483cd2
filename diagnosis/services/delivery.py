"""Results routing (issue 21, part 3): AI results go to the site's PACS over DICOM C-STORE and to its FHIR server.

- deliveries_for_prediction: a new (non-shadow) prediction gets one ResultDelivery per target and object: the
  preliminary SR and, with a heatmap, its Secondary Capture, to each enabled DICOM destination that takes preliminary
  results; a preliminary DiagnosticReport to each enabled FHIR server.
- deliveries_for_review: a review that makes the reading final gets the final SR (destinations that take final
  results) and a final DiagnosticReport (FHIR servers).
- delivery_send: one attempt, run by diagnosis.tasks.send_result_task: claim the row, build the object, send it, and
  record and audit the outcome. A passing failure (no answer, a transient rejection) leaves it pending for Celery's
  retry; after the last try, or on a refusal (a DIMSE failure status, a permanent rejection, an HTTP 4xx), it is
  failed and stays visible until a site admin sends it again (delivery_retry).

Each row's key names its target, kind and object, so a repeated trigger creates nothing twice; a delivery is claimed
with a compare-and-swap on claimed_at, and only a pending one is sent, so a duplicate message sends nothing again.
The objects' UIDs are stable (diagnosis.dicom_results): a resend after a lost answer is the same instance.

An image outside the model's scope (unsuitable) gets no prediction, so nothing is sent for it. Shadow predictions are
never sent.
"""

import io
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import pydicom
from celery import current_app
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE
from pynetdicom.status import STORAGE_SERVICE_CLASS_STATUS, code_to_category

from accounts.audit import SYSTEM, Client, audit_record
from accounts.models import AuditEvent, Membership, Role, User
from diagnosis import dicom_results
from diagnosis.models import DicomDestination, FhirServer, Prediction, ResultDelivery, Review
from diagnosis.task_names import SEND_TASK
from medsite.errors import DomainError

try:
    from diagnosis import fhir
except ImportError:  # diagnosis/fhir.py (issue 21, part 4) is not in this checkout yet
    fhir = None

logger = logging.getLogger(__name__)

CLAIM_MARGIN_S = 30  # a claim is stale this long after the send task's hard time limit
TRANSIENT_HTTP = {408, 425, 429, 502, 503, 504}
Kind = ResultDelivery.Kind
Status = ResultDelivery.Status


class DeliveryRetry(Exception):
    """An attempt failed for a passing reason (no answer, a transient rejection, a timeout): try again later."""


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to. peer_status: the DIMSE status as 0xHHHH, the HTTP status, or what happened instead
    ("association rejected", "no answer"); error: why it failed (or the warning), in MedSite's words only."""

    sent: bool
    peer_status: str
    error: str = ""
    transient: bool = False
    sop_instance_uid: str = ""


# --- creating deliveries ----------------------------------------------------------------------------------------


def deliveries_for_prediction(*, prediction: Prediction) -> list[ResultDelivery]:
    """The preliminary result's deliveries (none for a shadow prediction); each new one is queued on commit."""
    if prediction.is_shadow:
        return []
    site = prediction.image.study.site
    rows = []
    for destination in DicomDestination.objects.filter(site=site, enabled=True, send_preliminary=True):
        rows.append(_row(f"d{destination.pk}:sr:p{prediction.pk}", Kind.PRELIMINARY_SR, prediction, destination))
        if prediction.heatmap:
            rows.append(_row(f"d{destination.pk}:sc:p{prediction.pk}", Kind.HEATMAP_SC, prediction, destination))
    for server in FhirServer.objects.filter(site=site, enabled=True):
        rows.append(_row(f"f{server.pk}:fhir:p{prediction.pk}", Kind.FHIR_REPORT, prediction, server))
    return _create_and_queue(rows)


def deliveries_for_review(*, review: Review) -> list[ResultDelivery]:
    """The final result's deliveries, for a review that made the reading final; each new one is queued on commit."""
    prediction = review.prediction
    if prediction.is_shadow:
        return []
    site = prediction.image.study.site
    rows = []
    for destination in DicomDestination.objects.filter(site=site, enabled=True, send_final=True):
        key = f"d{destination.pk}:final_sr:r{review.pk}"
        rows.append(_row(key, Kind.FINAL_SR, prediction, destination, review=review))
    for server in FhirServer.objects.filter(site=site, enabled=True):
        rows.append(_row(f"f{server.pk}:fhir:r{review.pk}", Kind.FHIR_REPORT, prediction, server, review=review))
    return _create_and_queue(rows)


def _row(key: str, kind: str, prediction: Prediction, target, review: Review | None = None) -> ResultDelivery:
    dicom = isinstance(target, DicomDestination)
    return ResultDelivery(
        key=key,
        site_id=target.site_id,
        destination=target if dicom else None,
        fhir_server=None if dicom else target,
        kind=kind,
        prediction=prediction,
        review=review,
    )


def _create_and_queue(rows: list[ResultDelivery]) -> list[ResultDelivery]:
    """Insert the rows whose key is new (a concurrent insert of the same key is ignored) and queue each on commit."""
    if not rows:
        return []
    existing = set(ResultDelivery.objects.filter(key__in=[r.key for r in rows]).values_list("key", flat=True))
    new = [row for row in rows if row.key not in existing]
    now = timezone.now()
    for row in new:
        row.queued_at = now
    ResultDelivery.objects.bulk_create(new, ignore_conflicts=True)
    created = list(ResultDelivery.objects.filter(key__in=[r.key for r in new], queued_at=now))
    for delivery in created:
        _queue_on_commit(delivery.pk)
    return created


def _queue_on_commit(delivery_pk: int) -> None:
    transaction.on_commit(
        lambda: current_app.send_task(SEND_TASK, kwargs={"delivery_pk": delivery_pk}), robust=True
    )  # a broker that is down now: the sweep (deliveries_requeue_stalled) sends it later


# --- sending ----------------------------------------------------------------------------------------------------


def delivery_send(*, delivery_pk: int, worker: str = "", last_try: bool = True) -> ResultDelivery | None:
    """One attempt to send a pending delivery; None when there was nothing to do (sent, failed, gone, or being sent
    by another worker). Raises DeliveryRetry after a passing failure unless this is the last try, which fails it."""
    claimed_at = _claim(delivery_pk)
    if claimed_at is None:
        return None
    delivery = ResultDelivery.objects.select_related(
        "site", "destination", "fhir_server", "prediction__model_version", "prediction__image__study__patient__site",
        "review__reviewer",
    ).get(pk=delivery_pk)  # fmt: skip
    outcome = _send_fhir(delivery) if delivery.fhir_server_id else _send_dicom(delivery)
    logger.info(
        "Delivery %s (%s to %s) attempt %d by %s: %s",
        delivery.pk, delivery.kind, _target_name(delivery), delivery.attempts + 1, worker or "-", outcome.peer_status,
    )  # fmt: skip
    retry = not outcome.sent and outcome.transient and not last_try
    status = Status.SENT if outcome.sent else Status.PENDING if retry else Status.FAILED
    if not _record(delivery, claimed_at, outcome, status):
        return None  # taken over as stale meanwhile; the newer attempt records its own outcome
    delivery.refresh_from_db()
    if retry:
        raise DeliveryRetry(f"delivery {delivery.pk}: {outcome.peer_status}")
    return delivery


def _claim(delivery_pk: int) -> datetime | None:
    """Compare-and-swap: a pending delivery that no one holds, or whose holder's claim outlived the send time limit
    (its worker died), becomes ours. Returns the claim's time, which our outcome is recorded against."""
    now = timezone.now()
    stale = now - timedelta(seconds=claim_lease_s())
    free = Q(claimed_at__isnull=True) | Q(claimed_at__lt=stale)
    claimed = ResultDelivery.objects.filter(free, pk=delivery_pk, status=Status.PENDING).update(claimed_at=now)
    return now if claimed == 1 else None


def claim_lease_s() -> int:
    return settings.RESULT_SEND_TIME_LIMIT + CLAIM_MARGIN_S


def _record(delivery: ResultDelivery, claimed_at: datetime, outcome: Outcome, status: str) -> bool:
    """The outcome on the row (if our claim still holds) and in the audit trail, together."""
    now = timezone.now()
    with transaction.atomic():
        updated = ResultDelivery.objects.filter(pk=delivery.pk, claimed_at=claimed_at).update(
            status=status,
            attempts=F("attempts") + 1,
            peer_status=outcome.peer_status[:64],
            error=outcome.error[:500],
            sop_instance_uid=outcome.sop_instance_uid or delivery.sop_instance_uid,
            claimed_at=None,
            queued_at=now if status == Status.PENDING else delivery.queued_at,  # Celery's retry is the new message
            sent_at=now if status == Status.SENT else None,
        )
        if updated:
            audit_record(
                actor=None,
                action=AuditEvent.Action.SEND,
                obj=delivery,
                site=delivery.site,
                detail={
                    "kind": delivery.kind,
                    "destination": _target_name(delivery),
                    "status": status,
                    "peer_status": outcome.peer_status[:64],
                    "attempt": delivery.attempts + 1,
                },
            )
    return bool(updated)


def _target_name(delivery: ResultDelivery) -> str:
    return (delivery.destination or delivery.fhir_server).name


def _dataset(delivery: ResultDelivery) -> Dataset:
    """The object to send, as read back from its Part 10 bytes (so it carries its transfer syntax)."""
    if delivery.kind == Kind.PRELIMINARY_SR:
        built = dicom_results.prediction_sr(delivery.prediction)
    elif delivery.kind == Kind.HEATMAP_SC:
        built = dicom_results.prediction_sc(delivery.prediction)
    else:
        built = dicom_results.review_sr(delivery.review)
    return pydicom.dcmread(io.BytesIO(dicom_results.to_bytes(built)))


def _send_dicom(delivery: ResultDelivery) -> Outcome:
    """C-STORE of the object to the destination, as MedSite's calling AE title, over a fresh association."""
    try:
        dataset = _dataset(delivery)
    except Exception as exc:  # a missing heatmap file, an unreadable source image: no retry makes it work
        # The type only: a message about the dataset could quote the patient's details.
        logger.error("Could not build the DICOM object of delivery %s: %s", delivery.pk, type(exc).__name__)
        return Outcome(sent=False, peer_status="not sent", error="MedSite could not build the DICOM object.")
    uid = str(dataset.SOPInstanceUID)
    destination = delivery.destination
    timeout = settings.MEDSITE_DICOM_SEND_TIMEOUT
    ae = AE(ae_title=destination.calling_ae_title)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = ae.connection_timeout = timeout
    ae.add_requested_context(dataset.SOPClassUID, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    try:
        assoc = ae.associate(destination.host, destination.port, ae_title=destination.ae_title)
    except Exception as exc:  # an unresolvable host name and the like: it may resolve later
        logger.warning("Delivery %s: could not reach %s: %s", delivery.pk, destination.name, type(exc).__name__)
        return _no_answer(destination, uid)
    if assoc.is_rejected:
        transient = getattr(assoc.acceptor.primitive, "result", None) == 0x02
        return Outcome(
            sent=False,
            peer_status="association rejected",
            error=f"The destination rejected the association ({'transient' if transient else 'permanent'}): check "
            f"that it knows MedSite's AE title {destination.calling_ae_title} and its own {destination.ae_title}.",
            transient=transient,
            sop_instance_uid=uid,
        )
    if not assoc.is_established:
        if assoc.rejected_contexts:
            return Outcome(
                sent=False,
                peer_status="no presentation context",
                error=f"The destination does not accept {dataset.SOPClassUID.name} objects.",
                sop_instance_uid=uid,
            )
        return _no_answer(destination, uid)
    try:
        answer = assoc.send_c_store(dataset)
    except Exception as exc:
        logger.warning(
            "Delivery %s: the C-STORE to %s broke off: %s", delivery.pk, destination.name, type(exc).__name__
        )
        answer = Dataset()
    finally:
        if assoc.is_established:
            assoc.release()
    if "Status" not in answer:  # timed out, aborted, or an invalid answer
        return Outcome(
            sent=False,
            peer_status="no answer",
            error=f"The destination did not answer the C-STORE within {settings.MEDSITE_DICOM_SEND_TIMEOUT} s.",
            transient=True,
            sop_instance_uid=uid,
        )
    return _dimse_outcome(int(answer.Status), uid)


def _no_answer(destination: DicomDestination, uid: str) -> Outcome:
    return Outcome(
        sent=False,
        peer_status="no answer",
        error=f"No DICOM answer from {destination.host}:{destination.port}.",
        transient=True,
        sop_instance_uid=uid,
    )


def _dimse_outcome(code: int, uid: str) -> Outcome:
    """Success and warnings are sent (a warning recorded); failure statuses are a refusal, not retried."""
    category = code_to_category(code)
    description = STORAGE_SERVICE_CLASS_STATUS.get(code, ("", ""))[1] or "status not defined for storage"
    hex_code = f"0x{code:04X}"
    if category == "Success":
        return Outcome(sent=True, peer_status=hex_code, sop_instance_uid=uid)
    if category == "Warning":
        return Outcome(
            sent=True, peer_status=hex_code, error=f"Stored with a warning: {description}.", sop_instance_uid=uid
        )
    return Outcome(
        sent=False, peer_status=hex_code, error=f"The destination refused it: {description}.", sop_instance_uid=uid
    )


def _send_fhir(delivery: ResultDelivery) -> Outcome:
    """The DiagnosticReport (preliminary without a review, final with one) to the FHIR server, by diagnosis.fhir."""
    if fhir is None:
        return Outcome(sent=False, peer_status="not sent", error="This installation cannot send FHIR yet.")
    try:
        code = fhir.push(delivery.fhir_server, delivery.prediction, delivery.review)
    except fhir.PushError as exc:
        status = getattr(exc, "status", None)
        message = str(exc.args[0]) if exc.args else "The FHIR server refused the report."
        if status is None:
            return Outcome(sent=False, peer_status="no answer", error=message, transient=True)
        return Outcome(sent=False, peer_status=str(status), error=message, transient=status in TRANSIENT_HTTP)
    except Exception as exc:
        logger.warning("Delivery %s: the FHIR push broke off: %s", delivery.pk, type(exc).__name__)
        return Outcome(sent=False, peer_status="no answer", error="The FHIR push broke off.", transient=True)
    return Outcome(sent=True, peer_status=str(code))


# --- people and the sweep ---------------------------------------------------------------------------------------


@transaction.atomic
def delivery_retry(*, delivery: ResultDelivery, user: User, client: Client = SYSTEM) -> ResultDelivery:
    """A site admin sends a failed delivery again: it is pending once more (its last error kept until the next
    attempt), audited, and queued on commit; Celery's retries start afresh."""
    if not Membership.objects.filter(user=user, site_id=delivery.site_id, role=Role.ADMIN).exists():
        raise PermissionDenied("Only an admin of this site may send a result again.")
    now = timezone.now()
    again = ResultDelivery.objects.filter(pk=delivery.pk, status=Status.FAILED).update(
        status=Status.PENDING, claimed_at=None, queued_at=now
    )
    if not again:
        status = ResultDelivery.objects.get(pk=delivery.pk).get_status_display().lower()
        raise DomainError(f"Only a failed delivery can be sent again; this one is {status}.", kind="conflict")
    delivery.refresh_from_db()
    audit_record(
        actor=user,
        action=AuditEvent.Action.SEND,
        obj=delivery,
        site=delivery.site,
        client=client,
        detail={"kind": delivery.kind, "destination": _target_name(delivery), "status": "requested again"},
    )
    _queue_on_commit(delivery.pk)
    return delivery


def deliveries_requeue_stalled() -> int:
    """Send again the pending deliveries that will otherwise never go: those whose message was lost (nothing
    queued for them for MEDSITE_RESULT_RESEND_AFTER seconds, which is longer than any wait between retries) and
    those whose worker died while sending (a claim older than the send time limit). Returns how many."""
    now = timezone.now()
    lost = Q(claimed_at__isnull=True, queued_at__lt=now - timedelta(seconds=settings.MEDSITE_RESULT_RESEND_AFTER))
    died = Q(claimed_at__lt=now - timedelta(seconds=claim_lease_s()))
    pks = list(ResultDelivery.objects.filter(lost | died, status=Status.PENDING).values_list("pk", flat=True)[:1000])
    if not pks:
        return 0
    ResultDelivery.objects.filter(pk__in=pks, status=Status.PENDING).update(queued_at=now, claimed_at=None)
    for pk in pks:
        current_app.send_task(SEND_TASK, kwargs={"delivery_pk": pk})
    logger.warning("Sent %d stalled result deliveries again", len(pks))
    return len(pks)


# --- for people to read -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TargetLine:
    """One target's deliveries of one prediction, for the study page: "Main PACS: SR ✓, heatmap failed (...)"."""

    target: str
    items: list[tuple[str, str, str, bool]]  # (what, status, reason, retrying)


SHORT_KIND = {
    Kind.PRELIMINARY_SR: "SR",
    Kind.HEATMAP_SC: "heatmap",
    Kind.FINAL_SR: "final SR",
    Kind.FHIR_REPORT: "report",
}


def delivery_lines(deliveries: list[ResultDelivery]) -> list[TargetLine]:
    """A prediction's deliveries (with their targets) grouped by target, oldest object first."""
    lines: dict[str, list] = {}
    for d in sorted(deliveries, key=lambda d: (d.created_at, d.pk)):
        what = SHORT_KIND[d.kind] + (" (final)" if d.kind == Kind.FHIR_REPORT and d.review_id else "")
        retrying = d.status == Status.PENDING and d.attempts > 0
        lines.setdefault(_target_name(d), []).append((what, d.status, d.error, retrying))
    return [TargetLine(target, items) for target, items in lines.items()]
