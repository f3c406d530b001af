"""Nothing stuck after a crash: a waiting job whose task was lost gets a new one, a running
job of a dead worker of this machine is requeued at start-up, and Retry accepts a
stranded job. The broker queue counted is the real one (ORM or Redis, by TASK_BROKER)."""

import io
import os
import socket
import subprocess
import sys
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.tasks import async_task as real_async_task
from imageio_ffmpeg import get_ffmpeg_exe

from jobs import services
from jobs.models import Job, JobLog
from songs import imports
from songs.models import Song
from tests.helpers import make_audio

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def broker_queue(session_site_paused):
    """The real broker queue of the default cluster, emptied before and after (the session's
    live site, which reads the same queue, paused meanwhile)."""
    queue = get_broker(settings.DEFAULT_CLUSTER)
    queue.purge_queue()
    yield queue
    queue.purge_queue()


@pytest.fixture
def redis_port_url():
    """An http:// link to the Redis this run uses: a service that is not a web server."""
    address = urlsplit(settings.REDIS_URL)
    return f"http://{address.hostname}:{address.port}/song.mp3"


def waiting_job(*, minutes_ago: float, status=Job.Status.QUEUED, cluster: str | None = None) -> Job:
    song = Song.objects.create(title="Stuck", source=Song.Source.UPLOAD)
    job = Job.objects.create(song=song, status=status, stage="download", cluster=cluster or settings.DEFAULT_CLUSTER)
    Job.objects.filter(pk=job.pk).update(updated_at=timezone.now() - timedelta(minutes=minutes_ago))
    return job


def test_a_waiting_job_whose_task_was_lost_is_enqueued_again_once(broker_queue, queued):
    stuck, fresh = waiting_job(minutes_ago=5), waiting_job(minutes_ago=0)
    recovery = services.jobs_recover()
    assert recovery.reenqueued == [stuck.pk]
    assert [args[0] for _, args, _ in queued] == [str(stuck.pk)]
    assert JobLog.objects.filter(job=stuck, event="reenqueued").count() == 1
    # Just given its task: the next sweep leaves it alone.
    assert services.jobs_recover().reenqueued == []
    assert fresh.pk not in recovery.reenqueued


def test_a_waiting_job_with_a_task_on_the_broker_is_left_alone(broker_queue, queued):
    # A cluster of this test's own: no worker of any site reads its queue.
    cluster = f"recovery-{uuid.uuid4().hex[:8]}"
    queue = get_broker(cluster)
    try:
        job = waiting_job(minutes_ago=5, cluster=cluster)
        real_async_task(settings.JOBS_TASK, str(job.pk), cluster, cluster=cluster)
        assert queue.queue_size() == 1
        assert cluster not in services.jobs_waiting_stranded()
        assert job.pk not in services.jobs_recover().reenqueued
        # A second waiting job with the same single task: one of them is short of a task.
        other = waiting_job(minutes_ago=10, cluster=cluster)
        assert [j.pk for j in services.jobs_waiting_stranded()[cluster]] == [other.pk]
    finally:
        queue.purge_queue()


def test_retry_accepts_a_stranded_job(broker_queue, queued):
    job = waiting_job(minutes_ago=5)
    retried = services.job_retry(job=job)
    assert retried.status == Job.Status.QUEUED
    assert [args[0] for _, args, _ in queued] == [str(job.pk)]
    # A job that just started waiting is not stranded: Retry still refuses it.
    with pytest.raises(Exception, match="left waiting with no task"):
        services.job_retry(job=waiting_job(minutes_ago=0))


def test_at_start_up_a_running_job_of_a_dead_local_worker_is_requeued(broker_queue, queued):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    song = Song.objects.create(title="Running", source=Song.Source.UPLOAD)
    lost = Job.objects.create(song=song, status=Job.Status.RUNNING, stage="separate", cluster=settings.SEPARATION_CLUSTER,
                              worker=f"{socket.gethostname()}:{dead.pid}", heartbeat_at=timezone.now())
    alive = Job.objects.create(song=Song.objects.create(title="Alive", source=Song.Source.UPLOAD),
                               status=Job.Status.RUNNING, stage="download", cluster=settings.DEFAULT_CLUSTER,
                               worker=f"{socket.gethostname()}:{os.getpid()}", heartbeat_at=timezone.now())
    # The minute's sweep trusts the fresh heartbeat; start-up knows no worker runs yet.
    assert services.jobs_recover().requeued == []
    out = io.StringIO()
    call_command("recover_jobs", "--startup", stdout=out)
    assert f"requeued {lost.pk}" in out.getvalue()
    lost.refresh_from_db()
    alive.refresh_from_db()
    assert (lost.status, alive.status) == (Job.Status.QUEUED, Job.Status.RUNNING)
    assert queued[-1] == (settings.JOBS_TASK, (str(lost.pk), settings.SEPARATION_CLUSTER), settings.SEPARATION_CLUSTER)


