"""Writes of the party: rooms, singers, the queue and the player.

Every change to a room's queue or player runs in one transaction that first locks the
room's row (`select_for_update`; on SQLite the IMMEDIATE transaction already
serialises writers), reads the whole room, asks `rotation` for the order, writes, bumps
`Room.version`, and publishes through queue_app/events.py after commit. Positions are
never stored (they are computed by the rotation, so they cannot repeat); host pins are
rewritten from what `rotation.pins_after_move` / `pins_after_leave` return, so they stay
unique and in step with the list. Permission checks are here, not only in the views, so
every caller gets the same answer.
"""

import math
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from django.contrib.auth.hashers import check_password, make_password
from django.db import IntegrityError, transaction
from django.utils import timezone

from common.errors import ApplicationError, Conflict, NotFound
from jobs import services as job_services
from jobs.models import Job
from queue_app import events, rotation, selectors
from queue_app.access import Actor, forbidden, require_host
from queue_app.models import CODE_ALPHABET, CODE_LENGTH, QueueEntry, Room, Singer, SongRequest
from queue_app.selectors import RoomSnapshot
from songs import keys
from songs.audio import hls
from songs.models import Song

EntryStatus = QueueEntry.Status
UNSET = object()


def _lock_room(room: Room) -> Room:
    return Room.objects.select_for_update().get(pk=room.pk)


def _bump(room: Room, *fields: str) -> None:
    room.version += 1
    room.save(update_fields=["version", *fields])
    # The queue changed: the songs being prepared for it may now be due in another order.
    transaction.on_commit(jobs_follow_rotation)


def room_redraw(room: Room) -> None:
    """One change of the room (locked by the caller): a new version, its queue and player sent."""
    _bump(room)
    _publish_all(room)


def jobs_follow_rotation() -> None:
    """Give each song being prepared for a room the priority of its earliest turn (seconds
    until it is due), so a worker takes the song sung soonest first; library imports go
    last (jobs.services.job_claim_next reads it)."""
    # The rooms where a song has work waiting or running: its import, or a key change of it.
    rooms = (
        QueueEntry.objects.filter(status__in=[EntryStatus.WAITING, EntryStatus.PLAYING], song__jobs__status__in=Job.ACTIVE)
        .values_list("room_id", flat=True).distinct()
    )
    due: dict = {}
    now = timezone.now()
    for room in Room.objects.filter(pk__in=list(rooms)):
        snapshot = RoomSnapshot(room)
        playing = snapshot.current()
        if playing is not None and _needs_render(playing):
            due[playing.song_id] = 0  # the TV plays it now, in the original key until it is ready
        for planned in snapshot.plan(now):
            entry = snapshot.entries[planned.entry.id]
            if not planned.entry.ready or _needs_render(entry):
                due[entry.song_id] = min(due.get(entry.song_id, planned.wait_seconds), planned.wait_seconds)
    job_services.job_priorities_set(by_song=due)


def _needs_render(entry: QueueEntry) -> bool:
    return bool(entry.key_shift) and entry.song is not None and not entry.song.has_key_render(entry.key_shift)


def _ask_render(entry: QueueEntry, *, user=None, again: bool = True) -> None:
    """The entry's song in the entry's key (a job, unless rendered or on its way already)."""
    if _needs_render(entry):
        keys.key_render_request(song=entry.song, semitones=entry.key_shift, user=user, again=again)


def queue_renders_request(*, song: Song) -> None:
    """The song changed (ready, separated again, merged into): the key changes its waiting
    and playing entries need, asked for once more (not again after a failure)."""
    entries = QueueEntry.objects.filter(
        song=song, status__in=[EntryStatus.WAITING, EntryStatus.PLAYING]
    ).exclude(key_shift=0).select_related("song")
    for semitones in sorted({entry.key_shift for entry in entries}):
        keys.key_render_request(song=song, semitones=semitones, again=False)


def _write_pins(room: Room, pins: dict[int, int]) -> None:
    # Clear first: the database keeps pins unique, and the new set may swap two.
    QueueEntry.objects.filter(room=room, status=EntryStatus.WAITING, pinned_position__isnull=False).update(pinned_position=None)
    for entry_id, position in pins.items():
        QueueEntry.objects.filter(pk=entry_id, room=room, status=EntryStatus.WAITING).update(pinned_position=position)


