"""The learning loop on the web side: the retraining queue, starting training runs, the promotion gate's
evaluations, and each model version's live performance against the radiologists.

No TensorFlow here (the web process imports this); training and evaluation run on the training worker
(diagnosis.services.training).
"""

import hashlib
import hmac
import logging
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from accounts.audit import SYSTEM, Client, audit_record
from accounts.models import AuditEvent, User
from diagnosis.models import LearningPolicy, ModelVersion, Prediction, RetrainingItem, Review, TrainingRun
from diagnosis.task_names import EVALUATE_TASK, TRAINING_TASK
from medsite.errors import DomainError
from mlcore.evaluate import operating_point

logger = logging.getLogger(__name__)
LIVE = (TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING)


def patient_key(patient_id: int) -> str:
    """A stable pseudonym for a patient (keyed hash): training data is split by it, and it reveals nothing."""
    key = hmac.new(settings.SECRET_KEY.encode(), b"medsite.patient", hashlib.sha256).digest()
    return hmac.new(key, str(patient_id).encode(), hashlib.sha256).hexdigest()[:32]


def retraining_item_create(*, review: Review) -> RetrainingItem:
    """Queue a reviewed image for training: its metadata-free pixels (the image's display PNG, read when a run
    exports the queue), the radiologist's label and the patient's pseudonym. One row, no file I/O: it runs
    inside review_submit's transaction."""
    prediction = review.prediction
    return RetrainingItem.objects.create(
        image=prediction.image,
        review=review,
        task=prediction.model_version.task,
        label=review.label,
        patient_key=patient_key(prediction.image.study.patient_id),
    )


@transaction.atomic
def retraining_item_exclude(
    *, item: RetrainingItem, actor: User, reason: str, client: Client = SYSTEM
) -> RetrainingItem:
    """Keep an item out of every later training run, with the admin's reason; audited, never deleted."""
    reason = reason.strip()
    if not reason:
        raise DomainError("Say why the item is excluded: the reason is kept with it.", code="required", field="reason")
    item = RetrainingItem.objects.select_for_update().get(pk=item.pk)
    if item.excluded_at is not None:
        raise DomainError("This item is already excluded.", code="already_excluded", kind="conflict")
    item.excluded_at, item.excluded_by, item.exclusion_reason = timezone.now(), actor, reason[:500]
    item.save(update_fields=["excluded_at", "excluded_by", "exclusion_reason"])
    audit_record(
        actor=actor,
        action=AuditEvent.Action.EXCLUDE,
        obj=item,
        site=item.image.study.patient.site,
        client=client,
        detail={"reason": item.exclusion_reason, "task": item.task, "label": item.label},
    )
    return item


def last_retraining(task: str) -> TrainingRun | None:
    """The newest retraining run of the task, failed ones included (a failure waits for new labels or an
    admin, rather than retrying on every beat)."""
    return TrainingRun.objects.filter(task=task, retrain=True).order_by("-created_at").first()


def _new_since(run: TrainingRun | None):
    """Items a run has not seen: queued after it exported the queue (its start), or after it was queued."""
    if run is None:
        return {}
    return {"created_at__gt": run.started_at or run.created_at}


def training_run_send(run_pk: int) -> None:
    """Send the run's message to the training queue and note when (training_runs_resend_lost reads it)."""
    TrainingRun.objects.filter(pk=run_pk).update(sent_at=timezone.now())
    current_app.send_task(TRAINING_TASK, kwargs={"run_pk": run_pk})


def training_runs_resend_lost(*, now=None) -> int:
    """Send the message again for runs still queued MEDSITE_TRAINING_RESEND_AFTER after it was last sent.

    A broker restart can lose a queued message, and the run would then stay queued for ever, refusing the task's
    next runs. A copy is harmless: the first delivery claims the run, later ones find it claimed and do nothing;
    while a busy training worker has not reached the run, it gets one copy per MEDSITE_TRAINING_RESEND_AFTER.
    Runs that were never sent (trained in place by `manage.py train_model`) are left alone.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.MEDSITE_TRAINING_RESEND_AFTER)
    lost = TrainingRun.objects.filter(status=TrainingRun.Status.QUEUED, sent_at__lt=cutoff)
    pks = list(lost.values_list("pk", flat=True))
    for pk in pks:
        training_run_send(pk)
    if pks:
        logger.warning("Sent %d queued training run(s) to the training queue again", len(pks))
    return len(pks)


def training_runs_fail_stalled(*, now=None) -> int:
    """Mark runs that have been "running" longer than the training time limit (plus a margin) as failed: their
    worker died (killed, out of memory, host lost), and a stuck run would block the task's next runs."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.CELERY_TRAINING_TIME_LIMIT + 600)
    stalled = TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING, started_at__lt=cutoff)
    return stalled.update(
        status=TrainingRun.Status.FAILED,
        finished_at=now,
        error="The training worker stopped before finishing (killed, out of memory or lost); start a new run.",
    )


