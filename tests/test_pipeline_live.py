"""The pipeline in real qclusters: end to end, and surviving a `kill -9` of its worker.

These start the site as subprocesses (uvicorn + both qclusters, via
`manage.py serve`) on the test database, add songs through its HTTP API, and
watch over its WebSocket, as a host's browser would.
"""

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import requests
import websockets
from rest_framework.authtoken.models import Token

from jobs.models import Job, JobLog
from songs.models import Song
from tests.helpers import BASE_DIR, database_url, make_audio, session_cookies, start_site

pytestmark = [pytest.mark.slow]


def api(site, token: str, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(
        method, f"{site.url}{path}", headers={"Authorization": f"Token {token}"}, timeout=30, **kwargs
    )


def wait_for(predicate, timeout: float, message: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(message)


def test_a_real_cluster_imports_a_song_and_progress_arrives_in_order(live_site, staff_user, internet):
    internet.add_file("/dancing-queen.mp3", make_audio(20.0), "audio/mpeg", chunk_size=32 * 1024, chunk_delay=0.02)
    token = Token.objects.create(user=staff_user).key
    cookies = session_cookies(staff_user)

    async def scenario():
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()), "Origin": live_site.url}
        async with websockets.connect(f"{live_site.ws_url}/ws/jobs/", additional_headers=headers) as ws:
            assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "state"
            response = await asyncio.to_thread(
                api, live_site, token, "POST", "/api/songs/import", json={"url": internet.url("/dancing-queen.mp3")}
            )
            assert response.status_code == 202, response.text
            job_id = response.json()["job"]["id"]
            events = []
            while True:
                event = json.loads(await asyncio.wait_for(ws.recv(), 60))
                if event.get("job", {}).get("id") == job_id:
                    events.append(event)
                    if event["type"] == "job.finished":
                        return job_id, events

    job_id, events = asyncio.run(scenario())
    job = Job.objects.get(pk=job_id)
    assert job.status == Job.Status.COMPLETED, f"{job.error_code}: {job.error_message}\n{live_site.log()}"
    assert job.song.status == Song.Status.READY and job.song.has_file("audio_web")
    assert job.song.has_file("instrumental_web") and job.song.has_file("vocals_web")
    assert job.worker == "" or ":" in job.worker
    progress = [e["job"]["progress"] for e in events if e["type"] == "job.progress"]
    assert len(progress) >= 5, events
    assert progress == sorted(progress)
    assert events[-1]["job"]["status"] == "completed" and events[-1]["job"]["progress"] == 100
    stages = [e["job"]["stage"] for e in events if e["type"] == "job.progress"]
    assert stages.index("transcode") > stages.index("download")
    # The separation ran in the separation cluster, and reported per segment.
    assert stages.index("separate") > stages.index("transcode")
    assert stages.count("separate") >= 2


@pytest.fixture
def crash_site(request, django_db_setup, transactional_db):
    """A site of its own, with the broker under test and short crash timings."""
    broker = request.param
    env = {
        "TASK_BROKER": broker,
        "TASK_TIMEOUT": "60",
        "TASK_RETRY_AFTER": "61",
        "JOB_STALE_AFTER": "4",
        "JOB_HEARTBEAT_INTERVAL": "0.5",
        "WORKERS": "1",
    }
    site = start_site(extra_env=env, clusters="encore,separation")
    site.env = env
    yield site
    site.stop()


@pytest.mark.parametrize("crash_site", ["orm", "redis"], indirect=True)
def test_a_job_whose_worker_is_killed_mid_download_completes_exactly_once(crash_site, staff_user, internet):
    site = crash_site
    audio = make_audio(60.0)
    internet.add_file("/long-song.mp3", audio, "audio/mpeg", chunk_size=16 * 1024, chunk_delay=0.03)
    token = Token.objects.create(user=staff_user).key
    response = api(site, token, "POST", "/api/songs/import", json={"url": internet.url("/long-song.mp3")})
    assert response.status_code == 202, response.text
    job_id = response.json()["job"]["id"]

    running = wait_for(
        lambda: Job.objects.filter(pk=job_id, status=Job.Status.RUNNING, progress__gt=3).first(),
        60, f"the download never got going:\n{site.log()}",
    )
    worker_pid = int(running.worker.rsplit(":", 1)[1])
    os.kill(worker_pid, signal.SIGKILL)

    # The sweep the schedule runs every minute, run now with the site's own settings,
    # so it enqueues through the same broker the site uses.
    time.sleep(5)
    env = {**os.environ, "DATABASE_URL": database_url(), **site.env}
    sweep = subprocess.run(
        [sys.executable, "manage.py", "recover_jobs", "--stale-after", "4"],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120,
    )
    assert sweep.returncode == 0, sweep.stderr

    job = wait_for(
        lambda: Job.objects.filter(pk=job_id, status__in=Job.FINISHED).first(),
        120, f"the job was not finished after recovery:\n{site.log()}",
    )
    assert job.status == Job.Status.COMPLETED, f"{job.error_code}: {job.error_message}"
    log = list(JobLog.objects.filter(job_id=job_id).values_list("event", flat=True))
    assert log.count("completed") == 1
    assert log.count("claimed") >= 2 and log.count("recovered") + log.count("claimed") >= 3, log
    assert Song.objects.count() == 1 and Job.objects.count() == 1
    song = job.song
    assert song.status == Song.Status.READY
    on_disk = sorted(p.name for p in song.folder.iterdir())
    # Exactly the song's files, and the stream of the attempt that finished: nothing
    # partial from the killed attempt.
    assert on_disk == sorted([*song.files.values(), "stream"])
    assert [p.name for p in (song.folder / "stream").iterdir()] == [song.stream]
    assert {"original", "audio", "audio_web", "vocals", "instrumental"} <= set(song.files)


def test_two_simultaneous_imports_of_one_link_make_one_song_and_one_job(live_site, staff_user, internet):
    internet.add_file("/same.mp3", make_audio(2.0), "audio/mpeg")
    token = Token.objects.create(user=staff_user).key
    barrier = threading.Barrier(6)
    answers = []

    def post():
        barrier.wait()
        answers.append(api(live_site, token, "POST", "/api/songs/import", json={"url": internet.url("/same.mp3")}))

    threads = [threading.Thread(target=post) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(r.status_code for r in answers) == [200] * 5 + [202], [r.text for r in answers]
    assert len({r.json()["song"]["id"] for r in answers}) == 1
    assert Song.objects.count() == 1 and Job.objects.count() == 1
