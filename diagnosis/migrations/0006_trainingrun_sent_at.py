"""TrainingRun.sent_at: when the run's message last went to the training queue, so that the retraining check can
send it again once it was lost (services.learning.training_runs_resend_lost)."""

from django.db import migrations, models
from django.db.models import F


def queued_runs_were_sent_when_created(apps, schema_editor):
    # Runs queued before this migration were sent on creation (a run trained in place is claimed at once), and one
    # still queued may be waiting for a message a broker restart lost: let the check send it again.
    TrainingRun = apps.get_model("diagnosis", "TrainingRun")
    TrainingRun.objects.filter(status="queued", sent_at=None).update(sent_at=F("created_at"))


class Migration(migrations.Migration):
    dependencies = [("diagnosis", "0005_learning_loop")]
    operations = [
        migrations.AddField(
            model_name="trainingrun",
            name="sent_at",
            field=models.DateTimeField(
                blank=True, help_text="When its message last went to the training queue (empty: run in place)", null=True
            ),
        ),
        migrations.RunPython(queued_runs_were_sent_when_created, migrations.RunPython.noop),
    ]