def retraining_queue_summary(*, task: str) -> dict:
    """Usable items per class, how many came in since the last training run, and how many are excluded."""
    items = RetrainingItem.objects.filter(task=task)
    usable = items.usable()
    last = last_retraining(task)
    new = usable.filter(**_new_since(last))
    policy = LearningPolicy.objects.filter(task=task).first()
    return {
        "task": task,
        "usable": usable.count(),
        "by_class": dict(usable.values_list("label").annotate(n=Count("pk")).order_by("label")),
        "new_since_last_run": new.count(),
        "excluded": items.exclude(excluded_at=None).count(),
        "last_run": last,
        "retrain_after": policy.retrain_after if policy else None,
    }


def training_tasks() -> list[str]:
    """Tasks with a learning policy or with queued items, sorted."""
    tasks = set(LearningPolicy.objects.values_list("task", flat=True))
    tasks |= set(RetrainingItem.objects.values_list("task", flat=True).distinct())
    return sorted(tasks)


@transaction.atomic
def retraining_run_create(
    *, task: str, requested_by: User | None, trigger: str = TrainingRun.Trigger.MANUAL, client: Client = SYSTEM
) -> TrainingRun:
    """Queue a candidate for the task: the active version's recipe, trained on the base dataset plus the
    queue, on the training queue. Refused while another run of the task is queued or running."""
    policy = LearningPolicy.objects.select_for_update().filter(task=task).first()
    if policy is None:
        raise DomainError(f"{task} has no learning policy: an admin sets its base and held-out data first.")
    active = ModelVersion.objects.filter(task=task, status=ModelVersion.Status.ACTIVE).first()
    if active is None:
        raise DomainError(f"{task} has no active model whose recipe a retraining could reuse.")
    if TrainingRun.objects.filter(task=task, status__in=LIVE).exists():
        raise DomainError(
            f"A training run for {task} is already queued or running.", code="run_in_progress", kind="conflict"
        )
    run = TrainingRun.objects.create(
        task=task,
        source=policy.base_dataset,
        retrain=True,
        trigger=trigger,
        base_version=active,
        requested_by=requested_by,
    )
    audit_record(
        actor=requested_by,
        action=AuditEvent.Action.TRAIN,
        obj=run,
        client=client,
        detail={"task": task, "trigger": trigger, "base_version": active.bundle_sha256},
    )
    transaction.on_commit(lambda: training_run_send(run.pk))
    return run


def model_evaluation_request(*, model_version: ModelVersion, actor: User | None, client: Client = SYSTEM) -> None:
    """Queue a held-out evaluation of a version against the active one (on the training queue)."""
    if not LearningPolicy.objects.filter(task=model_version.task).exists():
        raise DomainError(f"{model_version.task} has no learning policy, so it has no held-out set.")
    audit_record(
        actor=actor, action=AuditEvent.Action.EVALUATE, obj=model_version, client=client, detail={"queued": True}
    )
    transaction.on_commit(lambda: current_app.send_task(EVALUATE_TASK, kwargs={"model_version_pk": model_version.pk}))


def model_evaluation_pending(*, model_version: ModelVersion, now=None) -> dict | None:
    """An evaluation requested (model_evaluation_request's audit event) that has no result yet: when it was asked
    for, and whether it is overdue (older than the training time limit: the worker will not answer it any more).
    None when every request has its result. The model page polls while one is pending and not overdue."""
    requested = (
        AuditEvent.objects.filter(
            action=AuditEvent.Action.EVALUATE,
            object_type=ModelVersion._meta.model_name,
            object_id=str(model_version.pk),
            detail__queued=True,
        )
        .order_by("-at")
        .values_list("at", flat=True)
        .first()
    )
    if requested is None or model_version.evaluations.filter(created_at__gte=requested).exists():
        return None
    now = now or timezone.now()
    overdue = now - requested > timedelta(seconds=settings.CELERY_TRAINING_TIME_LIMIT)
    return {"requested_at": requested, "overdue": overdue}


def retraining_due() -> list[TrainingRun]:
    """Run by Celery beat: fail runs whose worker died, send again the queued runs whose message was lost, then
    start a run for every task whose queue has reached its policy's retrain_after."""
    training_runs_fail_stalled()
    training_runs_resend_lost()
    started = []
    for policy in LearningPolicy.objects.filter(retrain_after__gt=0):
        if retraining_queue_summary(task=policy.task)["new_since_last_run"] < policy.retrain_after:
            continue
        try:
            started.append(
                retraining_run_create(task=policy.task, requested_by=None, trigger=TrainingRun.Trigger.QUEUE)
            )
        except ValidationError:  # a run is already going, or no active model yet
            continue
    return started