def _entry_in(room: Room, entry_id: int) -> QueueEntry:
    entry = QueueEntry.objects.select_related("song").filter(room=room, pk=entry_id).first()
    if entry is None:
        raise NotFound("There is no such entry in this room's queue.", extra={"entry": entry_id})
    return entry


# --- rooms -------------------------------------------------------------------------------


def room_new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def room_create(
    *, owner, name: str, password: str = "", is_open: bool = True,
    rotation_mode: str = Room.RotationMode.FAIR, max_waiting_per_singer: int | None = 3,
) -> Room:
    if not getattr(owner, "can_host", False):
        raise forbidden("Only hosts can open a room; ask the site's staff to make you one.")
    if rotation_mode not in rotation.MODES:
        raise ApplicationError(f"rotation_mode must be one of: {', '.join(rotation.MODES)}.")
    # 32^5 codes: a collision is rare, and the unique index settles a race; retry.
    for _ in range(20):
        try:
            with transaction.atomic():
                return Room.objects.create(
                    owner=owner, name=name.strip() or f"{owner}'s party", code=room_new_code(),
                    password=make_password(password) if password else "", is_open=is_open,
                    rotation_mode=rotation_mode, max_waiting_per_singer=max_waiting_per_singer,
                )
        except IntegrityError:
            continue
    raise Conflict("Could not find a free room code; try again.")


# The bounds of the request settings (the model's validators, for every caller).
_REQUEST_LIMITS = {"request_max_minutes": (1, 60), "max_pending_requests": (1, 20), "interlude_seconds": (0, 60)}


def room_update(*, room: Room, actor: Actor, **changes) -> Room:
    """Settings (host): name, is_open, rotation_mode, max_waiting_per_singer, password ("" removes
    it), the song requests: requests (off, host, auto), request_max_minutes, max_pending_requests;
    and interlude_seconds (the "Up next" pause between singers, 0 to 60)."""
    require_host(actor)
    allowed = {
        "name", "is_open", "rotation_mode", "max_waiting_per_singer", "password",
        "requests", "request_max_minutes", "max_pending_requests", "interlude_seconds",
    }
    unknown = set(changes) - allowed
    if unknown:
        raise ApplicationError(f"Unknown room settings: {', '.join(sorted(unknown))}.")
    with transaction.atomic():
        room = _lock_room(room)
        mode_before = room.rotation_mode
        for name, value in changes.items():
            if name == "password":
                value = make_password(value) if value else ""
            elif name == "rotation_mode" and value not in rotation.MODES:
                raise ApplicationError(f"rotation_mode must be one of: {', '.join(rotation.MODES)}.")
            elif name == "requests" and value not in Room.Requests.values:
                raise ApplicationError(f"requests must be one of: {', '.join(Room.Requests.values)}.")
            elif name in _REQUEST_LIMITS and not (_REQUEST_LIMITS[name][0] <= int(value) <= _REQUEST_LIMITS[name][1]):
                low, high = _REQUEST_LIMITS[name]
                raise ApplicationError(f"{name} must be between {low} and {high}.", extra={"fields": {name: ["out of range"]}})
            setattr(room, name, value)
        _bump(room, *changes)
        events.room_changed(room)
        if room.rotation_mode != mode_before:
            snapshot = RoomSnapshot(room)
            events.queue_changed(snapshot)
            events.player_state(snapshot)  # who is next may have changed
    return room


# --- singers -----------------------------------------------------------------------------


