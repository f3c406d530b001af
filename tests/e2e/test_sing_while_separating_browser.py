"""Singing while a song separates, in a real browser on a site of its own with its real
task workers: the small real Demucs model, slowed to a known speed (DEMUCS_PACE), so the
separation takes a known time whatever the machine.

- A queued song starts on the TV before its separation has finished, from its live stream,
  and plays through the point where the separation was when it started, without a stall;
  the finished stems are those a separation without a stream makes.
- A separation slower than playback: the TV holds with "getting ready" and resumes, and
  never plays past what the stream holds.
- A kill -9 of the separation worker while the song plays: the TV holds, the job is
  recovered, and the song goes on from where it was.
"""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import requests
from playwright.sync_api import expect
from rest_framework.authtoken.models import Token

from jobs.models import Job
from queue_app import services
from queue_app.access import actor_for
from queue_app.models import Room
from songs.audio import separation
from songs.models import Song
from songs.pipeline import media
from tests.helpers import BASE_DIR, database_url, decode_audio, make_audio, session_cookies, start_site

pytestmark = [pytest.mark.slow, pytest.mark.browser]

SONG_SECONDS = 40.0


def site_with_pace(pace: float, safety: float):
    return start_site(
        extra_env={"DEMUCS_PACE": str(pace), "STREAM_SAFETY_SECONDS": str(safety), "WORKERS": "1"},
        clusters="encore,separation",
    )


@pytest.fixture
def party(own_site, django_user_model, internet):
    carol = django_user_model.objects.create_user(username="carol", password="x" * 12, display_name="Carol",
                                                  is_host=True, is_staff=True)
    bob = django_user_model.objects.create_user(username="bob", password="x" * 12, display_name="Bob")
    room = services.room_create(owner=carol, name="Friday", max_waiting_per_singer=None)
    services.room_update(room=room, actor=actor_for(room, user=carol), interlude_seconds=0)
    services.singer_join(room=room, user=bob)
    internet.add_file("/long-song.mp3", make_audio(SONG_SECONDS), "audio/mpeg")
    return {"room": room, "carol": carol, "bob": bob, "internet": internet,
            "token": Token.objects.create(user=carol).key}


def import_and_queue(party, site) -> Song:
    """The host adds the song through the site (its workers take it at once); Bob queues it."""
    response = requests.post(
        f"{site.url}/api/songs/import", json={"url": party["internet"].url("/long-song.mp3")},
        headers={"Authorization": f"Token {party['token']}"}, timeout=30,
    )
    assert response.status_code == 202, response.text
    song = Song.objects.get(pk=response.json()["song"]["id"])
    services.queue_add(room=party["room"], actor=actor_for(party["room"], user=party["bob"]), song=song)
    return song


def open_tv(page, site, party):
    page.context.add_cookies(
        [{"name": name, "value": value, "url": site.url} for name, value in session_cookies(party["carol"]).items()]
    )
    page.goto(f"{site.url}/rooms/{party['room'].code}/tv/")
    page.get_by_role("button", name="Start the TV").click()
    expect(page.locator("#tv-start")).to_be_hidden()
    # What the TV plays and says, every 100 ms.
    page.evaluate("""() => {
        window.playLog = [];
        setInterval(() => window.playLog.push({
            at: performance.now() / 1000, position: window.encoreTv.position, mode: window.encoreTv.mode,
            streaming: window.encoreTv.streaming, entry: window.encoreTv.entry,
        }), 100);
    }""")
    return page


def stalls(log: list[dict]) -> list[tuple[float, float]]:
    """Moments the TV said "playing" while its audio stood still for more than half a second."""
    found, still_since = [], None
    for before, after in zip(log, log[1:], strict=False):
        playing = before["mode"] == "playing" and after["mode"] == "playing"
        if playing and after["position"] - before["position"] < 0.02:
            still_since = before["at"] if still_since is None else still_since
            if after["at"] - still_since > 0.5:
                found.append((still_since, before["position"]))
        else:
            still_since = None
    return found


def test_a_song_starts_before_its_separation_ends_and_plays_through_without_a_stall(party, page):
    # 0.8 s per second of audio: the separation runs at 1.25x real time, for about 32 s.
    site = site_with_pace(0.8, safety=6.0)
    try:
        song = import_and_queue(party, site)
        tv = open_tv(page, site, party)

        # It starts by itself (nothing else plays, the room is not held) from its stream.
        tv.wait_for_function("() => window.encoreTv.streaming && window.encoreTv.position > 0.5", timeout=60_000)
        song.refresh_from_db()
        assert song.status == Song.Status.PROCESSING and not song.has_file("instrumental_web"), site.log()
        separated_at_start = song.stream_seconds
        assert separated_at_start < SONG_SECONDS - 10

        # On, through where the separation was when it started, and then some.
        tv.wait_for_function("(beyond) => window.encoreTv.position > beyond", arg=separated_at_start + 6,
                             timeout=60_000)
        log = tv.evaluate("window.playLog")
        started = [sample for sample in log if sample["entry"] is not None and sample["position"] > 0]
        assert started and all(sample["streaming"] for sample in started)
        assert not stalls(log), stalls(log)
        assert "holding" not in {sample["mode"] for sample in started}

        # A second TV opened now, while the song still separates, plays with the first.
        assert Song.objects.get(pk=song.pk).status == Song.Status.PROCESSING
        second = open_tv(page.context.browser.new_context(bypass_csp=True).new_page(), site, party)
        try:
            second.wait_for_function("() => window.encoreTv.position > 0.5", timeout=30_000)
            second.wait_for_timeout(2000)  # its steering settles
            one, two = tv.evaluate("window.encoreTv.snapshot()"), second.evaluate("window.encoreTv.snapshot()")
            apart = (one["position"] + (two["at"] - one["at"]) / 1000) - two["position"]
            assert abs(apart) < 0.5, (one, two)
        finally:
            second.context.close()

        # The finished stems are what a separation without a stream makes.
        deadline = time.monotonic() + 120
        while Song.objects.get(pk=song.pk).status != Song.Status.READY and time.monotonic() < deadline:
            time.sleep(0.5)
        song.refresh_from_db()
        assert song.status == Song.Status.READY, site.log()
        plain = separation.separate(song.file_path("audio"), out_dir=song.folder / "plain", config=media.separation_config())
        for stem, result in (("vocals", plain.vocals), ("instrumental", plain.instrumental)):
            streamed, reference = decode_audio(song.file_path(stem)), decode_audio(result)
            assert streamed.shape == reference.shape
            assert np.abs(streamed - reference).max() < 1e-4, stem
        # And the TV played on from its stream to the end of the song, without a stall.
        tv.wait_for_function("() => window.encoreTv.entry === null || window.encoreTv.position > 38", timeout=60_000)
        assert not stalls(tv.evaluate("window.playLog"))
    finally:
        site.stop()


