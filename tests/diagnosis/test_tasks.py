"""The tasks' declarations: names from one light module, queues and time limits at the task, and no TensorFlow in
the processes that only send tasks (web, Celery beat, the DICOM listener)."""

import os
import subprocess
import sys
from pathlib import Path

from celery import current_app
from django.conf import settings

from diagnosis import task_names, tasks

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_routing_processes_do_not_import_tensorflow():
    """What the web (its URLconf, which imports every view and API), beat and the listener import to send a task."""
    code = (
        "import django, sys; django.setup(); "
        "import diagnosis.tasks, medsite.celery, medsite.urls, diagnosis.dicom_listener; "
        "from celery import current_app; current_app.loader.import_default_modules(); "
        "loaded = sorted(m for m in ('tensorflow', 'keras') if m in sys.modules); "
        "assert not loaded, loaded"
    )
    env = os.environ | {"DJANGO_SETTINGS_MODULE": "medsite.settings"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, env=env)
    assert done.returncode == 0, done.stderr[-2000:]


def test_each_task_is_routed_to_the_queue_declared_beside_its_name():
    router = current_app.amqp.router
    expected = {
        task_names.INFERENCE_TASK: "inference",
        task_names.TRAINING_TASK: "training",
        task_names.EVALUATE_TASK: "training",
        task_names.SEND_TASK: "default",
        task_names.STATUS_REFRESH_TASK: "default",
        task_names.RETRAINING_DUE_TASK: "default",
        task_names.REQUEUE_INFERENCE_TASK: "default",
        task_names.REQUEUE_DELIVERIES_TASK: "default",
        task_names.RELEASE_QUIET_STUDIES_TASK: "default",
        task_names.PURGE_IDEMPOTENCY_TASK: "default",
        "accounts.tasks.audit_checkpoint_task": "default",
    }
    routed = {name: router.route({}, name)["queue"].name for name in expected}
    assert routed == expected


def test_time_limits_are_declared_at_the_task_with_the_soft_limit_at_nine_tenths():
    limits = {
        tasks.run_inference_task: settings.CELERY_INFERENCE_TIME_LIMIT,
        tasks.train_model_task: settings.CELERY_TRAINING_TIME_LIMIT,
        tasks.evaluate_model_task: settings.CELERY_TRAINING_TIME_LIMIT,
        tasks.send_result_task: settings.RESULT_SEND_TIME_LIMIT,
    }
    for task, seconds in limits.items():
        assert (task.time_limit, task.soft_time_limit) == (seconds, int(seconds * 0.9)), task.name


def test_every_name_in_one_place_is_a_registered_task_and_beat_sends_only_those():
    current_app.loader.import_default_modules()  # what a worker and beat import (the apps' tasks modules)
    names = {value for key, value in vars(task_names).items() if key.endswith("_TASK")}
    assert names <= set(current_app.tasks)
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in current_app.tasks, entry["task"]
