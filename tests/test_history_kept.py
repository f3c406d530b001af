"""What was sung outlives what it pointed at: a song deleted for good, a room deleted, a
host's account deleted. The histories (a room's, a singer's profile) keep showing it by
the names it was sung under; what was still waiting goes, and the rooms are told."""

import pytest
from django.test import Client

from queue_app import selectors, services
from queue_app.access import actor_for
from queue_app.models import QueueEntry, Room
from songs import services as song_services
from songs.models import Song

pytestmark = pytest.mark.django_db


def song(title: str) -> Song:
    return Song.objects.create(title=title, artist="ABBA", source=Song.Source.UPLOAD, status=Song.Status.READY,
                               duration=180)


@pytest.fixture
def party(django_user_model):
    """Carol hosts; Ann (an account) sang Waterloo and waits with Fernando; Ben (a guest) sang SOS."""
    carol = django_user_model.objects.create_user(username="carol", password="x" * 12, is_host=True)
    ann_user = django_user_model.objects.create_user(username="ann", password="x" * 12, display_name="Ann")
    room = services.room_create(owner=carol, name="Friday", max_waiting_per_singer=None)
    ann = services.singer_join(room=room, user=ann_user)[0]
    ben = services.singer_join(room=room, display_name="Ben")[0]
    host = actor_for(room, user=carol)
    waterloo, sos, fernando = song("Waterloo"), song("SOS"), song("Fernando")
    services.queue_add(room=room, actor=actor_for(room, user=ann_user), song=waterloo)
    services.queue_add(room=room, actor=actor_for(room, token=ben.token), song=sos)
    services.player_next(room=room, actor=host)  # Waterloo
    services.player_next(room=room, actor=host)  # SOS (Waterloo done)
    services.player_next(room=room, actor=host)  # SOS done
    services.queue_add(room=room, actor=actor_for(room, user=ann_user), song=fernando)
    return {"carol": carol, "ann_user": ann_user, "room": room, "ann": ann,
            "songs": {"Waterloo": waterloo, "SOS": sos, "Fernando": fernando}}


def history_titles(room) -> list[str]:
    return [(item["song"]["title"], item["singer"]["name"]) for item in selectors.room_history(room=room)]


def profile_titles(user) -> list[str]:
    return [(entry.song_title, entry.room_name) for entry in selectors.user_sung_history(user=user)]


def test_a_song_deleted_for_good_stays_in_the_histories_and_leaves_the_queue(party, listen,
                                                                             django_capture_on_commit_callbacks):
    room = party["room"]
    recorder = listen(f"room.{room.code}")
    with django_capture_on_commit_callbacks(execute=True):
        song_services.song_hard_delete(song=party["songs"]["Waterloo"])
        song_services.song_hard_delete(song=party["songs"]["Fernando"])  # waiting: leaves the queue
    assert history_titles(room) == [("SOS", "Ben"), ("Waterloo", "Ann")]
    gone = selectors.room_history(room=room)[1]["song"]
    assert (gone["id"], gone["status"], gone["ready"]) == (None, "deleted", False)
    assert profile_titles(party["ann_user"]) == [("Waterloo", "Friday")]
    assert not QueueEntry.objects.filter(status="waiting").exists()
    assert "queue.changed" in recorder.types()
    # The room's API and the profile page still answer.
    staff = Client()
    staff.force_login(party["carol"])
    assert staff.get(f"/api/rooms/{room.code}/history").status_code == 200
    ann = Client()
    ann.force_login(party["ann_user"])
    page = ann.get("/accounts/profile/")
    assert page.status_code == 200 and "Waterloo" in page.content.decode()


def test_a_deleted_room_stays_in_its_singers_histories(party):
    room = party["room"]
    room.delete()
    assert profile_titles(party["ann_user"]) == [("Waterloo", "Friday")]
    # What was waiting there went with it.
    assert not QueueEntry.objects.filter(status__in=["waiting", "playing"]).exists()
    assert QueueEntry.objects.filter(room__isnull=True, status="done").count() == 2


def test_a_deleted_host_account_leaves_the_singers_history(party):
    party["carol"].delete()
    assert not Room.objects.exists()
    assert profile_titles(party["ann_user"]) == [("Waterloo", "Friday")]


def test_a_guest_who_signs_up_takes_their_history_along(party, django_user_model):
    ben = party["room"].singers.get(display_name="Ben")
    ben_user = django_user_model.objects.create_user(username="ben", password="x" * 12)
    services.singer_claim_for_user(user=ben_user, tokens=[ben.token])
    assert profile_titles(ben_user) == [("SOS", "Friday")]
