"""Image.Status.UNSUITABLE: the image is outside the model's scope (too small, or unlike the images it was trained
on), so it was given no label; failure_reason holds the reason, as it does for failed and no_model."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('diagnosis', '0006_trainingrun_sent_at'),
    ]

    operations = [
        migrations.AlterField(
            model_name='image',
            name='failure_reason',
            field=models.CharField(blank=True, help_text='Why the image has no AI result (status failed, unsuitable or no_model), for a person; else empty', max_length=500),
        ),
        migrations.AlterField(
            model_name='image',
            name='status',
            field=models.CharField(choices=[('queued', 'Queued'), ('processing', 'Processing'), ('done', 'Done'), ('no_model', 'No model for this kind of image'), ('unsuitable', "Outside the model's scope"), ('failed', 'Failed')], default='queued', max_length=16),
        ),
    ]