def singer_join(*, room: Room, user=None, display_name: str = "", password: str = "", token: str = "") -> tuple[Singer, bool]:
    """Join `room` (or come back to it); returns the singer and whether it is new.

    The same user, or the same guest (their token, from the browser session), gets the
    same singer back, even in a closed room; newcomers are refused by a closed room or a
    wrong password (the host, owner or staff, passes both).
    """
    user = user if user is not None and user.is_authenticated else None
    display_name = (display_name or "").strip()[:80]
    with transaction.atomic():
        room = _lock_room(room)
        known = None
        if token:
            known = Singer.objects.filter(room=room, token=token).first()
        if known is None and user is not None:
            known = Singer.objects.filter(room=room, user=user).first()
        if known is not None and known.is_active:
            return known, False
        host = user is not None and (user.is_staff or user.pk == room.owner_id)
        if not room.is_open and not host:
            raise forbidden("This room is closed to new singers.", code=room.code)
        if room.password and not host and not check_password(password or "", room.password):
            if password:  # a guess: queue_app/throttles.py counts them by this reason
                raise forbidden("Wrong room password.", code=room.code, reason="wrong_password")
            raise forbidden("This room needs a password.", code=room.code)
        if known is not None:  # back after leaving: their old place in the join order
            known.left_at = None
            known.save(update_fields=["left_at"])
            return known, False
        if user is None and not display_name:
            raise ApplicationError("Tell us your name to join.", extra={"fields": {"display_name": ["required"]}})
        name = display_name or str(user)
        if user is not None and not display_name:
            name = _free_name(room, name)  # an account's own name: take the next free one
        else:
            _require_free_name(room, name)
        singer = Singer.objects.create(room=room, user=user, display_name=name)
    return singer, True


def _taken(room: Room, name: str, *, but: int | None = None) -> bool:
    # Case-insensitive in Python, not in the database: SQLite's NOCASE knows only ASCII.
    others = Singer.objects.filter(room=room, left_at__isnull=True).exclude(pk=but).values_list("display_name", flat=True)
    return name.casefold() in {other.casefold() for other in others}


def _free_name(room: Room, name: str, *, but: int | None = None) -> str:
    candidate, number = name, 1
    while _taken(room, candidate, but=but):
        number += 1
        candidate = f"{name[:75]} {number}"
    return candidate


def _require_free_name(room: Room, name: str, *, but: int | None = None) -> None:
    if _taken(room, name, but=but):
        suggestion = _free_name(room, name, but=but)
        raise Conflict(
            f"Someone here is already called {name}; try “{suggestion}” or another name.",
            extra={"fields": {"display_name": ["taken"]}, "suggestion": suggestion},
        )


def singer_rename(*, room: Room, actor: Actor, singer_id: int, display_name: str) -> Singer:
    """A singer renames themselves; the host renames anyone. Names stay unique in the room
    (case-insensitive); the queue, the player and the pages show the new name at once."""
    name = (display_name or "").strip()[:80]
    if not name:
        raise ApplicationError("A name cannot be empty.", extra={"fields": {"display_name": ["required"]}})
    with transaction.atomic():
        room = _lock_room(room)
        singer = Singer.objects.filter(room=room, pk=singer_id, left_at__isnull=True).first()
        if singer is None:
            raise NotFound("There is no such singer in this room.", extra={"singer": singer_id})
        if not (actor.is_host or (actor.singer is not None and actor.singer.pk == singer.pk)):
            raise forbidden("You can only change your own name.")
        if name == singer.display_name:
            return singer
        _require_free_name(room, name, but=singer.pk)
        singer.display_name = name
        singer.save(update_fields=["display_name"])
        # What still waits or plays shows the new name; the history keeps the one it was sung under.
        QueueEntry.objects.filter(singer=singer, status__in=[EntryStatus.WAITING, EntryStatus.PLAYING]).update(
            singer_name=name
        )
        _bump(room)
        _publish_all(room)
    return singer


def singer_leave(*, singer: Singer) -> None:
    """Leave the room; the singer's waiting songs go with them (the one playing stays)."""
    with transaction.atomic():
        room = _lock_room(singer.room)
        singer = Singer.objects.get(pk=singer.pk)
        if not singer.is_active:
            return
        snapshot = RoomSnapshot(room)
        leaving = {e.pk for e in snapshot.entries.values() if e.singer_id == singer.pk and e.status == EntryStatus.WAITING}
        pins = rotation.pins_after_leave(snapshot.order(), leaving)
        QueueEntry.objects.filter(pk__in=leaving).delete()
        _write_pins(room, pins)
        singer.left_at = timezone.now()
        singer.save(update_fields=["left_at"])
        _bump(room)
        _publish_all(room)  # who is next may have changed
        # Their requests still waiting for the host go with them.
        for request in SongRequest.objects.filter(singer=singer, status=SongRequest.Status.PENDING):
            request.status, request.reason = SongRequest.Status.CANCELLED, "The singer left the room."
            request.save(update_fields=["status", "reason", "updated_at"])
            events.request_changed(request)
        events.singer_left(room, singer.pk)


