"""The model registry: which version of each task's model is active, which run in shadow, and rollback.

Every change locks the task's versions (SELECT ... FOR UPDATE), so two admins clicking at once cannot leave
a task with two active versions; the partial unique constraint one_active_model_per_task backs this up.
"""

from django.db import transaction
from django.db.models import F, OuterRef, Subquery
from django.utils import timezone

from accounts.audit import SYSTEM, Client, audit_record
from accounts.models import AuditEvent, User
from diagnosis.models import ModelEvaluation, ModelVersion, Prediction
from medsite.errors import DomainError

Status = ModelVersion.Status


@transaction.atomic
def model_activate(
    *,
    model_version: ModelVersion,
    actor: User | None,
    reason: str = "",
    detail: dict | None = None,
    client: Client = SYSTEM,
) -> ModelVersion:
    """Make this version the one active model of its task; the previous active version is retired. No gate:
    the first model of a task, and `register_model --activate` on the server; people promote through
    model_promote.

    Workers look the active version up for every image, so the next image uses it without a restart.
    """
    version = _lock_task(model_version)
    if version.status == Status.ACTIVE:
        return version
    previous = ModelVersion.objects.filter(task=version.task, status=Status.ACTIVE).first()
    if previous is not None:
        previous.status = Status.RETIRED
        previous.save(update_fields=["status"])
    old_status = version.status
    version.status, version.activated_at = Status.ACTIVE, timezone.now()
    version.save(update_fields=["status", "activated_at"])
    audit_record(
        actor=actor,
        action=AuditEvent.Action.ACTIVATE,
        obj=version,
        client=client,
        detail=_detail(old_status, Status.ACTIVE, reason)
        | {"replaced": previous.bundle_sha256 if previous else None}
        | (detail or {}),
    )
    return version


def promotion_check(*, model_version: ModelVersion) -> tuple[bool, list[str], ModelEvaluation | None]:
    """Whether the gate lets this version replace the task's active one: it needs an evaluation on the
    held-out set against the version that is active now, and that evaluation must have passed."""
    active = ModelVersion.objects.filter(task=model_version.task, status=Status.ACTIVE).first()
    if active is None or active == model_version:
        return True, ["There is no other active version to be better than."], None
    evaluation = model_version.evaluations.filter(baseline=active).first()
    if evaluation is None:
        return (
            False,
            [f"It has not been evaluated against the active version {active.short_sha} on the held-out set."],
            None,
        )
    return evaluation.gate_passed, list(evaluation.gate_reasons), evaluation


@transaction.atomic
def model_promote(
    *,
    model_version: ModelVersion,
    actor: User | None,
    reason: str = "",
    override: bool = False,
    client: Client = SYSTEM,
) -> ModelVersion:
    """Promote through the gate: allowed when the candidate is not worse than the active version on the
    held-out set (AUC and sensitivity at its operating point). override=True promotes anyway. Either way it
    needs a written reason, which the audit trail keeps with the gate's findings (the web, the API, the admin
    and the automatic promotion after training all come through here)."""
    reason = _required_reason(reason)
    version = _lock_task(model_version)
    passed, reasons, evaluation = promotion_check(model_version=version)
    if not passed and not override:
        raise DomainError(
            "The promotion gate refuses this version: " + " ".join(reasons) + " An override needs a written reason."
        )
    gate = {"gate_passed": passed, "gate": reasons, "evaluation": evaluation.pk if evaluation else None}
    return model_activate(
        model_version=version,
        actor=actor,
        reason=reason,
        detail=gate | ({"override": True} if override else {}),
        client=client,
    )