def test_healthz_counts_stranded_jobs(client, broker_queue):
    waiting_job(minutes_ago=5)
    body = client.get("/healthz").json()
    assert body["checks"]["task_broker"]["jobs_stranded"] == 1


def test_a_job_starting_again_removes_what_an_interrupted_attempt_left(broker, internet, song_mp3):
    internet.add_file("/again.mp3", song_mp3, "audio/mpeg")
    result = imports.song_import_url(url=internet.url("/again.mp3"))
    folder = result.song.folder
    folder.mkdir(parents=True, exist_ok=True)
    # What a separation and a download killed mid-way leave behind.
    leftovers = [folder / ".vocals.0a1b2c3d.f32.part", folder / ".mix.0a1b2c3d.f32.part", folder / ".download-ab12.m4a"]
    for path in leftovers:
        path.write_bytes(b"x" * 1024)
    job = broker.run(result.job)
    assert job.status == Job.Status.COMPLETED, job.error_message
    assert not [path for path in leftovers if path.exists()]
    # Its files, and the live stream its separation played from (only this attempt's).
    assert sorted(p.name for p in folder.iterdir()) == sorted([*job.song.files.values(), "stream"])
    assert [p.name for p in (folder / "stream").iterdir()] == [job.song.stream]


def test_a_failed_job_leaves_no_temporary_file(broker, internet):
    result = imports.song_import_url(url=internet.url("/missing.mp3"))
    folder = result.song.folder
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".audio.flac.1234abcd.part").write_bytes(b"x")
    job = broker.run(result.job)
    assert job.status == Job.Status.FAILED
    assert list(folder.glob(".*.part")) == []


def test_a_long_file_by_link_is_refused_early_and_leaves_nothing(broker, internet, settings):
    settings.SONG_MAX_DURATION = 60
    long_file = make_audio(300.0)  # five minutes of mp3: no duration is known before the download
    internet.add_file("/long.mp3", long_file, "audio/mpeg", chunk_size=16 * 1024, chunk_delay=0.01)
    result = imports.song_import_url(url=internet.url("/long.mp3"))
    job = broker.run(result.job)
    assert (job.status, job.error_code) == (Job.Status.FAILED, "too_long"), job.error_message
    assert "lasts 5:00; the limit is 1:00" in job.error_message
    song = Song.objects.get(pk=result.song.pk)
    assert "original" not in song.files and not song.content_hash
    assert not song.folder.exists() or list(song.folder.iterdir()) == []
    # Refused early: well under the whole file was sent before the download stopped.
    assert internet.bytes_sent("/long.mp3") < len(long_file) / 2


@pytest.mark.parametrize("where", ["redirect to file", "not a web server"])
def test_links_that_are_not_http_fail_at_once(broker, internet, redis_port_url, where):
    if where == "redirect to file":
        internet.add_route("/redirect", 302, b"", {"Location": "file:///etc/passwd"})
        url, code = internet.url("/redirect"), "bad_redirect"
    else:
        url, code = redis_port_url, "not_http"
    job = broker.run(imports.song_import_url(url=url).job)
    assert (job.status, job.error_code, job.attempts) == (Job.Status.FAILED, code, 0), job.error_message


@pytest.mark.slow  # a four-minute song through the whole pipeline
def test_a_song_within_the_limit_is_not_refused_by_the_early_length_check(broker, internet, settings, tmp_path):
    """An MP3 written to a file carries a Xing header with its whole duration: the check
    must read the stream's bitrate, not the partial file's size over that duration."""
    settings.SONG_MAX_DURATION = 300
    path = tmp_path / "four-minutes.mp3"
    subprocess.run([get_ffmpeg_exe(), "-nostdin", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=330:duration=240",
                    "-ac", "2", "-c:a", "libmp3lame", "-b:a", "128k", str(path)], check=True)
    internet.add_file("/four-minutes.mp3", path.read_bytes(), "audio/mpeg", chunk_size=64 * 1024)
    job = broker.run(imports.song_import_url(url=internet.url("/four-minutes.mp3")).job)
    assert job.status == Job.Status.COMPLETED, job.error_message