@dataclass
class SingerClaim:
    claimed: list[Singer] = field(default_factory=list)  # guest singers that are now the user's
    kept: list[Singer] = field(default_factory=list)  # left as guests: the user already sings in that room


def singer_claim_for_user(*, user, tokens: Iterable[str]) -> SingerClaim:
    """A guest signs up or signs in: the guest singers of their browser become the user's.

    Each keeps its row, so its place in the rotation (join order), its queue and its history
    stay as they were. A room allows one singer per user (a unique constraint), so where the
    user already sings, the guest singer is left as it is. Tokens of unknown singers or of
    another user's singers are ignored. Nothing a room shows changes (entries carry the
    singer's name, not the account), so no event is sent.
    """
    result = SingerClaim()
    tokens = [t for t in dict.fromkeys(tokens) if t]
    guests = Singer.objects.filter(token__in=tokens, user__isnull=True).select_related("room").order_by("joined_at", "pk")
    for guest in guests:
        try:
            with transaction.atomic():
                _lock_room(guest.room)  # the same order as every other write to the room
                if Singer.objects.filter(room=guest.room, user=user).exists():
                    result.kept.append(guest)
                    continue
                if Singer.objects.filter(pk=guest.pk, user__isnull=True).update(user=user):
                    QueueEntry.objects.filter(singer=guest).update(user=user)  # their history too
                    guest.user = user
                    result.claimed.append(guest)
        except IntegrityError:  # the same user signing in from two browsers at once
            result.kept.append(guest)
    return result


# --- the queue ---------------------------------------------------------------------------


def _check_playable_later(song: Song) -> None:
    if song.deleted_at is not None:
        raise ApplicationError("This song was deleted from the library.", extra={"song": str(song.pk)})
    if song.status in Song.STOPPED:
        raise ApplicationError(
            "This song could not be prepared for karaoke; pick another one.", extra={"song": str(song.pk)}
        )


def queue_add(*, room: Room, actor: Actor, song: Song, key_shift: int | None = None) -> QueueEntry:
    """Queue a song for the actor's singer: a ready one, or one still processing (its
    turn waits until it is ready). The per-singer limit counts both. `key_shift` None:
    the key this singer last chose for the song (selectors.remembered_key_shift), else 0.
    A shifted key is rendered from now on, in rotation order."""
    if actor.singer is None:
        raise forbidden("Join the room as a singer to queue songs." if actor.is_host else "Join the room first.")
    if key_shift is not None:
        keys.key_shift_check(key_shift)
    _check_playable_later(song)
    with transaction.atomic():
        room = _lock_room(room)
        if not Singer.objects.filter(pk=actor.singer.pk, left_at__isnull=True).exists():
            raise forbidden("You left this room; join it again first.")
        # The singer's own waiting entries are all the limit reads: not a whole snapshot.
        theirs = QueueEntry.objects.filter(room=room, singer=actor.singer, status=EntryStatus.WAITING)
        if not rotation.can_add(actor.singer.pk, theirs.only("singer_id", "status"), room.max_waiting_per_singer):
            limit = room.max_waiting_per_singer
            raise Conflict(
                f"You already have {limit} song{'s' if limit != 1 else ''} waiting, the most this room allows.",
                extra={"limit": limit},
            )
        if key_shift is None:
            key_shift = selectors.remembered_key_shift(singer=actor.singer, song=song)
        entry = queue_entry_new(room=room, singer=actor.singer, song=song, key_shift=key_shift)
        _ask_render(entry, user=actor.user)
        _bump(room)
        snapshot = RoomSnapshot(room)
        events.queue_changed(snapshot)
        events.player_state(snapshot)  # "up next" may be this one
    return entry