def live_performance(*, model_version: ModelVersion, now=None) -> dict:
    """How the version's shown results fared with the radiologists: agreement, sensitivity and specificity
    against their labels, the confusion (AI label x radiologist label), a weekly trend and the drift alert.

    Each prediction counts once, with the radiologists' final word on it (the newest review; at sites with a
    second reader, the agreed or adjudicated one); uncertain and undecided ones are left out.
    """
    now = now or timezone.now()
    classes = list(model_version.classes)
    predictions = (
        Prediction.objects.filter(model_version=model_version, is_shadow=False, reviews__isnull=False)
        .distinct()
        .select_related("image__study__patient__site")
        .prefetch_related("reviews")
    )
    pairs = []  # (AI label, radiologists' label, when they decided)
    for prediction in predictions:
        state, deciding = prediction.reading(second_reader=prediction.image.study.patient.site.second_reader)
        if state == Prediction.Reading.FINAL and deciding.decision != Review.Decision.UNCERTAIN:
            pairs.append((prediction.label, deciding.label, deciding.created_at))
    confusion = [[0] * len(classes) for _ in classes]
    for ai, truth, _ in pairs:
        if ai in classes and truth in classes:
            confusion[classes.index(truth)][classes.index(ai)] += 1
    agreed = sum(1 for ai, truth, _ in pairs if ai == truth)
    weeks: dict = {}
    for ai, truth, at in pairs:
        monday = (timezone.localtime(at) - timedelta(days=timezone.localtime(at).weekday())).date()
        row = weeks.setdefault(monday, [0, 0])
        row[0] += 1
        row[1] += ai == truth
    trend = [
        {"week": week.isoformat(), "reviews": n, "agreed": ok, "rate": ok / n}
        for week, (n, ok) in sorted(weeks.items())
    ]
    return {
        "reviews": len(pairs),
        "agreed": agreed,
        "agreement": agreed / len(pairs) if pairs else None,
        "operating": operating_point(confusion, tuple(classes), model_version.normal_class) if pairs else None,
        "classes": classes,
        "confusion": confusion,
        "trend": trend,
        "drift": _drift(model_version, pairs, now),
    }


AGREEMENT_ALARM_DEFAULT = 0.8  # LearningPolicy.drift_agreement's default, for a task without a policy
SENSITIVITY_ALARM = 0.5  # live sensitivity below this: the model misses most findings the radiologists make


def live_alarms(*, model_version: ModelVersion, live: dict, shadow: dict | None) -> list[dict]:
    """The alarm states of a version's page, each {"kind", "value", "level", "reviews"}:

    - "drift": the drift alert of live_performance (the last window, on enough reviews);
    - "agreement": all-time agreement with the radiologists below the policy's drift level (on any number of
      reviews: with few, the page says so, but 0.2 is never shown as a plain number);
    - "sensitivity": live sensitivity against the radiologists' labels below SENSITIVITY_ALARM;
    - "shadow": a shadow version agreeing with the shown results less often than the drift level.
    """
    policy = LearningPolicy.objects.filter(task=model_version.task).first()
    level = policy.drift_agreement if policy else AGREEMENT_ALARM_DEFAULT
    minimum = policy.drift_min_reviews if policy else 20
    alarms = []
    drift = live.get("drift") or {}
    if drift.get("alert"):
        alarms.append(
            {
                "kind": "drift",
                "value": drift["rate"],
                "level": drift["level"],
                "reviews": drift["reviews"],
                "days": drift["days"],
            }
        )
    elif live.get("agreement") is not None and live["agreement"] < level:
        alarms.append(
            {
                "kind": "agreement",
                "value": live["agreement"],
                "level": level,
                "reviews": live["reviews"],
                "few": live["reviews"] < minimum,
                "minimum": minimum,
            }
        )
    sensitivity = (live.get("operating") or {}).get("sensitivity")
    if sensitivity is not None and sensitivity < SENSITIVITY_ALARM:
        alarms.append(
            {"kind": "sensitivity", "value": sensitivity, "level": SENSITIVITY_ALARM, "reviews": live["reviews"]}
        )
    if shadow and shadow.get("rate") is not None and shadow["rate"] < level:
        alarms.append({"kind": "shadow", "value": shadow["rate"], "level": level, "reviews": shadow["compared"]})
    return alarms


def _drift(model_version: ModelVersion, pairs: list, now) -> dict | None:
    """The alert, when the last window's agreement is below the policy's level on enough reviews."""
    policy = LearningPolicy.objects.filter(task=model_version.task).first()
    if policy is None:
        return None
    since = now - timedelta(days=policy.drift_window_days)
    recent = [(ai, truth) for ai, truth, at in pairs if at >= since]
    n = len(recent)
    rate = sum(ai == truth for ai, truth in recent) / n if n else None
    enough = n >= policy.drift_min_reviews
    return {
        "alert": enough and rate < policy.drift_agreement,
        "reviews": n,
        "rate": rate if enough else None,
        "level": policy.drift_agreement,
        "days": policy.drift_window_days,
    }
