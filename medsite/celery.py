"""The Celery app: a default queue plus ``inference`` and ``training``.

All other configuration (routes, time limits, acks) is in settings.py under CELERY_*.
"""

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medsite.settings")

app = Celery("medsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_default_queue = "default"
app.conf.task_queues = [Queue("default"), Queue("inference"), Queue("training")]
app.autodiscover_tasks()
