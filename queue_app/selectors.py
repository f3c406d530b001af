"""Reads of the party: a room by its code, the queue in play order with estimates, the player.

The payloads built here are what the API answers, what `queue.changed` / `player.state`
carry, and the consumer's first message: one shape for every client.
"""

from datetime import datetime, timedelta
from functools import cached_property

from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from common.errors import NotFound
from jobs.models import Job
from queue_app import rotation
from queue_app.models import QueueEntry, Room, Singer, SongRequest
from songs import keys, streaming
from songs.audio import hls
from songs.models import Song
from songs.pipeline import eta

EntryStatus = QueueEntry.Status


def normalize_code(code: str) -> str:
    return (code or "").strip().upper()


def room_get(*, code: str) -> Room:
    room = Room.objects.select_related("owner").filter(code=normalize_code(code)).first()
    if room is None:
        raise NotFound(f"There is no room with the code {normalize_code(code)!r}.", extra={"code": code})
    return room


def rooms_run_by(*, user) -> list[Room]:
    """The rooms a host runs (their own; staff: every room), the newest first."""
    if user is None or not user.is_authenticated or not getattr(user, "can_host", False):
        return []
    rooms = Room.objects.select_related("owner")
    if not user.is_staff:
        rooms = rooms.filter(owner=user)
    return list(rooms.order_by("-created_at", "-pk"))


# --- the rotation's inputs ---------------------------------------------------------------


def is_playable(song: Song) -> bool:
    """Ready, or separating far enough ahead to be sung now (songs/streaming.py)."""
    return streaming.is_playable(song)


def playable_in(song: Song) -> float | None:
    """Seconds until the song can be sung: from its stream's measured speed while it
    separates, from the import's estimate before (None: no job works on it)."""
    seconds = streaming.playable_in(song)
    if seconds is not None or song.status not in (Song.Status.PENDING, Song.Status.PROCESSING):
        return seconds
    ready_in = eta.song_ready_in(song=song)
    if ready_in is None:
        return None
    return streaming.playable_in_estimated(
        duration=song.duration or eta.DEFAULT_DURATION, ready_in=ready_in,
        separate_speed=eta.stage_speeds()["separate"],
    )


def stream_limit(song: Song | None) -> float | None:
    """How far a player may go into `song` now: None for a finished song (or one whose
    stream holds it all), else the end of its stream less one segment (a player reads the
    playlist up to a segment late): 0 when nothing is there yet (a separation starting
    again after its worker died, or one that stopped)."""
    if song is None or song.status == Song.Status.READY:
        return None
    urls = streaming.stream_urls(song)
    if urls is not None and urls.complete:
        return None
    held = urls.seconds if urls is not None else 0.0
    return max(0.0, held - hls.SEGMENT_SECONDS)


def as_rotation_singer(singer: Singer) -> rotation.Singer:
    return rotation.Singer(id=singer.pk, joined_at=singer.joined_at)


def as_rotation_entry(entry: QueueEntry) -> rotation.Entry:
    return rotation.Entry(
        id=entry.pk, singer_id=entry.singer_id, status=entry.status, added_at=entry.added_at,
        started_at=entry.started_at, finished_at=entry.finished_at,
        duration=entry.song.duration if entry.song is not None else None,
        ready=entry.song is not None and is_playable(entry.song), pinned_position=entry.pinned_position,
    )