def queue_entry_new(*, room: Room, singer: Singer, song: Song, key_shift: int = 0) -> QueueEntry:
    """A waiting entry, with the names its history will show (the caller checked who may)."""
    entry = QueueEntry(room=room, singer=singer, song=song, key_shift=key_shift)
    entry.remember_names()
    entry.save()
    return entry


def _require_owner_or_host(actor: Actor, entry: QueueEntry, message: str) -> None:
    if not (actor.is_host or (actor.singer is not None and actor.singer.pk == entry.singer_id)):
        raise forbidden(message)


def queue_remove(*, room: Room, actor: Actor, entry_id: int) -> None:
    """Take a waiting song out of the queue (singers their own, hosts any)."""
    with transaction.atomic():
        room = _lock_room(room)
        entry = _entry_in(room, entry_id)
        _require_owner_or_host(actor, entry, "You can only remove your own songs.")
        if entry.status != EntryStatus.WAITING:
            raise Conflict("Only a waiting song can be removed (skip the one playing).", extra={"status": entry.status})
        queue_drop(room=room, entry_id=entry.pk)


def queue_drop(*, room: Room, entry_id: int) -> None:
    """Take a waiting entry out (the room locked by the caller, who checked who may)."""
    waiting = QueueEntry.objects.filter(room=room, status=EntryStatus.WAITING)
    # The pins behind it move up with the list; without a pin nothing moves, and the
    # rotation (a snapshot of the room) need not be read for that.
    pinned = waiting.filter(pinned_position__isnull=False).exists()
    pins = rotation.pins_after_leave(RoomSnapshot(room).order(), {entry_id}) if pinned else {}
    if not waiting.filter(pk=entry_id).delete()[0]:
        return
    if pinned:
        _write_pins(room, pins)
    _bump(room)
    snapshot = RoomSnapshot(room)
    events.queue_changed(snapshot)
    events.player_state(snapshot)


def queue_update(
    *, room: Room, actor: Actor, entry_id: int, key_shift: int | None = None, song: Song | None = None,
    position=UNSET,
) -> QueueEntry:
    """Change an entry: its key or song (its singer or a host), its place (a host; None
    unpins). The key of the song playing now is the host's to change (the TV switches to
    it where it is, once rendered)."""
    if key_shift is not None:
        keys.key_shift_check(key_shift)
    with transaction.atomic():
        room = _lock_room(room)
        entry = _entry_in(room, entry_id)
        if position is not UNSET:
            require_host(actor)
        if key_shift is not None or song is not None:
            _require_owner_or_host(actor, entry, "You can only change your own songs.")
        if entry.status != EntryStatus.WAITING and not (entry.status == EntryStatus.PLAYING and song is None and position is UNSET):
            raise Conflict("Only a waiting song can be changed.", extra={"status": entry.status})
        if entry.status == EntryStatus.PLAYING and key_shift is not None and key_shift != entry.key_shift:
            if not actor.is_host:
                raise forbidden("Only the host can change the key of the song playing now.")
        if song is not None:
            _check_playable_later(song)
            entry.song = song  # in place: the singer keeps their turn
            entry.remember_names()
        if key_shift is not None:
            entry.key_shift = key_shift
        entry.save(update_fields=["song", "key_shift", "song_title", "song_artist"])
        if key_shift is not None or song is not None:
            _ask_render(entry, user=actor.user)
        if position is not UNSET:
            snapshot = RoomSnapshot(room)
            if position is None:
                QueueEntry.objects.filter(pk=entry.pk).update(pinned_position=None)
            else:
                _write_pins(room, rotation.pins_after_move(snapshot.order(), entry.pk, position))
        _bump(room)
        snapshot = RoomSnapshot(room)
        events.queue_changed(snapshot)
        events.player_state(snapshot)
    entry.refresh_from_db()
    return entry


def queue_move(*, room: Room, actor: Actor, entry_id: int, position: int | None) -> QueueEntry:
    """The host drags an entry to `position` (0: play next), or unpins it (None)."""
    return queue_update(room=room, actor=actor, entry_id=entry_id, position=position)


