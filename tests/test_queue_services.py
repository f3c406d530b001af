"""The party's services: joining, the queue in rotation order, the player, and their events."""

from datetime import timedelta

import pytest
from django.utils import timezone

from common.errors import ApplicationError
from queue_app import selectors, services
from queue_app.access import actor_for
from queue_app.events import room_group
from queue_app.models import CODE_ALPHABET, QueueEntry, Room, Singer
from songs import services as song_services
from songs.models import Song
from tests.factories import SongFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def host(carol):
    """The room's host: Carol."""
    return carol


@pytest.fixture
def room(host):
    return services.room_create(owner=host, name="Friday", max_waiting_per_singer=None)


def guest(room, name) -> Singer:
    return services.singer_join(room=room, display_name=name)[0]


def as_singer(singer: Singer):
    return actor_for(singer.room, token=singer.token)


def as_host(room):
    return actor_for(room, user=room.owner)


def add(singer, title="Song", **kwargs) -> QueueEntry:
    return services.queue_add(room=singer.room, actor=as_singer(singer), song=SongFactory(title=f"{singer} {title}", ready=True, duration=200.0, **kwargs))


def snap(room) -> selectors.RoomSnapshot:
    return selectors.RoomSnapshot(Room.objects.get(pk=room.pk))


def queue_names(room) -> list[str]:
    return [item["song"]["title"] for item in selectors.queue_payload(snap(room))]


def test_it_gives_a_room_an_unambiguous_code(room):
    assert len(room.code) == 5
    assert set(room.code) <= set(CODE_ALPHABET)
    assert not set(room.code) & set("01OI")


def test_it_retries_the_code_on_a_collision(host, monkeypatch):
    first = services.room_create(owner=host, name="A")
    codes = iter([first.code, first.code, "ZZZZZ"])
    monkeypatch.setattr(services, "room_new_code", lambda: next(codes))
    assert services.room_create(owner=host, name="B").code == "ZZZZZ"


def test_only_hosts_and_staff_open_rooms(singer_user, staff_user):
    with pytest.raises(ApplicationError) as refused:
        services.room_create(owner=singer_user, name="Mine")
    assert refused.value.status_code == 403
    assert services.room_create(owner=staff_user, name="Staff party").owner == staff_user


def test_the_same_user_joining_again_is_the_same_singer(room, singer_user):
    first, created = services.singer_join(room=room, user=singer_user)
    again, created_again = services.singer_join(room=room, user=singer_user)
    assert (created, created_again) == (True, False)
    assert first == again and first.display_name == "Bob"


def test_a_closed_room_refuses_newcomers_but_keeps_its_singers(room, singer_user):
    bob = services.singer_join(room=room, user=singer_user)[0]
    services.room_update(room=room, actor=as_host(room), is_open=False)
    with pytest.raises(ApplicationError) as refused:
        services.singer_join(room=room, display_name="Eve")
    assert refused.value.status_code == 403 and "closed" in refused.value.message
    assert services.singer_join(room=room, user=singer_user)[0] == bob


def test_a_password_room_checks_the_password(host):
    room = services.room_create(owner=host, name="Secret", password="disco")
    assert room.password != "disco"  # hashed
    with pytest.raises(ApplicationError) as refused:
        services.singer_join(room=room, display_name="Eve", password="polka")
    assert refused.value.status_code == 403 and refused.value.message == "Wrong room password."
    assert services.singer_join(room=room, display_name="Eve", password="disco")[1] is True


def test_a_guest_needs_a_name(room):
    with pytest.raises(ApplicationError) as refused:
        services.singer_join(room=room, display_name="  ")
    assert refused.value.status_code == 400


def test_fair_rotation_orders_the_queue_with_estimates(room):
    ann, ben = guest(room, "Ann"), guest(room, "Ben")
    add(ann, "1"), add(ann, "2"), add(ben, "1")
    queue = selectors.queue_payload(snap(room))
    assert [item["song"]["title"] for item in queue] == ["Ann 1", "Ben 1", "Ann 2"]
    assert [item["position"] for item in queue] == [0, 1, 2]
    assert [item["wait_seconds"] for item in queue] == [0, 200, 400]
    assert queue[1]["singer"]["name"] == "Ben"


