"""A laptop at a party loses power: every process of `serve` dies at once, with jobs
queued and running on both clusters. Started again, every job completes exactly once,
none stays queued and no song folder keeps a temporary file; on both brokers. And a
`kill -9` of `serve` alone takes its busy workers down with it."""

import signal
import time

import psutil
import pytest
import requests
from rest_framework.authtoken.models import Token

from jobs.models import Job, JobLog
from songs.models import Song
from tests.helpers import make_audio, start_site

pytestmark = [pytest.mark.slow]

CRASH_ENV = {
    "TASK_TIMEOUT": "120",
    "TASK_RETRY_AFTER": "121",
    "JOB_STALE_AFTER": "4",
    "JOB_HEARTBEAT_INTERVAL": "0.5",
    "JOB_WAITING_STALE_AFTER": "5",
    "WORKERS": "2",
}


def wait_for(predicate, timeout: float, message):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(message() if callable(message) else message)


def import_songs(site, token: str, internet, count: int) -> list[str]:
    jobs = []
    for number in range(count):
        # Different sounds (no merging), slow enough to be caught mid-download.
        internet.add_file(f"/song-{number}.mp3", make_audio(20.0, frequency=220 + 40 * number), "audio/mpeg",
                          chunk_size=16 * 1024, chunk_delay=0.05)
        response = requests.post(f"{site.url}/api/songs/import", json={"url": internet.url(f"/song-{number}.mp3")},
                                 headers={"Authorization": f"Token {token}"}, timeout=30)
        assert response.status_code == 202, response.text
        jobs.append(response.json()["job"]["id"])
    return jobs


def tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


@pytest.mark.parametrize("broker", ["orm", "redis"])
def test_after_a_power_cut_every_job_completes_exactly_once(broker, own_site, staff_user, internet):
    env = {**CRASH_ENV, "TASK_BROKER": broker}
    site = start_site(extra_env=env)
    token = Token.objects.create(user=staff_user).key
    try:
        jobs = import_songs(site, token, internet, 8)
        # Caught with work in flight on both clusters: downloads running, a separation
        # running (or handed over), the rest waiting.
        wait_for(
            lambda: Job.objects.filter(pk__in=jobs, status=Job.Status.RUNNING, stage="download").exists()
            and Job.objects.filter(pk__in=jobs, stage="separate", status__in=Job.ACTIVE).exists(),
            180, lambda: f"never had work on both clusters:\n{site.log()}",
        )
        assert Job.objects.filter(pk__in=jobs, status__in=[Job.Status.QUEUED, Job.Status.PENDING]).exists()
        # The power cut: every process at once.
        for process in tree(site.process.pid):
            try:
                process.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass
        site.process.wait(10)
    finally:
        site.stop()

    site = start_site(extra_env=env)
    try:
        wait_for(
            lambda: Job.objects.filter(pk__in=jobs, status__in=Job.FINISHED).count() == len(jobs),
            420, lambda: f"jobs left: {list(Job.objects.filter(pk__in=jobs).exclude(status__in=Job.FINISHED).values_list('status', 'stage'))}\n{site.log()}",
        )
    finally:
        site.stop()
    for job in Job.objects.filter(pk__in=jobs).select_related("song"):
        assert job.status == Job.Status.COMPLETED, f"{job.error_code}: {job.error_message}"
        log = list(JobLog.objects.filter(job=job).values_list("event", flat=True))
        assert log.count("completed") == 1, log
        song = job.song
        assert song.status == Song.Status.READY
        # Exactly the song's files, and the stream of the attempt that finished: nothing
        # partial from the attempts the cut interrupted.
        assert sorted(p.name for p in song.folder.iterdir()) == sorted([*song.files.values(), "stream"]), song.pk
        assert [p.name for p in (song.folder / "stream").iterdir()] == [song.stream], song.pk
    assert Song.objects.count() == len(jobs)


def test_a_killed_serve_takes_its_busy_workers_with_it(own_site, staff_user, internet):
    site = start_site(extra_env=CRASH_ENV)
    token = Token.objects.create(user=staff_user).key
    try:
        [job_id] = import_songs(site, token, internet, 1)
        wait_for(lambda: Job.objects.filter(pk=job_id, status=Job.Status.RUNNING, progress__gt=2).exists(),
                 60, lambda: f"the download never got going:\n{site.log()}")
        children = tree(site.process.pid)[1:]
        busy = Job.objects.get(pk=job_id).worker
        assert any(f":{p.pid}" == busy[busy.rindex(":"):] for p in children), (busy, children)
        site.process.send_signal(signal.SIGKILL)
        site.process.wait(10)
        _, alive = psutil.wait_procs(children, timeout=10)
        left = [f"{p.pid} {' '.join(p.cmdline()[:4])}" for p in alive
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        assert left == []
    finally:
        site.stop()
