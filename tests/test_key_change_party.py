"""Key changes in a room: who may choose one, what the queue and the player say about it,
and the key a singer sang a song in coming back as their default.

Carol hosts; Bob sings with an account; Gus is a guest. The renders themselves (real
ffmpeg) are tests/test_key_render.py; here a render's end is what its stage does at the
end (song_key_render_install), so each rule is checked in milliseconds.
"""

import pytest
from rest_framework.test import APIClient

from jobs.models import Job
from queue_app import selectors, services
from queue_app.access import actor_for
from queue_app.events import room_group
from queue_app.models import QueueEntry, Room
from songs import services as song_services
from songs.models import Song
from tests.factories import SongFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def song() -> Song:
    return SongFactory(title="Jolene", with_stems=True, key="A minor", key_confidence=0.8)


@pytest.fixture
def party(carol, singer_user, song):
    room = services.room_create(owner=carol, name="Friday", max_waiting_per_singer=None)
    host, bob, gus = APIClient(), APIClient(), APIClient()
    host.force_authenticate(carol)
    bob.force_authenticate(singer_user)
    assert bob.post(f"/api/rooms/{room.code}/join", {}, format="json").status_code == 201
    assert gus.post(f"/api/rooms/{room.code}/join", {"display_name": "Gus"}, format="json").status_code == 201
    return {"room": room, "host": host, "bob": bob, "gus": gus, "song": song}


def add(client, room, song, **body):
    return client.post(f"/api/rooms/{room.code}/queue", {"song": str(song.pk), **body}, format="json")


def change_key(client, room, entry_id, value):
    return client.patch(f"/api/rooms/{room.code}/queue/{entry_id}", {"key_shift": value}, format="json")


def rendered(song: Song, semitones: int) -> None:
    """What the render stage does at its end: the two files, then registered."""
    for stem in Song.KEY_STEMS:
        (song.folder / Song.key_file_name(stem, semitones)).write_bytes(b"shifted")
    sources = song_services.song_stem_stats(song=song, kinds=Song.KEY_STEMS)
    song_services.song_key_render_install(song=song, semitones=semitones, sources=sources)


# --- who may choose a key ------------------------------------------------------------------


def test_a_singer_changes_the_key_of_their_own_songs_only(party):
    room, song = party["room"], party["song"]
    bobs = add(party["bob"], room, song).json()["id"]
    gus = add(party["gus"], room, song).json()["id"]

    assert change_key(party["bob"], room, bobs, 2).status_code == 200
    refused = change_key(party["bob"], room, gus, 2)
    assert refused.status_code == 403 and refused.json()["message"] == "You can only change your own songs."
    assert change_key(party["host"], room, gus, -5).status_code == 200  # the host, any entry
    assert dict(QueueEntry.objects.values_list("pk", "key_shift")) == {bobs: 2, gus: -5}


@pytest.mark.parametrize("value", [13, -13, "two", 2.5, True, ""])
def test_a_key_out_of_range_or_not_a_number_is_a_400(party, value):
    room, song = party["room"], party["song"]
    entry = add(party["bob"], room, song).json()["id"]

    changed = change_key(party["bob"], room, entry, value)
    added = add(party["bob"], room, song, key_shift=value)

    assert changed.status_code == added.status_code == 400
    assert "key_shift" in changed.json()["extra"]["fields"]
    assert QueueEntry.objects.get(pk=entry).key_shift == 0
    assert QueueEntry.objects.count() == 1


def test_the_api_keeps_the_whole_octave(party):
    room, song = party["room"], party["song"]
    response = add(party["bob"], room, song, key_shift=-12)
    assert response.status_code == 201 and response.json()["key_shift"] == -12


def test_only_the_host_changes_the_key_of_the_song_playing(party):
    room, song = party["room"], party["song"]
    entry = add(party["bob"], room, song).json()["id"]
    assert party["host"].post(f"/api/rooms/{room.code}/player", {"action": "play"}, format="json").status_code == 200

    refused = change_key(party["bob"], room, entry, 2)
    assert refused.status_code == 403
    assert refused.json()["message"] == "Only the host can change the key of the song playing now."
    assert change_key(party["host"], room, entry, 2).status_code == 200
    player = party["host"].get(f"/api/rooms/{room.code}/player").json()
    assert (player["entry"]["key_shift"], player["entry"]["key_ready"]) == (2, False)


# --- what the room says ----------------------------------------------------------------------


def test_a_shifted_entry_is_preparing_then_ready_with_the_shifted_stems(party, django_capture_on_commit_callbacks, listen):
    room, song = party["room"], party["song"]
    with django_capture_on_commit_callbacks(execute=True):
        entry = add(party["bob"], room, song, key_shift=2).json()
    assert (entry["key_shift"], entry["key_name"], entry["key_ready"], entry["key_status"]) == (2, "B minor", False, "preparing")
    assert entry["instrumental_url"] == song.file_url("instrumental_web")  # the TV plays the song's own key meanwhile
    assert entry["song"]["key"] == "A minor"
    assert Job.objects.filter(song=song, kind=Job.Kind.KEY, params={"semitones": 2}).count() == 1
    recorder = listen(room_group(room.code))

    with django_capture_on_commit_callbacks(execute=True):
        rendered(Song.objects.get(pk=song.pk), 2)

    events = recorder.drain()
    queue = next(event for event in events if event["type"] == "queue.changed")["queue"]
    assert (queue[0]["key_ready"], queue[0]["key_status"]) == (True, "ready")
    assert queue[0]["instrumental_url"].endswith("/instrumental_web.key+2.m4a")
    assert queue[0]["vocals_url"].endswith("/vocals_web.key+2.m4a")
    assert [event["type"] for event in events].count("queue.changed") == 1  # one redraw of the room