def test_fifo_mode_keeps_the_order_songs_were_added(room):
    services.room_update(room=room, actor=as_host(room), rotation_mode="fifo")
    room.refresh_from_db()
    ann, ben = guest(room, "Ann"), guest(room, "Ben")
    add(ann, "1"), add(ann, "2"), add(ben, "1")
    assert queue_names(room) == ["Ann 1", "Ann 2", "Ben 1"]


def test_the_per_singer_limit_is_enforced(host):
    room = services.room_create(owner=host, name="Tight", max_waiting_per_singer=2)
    ann = guest(room, "Ann")
    add(ann), add(ann)
    with pytest.raises(ApplicationError) as refused:
        add(ann)
    assert refused.value.status_code == 409 and refused.value.extra == {"limit": 2}


def test_a_processing_song_may_be_queued_but_a_broken_one_may_not(room):
    ann = guest(room, "Ann")
    assert add(ann, status=Song.Status.PROCESSING).status == QueueEntry.Status.WAITING
    with pytest.raises(ApplicationError) as refused:
        add(ann, status=Song.Status.ERROR)
    assert refused.value.status_code == 400
    deleted = SongFactory(title="Gone", ready=True, duration=200.0)
    deleted.deleted_at = timezone.now()
    deleted.save()
    with pytest.raises(ApplicationError):
        services.queue_add(room=room, actor=as_singer(ann), song=deleted)


def test_the_player_passes_over_a_song_still_processing(room):
    ann, ben = guest(room, "Ann"), guest(room, "Ben")
    add(ann, status=Song.Status.PROCESSING)
    add(ben)
    services.player_next(room=room, actor=as_host(room))
    player = selectors.player_payload(snap(room))
    assert player["entry"]["song"]["title"] == "Ben Song" and player["paused"] is False


