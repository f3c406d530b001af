"""The import pipeline, run in this process with real yt-dlp and real ffmpeg.

The runner is the same code a qcluster worker runs (songs.tasks.run_job calls
it); here it is called directly so each rule is checked quickly. The real
qcluster runs it in tests/test_pipeline_live.py.
"""

import threading
import time
from datetime import timedelta

import pytest
from django.db import IntegrityError
from django.utils import timezone

from common.errors import ApplicationError, Conflict
from jobs import services
from jobs import tasks as jobs_tasks
from jobs.models import Job, JobLog
from songs import imports
from songs.models import Song
from songs.pipeline import runner
from tests.helpers import make_audio
from tests.internet import closed_port

# Transactional: the runner's watcher thread has its own connection and must
# see the rows this test wrote.
pytestmark = pytest.mark.django_db(transaction=True)

CLUSTER = "encore"


@pytest.fixture(autouse=True)
def fast_retries(settings):
    settings.JOB_RETRY_DELAYS = [0.05, 0.1, 0.2]
    settings.JOB_HEARTBEAT_INTERVAL = 0.2






def events_of(job) -> list[tuple[str, str]]:
    return list(JobLog.objects.filter(job=job).values_list("event", "stage"))


def test_it_imports_a_direct_audio_file(internet, song_mp3, staff_user, queued, broker):
    internet.add_file("/take-on-me.mp3", song_mp3, "audio/mpeg")
    result = imports.song_import_url(url=internet.url("/take-on-me.mp3"), user=staff_user)
    assert result.created and result.song.status == Song.Status.PENDING
    # Enqueued on commit, to the default cluster, carrying only the job id.
    assert queued == [("songs.tasks.run_job", (str(result.job.pk), "encore"), "encore")]
    assert Job.objects.get(pk=result.job.pk).status == Job.Status.QUEUED

    job = broker.run(result.job)

    assert job.status == Job.Status.COMPLETED, job.error_message
    assert job.progress == 100.0
    song = job.song
    assert song.status == Song.Status.READY
    assert song.duration == pytest.approx(3.0, abs=0.1)
    assert len(song.content_hash) == 64
    for kind in ("original", "audio", "audio_web"):
        assert song.has_file(kind), kind
    for kind in ("vocals", "instrumental", "vocals_web", "instrumental_web"):
        assert song.has_file(kind), kind
    assert {"download", "transcode", "separate"} <= set(job.stage_seconds)
    finished = [stage for event, stage in events_of(job) if event == "stage_finished"]
    assert finished[:3] == ["download", "transcode", "separate"]
    # The separation ran on its own cluster: the job was handed over, then claimed again.
    assert ("handoff", "separate") in events_of(job)
    assert [event for event, _ in events_of(job)].count("claimed") >= 2
    assert events_of(job)[-1][0] == "completed"


def test_the_same_link_again_returns_the_existing_song(internet, song_mp3):
    internet.add_file("/a.mp3", song_mp3, "audio/mpeg")
    first = imports.song_import_url(url=internet.url("/a.mp3"))
    again = imports.song_import_url(url=internet.url("/a.mp3"))
    assert not again.created
    assert again.song.pk == first.song.pk and again.job.pk == first.job.pk
    assert "Already in the library" in again.message
    assert Song.objects.count() == 1 and Job.objects.count() == 1


def test_youtube_links_of_one_video_are_one_song():
    first = imports.song_import_url(url="https://www.youtube.com/watch?v=dQw4w9WgXcQ")
    for url in ("https://youtu.be/dQw4w9WgXcQ", "https://music.youtube.com/watch?v=dQw4w9WgXcQ&feature=share",
                "https://www.youtube.com/shorts/dQw4w9WgXcQ"):
        again = imports.song_import_url(url=url)
        assert not again.created and again.song.pk == first.song.pk
    assert first.song.source == Song.Source.YOUTUBE and first.song.source_id == "dQw4w9WgXcQ"


def test_a_bad_link_is_refused_with_a_message():
    with pytest.raises(ApplicationError) as error:
        imports.song_import_url(url="ftp://example.com/song.mp3")
    assert error.value.status_code == 400 and error.value.message
    assert Song.objects.count() == 0


def test_a_missing_file_fails_at_once_with_a_permanent_error(internet, broker):
    result = imports.song_import_url(url=internet.url("/nothing-here.mp3"))
    job = broker.run(result.job)
    assert job.status == Job.Status.FAILED
    assert job.error_code == "not_found"
    assert job.attempts == 0
    assert job.song.status == Song.Status.ERROR and job.song.error == job.error_message


def test_an_unreachable_server_is_retried_with_backoff_then_failed(broker):
    result = imports.song_import_url(url=f"http://127.0.0.1:{closed_port()}/song.mp3")
    job = broker.run(result.job)
    assert job.status == Job.Status.FAILED
    assert job.error_code == "network"
    assert job.attempts == 3
    # The count is the job's own (its automatic retries); no promise of another try.
    assert f"Gave up after {job.attempts} retries." in job.error_message and job.attempts == 3
    assert "Will try again" not in job.error_message
    retries = JobLog.objects.filter(job=job, event="retrying").values_list("message", flat=True)
    assert [m.rsplit("in ", 1)[1] for m in retries] == ["0.05 s)", "0.1 s)", "0.2 s)"]