def test_an_entry_in_the_original_key_is_ready_at_once(party):
    entry = add(party["bob"], party["room"], party["song"]).json()
    assert (entry["key_shift"], entry["key_ready"], entry["key_status"], entry["key_name"]) == (0, True, "original", "A minor")
    assert not Job.objects.filter(kind=Job.Kind.KEY).exists()


def test_a_song_still_being_prepared_gets_its_key_change_once_it_is_ready(party, django_capture_on_commit_callbacks):
    room = party["room"]
    pending = SongFactory(title="Fresh", status=Song.Status.PROCESSING)
    with django_capture_on_commit_callbacks(execute=True):
        entry = add(party["bob"], room, pending, key_shift=-3).json()
    assert entry["key_status"] == "preparing"
    assert not Job.objects.filter(kind=Job.Kind.KEY).exists()  # no stems to shift yet

    pending.files = {"instrumental_web": "instrumental.m4a", "vocals_web": "vocals.m4a"}
    pending.save(update_fields=["files"])
    with django_capture_on_commit_callbacks(execute=True):
        song_services.song_mark_ready(song=pending)

    assert Job.objects.filter(song=pending, kind=Job.Kind.KEY, params={"semitones": -3}).exists()


def test_a_failed_key_change_says_so_and_plays_the_original(party):
    room, song = party["room"], party["song"]
    add(party["bob"], room, song, key_shift=4)
    job = Job.objects.get(kind=Job.Kind.KEY)
    Job.objects.filter(pk=job.pk).update(status=Job.Status.FAILED, error_code="key_change_failed")
    song_services.song_job_finished(job=Job.objects.get(pk=job.pk))

    item = selectors.queue_payload(selectors.RoomSnapshot(Room.objects.get(pk=room.pk)))[0]
    assert (item["key_status"], item["key_ready"]) == ("failed", False)
    assert item["instrumental_url"] == song.file_url("instrumental_web")
    assert Song.objects.get(pk=song.pk).status == Song.Status.READY


def test_the_render_follows_the_rotation(party, django_capture_on_commit_callbacks):
    room, song = party["room"], party["song"]
    later_song = SongFactory(title="Later", with_stems=True)
    with django_capture_on_commit_callbacks(execute=True):
        add(party["bob"], room, song, key_shift=1)
        add(party["gus"], room, later_song, key_shift=1)
    soon, later = (Job.objects.get(song=s, kind=Job.Kind.KEY) for s in (song, later_song))
    assert soon.priority == 0 and 0 < later.priority < Job.PRIORITY_LAST


# --- remembered ------------------------------------------------------------------------------


def test_a_guest_gets_the_key_they_sang_a_song_in_by_default_in_that_room(party, carol):
    room, song = party["room"], party["song"]
    first = add(party["gus"], room, song, key_shift=-2).json()
    QueueEntry.objects.filter(pk=first["id"]).update(status=QueueEntry.Status.DONE)

    again = add(party["gus"], room, song).json()
    assert again["key_shift"] == -2
    assert add(party["gus"], room, song, key_shift=0).json()["key_shift"] == 0  # a choice still wins

    # Another room, as a guest again: a new singer, who never sang it.
    other_room = services.room_create(owner=carol, name="Saturday")
    guest = APIClient()
    guest.post(f"/api/rooms/{other_room.code}/join", {"display_name": "Gus"}, format="json")
    assert add(guest, other_room, song).json()["key_shift"] == 0


def test_an_account_gets_the_key_it_sang_a_song_in_by_default_in_another_room(party, singer_user):
    room, song = party["room"], party["song"]
    entry = add(party["bob"], room, song).json()["id"]
    change_key(party["bob"], room, entry, -2)  # chosen after adding: the key they sang it in
    QueueEntry.objects.filter(pk=entry).update(status=QueueEntry.Status.DONE)

    elsewhere = services.room_create(owner=UserFactory(host=True), name="Elsewhere")
    party["bob"].post(f"/api/rooms/{elsewhere.code}/join", {}, format="json")
    response = add(party["bob"], elsewhere, song)

    assert response.status_code == 201 and response.json()["key_shift"] == -2
    assert add(party["bob"], elsewhere, SongFactory(ready=True)).json()["key_shift"] == 0  # another song: 0


def test_the_remembered_key_is_the_services_default_too(party, singer_user):
    room, song = party["room"], party["song"]
    singer = services.singer_join(room=room, user=singer_user)[0]
    services.queue_add(room=room, actor=actor_for(room, user=singer_user), song=song, key_shift=3)
    assert selectors.remembered_key_shift(singer=singer, song=song) == 3
    assert selectors.remembered_key_shifts(singer=singer, song_ids=[song.pk]) == {song.pk: 3}