def test_next_plays_the_rotation_and_publishes_queue_and_player(room, listen, django_capture_on_commit_callbacks):
    ann, ben = guest(room, "Ann"), guest(room, "Ben")
    add(ann, "1"), add(ben, "1")
    recorder = listen(room_group(room.code))
    with django_capture_on_commit_callbacks(execute=True):
        services.player_next(room=room, actor=as_host(room))
    events = recorder.drain()
    assert [e["type"] for e in events] == ["queue.changed", "player.state"]
    assert [item["song"]["title"] for item in events[0]["queue"]] == ["Ben 1"]
    assert events[1]["player"]["entry"]["song"]["title"] == "Ann 1"
    assert events[1]["player"]["up_next"]["song"]["title"] == "Ben 1"
    assert events[0]["version"] == events[1]["version"] == Room.objects.get(pk=room.pk).version


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        ("add", ["queue.changed", "player.state"]),
        ("remove", ["queue.changed", "player.state"]),
        ("move", ["queue.changed", "player.state"]),
        ("key", ["queue.changed", "player.state"]),
        ("pause", ["player.state"]),
        ("play", ["player.state"]),
        ("seek", ["player.state"]),
        ("skip", ["queue.changed", "player.state"]),
        ("previous", ["queue.changed", "player.state"]),
        ("settings", ["room.changed"]),
        ("mode", ["room.changed", "queue.changed", "player.state"]),
        ("leave", ["queue.changed", "player.state", "singer.left"]),
    ],
)
def test_each_change_publishes_its_events_once(call, expected, room, listen, django_capture_on_commit_callbacks):
    ann, ben = guest(room, "Ann"), guest(room, "Ben")
    first, second = add(ann, "1"), add(ben, "1")
    add(ann, "2")
    host = as_host(room)
    services.player_next(room=room, actor=host)  # Ann 1 plays
    services.player_next(room=room, actor=host)  # Ann 1 done, Ben 1 plays
    recorder = listen(room_group(room.code))
    waiting = QueueEntry.objects.get(room=room, status="waiting")
    actions = {
        "add": lambda: add(ben, "2"),
        "remove": lambda: services.queue_remove(room=room, actor=as_singer(ann), entry_id=waiting.pk),
        "move": lambda: services.queue_move(room=room, actor=host, entry_id=waiting.pk, position=0),
        "key": lambda: services.queue_update(room=room, actor=as_singer(ann), entry_id=waiting.pk, key_shift=-2),
        "pause": lambda: services.player_pause(room=room, actor=host),
        "play": lambda: services.player_play(room=room, actor=host),
        "seek": lambda: services.player_seek(room=room, actor=host, position=30),
        "skip": lambda: services.player_skip(room=room, actor=host),
        "previous": lambda: services.player_previous(room=room, actor=host),
        "settings": lambda: services.room_update(room=room, actor=host, name="Saturday"),
        "mode": lambda: services.room_update(room=room, actor=host, rotation_mode="fifo"),
        "leave": lambda: services.singer_leave(singer=ann),
    }
    with django_capture_on_commit_callbacks(execute=True):
        actions[call]()
    assert recorder.types() == expected
    assert first.pk and second.pk


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        ("create", []),  # nobody watches a room that did not exist
        ("join", []),  # nothing any page shows changes until they queue a song
        ("join again", []),
        ("play from stopped", ["queue.changed", "player.state"]),
        ("next", ["queue.changed", "player.state"]),
        ("next at the end", ["queue.changed", "player.state"]),
        ("next from a TV that is behind", []),  # another TV moved on already: nothing happens
        ("previous with nothing before", ["queue.changed", "player.state"]),
        ("unpin", ["queue.changed", "player.state"]),
        ("change the song", ["queue.changed", "player.state"]),
        ("reorder through the API's service", ["queue.changed", "player.state"]),
        ("merge a duplicate", ["queue.changed", "player.state"]),
    ],
)
def test_it_publishes_which_events_and_how_many_for_every_other_call(
    call, expected, room, host, listen, django_capture_on_commit_callbacks
):
    ann, ben = guest(room, "Ann"), guest(room, "Ben")
    anns, bens = add(ann, "1"), add(ben, "1")
    actor = as_host(room)
    if call in ("next", "next from a TV that is behind", "previous with nothing before", "next at the end"):
        services.player_play(room=room, actor=actor)  # Ann 1 plays
    if call == "next at the end":
        services.player_next(room=room, actor=actor)  # Ben 1 plays, nothing waits
    if call == "unpin":
        services.queue_move(room=room, actor=actor, entry_id=bens.pk, position=0)
    # Two listeners: one looks inside the transaction, one after it (each is read once).
    inside, recorder = listen(room_group(room.code)), listen(room_group(room.code))
    actions = {
        "create": lambda: services.room_create(owner=host, name="Another"),
        "join": lambda: guest(room, "Cat"),
        "join again": lambda: services.singer_join(room=room, token=ann.token),
        "play from stopped": lambda: services.player_play(room=room, actor=actor),
        "next": lambda: services.player_next(room=room, actor=actor, expected_entry=anns.pk),
        "next at the end": lambda: services.player_next(room=room, actor=actor),
        "next from a TV that is behind": lambda: services.player_next(room=room, actor=actor, expected_entry=bens.pk),
        "previous with nothing before": lambda: services.player_previous(room=room, actor=actor),
        "unpin": lambda: services.queue_move(room=room, actor=actor, entry_id=bens.pk, position=None),
        "change the song": lambda: services.queue_update(room=room, actor=as_singer(ben), entry_id=bens.pk,
                                                         song=SongFactory(title="Another", ready=True, duration=200.0)),
        "reorder through the API's service": lambda: services.queue_update(room=room, actor=actor, entry_id=bens.pk,
                                                                           position=0),
        "merge a duplicate": lambda: services.queue_entries_move_song(
            from_song=bens.song, to_song=SongFactory(title="Kept", ready=True, duration=200.0)
        ),
    }
    version = Room.objects.get(pk=room.pk).version
    with django_capture_on_commit_callbacks(execute=True):
        actions[call]()
        # Inside the transaction nothing has left yet: events go after commit.
        assert inside.types(timeout=0.1) == []
    events = recorder.drain()
    assert [event["type"] for event in events] == expected
    # Every change bumps the room's version once, and its events carry it.
    new_version = Room.objects.get(pk=room.pk).version
    assert new_version == version + (1 if expected else 0)
    assert all(event["version"] == new_version for event in events)


def test_a_refused_change_publishes_nothing(room, listen, django_capture_on_commit_callbacks):
    recorder = listen(room_group(room.code))
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ApplicationError):
        services.player_skip(room=room, actor=as_host(room))
    assert recorder.types() == []


def test_play_next_pins_and_pins_count_down(room):
    ann, ben, cat = guest(room, "Ann"), guest(room, "Ben"), guest(room, "Cat")
    add(ann), add(ben)
    late = add(cat)
    host = as_host(room)
    services.queue_move(room=room, actor=host, entry_id=late.pk, position=0)
    assert queue_names(room) == ["Cat Song", "Ann Song", "Ben Song"]
    services.player_next(room=room, actor=host)
    assert selectors.player_payload(snap(room))["entry"]["id"] == late.pk
    assert not QueueEntry.objects.filter(room=room, pinned_position__isnull=False).exists()


