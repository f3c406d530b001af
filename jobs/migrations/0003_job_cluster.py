from django.conf import settings
from django.db import migrations, models


def fill_cluster(apps, schema_editor):
    # Jobs of before the column: the separation stage ran on its own cluster, every
    # other stage on the default one (what the pipeline's plan said then).
    Job = apps.get_model("jobs", "Job")
    Job.objects.filter(stage="separate").update(cluster=settings.SEPARATION_CLUSTER)
    Job.objects.exclude(stage="separate").update(cluster=settings.DEFAULT_CLUSTER)


class Migration(migrations.Migration):

    dependencies = [
        ("jobs", "0002_job_joblog_job_jobs_job_status_84c7a0_idx_and_more"),
    ]

    operations = [
        migrations.AddField(
            model_name="job",
            name="cluster",
            field=models.CharField(
                blank=True, help_text="The Django-Q2 cluster that runs its current stage.", max_length=64
            ),
        ),
        migrations.RunPython(fill_cluster, migrations.RunPython.noop),
    ]
