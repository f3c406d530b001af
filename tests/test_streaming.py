"""Singing while a song separates: when a song is playable, how the room holds and resumes
at the end of its stream, the interlude between singers, a song that starts by itself, one
"up next" on every page, and the stream's files."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from queue_app import fragments, selectors, services
from queue_app.access import actor_for
from queue_app.models import QueueEntry, Room
from songs import services as song_services
from songs import streaming
from songs.audio import hls
from songs.models import Song
from tests.factories import SongFactory
from tests.helpers import page_cookies

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def margin(settings):
    settings.STREAM_SAFETY_SECONDS = 10.0


@pytest.fixture
def room(carol):
    return services.room_create(owner=carol, name="Friday", max_waiting_per_singer=None)


def guest(room, name):
    return services.singer_join(room=room, display_name=name)[0]


def host(room):
    return actor_for(room, user=room.owner)


def queue(singer, song) -> QueueEntry:
    return services.queue_add(room=singer.room, actor=actor_for(singer.room, token=singer.token), song=song)


def separating(title="Song", *, duration=200.0, held=None, rate=None, stream="0a1b2c3d") -> Song:
    """A song whose separation streams: `held` seconds so far, growing at `rate`."""
    return SongFactory(title=title, status=Song.Status.PROCESSING, duration=duration, stream=stream,
                       stream_seconds=held, stream_rate=rate)


def fresh(room) -> Room:
    return Room.objects.get(pk=room.pk)


def player(room) -> dict:
    return selectors.player_payload(selectors.RoomSnapshot(fresh(room)))


# --- the rule ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("held", "rate", "playable"),
    [
        (0.0, 3.0, False),     # nothing yet
        (9.0, 3.0, False),     # faster than real time, but not 10 s ahead yet
        (10.0, 3.0, True),     # 10 s ahead and gaining: it never catches up
        (10.0, 1.0, True),     # exactly real time: stays 10 s ahead
        (10.0, 0.5, False),    # slower than real time: the end would arrive late
        (104.0, 0.5, False),   # 200 - 0.5 * 190 = 105 s needed
        (105.0, 0.5, True),
        (199.0, None, False),  # no speed measured: no promise
        (200.0, None, True),   # the whole song is in the stream
    ],
)
def test_a_song_is_playable_once_its_measured_speed_keeps_the_stream_ahead(held, rate, playable):
    assert streaming.is_playable(separating(held=held, rate=rate)) is playable


def test_playable_in_counts_the_seconds_at_the_measured_speed():
    assert streaming.playable_in(separating(held=4.0, rate=2.0)) == pytest.approx(3.0)  # 6 s more at 2 s/s
    assert streaming.playable_in(separating(held=45.0, rate=0.5)) == pytest.approx(120.0)  # to 105 s at 0.5 s/s
    assert streaming.playable_in(separating(held=20.0, rate=2.0)) == 0.0
    assert streaming.playable_in(SongFactory(status=Song.Status.PROCESSING, duration=200.0)) is None


def test_a_song_not_streaming_or_deleted_or_failed_is_not_playable():
    assert not streaming.is_playable(SongFactory(status=Song.Status.PROCESSING, duration=200.0))
    assert not streaming.is_playable(SongFactory(ready=True, deleted_at=timezone.now()))
    failed = separating(held=100.0, rate=3.0)
    failed.status = Song.Status.ERROR
    assert not streaming.is_playable(failed)


def test_the_estimate_before_it_streams_takes_off_the_separation_it_need_not_wait_for():
    # 200 s at 0.5 s of work per second (2x real time): 100 s of separation, of which
    # only the first 10 s of audio (5 s) must be done before it can play.
    assert streaming.playable_in_estimated(duration=200.0, ready_in=130.0, separate_speed=0.5) == pytest.approx(35.0)


# --- the queue plays what can play ----------------------------------------------------------


def test_an_entry_getting_ready_keeps_its_place_and_every_page_names_the_same_next_singer(room):
    ann, ben = guest(room, "Ann"), guest(room, "Ben")
    anns = queue(ann, separating("Ann Song", held=2.0, rate=2.0))
    queue(ben, SongFactory(title="Ben Song", ready=True, duration=180.0))
    snapshot = selectors.RoomSnapshot(fresh(room))
    items = selectors.queue_payload(snapshot)
    # Ann keeps the first place in line; Ben Song, which can play, is the one up next.
    assert [item["song"]["title"] for item in items] == ["Ann Song", "Ben Song"]
    assert [item["up_next"] for item in items] == [False, True]
    state = selectors.player_payload(snapshot)
    assert state["up_next"]["song"]["title"] == "Ben Song" and state["up_next"]["getting_ready"] is False

    now_playing = fragments.now_playing_html(code=room.code, player=state, version=1)
    anns_phone = fragments.my_songs_html(code=room.code, queue=items, singer_id=ann.pk, version=1, player=state)
    bens_phone = fragments.my_songs_html(code=room.code, queue=items, singer_id=ben.pk, version=1, player=state)
    assert "Ben Song" in now_playing.split("Up next:")[1]
    assert "You're up next!" in bens_phone and "You're up next" not in anns_phone
    assert "Getting ready: you keep your place (about 4 s)" in anns_phone

    # Once her song can play, Ann is next again (her place was kept). (The host holds the
    # room, or it would start her song at once.)
    services.player_pause(room=room, actor=host(room))
    song_services.song_stream_progress(song=anns.song, stream=anns.song.stream, seconds=12.0, rate=2.0)
    items = selectors.queue_payload(selectors.RoomSnapshot(fresh(room)))
    assert [item["up_next"] for item in items] == [True, False]


def test_when_nothing_can_play_the_first_in_line_is_up_next_getting_ready_with_its_wait(room):
    ann = guest(room, "Ann")
    queue(ann, separating("Ann Song", held=2.0, rate=2.0))
    state = player(room)
    assert state["up_next"]["song"]["title"] == "Ann Song"
    assert state["up_next"]["getting_ready"] is True and state["up_next"]["ready_in_seconds"] == 4
    items = selectors.queue_payload(selectors.RoomSnapshot(fresh(room)))
    now_playing = fragments.now_playing_html(code=room.code, player=state, version=1)
    phone = fragments.my_songs_html(code=room.code, queue=items, singer_id=ann.pk, version=1, player=state)
    assert "getting ready (about 4 s)" in now_playing and "nobody yet" not in now_playing
    assert "You're up next: getting ready (about 4 s)" in phone


# --- starting by itself, and the interlude -------------------------------------------------------


def test_a_song_that_becomes_playable_starts_by_itself_after_the_interlude(room, django_capture_on_commit_callbacks):
    Room.objects.filter(pk=room.pk).update(interlude_seconds=8)
    ann = guest(room, "Ann")
    entry = queue(ann, separating(held=2.0, rate=2.0))
    assert player(room)["entry"] is None
    with django_capture_on_commit_callbacks(execute=True):
        song_services.song_stream_progress(song=entry.song, stream=entry.song.stream, seconds=12.0, rate=2.0)
    state = player(room)
    assert state["entry"]["id"] == entry.pk and state["paused"] is False
    assert state["position"] == 0.0 and state["starts_in"] == pytest.approx(8.0, abs=0.5)
    # The TV plays the live stream, never past its end less a segment.
    assert state["entry"]["song"]["stream"]["instrumental_url"].endswith("/stream/0a1b2c3d/instrumental.m3u8")
    assert state["limit"] == pytest.approx(12.0 - hls.SEGMENT_SECONDS)
    # The singer's phone says so, with the countdown.
    items = selectors.queue_payload(selectors.RoomSnapshot(fresh(room)))
    phone = fragments.my_songs_html(code=room.code, queue=items, singer_id=ann.pk, version=1, player=state)
    assert "You're up! Get ready" in phone and 'data-countdown="8"' in phone


def test_a_held_room_does_not_start_by_itself_until_play(room):
    ann = guest(room, "Ann")
    entry = queue(ann, separating(held=2.0, rate=2.0))
    services.player_pause(room=room, actor=host(room))
    assert fresh(room).held
    song_services.song_stream_progress(song=entry.song, stream=entry.song.stream, seconds=12.0, rate=2.0)
    assert player(room)["entry"] is None and player(room)["held"] is True
    services.player_play(room=room, actor=host(room))
    assert player(room)["entry"]["id"] == entry.pk and not fresh(room).held


def test_the_interlude_comes_from_the_room_the_host_can_skip_it_and_0_turns_it_off(room):
    ann, ben = guest(room, "Ann"), guest(room, "Ben")
    queue(ann, SongFactory(title="One", ready=True))
    second = queue(ben, SongFactory(title="Two", ready=True))
    third = queue(ann, SongFactory(title="Three", ready=True))
    services.room_update(room=room, actor=host(room), interlude_seconds=5)
    services.player_play(room=room, actor=host(room))  # the host's Play starts at once
    assert player(room)["starts_in"] == 0.0

    services.player_next(room=room, actor=host(room))  # a song ended: the interlude
    state = player(room)
    assert state["entry"]["id"] == second.pk and state["starts_in"] == pytest.approx(5.0, abs=0.5)
    assert fresh(room).position_now(timezone.now() + timedelta(seconds=4)) == 0.0
    assert fresh(room).position_now(timezone.now() + timedelta(seconds=7)) == pytest.approx(2.0, abs=0.5)
    services.player_play(room=room, actor=host(room))  # start now
    assert player(room)["starts_in"] == 0.0 and not player(room)["paused"]

    services.room_update(room=room, actor=host(room), interlude_seconds=0)
    services.player_next(room=room, actor=host(room))
    assert player(room)["entry"]["id"] == third.pk and player(room)["starts_in"] == 0.0


def test_the_host_holds_the_interlude_with_pause(room):
    services.room_update(room=room, actor=host(room), interlude_seconds=10)
    ann = guest(room, "Ann")
    queue(ann, SongFactory(title="One", ready=True))
    queue(ann, SongFactory(title="Two", ready=True))
    services.player_play(room=room, actor=host(room))
    services.player_next(room=room, actor=host(room))
    services.player_pause(room=room, actor=host(room))
    state = player(room)
    assert state["paused"] and state["position"] == 0.0 and state["starts_in"] == 0.0 and state["held"]


@pytest.mark.parametrize("value", [-1, 61, "soon"])
def test_the_interlude_setting_refuses_what_is_out_of_range(room, carol, value):
    api = APIClient()
    api.force_authenticate(carol)
    response = api.patch(f"/api/rooms/{room.code}", {"interlude_seconds": value}, format="json")
    assert response.status_code == 400 and "interlude_seconds" in str(response.json())
    assert fresh(room).interlude_seconds == 10


# --- holding at the end of the stream, and resuming ---------------------------------------------


def test_the_room_holds_at_the_end_of_the_stream_and_resumes_from_there(room):
    ann = guest(room, "Ann")
    entry = queue(ann, separating(held=20.0, rate=1.2))
    services.player_play(room=room, actor=host(room))
    room_now = fresh(room)
    assert room_now.position_limit == pytest.approx(18.0)
    # Long after: the position has stopped at the limit; the TVs hold.
    later = timezone.now() + timedelta(seconds=60)
    assert room_now.position_now(later) == pytest.approx(18.0)
    Room.objects.filter(pk=room.pk).update(position_at=timezone.now() - timedelta(seconds=60))
    assert player(room)["holding"] is True

    # The stream grows but not enough beyond where it waits: it keeps holding.
    song_services.song_stream_progress(song=entry.song, stream=entry.song.stream, seconds=22.0, rate=0.4)
    held = fresh(room)
    assert held.position_now() == pytest.approx(18.0) and player(room)["holding"] is True
    # Far enough: it goes on from 18 s, not from where the clock would have put it.
    song_services.song_stream_progress(song=entry.song, stream=entry.song.stream, seconds=30.0, rate=0.5)
    resumed = fresh(room)
    assert player(room)["holding"] is False
    assert resumed.position_now() == pytest.approx(18.0, abs=0.5)
    assert resumed.position_now(timezone.now() + timedelta(seconds=5)) == pytest.approx(23.0, abs=0.5)


def test_a_separation_that_starts_again_holds_the_song_where_it_is(room):
    ann = guest(room, "Ann")
    entry = queue(ann, separating(held=60.0, rate=2.0))
    services.player_play(room=room, actor=host(room))
    Room.objects.filter(pk=room.pk).update(position=30.0, position_at=timezone.now())
    # Its worker died; the recovered job streams again from nothing into a new folder.
    song_services.song_stream_progress(song=entry.song, stream="feedbeef", seconds=0.0, rate=None)
    state = player(room)
    assert state["holding"] is True and state["position"] == pytest.approx(30.0, abs=0.5)
    assert state["entry"]["song"]["stream"] is None  # no playlist until its first segment
    song_services.song_stream_progress(song=entry.song, stream="feedbeef", seconds=40.0, rate=2.0)
    state = player(room)
    assert state["holding"] is False and state["position"] == pytest.approx(30.0, abs=0.5)
    assert "/stream/feedbeef/" in state["entry"]["song"]["stream"]["instrumental_url"]


def test_a_seek_goes_no_further_than_the_stream(room):
    ann = guest(room, "Ann")
    queue(ann, separating(held=40.0, rate=2.0))
    services.player_play(room=room, actor=host(room))
    services.player_seek(room=room, actor=host(room), position=150.0)
    assert player(room)["position"] == pytest.approx(38.0)


def test_a_ready_song_has_no_limit(room):
    ann = guest(room, "Ann")
    entry = queue(ann, separating(held=40.0, rate=2.0))
    services.player_play(room=room, actor=host(room))
    song_services.song_mark_ready(song=entry.song)
    state = player(room)
    assert state["limit"] is None and state["holding"] is False


# --- the stream's files ----------------------------------------------------------------------------


@pytest.fixture
def streamed(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    song = separating(held=4.0, rate=2.0)
    song.stream_folder.mkdir(parents=True)
    (song.stream_folder / "instrumental.m3u8").write_text("#EXTM3U\n#EXTINF:2.0,\ninstrumental-00000.m4s\n")
    (song.stream_folder / "instrumental-00000.m4s").write_bytes(b"\x00" * 64)
    (song.stream_folder / "notes.txt").write_text("not a stream file")
    return song


def test_the_stream_is_served_to_those_who_may_play_the_stems(streamed, carol):
    client = Client()
    client.cookies.load(page_cookies(carol))
    base = f"/media/songs/{streamed.pk}/stream/{streamed.stream}"
    playlist = client.get(f"{base}/instrumental.m3u8")
    assert playlist.status_code == 200 and playlist["Content-Type"] == "application/vnd.apple.mpegurl"
    assert playlist["Cache-Control"] == "private, no-cache"
    segment = client.get(f"{base}/instrumental-00000.m4s")
    assert segment.status_code == 200 and segment["Content-Type"] == "audio/mp4"
    assert client.get(f"{base}/instrumental-00001.m4s").status_code == 404  # not written yet
    assert client.get(f"{base}/notes.txt").status_code == 404  # not a stream file's name
    assert client.get(f"/media/songs/{streamed.pk}/stream/feedbeef/instrumental.m3u8").status_code == 404
    assert Client().get(f"{base}/instrumental.m3u8").status_code == 403


def test_a_guest_cannot_read_the_stream(streamed, singer_user):
    client = Client()
    client.cookies.load(page_cookies(singer_user))
    assert client.get(f"/media/songs/{streamed.pk}/stream/{streamed.stream}/instrumental.m3u8").status_code == 403