def test_moving_to_a_slot_keeps_other_pins_unique(room):
    singers = [guest(room, name) for name in ("Ann", "Ben", "Cat", "Dan")]
    entries = [add(s) for s in singers]
    host = as_host(room)
    services.queue_move(room=room, actor=host, entry_id=entries[3].pk, position=0)
    services.queue_move(room=room, actor=host, entry_id=entries[2].pk, position=0)
    pins = list(QueueEntry.objects.filter(room=room, pinned_position__isnull=False).values_list("pinned_position", flat=True))
    assert sorted(pins) == sorted(set(pins))
    assert queue_names(room) == ["Cat Song", "Dan Song", "Ann Song", "Ben Song"]
    services.queue_remove(room=room, actor=host, entry_id=entries[2].pk)
    assert queue_names(room) == ["Dan Song", "Ann Song", "Ben Song"]


def test_removing_a_song_ahead_of_a_pinned_one_moves_the_pin_up(room):
    singers = [guest(room, name) for name in ("Ann", "Ben", "Cat", "Dan")]
    entries = [add(s) for s in singers]
    host = as_host(room)
    services.queue_move(room=room, actor=host, entry_id=entries[3].pk, position=2)
    assert queue_names(room) == ["Ann Song", "Ben Song", "Dan Song", "Cat Song"]
    services.queue_remove(room=room, actor=host, entry_id=entries[0].pk)
    # Dan's pin counts down with the list: still after Ben, not pushed behind Cat.
    assert queue_names(room) == ["Ben Song", "Dan Song", "Cat Song"]
    assert QueueEntry.objects.get(pk=entries[3].pk).pinned_position == 1


def test_leaving_takes_the_waiting_songs_but_not_the_one_playing(room):
    ann, ben = guest(room, "Ann"), guest(room, "Ben")
    add(ann, "1"), add(ann, "2"), add(ben, "1")
    services.player_next(room=room, actor=as_host(room))  # Ann 1
    services.singer_leave(singer=ann)
    assert queue_names(room) == ["Ben 1"]
    assert QueueEntry.objects.filter(singer=ann, status="playing").count() == 1
    with pytest.raises(ApplicationError):
        add(Singer.objects.get(pk=ann.pk))


def test_a_singer_who_left_keeps_the_rotation_fair_on_return(room):
    ann, ben, cat = guest(room, "Ann"), guest(room, "Ben"), guest(room, "Cat")
    for s in (ann, ben, cat):
        add(s, "1")
    host = as_host(room)
    services.player_next(room=room, actor=host)  # Ann sings
    services.singer_leave(singer=ann)
    back = services.singer_join(room=room, display_name="Ann", token=ann.token)[0]
    assert back.pk == ann.pk
    add(back, "2")
    assert queue_names(room) == ["Ben 1", "Cat 1", "Ann 2"]


def test_pause_play_and_seek_keep_the_position(room):
    ann = guest(room, "Ann")
    add(ann)
    host = as_host(room)
    services.player_next(room=room, actor=host)
    Room.objects.filter(pk=room.pk).update(position_at=timezone.now() - timedelta(seconds=42))
    services.player_pause(room=room, actor=host)
    player = selectors.player_payload(snap(room))
    assert player["paused"] is True and 41.5 < player["position"] < 43
    services.player_seek(room=room, actor=host, position=500)  # past the end: the end
    assert Room.objects.get(pk=room.pk).position == 200
    services.player_play(room=room, actor=host)
    assert Room.objects.get(pk=room.pk).paused is False


def test_previous_plays_the_last_song_again_and_puts_the_current_one_first(room):
    ann, ben, cat = guest(room, "Ann"), guest(room, "Ben"), guest(room, "Cat")
    first, second, third = add(ann), add(ben), add(cat)
    host = as_host(room)
    services.player_next(room=room, actor=host)
    services.player_next(room=room, actor=host)
    services.player_previous(room=room, actor=host)
    player = selectors.player_payload(snap(room))
    assert player["entry"]["id"] == first.pk and player["position"] < 1
    assert [item["id"] for item in selectors.queue_payload(snap(room))] == [second.pk, third.pk]