def queue_entries_move_song(*, from_song: Song, to_song: Song) -> None:
    """A merged duplicate: its queue entries (history and waiting) point at the kept song."""
    with transaction.atomic():
        rooms = set(QueueEntry.objects.filter(song=from_song).values_list("room_id", flat=True))
        for room in Room.objects.filter(pk__in=rooms).order_by("pk"):  # one lock order: no deadlock
            _lock_room(room)
        QueueEntry.objects.filter(song=from_song).update(song=to_song)
        for room in Room.objects.filter(pk__in=rooms):
            _bump(room)
            _publish_all(room)


def rooms_song_changed(*, song_id, room_ids: list[int] | None = None, start_if_next: bool = False) -> None:
    """A song changed (became playable or ready, its stream grew, it failed, was deleted,
    restored or renamed): every room where it waits or plays is drawn again as one change
    (its badge, who is up next), a room playing it moves its stream limit (the TVs hold or
    resume), and with `start_if_next` (it just became playable) an idle room that is not
    held, whose next song it is, starts it after the interlude. `room_ids`: the rooms to
    tell when the entries are already gone (a hard delete takes them with the song)."""
    now = timezone.now()
    if room_ids is None:
        # Read before the transaction: most changes (a worker's progress on a library
        # import) concern no room, and an empty one would still take SQLite's write lock.
        room_ids = rooms_with_song(song_id=song_id)
    if not room_ids:
        return
    with transaction.atomic():
        for room in Room.objects.filter(pk__in=list(room_ids)).order_by("pk"):  # one lock order: no deadlock
            room = _lock_room(room)
            snapshot = RoomSnapshot(room)
            current = snapshot.current()
            if current is not None and current.song_id == song_id:
                _follow_stream(room, current.song, now)
            elif current is None and start_if_next and not room.held:
                up = snapshot.next_up()
                if up is not None and up.song_id == song_id:
                    _start(room, snapshot, up, now)  # it became playable: on by itself
            _bump(room, *PLAYER_FIELDS)
            _publish_all(room)


# Seconds of stream a held song needs beyond where it waits before it plays on: two
# segments, so it does not stop again at the very next one.
RESUME_AHEAD = 2.0 * hls.SEGMENT_SECONDS


def _follow_stream(room: Room, song: Song | None, now) -> None:
    """The current song's stream grew (or started again, after a crash): where the position
    may go now. Stopped at the old limit, it resumes from there once the stream is
    RESUME_AHEAD beyond; a stream that no longer reaches the position holds it there."""
    limit = selectors.stream_limit(song)
    if room.paused:
        room.position_limit = limit
        return
    position = room.position_now(now)
    interlude = room.starts_in(now) > 0
    stalled = room.position_limit is not None and position >= max(room.position_limit, room.position) - 0.05
    if limit is None or limit >= position + (RESUME_AHEAD if stalled else 0.0):
        if stalled and not interlude:
            room.position, room.position_at = position, now  # on from where it waited
        room.position_limit = limit
    else:
        if not interlude:
            room.position, room.position_at = position, now
        room.position_limit = position  # wait here


def queue_entries_song_deleting(*, song_id) -> list[int]:
    """A song is about to be deleted for good: its waiting entries leave the queues, one it
    plays ends as skipped; its played entries stay as history (the song's link goes null).
    Returns the rooms to redraw once the delete is committed."""
    rooms = rooms_with_song(song_id=song_id)
    for room in Room.objects.filter(pk__in=rooms).order_by("pk"):  # one lock order: no deadlock
        room = _lock_room(room)
        snapshot = RoomSnapshot(room)
        leaving = {e.pk for e in snapshot.entries.values() if e.song_id == song_id and e.status == EntryStatus.WAITING}
        _write_pins(room, rotation.pins_after_leave(snapshot.order(), leaving))
        QueueEntry.objects.filter(pk__in=leaving).delete()
        QueueEntry.objects.filter(room=room, song_id=song_id, status=EntryStatus.PLAYING).update(
            status=EntryStatus.SKIPPED, finished_at=timezone.now()
        )
    return rooms