def test_the_same_audio_from_another_link_merges_into_the_existing_song(internet, song_mp3, broker):
    internet.add_file("/one.mp3", song_mp3, "audio/mpeg")
    internet.add_file("/two.mp3", song_mp3, "audio/mpeg")
    first = broker.run(imports.song_import_url(url=internet.url("/one.mp3")).job)
    second = broker.run(imports.song_import_url(url=internet.url("/two.mp3")).job)
    assert second.status == Job.Status.COMPLETED
    assert "merged" in second.message
    assert second.song.merged_into_id == first.song.pk and second.song.is_deleted
    assert not second.song.folder.exists()
    assert Song.objects.filter(deleted_at__isnull=True).count() == 1


def test_a_job_cancelled_before_it_runs_is_never_run(internet, song_mp3, broker):
    internet.add_file("/a.mp3", song_mp3, "audio/mpeg")
    result = imports.song_import_url(url=internet.url("/a.mp3"))
    services.job_cancel(job=result.job)
    job = broker.run(result.job)
    assert job.status == Job.Status.CANCELLED
    assert internet.requests_to("/a.mp3") == []


def test_cancelling_a_running_download_stops_it_and_removes_partial_files(internet):
    big = make_audio(60.0)
    internet.add_file("/slow.mp3", big, "audio/mpeg", chunk_size=16 * 1024, chunk_delay=0.05)
    result = imports.song_import_url(url=internet.url("/slow.mp3"))
    worker = threading.Thread(target=runner.run_job, kwargs={"job_id": result.job.pk, "cluster": CLUSTER})
    worker.start()
    deadline = time.monotonic() + 20
    while Job.objects.get(pk=result.job.pk).progress < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    services.job_cancel(job=result.job)
    worker.join(30)
    job = Job.objects.get(pk=result.job.pk)
    assert job.status == Job.Status.CANCELLED
    song = job.song
    assert song.status == Song.Status.CANCELLED
    leftovers = [p.name for p in song.folder.iterdir()] if song.folder.exists() else []
    assert leftovers == []


def test_illegal_transitions_are_refused_with_a_message(internet, song_mp3, broker):
    internet.add_file("/a.mp3", song_mp3, "audio/mpeg")
    job = broker.run(imports.song_import_url(url=internet.url("/a.mp3")).job)
    with pytest.raises(Conflict, match="Only a failed or cancelled job can be retried"):
        services.job_retry(job=job)
    with pytest.raises(Conflict, match="A completed job cannot be cancelled"):
        services.job_cancel(job=job)


def test_a_manual_retry_resumes_from_the_first_missing_output(internet, song_mp3, broker):
    internet.add_file("/a.mp3", song_mp3, "audio/mpeg")
    job = broker.run(imports.song_import_url(url=internet.url("/a.mp3")).job)
    # The transcode outputs vanish and the job is marked failed, as after a crash.
    for kind in ("audio", "audio_web"):
        job.song.file_path(kind).unlink()
    Job.objects.filter(pk=job.pk).update(status=Job.Status.FAILED)
    downloads = len(internet.requests_to("/a.mp3"))

    services.job_retry(job=job)
    job = broker.run(job)

    assert job.status == Job.Status.COMPLETED and job.manual_retries == 1
    assert len(internet.requests_to("/a.mp3")) == downloads
    assert job.song.has_file("audio_web")


def test_manual_retries_stop_at_the_limit(settings, internet, broker):
    settings.JOB_MAX_MANUAL_RETRIES = 2
    job = broker.run(imports.song_import_url(url=internet.url("/missing.mp3")).job)
    for _ in range(2):
        services.job_retry(job=job)
        job = broker.run(job)
    with pytest.raises(ApplicationError, match="the limit is 2"):
        services.job_retry(job=job)


def test_reprocess_redoes_the_chosen_stage_without_downloading_again(internet, song_mp3, broker):
    internet.add_file("/a.mp3", song_mp3, "audio/mpeg")
    first = broker.run(imports.song_import_url(url=internet.url("/a.mp3")).job)
    downloads = len(internet.requests_to("/a.mp3"))

    job = broker.run(imports.song_reprocess(song=first.song, stage="transcode"))

    assert job.kind == Job.Kind.REPROCESS and job.status == Job.Status.COMPLETED
    assert "download" not in job.stage_seconds and {"transcode", "separate"} <= set(job.stage_seconds)
    assert len(internet.requests_to("/a.mp3")) == downloads
    assert job.song.status == Song.Status.READY


