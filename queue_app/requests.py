"""Songs on demand: writes of a singer's request for a YouTube video, and of the host's
answer (the reads are in selectors, the events in events.py).

A guest names a video (an id, a YouTube link, or a search result) and nothing else: the
server only ever fetches the watch page it builds from the id, so no guest can make it
fetch an address of their choice. Approving (the host, or the room's `auto` setting)
imports the video through songs.imports (one song and one job per video, however many
ask) and queues an entry for the singer at once; the rotation passes over it until the
song can play, and the song's job is run in rotation order
(services.jobs_follow_rotation).
"""

import logging
import re

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from common.errors import ApplicationError, Conflict, NotFound
from queue_app import events, services, throttles
from queue_app.access import Actor, forbidden, require_host
from queue_app.models import Room, Singer, SongRequest
from songs import imports
from songs import selectors as song_selectors
from songs.models import Song
from songs.sources import ytdlp

logger = logging.getLogger(__name__)

RequestStatus = SongRequest.Status
_VIDEO_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")


def video_id_of(text: str) -> str:
    """The video id a guest means: an 11-character id or a YouTube link; a 400 otherwise."""
    text = (text or "").strip()
    if _VIDEO_ID.match(text):
        return text
    video_id = ytdlp.parse_youtube_id(text) if len(text) <= 2000 else None
    if video_id is None:
        raise ApplicationError(
            "Only YouTube videos can be requested: paste a YouTube link or pick a search result.",
            extra={"code": "not_youtube"},
        )
    return video_id


def watch_url(video_id: str) -> str:
    return f"https://www.youtube.com/watch?v={video_id}"


# --- asking -------------------------------------------------------------------------------


# A singer's search starts at this many characters (the page waits for them too).
SEARCH_MIN_CHARS = 3


def youtube_hits_for(*, room: Room, actor: Actor, query: str) -> list[song_selectors.YoutubeHit]:
    """A singer's YouTube search for a request: a pasted link (or id) is its one video;
    otherwise up to 8 results, each with the library's song when it has the video."""
    if room.requests == Room.Requests.OFF:
        raise forbidden("This room takes no requests: pick a song from the library.", code=room.code)
    query = " ".join((query or "").split())
    if len(query) < SEARCH_MIN_CHARS:
        raise ApplicationError(f"Type at least {SEARCH_MIN_CHARS} characters to search YouTube.",
                               extra={"code": "query_too_short"})
    _search_allowed(actor)
    video_id = query if _VIDEO_ID.match(query) else (ytdlp.parse_youtube_id(query) if "/" in query else None)
    if video_id is None and "://" in query:
        raise ApplicationError(
            "Only YouTube videos can be requested: paste a YouTube link or search by name.",
            extra={"code": "not_youtube"},
        )
    if video_id is not None:
        info = song_selectors.youtube_video(video_id=video_id)
        fields = {name: info.get(name) for name in ("id", "title", "url", "channel", "duration", "thumbnail")}
        song = song_selectors.songs_by_youtube_id(video_ids=[video_id]).get(video_id)
        return [song_selectors.YoutubeHit(**fields, song=song)]
    return song_selectors.youtube_search_hits(query=query, limit=8)