def rooms_with_song(*, song_id) -> list[int]:
    """The rooms where the song waits or plays (read before a delete takes the entries)."""
    return list(
        QueueEntry.objects.filter(song_id=song_id, status__in=[EntryStatus.WAITING, EntryStatus.PLAYING])
        .values_list("room_id", flat=True).distinct()
    )


# --- the player (host, or a TV signed in as the host) -------------------------------------


def _start(room: Room, snapshot: RoomSnapshot, entry: QueueEntry, now, *, interlude: bool = True) -> None:
    """`entry` becomes the current song. With `interlude`, it begins after the room's
    interlude (the position stays 0 until then: every TV counts down "Up next")."""
    pins = rotation.pins_after_leave(snapshot.order(), {entry.pk})
    entry.remember_names()  # the history shows the song as it was sung (a title edited since)
    QueueEntry.objects.filter(pk=entry.pk).update(
        status=EntryStatus.PLAYING, started_at=now, finished_at=None, pinned_position=None,
        song_title=entry.song_title, song_artist=entry.song_artist, singer_name=entry.singer_name,
    )
    _write_pins(room, pins)
    wait = timedelta(seconds=room.interlude_seconds if interlude else 0)
    room.paused, room.position, room.position_at = False, 0.0, now + wait
    room.position_limit = selectors.stream_limit(entry.song)


def _publish_all(room: Room) -> None:
    snapshot = RoomSnapshot(room)
    events.queue_changed(snapshot)
    events.player_state(snapshot)


PLAYER_FIELDS = ("paused", "position", "position_at", "position_limit", "held")


def player_next(*, room: Room, actor: Actor, skip: bool = False, expected_entry: int | None = None) -> Room:
    """Finish (or skip) the current song and start the next ready one.

    `expected_entry`: the entry the caller believes is current. When it is not (another
    TV advanced already), nothing happens, so two TVs ending a song advance it once.
    """
    require_host(actor)
    now = timezone.now()
    with transaction.atomic():
        room = _lock_room(room)
        current = QueueEntry.objects.filter(room=room, status=EntryStatus.PLAYING).first()
        if expected_entry is not None and (current.pk if current else None) != expected_entry:
            return room
        if skip and current is None:
            raise Conflict("Nothing is playing to skip.")
        if expected_entry is None:
            room.held = False  # the host moved on by hand
        if current is not None:
            current.status = EntryStatus.SKIPPED if skip else EntryStatus.DONE
            current.finished_at = now
            current.save(update_fields=["status", "finished_at"])
        snapshot = RoomSnapshot(room)  # again: a skipped song is no turn, which can change the order
        up = snapshot.next_up()
        if up is not None and not (room.held and expected_entry is not None):
            _start(room, snapshot, up, now)
        else:
            room.paused, room.position, room.position_at, room.position_limit = True, 0.0, now, None
        _bump(room, *PLAYER_FIELDS)
        _publish_all(room)
    return room


def player_skip(*, room: Room, actor: Actor, expected_entry: int | None = None) -> Room:
    return player_next(room=room, actor=actor, skip=True, expected_entry=expected_entry)


def player_previous(*, room: Room, actor: Actor) -> Room:
    """Back to the song before: it plays again from the start, and the current one goes
    back to the front of the queue. With nothing before it, the current song restarts."""
    require_host(actor)
    now = timezone.now()
    with transaction.atomic():
        room = _lock_room(room)
        current = QueueEntry.objects.filter(room=room, status=EntryStatus.PLAYING).first()
        last = (
            QueueEntry.objects.filter(room=room, status__in=[EntryStatus.DONE, EntryStatus.SKIPPED])
            .order_by("-finished_at", "-id").first()
        )
        if last is None and current is None:
            raise Conflict("Nothing has played yet.")
        if last is not None:
            if current is not None:
                current.status, current.started_at, current.finished_at = EntryStatus.WAITING, None, None
                current.save(update_fields=["status", "started_at", "finished_at"])
            last.status, last.finished_at = EntryStatus.PLAYING, None
            last.started_at = last.started_at or now
            last.save(update_fields=["status", "started_at", "finished_at"])
            if current is not None:
                _write_pins(room, rotation.pins_after_move(RoomSnapshot(room).order(), current.pk, 0))
        playing = QueueEntry.objects.select_related("song").filter(room=room, status=EntryStatus.PLAYING).first()
        room.paused, room.position, room.position_at, room.held = False, 0.0, now, False
        room.position_limit = selectors.stream_limit(playing.song if playing else None)
        _bump(room, *PLAYER_FIELDS)
        _publish_all(room)
    return room