def test_a_separation_slower_than_playback_holds_the_tv_and_it_never_plays_past_the_stream(party, page):
    # 1.6 s per second of audio: slower than playback. It becomes playable only once enough
    # is ahead that the rest arrives in time; the host then jumps ahead of the stream.
    site = site_with_pace(1.6, safety=4.0)
    try:
        song = import_and_queue(party, site)
        tv = open_tv(page, site, party)
        tv.wait_for_function("() => window.encoreTv.streaming && window.encoreTv.position > 0.5", timeout=120_000)
        song.refresh_from_db()
        assert song.status == Song.Status.PROCESSING
        # Playable only when the rest arrives in time: far more than the 4 s margin was there.
        assert song.stream_seconds >= SONG_SECONDS - song.stream_rate * (SONG_SECONDS - 4.0) - 1.0

        # The host seeks far ahead: the position stops at the end of the stream; the TV holds.
        response = requests.post(
            f"{site.url}/api/rooms/{party['room'].code}/player", json={"action": "seek", "position": 39},
            headers={"Authorization": f"Token {party['token']}"}, timeout=30,
        )
        assert response.status_code == 200, response.text
        limit = response.json()["limit"]
        assert response.json()["position"] <= limit < SONG_SECONDS - 2
        expect(tv.locator("#tv-card-state")).to_have_text("Getting ready…", timeout=20_000)
        assert tv.evaluate("window.encoreTv.mode") == "holding"

        # It resumes by itself once the stream is ahead again; never past what the stream held.
        tv.wait_for_function("() => window.encoreTv.mode === 'playing'", timeout=60_000)
        samples = []
        for _ in range(20):
            at_tv = tv.evaluate("window.encoreTv.position")
            held = Song.objects.get(pk=song.pk).stream_seconds or 0.0
            samples.append((at_tv, held))
            time.sleep(0.25)
        assert all(position <= held + 0.5 for position, held in samples), samples
        room = Room.objects.get(pk=party["room"].pk)
        assert room.position_limit is None or room.position_now() <= room.position_limit + 0.01
    finally:
        site.stop()


def test_a_killed_separation_worker_holds_the_tv_and_it_resumes_where_it_was(party, page):
    site = start_site(
        extra_env={"DEMUCS_PACE": "0.4", "STREAM_SAFETY_SECONDS": "6", "WORKERS": "1", "JOB_STALE_AFTER": "4",
                   "JOB_HEARTBEAT_INTERVAL": "0.5"},
        clusters="encore,separation",
    )
    try:
        song = import_and_queue(party, site)
        tv = open_tv(page, site, party)
        tv.wait_for_function("() => window.encoreTv.streaming && window.encoreTv.position > 3", timeout=60_000)
        job = Job.objects.get(song=song)
        assert job.stage == "separate" and job.status == Job.Status.RUNNING
        first_stream = Song.objects.get(pk=song.pk).stream
        os.kill(int(job.worker.rsplit(":", 1)[1]), signal.SIGKILL)

        # The sweep the schedule runs every minute, now, with the site's settings: the job
        # goes back to its cluster and separates again, streaming into a new folder.
        time.sleep(5)
        sweep = subprocess.run(
            [sys.executable, "manage.py", "recover_jobs", "--stale-after", "4"], cwd=BASE_DIR,
            env={**os.environ, "DATABASE_URL": database_url(), "JOB_STALE_AFTER": "4"},
            capture_output=True, text=True, timeout=120,
        )
        assert sweep.returncode == 0, sweep.stderr
        # Meanwhile the TV played to the end of the old stream and holds there.
        expect(tv.locator("#tv-card-state")).to_have_text("Getting ready…", timeout=60_000)
        held_at = tv.evaluate("window.encoreTv.position")

        # The new attempt catches up; the song goes on from where it held, not from the start.
        tv.wait_for_function("() => window.encoreTv.mode === 'playing'", timeout=120_000)
        tv.wait_for_function("(at) => window.encoreTv.position > at + 1", arg=held_at, timeout=30_000)
        log = tv.evaluate("window.playLog")
        resumed = [sample for sample in log if sample["mode"] == "playing" and sample["at"] > log[-1]["at"] - 2]
        assert resumed and all(sample["position"] >= held_at - 1.0 for sample in resumed)
        assert Song.objects.get(pk=song.pk).stream != first_stream
        deadline = time.monotonic() + 120
        while Job.objects.get(pk=job.pk).status not in Job.FINISHED and time.monotonic() < deadline:
            time.sleep(0.5)
        assert Job.objects.get(pk=job.pk).status == Job.Status.COMPLETED, site.log()
    finally:
        site.stop()