class RoomSnapshot:
    """Every entry, and every singer with one (the rotation needs those who left too)."""

    def __init__(self, room: Room):
        self.room = room
        entries = QueueEntry.objects.filter(room=room).select_related("song")
        # Not the songs' lyrics: nothing here shows them, and they are the bulk of a row.
        self.entries = {e.pk: e for e in entries.defer("song__lyrics_synced", "song__lyrics_plain")}
        # Only singers with an entry here: the rotation ignores the others (their join
        # order only renumbers, without reordering, the ones that count), and a room full
        # of phones that never queued made every change cost O(singers).
        # Their ids from the entries read above, not a second query on the entries: a
        # change in between must not leave an entry without its singer.
        singer_ids = {e.singer_id for e in self.entries.values()}
        self.singers = {s.pk: s for s in Singer.objects.filter(room=room, pk__in=singer_ids)}
        self.rotation_entries = [as_rotation_entry(e) for e in self.entries.values()]
        self._order: list[rotation.Entry] | None = None

    def order(self) -> list[rotation.Entry]:
        # Computed once: one change's events and answer ask for it up to nine times (the
        # queue, who is next, the player), and the fair rotation replays the room's history.
        # A snapshot is never changed after it is read; a change reads a new one.
        if self._order is None:
            self._order = rotation.order(
                mode=self.room.rotation_mode,
                singers=[as_rotation_singer(s) for s in self.singers.values()],
                entries=self.rotation_entries,
            )
        return list(self._order)

    def plan(self, now: datetime) -> list[rotation.Planned]:
        return rotation.plan(
            mode=self.room.rotation_mode,
            singers=[as_rotation_singer(s) for s in self.singers.values()],
            entries=self.rotation_entries,
            now=now,
            elapsed=self.room.position_now(now),
            ordered=self.order(),
        )

    @cached_property
    def failed_keys(self) -> set[tuple]:
        """(song id, semitones) of the key changes here whose render failed (one query, only
        when an entry waits for one)."""
        pending = [(e.song_id, e.key_shift) for e in self.entries.values()
                   if e.key_shift and e.song is not None and not e.song.has_key_render(e.key_shift)
                   and e.status in (EntryStatus.WAITING, EntryStatus.PLAYING)]
        return keys.key_renders_failed(pending) if pending else set()

    def current(self) -> QueueEntry | None:
        return next((e for e in self.entries.values() if e.status == EntryStatus.PLAYING), None)

    def next_up(self) -> QueueEntry | None:
        chosen = rotation.next_up(self.order())
        return self.entries[chosen.id] if chosen else None


# --- payloads ----------------------------------------------------------------------------


def song_payload(song: Song) -> dict:
    """The song as the party sees it; the TV plays `instrumental_url` (and mixes in
    `vocals_url` as the vocal guide): the browser stems of the separate stage, null
    until they exist. `lyrics_url` answers the song's timed lines; it changes when the
    lyrics do (`?v=`), so a TV showing the song fetches them again."""
    return {
        "id": str(song.pk),
        "title": song.title,
        "artist": song.artist,
        "duration": song.duration,
        "status": song.status,
        "ready": is_playable(song),
        # Still separating: where its live stream is (HLS), how far it reaches, and until
        # it can be sung, how long that should take at the speed measured so far.
        "stream": _stream_payload(song),
        "playable_in_seconds": _rounded(streaming.playable_in(song)),
        "cover_thumb_url": song.file_url("cover_thumb"),
        "instrumental_url": song.file_url("instrumental_web"),
        "vocals_url": song.file_url("vocals_web"),
        "lyrics_url": _lyrics_url(song),
        "key": song.key or None,
        "key_confidence": song.key_confidence,
    }


def _stream_payload(song: Song) -> dict | None:
    urls = streaming.stream_urls(song) if song.status != Song.Status.READY else None
    if urls is None:
        return None
    return {"instrumental_url": urls.instrumental, "vocals_url": urls.vocals,
            "seconds": round(urls.seconds, 2), "complete": urls.complete}


def _rounded(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds)


def _lyrics_url(song: Song) -> str:
    url = reverse("api-song-lyrics", kwargs={"pk": song.pk})
    checked = song.lyrics_checked_at
    return f"{url}?v={int(checked.timestamp() * 1000)}" if checked else url


def _gone_song_payload(entry: QueueEntry) -> dict:
    """A history entry whose song was deleted from the library: the names it was sung under."""
    return {
        "id": None, "title": entry.song_title, "artist": entry.song_artist, "duration": None, "status": "deleted",
        "ready": False, "stream": None, "playable_in_seconds": None, "cover_thumb_url": None, "instrumental_url": None, "vocals_url": None, "lyrics_url": None,
        "key": None, "key_confidence": None,
    }


def key_payload(entry: QueueEntry, failed_keys: set | frozenset = frozenset()) -> dict:
    """The entry's key: its shift, the key it is sung in ("B minor", when the song's is
    known), and whether the TV can play it so (`key_ready`; until then it plays the song's
    own key). `instrumental_url` / `vocals_url`: what the TV plays for this entry now, the
    shifted stems once rendered, the song's own until then."""
    song, shift = entry.song, entry.key_shift
    ready = song is not None and (not shift or song.has_key_render(shift))
    if not shift:
        status = "original"
    elif ready:
        status = "ready"
    elif song is not None and (song.pk, shift) in failed_keys:
        status = "failed"
    else:
        status = "preparing"
    played = [Song.key_kind(stem, shift) if shift and ready else stem for stem in Song.KEY_STEMS]
    return {
        "key_shift": shift,
        "key_name": (keys.key_shifted(song.key, shift) or None) if song is not None else None,
        "key_ready": ready,
        "key_status": status,
        "instrumental_url": song.file_url(played[0]) if song is not None else None,
        "vocals_url": song.file_url(played[1]) if song is not None else None,
    }