def player_play(*, room: Room, actor: Actor) -> Room:
    """Resume the current song, or start the next one when nothing is playing. During an
    interlude, start the song at once. Play also releases a held room: with nothing that
    can play yet, the next song to become playable starts by itself."""
    require_host(actor)
    now = timezone.now()
    with transaction.atomic():
        room = _lock_room(room)
        was_held, room.held = room.held, False
        snapshot = RoomSnapshot(room)
        if snapshot.current() is not None:
            if room.paused:
                room.paused, room.position_at = False, now
            elif room.starts_in(now) > 0:
                room.position_at = now  # the interlude ends now
            _bump(room, *PLAYER_FIELDS)
            events.player_state(RoomSnapshot(room))
            return room
        up = snapshot.next_up()
        if up is not None:
            _start(room, snapshot, up, now, interlude=False)
            _bump(room, *PLAYER_FIELDS)
            _publish_all(room)
            return room
        if was_held:
            _bump(room, *PLAYER_FIELDS)
            events.player_state(snapshot)
    raise Conflict("There is no song in the queue that can play yet.")


def player_pause(*, room: Room, actor: Actor) -> Room:
    """Pause the song, or hold the interlude before it. The room is held: nothing starts
    by itself (a song that becomes playable waits for Play). With nothing playing, it
    only holds the room."""
    require_host(actor)
    now = timezone.now()
    with transaction.atomic():
        room = _lock_room(room)
        room.held = True
        if QueueEntry.objects.filter(room=room, status=EntryStatus.PLAYING).exists() and not room.paused:
            room.position, room.paused, room.position_at = room.position_now(now), True, now
        _bump(room, *PLAYER_FIELDS)
        events.player_state(RoomSnapshot(room))
    return room


def player_seek(*, room: Room, actor: Actor, position: float) -> Room:
    require_host(actor)
    if not math.isfinite(position) or position < 0:
        raise ApplicationError("position must be 0 or more seconds.", extra={"position": str(position)})
    now = timezone.now()
    with transaction.atomic():
        room = _lock_room(room)
        current = QueueEntry.objects.select_related("song").filter(room=room, status=EntryStatus.PLAYING).first()
        if current is None:
            raise Conflict("Nothing is playing to seek in.")
        if current.song.duration:
            position = min(position, current.song.duration)
        limit = selectors.stream_limit(current.song)
        if limit is not None:
            position = min(position, limit)  # only within what the stream holds
        room.position, room.position_at, room.position_limit = float(position), now, limit
        _bump(room, *PLAYER_FIELDS)
        events.player_state(RoomSnapshot(room))
    return room


PLAYER_ACTIONS = ("next", "skip", "previous", "pause", "play", "seek")


def player_control(
    *, room: Room, actor: Actor, action: str, position: float | None = None, expected_entry: int | None = None
) -> Room:
    """One entry point for the player's buttons (the API's POST /player)."""
    if action == "next":
        return player_next(room=room, actor=actor, expected_entry=expected_entry)
    if action == "skip":
        return player_skip(room=room, actor=actor, expected_entry=expected_entry)
    if action == "previous":
        return player_previous(room=room, actor=actor)
    if action == "pause":
        return player_pause(room=room, actor=actor)
    if action == "play":
        return player_play(room=room, actor=actor)
    if action == "seek":
        if position is None:
            raise ApplicationError("seek needs a position in seconds.", extra={"fields": {"position": ["required"]}})
        return player_seek(room=room, actor=actor, position=position)
    raise ApplicationError(f"action must be one of: {', '.join(PLAYER_ACTIONS)}.", extra={"action": action})
