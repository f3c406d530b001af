"""Operators' commands for jobs: import_url, reprocess, recover_jobs, job_stats."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_q.models import Schedule

from jobs.models import Job
from songs.models import Song

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=out)
    return out.getvalue()


def test_import_url_adds_songs_and_reports_bad_links():
    with pytest.raises(CommandError, match="1 of 2 link"):
        run("import_url", "https://youtu.be/dQw4w9WgXcQ", "ftp://nope")
    assert Song.objects.get().source_id == "dQw4w9WgXcQ"
    assert "Already in the library" in run("import_url", "https://www.youtube.com/watch?v=dQw4w9WgXcQ")


def test_reprocess_queues_jobs_and_refuses_busy_songs():
    idle = Song.objects.create(source="url", source_id="http://x/1", status="ready")
    busy = Song.objects.create(source="url", source_id="http://x/2", status="processing")
    Job.objects.create(song=busy, status=Job.Status.RUNNING)
    output = run("reprocess", "--all", "--stage", "transcode")
    assert "1 queued, 1 refused." in output
    assert Job.objects.get(song=idle).kind == Job.Kind.REPROCESS
    with pytest.raises(CommandError, match="Unknown stage"):
        run("reprocess", str(idle.pk), "--stage", "mix")


def test_recover_jobs_requeues_a_job_whose_worker_died():
    song = Song.objects.create(source="url", source_id="http://x/1")
    job = Job.objects.create(song=song, status=Job.Status.RUNNING, worker="gone:1",
                             heartbeat_at=timezone.now() - timedelta(minutes=5))
    assert "1 requeued, 0 failed, 0 enqueued again." in run("recover_jobs", "--stale-after", "60")
    assert Job.objects.get(pk=job.pk).status in (Job.Status.QUEUED, Job.Status.PENDING)


def test_job_stats_prints_counts_and_stage_times():
    song = Song.objects.create(source="url", source_id="http://x/1")
    Job.objects.create(song=song, status=Job.Status.COMPLETED, stage_seconds={"download": 2.0})
    output = run("job_stats")
    assert "Jobs: 1 (completed 1). Success rate: 100.0%." in output
    assert "download" in output and "p95" in output
    assert '"success_rate": 1.0' in run("job_stats", "--json")


def test_migrate_sets_up_the_recovery_sweep():
    schedule = Schedule.objects.get(name="recover-jobs")
    assert (schedule.func, schedule.minutes, schedule.cluster) == ("jobs.tasks.recover_jobs", 1, "encore")