def test_two_tvs_ending_the_same_song_advance_once(room):
    ann, ben = guest(room, "Ann"), guest(room, "Ben")
    first, second = add(ann), add(ben)
    host = as_host(room)
    services.player_next(room=room, actor=host)
    services.player_next(room=room, actor=host, expected_entry=first.pk)
    services.player_next(room=room, actor=host, expected_entry=first.pk)  # the second TV: too late
    assert QueueEntry.objects.get(pk=second.pk).status == "playing"


def test_a_skipped_song_is_no_turn(room):
    ann, ben = guest(room, "Ann"), guest(room, "Ben")
    add(ann, "1"), add(ann, "2"), add(ben, "1")
    host = as_host(room)
    services.player_next(room=room, actor=host)  # Ann 1
    services.player_skip(room=room, actor=host)  # skipped: Ann still owed her turn
    assert QueueEntry.objects.get(status="playing").song.title == "Ann 2"


def test_merging_a_duplicate_song_moves_its_queue_entries(room, listen, django_capture_on_commit_callbacks):
    ann = guest(room, "Ann")
    entry = add(ann)
    kept = SongFactory(title="Kept", ready=True, duration=200.0)
    recorder = listen(room_group(room.code))
    with django_capture_on_commit_callbacks(execute=True):
        song_services.song_merge_duplicate(song=entry.song, into=kept)
    assert QueueEntry.objects.get(pk=entry.pk).song == kept
    assert recorder.types() == ["queue.changed", "player.state"]


@pytest.mark.parametrize("change", ["ready", "error", "soft delete", "restore", "hard delete"])
def test_it_tells_the_rooms_where_a_song_is_queued_when_the_song_changes(
    change, room, host, listen, django_capture_on_commit_callbacks
):
    other_room = services.room_create(owner=host, name="Elsewhere")
    ann, ben = guest(room, "Ann"), guest(room, "Ben")
    status = Song.Status.READY if change in ("soft delete", "restore", "hard delete") else Song.Status.PROCESSING
    slow = add(ann, "Slow", status=status)
    add(ben, "Quick")
    if change == "restore":
        song_services.song_soft_delete(song=slow.song)
    # Not ready yet (or gone): Ben's song is up next, Ann's waits with its badge.
    before = selectors.player_payload(snap(room))["up_next"]["song"]["title"]
    recorder, elsewhere = listen(room_group(room.code)), listen(room_group(other_room.code))
    version = Room.objects.get(pk=room.pk).version
    with django_capture_on_commit_callbacks(execute=True):
        {
            "ready": lambda: song_services.song_mark_ready(song=slow.song),
            "error": lambda: song_services.song_mark_error(song=slow.song, message="Demucs failed"),
            "soft delete": lambda: song_services.song_soft_delete(song=slow.song),
            "restore": lambda: song_services.song_restore(song=slow.song),
            "hard delete": lambda: song_services.song_hard_delete(song=slow.song),
        }[change]()
    events = recorder.drain()
    assert [event["type"] for event in events] == ["queue.changed", "player.state"]
    assert all(event["version"] == version + 1 for event in events)
    assert elsewhere.types() == []
    titles = [item["song"]["title"] for item in events[0]["queue"]]
    ready = {item["song"]["title"]: item["song"]["ready"] for item in events[0]["queue"]}
    up_next = events[1]["player"]["up_next"]["song"]["title"]
    if change in ("ready", "restore"):
        # Ann's turn came first and nothing plays: her song starts by itself (after the
        # interlude), and Ben is up next.
        now = events[1]["player"]["entry"]["song"]["title"]
        assert before == "Ben Quick" and now == "Ann Slow" and up_next == "Ben Quick"
        assert events[1]["player"]["starts_in"] == pytest.approx(Room.objects.get(pk=room.pk).interlude_seconds, abs=1)
    elif change == "hard delete":
        assert before == "Ann Slow" and titles == ["Ben Quick"] and up_next == "Ben Quick"
    elif change == "soft delete":
        assert before == "Ann Slow" and up_next == "Ben Quick" and ready["Ann Slow"] is False
    else:  # failed: it stays in the queue (its singer removes it), passed over
        assert before == up_next == "Ben Quick" and ready["Ann Slow"] is False


def test_history_lists_what_was_sung(room):
    ann = guest(room, "Ann")
    add(ann)
    host = as_host(room)
    services.player_next(room=room, actor=host)
    services.player_next(room=room, actor=host)
    assert [item["status"] for item in selectors.room_history(room=room)] == ["done"]