def entry_payload(entry: QueueEntry, singers: dict[int, Singer], failed_keys: set | frozenset = frozenset()) -> dict:
    singer = singers.get(entry.singer_id) or entry.singer
    return {
        "id": entry.pk,
        "singer": {"id": singer.pk, "name": singer.display_name} if singer else {"id": None, "name": entry.singer_name},
        "song": song_payload(entry.song) if entry.song is not None else _gone_song_payload(entry),
        "status": entry.status,
        **key_payload(entry, failed_keys),
        "pinned_position": entry.pinned_position,
        "added_at": entry.added_at.isoformat(),
        "started_at": entry.started_at.isoformat() if entry.started_at else None,
        "finished_at": entry.finished_at.isoformat() if entry.finished_at else None,
    }


def queue_payload(snapshot: RoomSnapshot, now: datetime | None = None) -> list[dict]:
    """The waiting entries in the order they will play, each with its estimated start.
    `up_next` marks the one the player starts next (player_payload's `up_next`): the first
    that can play, which is not always the first in line."""
    now = now or timezone.now()
    following = up_next(snapshot)
    return [
        {
            **entry_payload(snapshot.entries[planned.entry.id], snapshot.singers, snapshot.failed_keys),
            "up_next": following is not None and following.pk == planned.entry.id,
            "position": planned.position,
            "estimated_start": planned.starts_at.isoformat(),
            "wait_seconds": round(planned.wait_seconds, 1),
            "wait_minutes": planned.wait_minutes,
        }
        for planned in snapshot.plan(now)
    ]


def up_next(snapshot: RoomSnapshot) -> QueueEntry | None:
    """Who sings next, as every page says it: the first entry that can play, else (the
    songs ahead all still being prepared) the first in the queue, getting ready."""
    chosen = snapshot.next_up()
    if chosen is not None:
        return chosen
    order = snapshot.order()
    return snapshot.entries[order[0].id] if order else None


def player_payload(snapshot: RoomSnapshot, now: datetime | None = None) -> dict:
    """What the TV shows: the current entry, playing or paused, where, and who is next.

    `position` is where the player is at `server_time`; while not paused it goes on at
    one second per second after `starts_in` seconds of interlude ("Up next: Ann", a
    countdown), and never past `limit` (a song still separating: the end of its stream so
    far; `holding` says the position waits there), so a TV computes its own position from
    these. `up_next` carries `getting_ready` and `ready_in_seconds` when its song cannot
    play yet.
    """
    now = now or timezone.now()
    room = snapshot.room
    current = snapshot.current()
    following = up_next(snapshot)
    position = room.position_now(now) if current else 0.0
    limit = room.position_limit if current else None
    playing = current is not None and not room.paused
    next_payload = None
    if following is not None:
        next_payload = entry_payload(following, snapshot.singers, snapshot.failed_keys)
        getting_ready = following.song is not None and not is_playable(following.song)
        next_payload["getting_ready"] = getting_ready
        next_payload["ready_in_seconds"] = _rounded(playable_in(following.song)) if getting_ready else None
    return {
        "entry": entry_payload(current, snapshot.singers, snapshot.failed_keys) if current else None,
        "paused": room.paused or current is None,
        "position": round(position, 3),
        "server_time": now.isoformat(),
        "starts_in": round(room.starts_in(now), 3) if current else 0.0,
        "limit": round(max(limit, room.position), 3) if limit is not None else None,
        "holding": playing and limit is not None and position >= max(limit, room.position) - 0.05,
        "held": room.held,
        "interlude_seconds": room.interlude_seconds,
        "up_next": next_payload,
    }


def room_payload(room: Room) -> dict:
    return {
        "code": room.code,
        "name": room.name,
        "is_open": room.is_open,
        "has_password": room.has_password,
        "rotation_mode": room.rotation_mode,
        "max_waiting_per_singer": room.max_waiting_per_singer,
        "requests": room.requests,
        "request_max_minutes": room.request_max_minutes,
        "max_pending_requests": room.max_pending_requests,
        "interlude_seconds": room.interlude_seconds,
        "owner": str(room.owner),
        "created_at": room.created_at.isoformat(),
    }