def test_reprocess_refuses_an_unknown_stage_or_a_busy_song(internet, song_mp3):
    internet.add_file("/a.mp3", song_mp3, "audio/mpeg")
    result = imports.song_import_url(url=internet.url("/a.mp3"))
    with pytest.raises(ApplicationError, match="Unknown stage 'mix'"):
        imports.song_reprocess(song=result.song, stage="mix")
    with pytest.raises(Conflict, match="already working"):
        imports.song_reprocess(song=result.song, stage="transcode")


def test_the_database_allows_one_active_job_per_song(internet):
    result = imports.song_import_url(url=internet.url("/x.mp3"))
    with pytest.raises(IntegrityError):
        Job.objects.create(song=result.song, status=Job.Status.QUEUED)


def test_a_second_worker_cannot_claim_a_running_job(internet):
    result = imports.song_import_url(url=internet.url("/x.mp3"))
    assert services.job_claim(job_id=result.job.pk, worker="host:1") is not None
    assert services.job_claim(job_id=result.job.pk, worker="host:2") is None


def test_a_job_whose_worker_died_is_requeued_then_failed_after_too_many_losses(settings, internet):
    settings.JOB_MAX_RECOVERIES = 1
    result = imports.song_import_url(url=internet.url("/x.mp3"))
    long_ago = timezone.now() - timedelta(minutes=10)

    services.job_claim(job_id=result.job.pk, worker="dead-host:1")
    Job.objects.filter(pk=result.job.pk).update(heartbeat_at=long_ago)
    recovery = services.jobs_recover()
    assert recovery.requeued == [result.job.pk]
    assert Job.objects.get(pk=result.job.pk).status == Job.Status.QUEUED

    services.job_claim(job_id=result.job.pk, worker="dead-host:2")
    Job.objects.filter(pk=result.job.pk).update(heartbeat_at=long_ago)
    recovery = services.jobs_recover()
    job = Job.objects.get(pk=result.job.pk)
    assert recovery.failed == [result.job.pk]
    assert job.status == Job.Status.FAILED and job.error_code == "worker_lost"


def test_a_task_queued_under_the_old_path_still_runs_the_job(internet, song_mp3, queued):
    """Upgrade shim: Django-Q2 rows written before the move name jobs.tasks.run_job."""
    internet.add_file("/old.mp3", song_mp3, "audio/mpeg")
    result = imports.song_import_url(url=internet.url("/old.mp3"))
    jobs_tasks.run_job(str(result.job.pk), CLUSTER)
    job = Job.objects.get(pk=result.job.pk)
    # It ran its stages on the default cluster and handed the separation over.
    assert (job.status, job.stage, job.cluster) == (Job.Status.QUEUED, "separate", "separation")
    assert queued[-1] == ("songs.tasks.run_job", (str(job.pk), "separation"), "separation")


def test_the_recovery_sweep_requeues_a_job_on_the_cluster_it_runs_on(internet, song_mp3, queued, broker):
    internet.add_file("/handed.mp3", song_mp3, "audio/mpeg")
    result = imports.song_import_url(url=internet.url("/handed.mp3"))
    jobs_tasks.run_job(str(result.job.pk), CLUSTER)  # up to the hand-off to separation
    services.job_claim(job_id=result.job.pk, worker="dead-host:1")
    Job.objects.filter(pk=result.job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=10))
    queued.clear()
    assert services.jobs_recover().requeued == [result.job.pk]
    assert queued == [("songs.tasks.run_job", (str(result.job.pk), "separation"), "separation")]


def test_a_live_job_is_left_alone_by_the_recovery_sweep(internet):
    result = imports.song_import_url(url=internet.url("/x.mp3"))
    services.job_claim(job_id=result.job.pk, worker="host:1")
    assert services.jobs_recover() == services.Recovery(requeued=[], failed=[])


def test_a_stale_running_job_can_be_taken_over_by_a_redelivered_task(internet):
    result = imports.song_import_url(url=internet.url("/x.mp3"))
    services.job_claim(job_id=result.job.pk, worker="dead-host:1")
    Job.objects.filter(pk=result.job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=10))
    job = services.job_claim(job_id=result.job.pk, worker="host:2")
    assert job is not None and job.worker == "host:2"


def test_progress_events_go_to_both_groups_in_order(internet, song_mp3, listen, broker):
    internet.add_file("/a.mp3", song_mp3, "audio/mpeg")
    result = imports.song_import_url(url=internet.url("/a.mp3"))
    everyone = listen("jobs")
    this_job = listen(f"job.{result.job.pk}")
    broker.run(result.job)
    events = [e for e in this_job.drain() if e["type"].startswith("job.")]
    assert [e["type"] for e in events][0] == "job.updated"
    assert events[-1]["type"] == "job.finished" and events[-1]["job"]["status"] == "completed"
    progress = [e["job"]["progress"] for e in events if e["type"] == "job.progress"]
    assert progress == sorted(progress) and len(progress) >= 2
    assert [e["type"] for e in everyone.drain() if e["type"].startswith("job.")] == [e["type"] for e in events]
