"""The Celery app: a default queue plus ``inference`` and ``training``.

Task names and queues are declared in diagnosis/task_names.py, time limits at each task (diagnosis/tasks.py).
All other configuration (acks, beat) is in settings.py under CELERY_*.
"""

import os

from celery import Celery
from kombu import Queue

from diagnosis.task_names import QUEUES

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medsite.settings")

app = Celery("medsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_default_queue = "default"
app.conf.task_queues = [Queue("default"), Queue("inference"), Queue("training")]
app.conf.task_routes = {name: {"queue": queue} for name, queue in QUEUES.items()}
app.autodiscover_tasks()