def request_payload(request: SongRequest) -> dict:
    """A song request as the singer and the host follow it: while its song is being
    prepared, the job's step and progress and an estimate of when it will be ready."""
    progress = ready_in = None
    if request.status == SongRequest.Status.APPROVED and request.song_id:
        job = Job.objects.filter(song_id=request.song_id, status__in=Job.ACTIVE, kind__in=Job.EXCLUSIVE_KINDS).first()
        if job is not None:
            progress = {"stage": job.stage, "status": job.status, "percent": round(job.progress), "message": job.message}
            seconds = eta.song_ready_in(song=request.song)
            ready_in = round(seconds) if seconds is not None else None
    return {
        "id": request.pk,
        "singer": {"id": request.singer_id, "name": request.singer.display_name},
        "video_id": request.video_id,
        "title": request.title,
        "channel": request.channel,
        "duration": request.duration,
        "thumbnail": request.thumbnail or None,
        "status": request.status,
        "status_label": request.get_status_display(),
        "reason": request.reason,
        "song": str(request.song_id) if request.song_id else None,
        "entry": request.entry_id,
        "progress": progress,
        "ready_in_seconds": ready_in,
        "ready_in_minutes": max(1, round(ready_in / 60)) if ready_in is not None else None,
        "created_at": request.created_at.isoformat(),
        "decided_at": request.decided_at.isoformat() if request.decided_at else None,
    }


# Ended requests stay on the pages (and in a new socket's first message) this long.
RECENT_REQUEST_SECONDS = 15 * 60


def room_requests(*, room: Room, singer: Singer | None = None) -> list[SongRequest]:
    """The room's requests that are live or ended lately (oldest first); one singer's only
    when `singer` is given."""
    recent = timezone.now() - timedelta(seconds=RECENT_REQUEST_SECONDS)
    requests = SongRequest.objects.filter(room=room).filter(
        Q(status__in=SongRequest.LIVE) | Q(updated_at__gte=recent)
    ).select_related("singer", "room", "song")
    if singer is not None:
        requests = requests.filter(singer=singer)
    return list(requests.order_by("created_at", "pk"))


def room_state(*, room: Room) -> dict:
    """The consumer's first message: everything a client needs to draw the room."""
    snapshot = RoomSnapshot(room)
    now = timezone.now()
    return {
        "type": "state",
        "version": room.version,
        "room": room_payload(room),
        "queue": queue_payload(snapshot, now),
        "player": player_payload(snapshot, now),
        "requests": [request_payload(request) for request in room_requests(room=room)],
    }


def room_history(*, room: Room, limit: int = 100) -> list[dict]:
    """What was sung (and skipped) in this room, the latest first."""
    entries = (
        QueueEntry.objects.filter(room=room, status__in=[EntryStatus.DONE, EntryStatus.SKIPPED])
        .select_related("song", "singer")
        .order_by("-finished_at", "-id")[:limit]
    )
    return [entry_payload(e, {}) for e in entries]


def _chosen_by(singer: Singer):
    """The entries whose key counts as `singer`'s choice: their account's, in every room;
    a guest's, of this singer (this room) only."""
    if singer.user_id:
        return QueueEntry.objects.filter(user_id=singer.user_id)
    return QueueEntry.objects.filter(singer=singer)


def remembered_key_shift(*, singer: Singer, song: Song) -> int:
    """The key `singer` last chose for `song` (their next add's default); 0 when never."""
    last = _chosen_by(singer).filter(song=song).order_by("-added_at", "-id").values_list("key_shift", flat=True).first()
    return last or 0


def remembered_key_shifts(*, singer: Singer | None, song_ids) -> dict:
    """remembered_key_shift for several songs at once (a page of search results), by song id;
    songs never sung are left out. One query."""
    if singer is None or not song_ids:
        return {}
    chosen: dict = {}
    rows = _chosen_by(singer).filter(song_id__in=list(song_ids)).order_by("added_at", "id")
    for song_id, key_shift in rows.values_list("song_id", "key_shift"):
        chosen[song_id] = key_shift  # the latest wins
    return {song_id: shift for song_id, shift in chosen.items() if shift}


def user_sung_history(*, user, limit: int = 100):
    """The songs `user` has sung, in every room, the latest first; rooms and songs deleted
    since show by the names they had (QueueEntry.room_name, song_title...)."""
    return (
        QueueEntry.objects.filter(user=user, status=EntryStatus.DONE)
        .select_related("song", "room", "singer")
        .order_by("-finished_at", "-id")[:limit]
    )


def singer_payload(singer: Singer) -> dict:
    return {
        "id": singer.pk,
        "name": singer.display_name,
        "room": singer.room.code,
        "is_guest": singer.user_id is None,
        "joined_at": singer.joined_at.isoformat(),
    }
