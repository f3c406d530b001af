"""/ws/library/html/: the Library page's rows pushed as HTML for the htmx WebSocket extension.

Staff only; the first message is the rows of the songs with an active job (and of songs
changed since the page was drawn); then job and song events each bring the fragment the
page would render: the row (`song-<id>`), its progress part (`song-<id>-progress`), or
the row's removal.
"""

import asyncio
from datetime import timedelta
from urllib.parse import quote

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from jobs import events as job_events
from jobs import services as job_services
from jobs.models import Job
from songs import imports
from songs import services as song_services
from songs.models import Song
from tests.helpers import page_cookies, roots, session_cookies, ws_communicator

pytestmark = pytest.mark.django_db(transaction=True)


def ready_song(title: str) -> Song:
    n = Song.objects.count()
    return Song.objects.create(
        title=title, status=Song.Status.READY, source=Song.Source.URL, duration=185,
        source_id=f"https://songs.example/{n}.mp3", source_url=f"https://songs.example/{n}.mp3",
    )


def added_song(video_id: str = "aaaaaaaaaaa") -> Song:
    return imports.song_import_url(url=f"https://www.youtube.com/watch?v={video_id}").song


@pytest.mark.parametrize("who", ["anonymous", "singer"])
def test_it_turns_away_anyone_but_staff(who, singer_user):
    cookies = session_cookies(singer_user) if who == "singer" else None

    async def scenario():
        ws = ws_communicator("/ws/library/html/", cookies)
        connected, code = await ws.connect()
        await ws.disconnect()
        return connected, code

    assert asyncio.run(scenario()) == (False, 4403)


def test_it_sends_the_rows_of_songs_being_processed_first(staff_user):
    busy = added_song()
    idle = ready_song("Take On Me")
    Song.objects.filter(pk=idle.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    drawn = timezone.now() - timedelta(minutes=5)
    cookies = page_cookies(staff_user)

    async def scenario():
        states = []
        for path in ("/ws/library/html/", f"/ws/library/html/?since={quote(drawn.isoformat())}"):
            ws = ws_communicator(path, cookies)
            connected, _ = await ws.connect()
            assert connected
            states.append(await ws.receive_from(timeout=5))
            await ws.disconnect()
        return states

    plain, since = asyncio.run(scenario())
    assert roots(plain) == [("li", f"song-{busy.pk}", "true")]
    assert f'<div id="song-{busy.pk}-progress" class="job-progress">' in plain and "hx-trigger" not in plain
    assert roots(since) == [("li", f"song-{busy.pk}", "true")]  # Take On Me did not change since
    Song.objects.filter(pk=idle.pk).update(updated_at=timezone.now())
    assert [element_id for _, element_id, _ in roots(asyncio.run(scenario())[1])] == [f"song-{idle.pk}", f"song-{busy.pk}"]


def test_job_and_song_events_push_the_row_or_its_progress(staff_user):
    song = added_song()
    job = Job.objects.get(song=song)
    other = ready_song("Waterloo")
    other_id = other.pk  # a hard delete clears other.pk
    cookies = page_cookies(staff_user)

    def progress():
        job.status, job.stage, job.progress, job.message = Job.Status.RUNNING, "transcode", 37.0, "Converting"
        job_events.job_progress(job)

    def cancel():
        job_services.job_cancel(job=job)  # job.finished, and the song's error: song.changed

    def soft_delete():
        song_services.song_soft_delete(song=other)

    def hard_delete():
        song_services.song_hard_delete(song=other)

    async def scenario():
        ws = ws_communicator("/ws/library/html/", cookies)
        await ws.connect()
        await ws.receive_from(timeout=5)  # the state
        received = {}
        for action, count in ((progress, 1), (cancel, 2), (soft_delete, 1), (hard_delete, 1)):
            await database_sync_to_async(action)()
            received[action.__name__] = [await ws.receive_from(timeout=5) for _ in range(count)]
        assert await ws.receive_nothing(timeout=0.3)
        await ws.disconnect()
        return received

    received = asyncio.run(scenario())

    [progressed] = received["progress"]
    assert roots(progressed) == [("div", f"song-{song.pk}-progress", "true")]
    assert 'value="37"' in progressed and "Running · transcode · 37 % · Converting" in progressed

    count = [("p", "song-count", "true")]  # song.changed also brings the library's count
    for row in received["cancel"]:  # job.finished and song.changed: the row, read again
        assert roots(row) in ([("li", f"song-{song.pk}", "true")], [("li", f"song-{song.pk}", "true"), *count])
        # Cancelled is not an error: its own badge, and how to import it after all.
        assert "<progress" not in row and "badge-cancelled" in row and "badge-error" not in row
        assert "The import was cancelled: reprocess to import it." in row
        assert "Reprocess</button>" in row and "csrfmiddlewaretoken" in row

    [hidden] = received["soft_delete"]
    assert roots(hidden) == [("li", f"song-{other_id}", "true"), *count]
    assert "is-deleted" in hidden and "Restore</button>" in hidden

    [gone] = received["hard_delete"]
    assert roots(gone) == [("li", f"song-{other_id}", "delete"), *count]


def test_a_song_added_anywhere_comes_with_the_new_count(staff_user):
    ready_song("Waterloo")
    cookies = page_cookies(staff_user)

    async def scenario():
        ws = ws_communicator("/ws/library/html/", cookies)
        await ws.connect()
        await ws.receive_from(timeout=5)  # the state
        song = await database_sync_to_async(added_song)("bbbbbbbbbbb")  # another browser, a command...
        pushed = [await ws.receive_from(timeout=5)]  # the job's first step, then the song itself
        while "song-count" not in pushed[-1]:
            pushed.append(await ws.receive_from(timeout=5))
        await ws.disconnect()
        return song, pushed[-1]

    song, pushed = asyncio.run(scenario())
    assert roots(pushed) == [("li", f"song-{song.pk}", "true"), ("p", "song-count", "true")]
    assert "2 songs" in pushed and 'class="song row-item' in pushed