@transaction.atomic
def model_rollback(*, task: str, actor: User | None, reason: str = "", client: Client = SYSTEM) -> ModelVersion:
    """Make the version that was active before the current one active again; the current one is retired.
    Needs a written reason, which the audit trail keeps."""
    reason = _required_reason(reason)
    current, target = _rollback_pair(list(ModelVersion.objects.select_for_update().filter(task=task).order_by("pk")))
    if target is None:
        raise DomainError(f"There is no earlier active version of {task} to roll back to.")
    if current is not None:
        current.status = Status.RETIRED
        current.save(update_fields=["status"])
    target.status, target.activated_at = Status.ACTIVE, timezone.now()
    target.save(update_fields=["status", "activated_at"])
    audit_record(
        actor=actor,
        action=AuditEvent.Action.ROLLBACK,
        obj=target,
        client=client,
        detail=_detail(Status.RETIRED, Status.ACTIVE, reason)
        | {"rolled_back": current.bundle_sha256 if current else None},
    )
    return target


@transaction.atomic
def model_set_shadow(
    *, model_version: ModelVersion, actor: User | None, reason: str = "", client: Client = SYSTEM
) -> ModelVersion:
    """Run this version beside the active one on every new image of its task, without showing its output."""
    version = _lock_task(model_version)
    if version.status == Status.ACTIVE:
        raise DomainError("The active version cannot run in shadow; promote another version first.")
    return _change_status(version, Status.SHADOW, actor, reason, client)


@transaction.atomic
def model_retire(
    *, model_version: ModelVersion, actor: User | None, reason: str = "", client: Client = SYSTEM
) -> ModelVersion:
    """Stop using a candidate or shadow version."""
    version = _lock_task(model_version)
    if version.status == Status.ACTIVE:
        raise DomainError("The active version cannot be retired; promote another version or roll back.")
    return _change_status(version, Status.RETIRED, actor, reason, client)


def rollback_target(*, task: str) -> tuple[ModelVersion | None, ModelVersion | None]:
    """(the active version, the version a rollback would make active again) of the task, without changing
    anything: what a confirmation page shows before model_rollback. Either may be None."""
    return _rollback_pair(list(ModelVersion.objects.filter(task=task).order_by("pk")))


def _rollback_pair(versions: list[ModelVersion]) -> tuple[ModelVersion | None, ModelVersion | None]:
    current = next((v for v in versions if v.status == Status.ACTIVE), None)
    earlier = [v for v in versions if v.status == Status.RETIRED and v.activated_at is not None and v != current]
    return current, max(earlier, key=lambda v: v.activated_at) if earlier else None


REASON_REQUIRED = "Write why: the reason is kept in the audit trail."


def _required_reason(reason: str) -> str:
    """Promotion and rollback change what every reader is shown: the person (or the automatic promotion) says
    why, in words the audit trail keeps."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(REASON_REQUIRED, code="required", field="reason")
    return reason


def _lock_task(model_version: ModelVersion) -> ModelVersion:
    """Lock every version of the task, then reload model_version (in place) under the lock."""
    list(ModelVersion.objects.select_for_update().filter(task=model_version.task))
    model_version.refresh_from_db()
    return model_version


def _change_status(version: ModelVersion, status: str, actor: User | None, reason: str, client: Client) -> ModelVersion:
    if version.status == status:
        return version
    old_status = version.status
    version.status = status
    version.save(update_fields=["status"])
    audit_record(
        actor=actor,
        action=AuditEvent.Action.MODEL_STATUS,
        obj=version,
        client=client,
        detail=_detail(old_status, status, reason),
    )
    return version


def _detail(old: str, new: str, reason: str) -> dict:
    return {"from": old, "to": new} | ({"reason": reason[:500]} if reason else {})


def shadow_agreement(*, model_version: ModelVersion) -> dict | None:
    """For a version that has made shadow predictions: on the images the shown result came from another
    version, how often the two labels agree. None when it has made no shadow predictions."""
    shadow = Prediction.objects.filter(model_version=model_version, is_shadow=True)
    if not shadow.exists():
        return None
    shown = Prediction.objects.filter(image=OuterRef("image"), is_shadow=False).order_by("-created_at")
    pairs = shadow.annotate(shown_label=Subquery(shown.values("label")[:1])).exclude(shown_label=None)
    compared = pairs.count()
    agreed = pairs.filter(label=F("shown_label")).count()
    return {
        "shadow_predictions": shadow.count(),
        "compared": compared,
        "agreed": agreed,
        "rate": agreed / compared if compared else None,
    }