def _search_allowed(actor: Actor) -> None:
    """A singer's YouTube searches are limited (YOUTUBE_SEARCHES_PER_MINUTE): each costs
    a request to YouTube, and a phone typing fast must not get the host's address banned."""
    who = f"singer-{actor.singer.pk}" if actor.singer is not None else f"user-{actor.user.pk}"
    limit = settings.YOUTUBE_SEARCHES_PER_MINUTE
    window = int(timezone.now().timestamp() // 60)
    key = f"youtube-searches:{who}:{window}"
    if cache.add(key, 1, 61):
        return
    if cache.incr(key) > limit:
        raise ApplicationError(
            f"That is {limit} searches this minute, the most a singer may make; try again in a minute.",
            extra={"code": "too_many_searches", "retry_after": 60 - int(timezone.now().timestamp()) % 60},
            status_code=429,
        )


def request_create(*, room: Room, actor: Actor, video: str) -> SongRequest:
    """A singer asks for a video. Refused (4xx, nothing stored) when the room takes no
    requests, the video is not YouTube or too long, or the singer has too many pending.
    A video YouTube says it will not play is refused too (400, with YouTube's reason) and
    kept as a failed request, so "My requests" says why. A video already in the library is
    queued at once: it needs nobody's approval."""
    if actor.singer is None:
        raise forbidden("Join the room as a singer to request songs." if actor.is_host else "Join the room first.")
    if room.requests == Room.Requests.OFF:
        raise forbidden("This room takes no requests: pick a song from the library.", code=room.code)
    video_id = video_id_of(video)
    throttles.REQUESTS.hit_or_refuse(actor.singer.pk)
    try:
        info = song_selectors.youtube_video(video_id=video_id)
    except ApplicationError as exc:
        if exc.status_code == 400:  # unavailable (not: YouTube unreachable, 503, worth a retry)
            _failed_at_once(room=room, singer=actor.singer, video_id=video_id, reason=exc.message)
        raise
    limit = room.request_max_minutes * 60
    if info["duration"] is not None and info["duration"] > limit:
        raise ApplicationError(
            f"“{info['title']}” is {_minutes(info['duration'])} long; this room takes requests "
            f"of at most {room.request_max_minutes} min.",
            extra={"code": "too_long", "limit_minutes": room.request_max_minutes},
        )
    with transaction.atomic():
        room = Room.objects.select_for_update().get(pk=room.pk)
        pending = SongRequest.objects.filter(singer=actor.singer, status=RequestStatus.PENDING).count()
        if pending >= room.max_pending_requests:
            raise Conflict(
                f"You already have {pending} request{'s' if pending != 1 else ''} waiting for the host, "
                "the most this room allows.",
                extra={"limit": room.max_pending_requests},
            )
        try:
            with transaction.atomic():
                request = SongRequest.objects.create(
                    room=room, singer=actor.singer, video_id=video_id, title=info["title"][:300],
                    channel=(info.get("channel") or "")[:300], duration=info["duration"],
                    # Only YouTube's own image hosts: the pages show it to everyone in the room.
                    thumbnail=song_selectors.YoutubeHit(
                        id=video_id, title="", url="", thumbnail=info.get("thumbnail")
                    ).thumbnail_url[:500],
                )
        except IntegrityError:
            raise Conflict("You have already requested this video.", extra={"video": video_id}) from None
        in_library = song_selectors.songs_by_youtube_id(video_ids=[video_id]).get(video_id)
        if in_library is not None or room.requests == Room.Requests.AUTO:
            _approve(request, user=None)
        else:
            events.request_changed(request)
    return request


def _failed_at_once(*, room: Room, singer: Singer, video_id: str, reason: str) -> None:
    request = SongRequest.objects.create(
        room=room, singer=singer, video_id=video_id, title=f"YouTube video {video_id}",
        status=RequestStatus.FAILED, reason=reason[:300],
    )
    events.request_changed(request)


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


def request_cancel(*, room: Room, actor: Actor, request_id: int) -> SongRequest:
    """The requester takes back a request the host has not answered yet."""
    with transaction.atomic():
        request = _request_in(room, request_id, lock=True)
        if actor.singer is None or actor.singer.pk != request.singer_id:
            raise forbidden("You can only cancel your own requests.")
        if request.status != RequestStatus.PENDING:
            raise Conflict(f"This request is {request.get_status_display().lower()}; it can no longer be cancelled.",
                           extra={"status": request.status})
        _end(request, RequestStatus.CANCELLED, "Cancelled by the singer.")
    return request


# --- the host's answer --------------------------------------------------------------------


def request_decide(*, room: Room, actor: Actor, request_id: int, action: str, reason: str = "") -> SongRequest:
    """The host approves (the video is imported and queued for the singer) or denies."""
    require_host(actor)
    if action not in ("approve", "deny"):
        raise ApplicationError("action must be approve or deny.", extra={"fields": {"action": ["approve or deny"]}})
    with transaction.atomic():
        request = _request_in(room, request_id, lock=True)
        if request.status != RequestStatus.PENDING:
            raise Conflict(f"This request is already {request.get_status_display().lower()}.",
                           extra={"status": request.status})
        if action == "deny":
            request.decided_by, request.decided_at = actor.user, timezone.now()
            _end(request, RequestStatus.DENIED, (reason or "").strip()[:300] or "The host said no.")
        else:
            _approve(request, user=actor.user)
    return request


def _approve(request: SongRequest, *, user) -> None:
    """Import the video (or find it in the library) and queue it for the singer. Runs in
    the caller's transaction, with the room locked."""
    info = {"title": request.title, "channel": request.channel, "duration": request.duration}
    result = imports.song_import_url(
        url=watch_url(request.video_id), user=user, title=info["title"], duration=info["duration"],
    )
    song = result.song
    request.decided_by, request.decided_at, request.song = user, timezone.now(), song
    if song.status in Song.STOPPED:
        _end(request, RequestStatus.FAILED, song.error or "This video could not be prepared for karaoke.")
        return
    singer = Singer.objects.get(pk=request.singer_id)
    if not singer.is_active:
        _end(request, RequestStatus.CANCELLED, "The singer left the room.")
        return
    # Approval queues past max_waiting_per_singer: the host (or the room) said yes.
    entry = services.queue_entry_new(room=Room.objects.get(pk=request.room_id), singer=singer, song=song)
    request.entry = entry
    request.status = RequestStatus.READY if song.status == Song.Status.READY else RequestStatus.APPROVED
    request.save(update_fields=["status", "song", "entry", "decided_by", "decided_at", "updated_at"])
    services.room_redraw(Room.objects.get(pk=request.room_id))
    events.request_changed(request)


def _end(request: SongRequest, status: str, reason: str) -> None:
    request.status, request.reason = status, reason[:300]
    request.save(update_fields=["status", "reason", "decided_by", "decided_at", "song", "updated_at"])
    events.request_changed(request)


def _request_in(room: Room, request_id: int, *, lock: bool = False) -> SongRequest:
    requests = SongRequest.objects.select_related("singer")
    if lock:
        Room.objects.select_for_update().get(pk=room.pk)  # the room's one lock order
    request = requests.filter(room=room, pk=request_id).first()
    if request is None:
        raise NotFound("There is no such request in this room.", extra={"request": request_id})
    return request


# --- what happens to the song afterwards ----------------------------------------------------


def requests_follow_song(*, song: Song) -> None:
    """The song of approved requests changed: ready ones say so; a failed one says why and
    its waiting entry goes (the singer picks another song)."""
    live = SongRequest.objects.filter(song=song, status=RequestStatus.APPROVED).select_related("singer")
    for request in live:
        if song.status == Song.Status.READY and song.deleted_at is None:
            request.status = RequestStatus.READY
            request.save(update_fields=["status", "updated_at"])
            events.request_changed(request)
        elif song.status in Song.STOPPED or song.deleted_at is not None:
            reason = song.error or "The song was removed from the library."
            _end(request, RequestStatus.FAILED, reason)
            if request.entry_id:
                _drop_waiting_entry(request)


def _drop_waiting_entry(request: SongRequest) -> None:
    room = Room.objects.select_for_update().get(pk=request.room_id)
    services.queue_drop(room=room, entry_id=request.entry_id)


def requests_job_progress(*, song_id) -> None:
    """A job of a requested song moved on: the requesters see the new step and ETA."""
    for request in SongRequest.objects.filter(song_id=song_id, status=RequestStatus.APPROVED).select_related("singer"):
        events.request_changed(request)
