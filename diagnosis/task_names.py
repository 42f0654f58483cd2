"""The Celery tasks' names, in one place. Plain strings and nothing else, so that a module that only sends a task
(the services, the web, Celery beat, the DICOM listener) never imports diagnosis.tasks, and with it a worker's code.

Each task in diagnosis/tasks.py takes its name from here and declares its time limits at its definition
(`@shared_task(name=..., time_limit=..., soft_time_limit=...)`). Queues are declared here, by name, beside the
names: Celery 5.7 deprecates a `queue` task attribute in favour of task_routes, which medsite/celery.py builds
from QUEUES (a sender's process, which never imports the tasks, routes by them too).
"""

INFERENCE_TASK = "diagnosis.tasks.run_inference_task"
REQUEUE_INFERENCE_TASK = "diagnosis.tasks.requeue_stalled_inference_task"
RELEASE_QUIET_STUDIES_TASK = "diagnosis.tasks.release_quiet_studies_task"
SEND_TASK = "diagnosis.tasks.send_result_task"
REQUEUE_DELIVERIES_TASK = "diagnosis.tasks.requeue_stalled_deliveries_task"
TRAINING_TASK = "diagnosis.tasks.train_model_task"
EVALUATE_TASK = "diagnosis.tasks.evaluate_model_task"
STATUS_REFRESH_TASK = "diagnosis.tasks.site_studies_refresh_status_task"
RETRAINING_DUE_TASK = "diagnosis.tasks.retraining_due_task"
PURGE_IDEMPOTENCY_TASK = "diagnosis.tasks.purge_idempotency_records_task"

# The model workers' queues; every other task goes to the "default" queue.
QUEUES = {INFERENCE_TASK: "inference", TRAINING_TASK: "training", EVALUATE_TASK: "training"}
