"""Reads of the songs app that are more than a filter."""

import dataclasses
import hashlib
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.db.models import Case, Count, F, IntegerField, Prefetch, Q, QuerySet, Value, When
from django.db.models.functions import Floor, Mod

from common.errors import ApplicationError
from jobs.models import Job
from songs.audio.ffmpeg import format_seconds
from songs.errors import AdapterError
from songs.models import Song
from songs.providers.lrc import Line, LrcError, parse_lrc
from songs.sources import ytdlp


def song_search(
    *, query: str = "", status: str | None = None, source: str | None = None, include_deleted: bool = False
) -> QuerySet[Song]:
    """Songs matching every word of `query` (title, artist, album or link), newest first."""
    songs = Song.objects.all()
    if not include_deleted:
        songs = songs.filter(deleted_at__isnull=True)
    if status:
        songs = songs.filter(status=status)
    if source:
        songs = songs.filter(source=source)
    for word in (query or "").split():
        songs = songs.filter(
            Q(title__icontains=word) | Q(artist__icontains=word) | Q(album__icontains=word)
            | Q(source_url__icontains=word)
        )
    return songs.order_by("-created_at")


@dataclass(frozen=True)
class SingerHit:
    """One result of a singer's search: the song, and the lyrics line that matched (if the
    words were found in the lyrics rather than in the title, artist or album)."""

    song: Song
    snippet: str = ""


SNIPPET_CHARS = 90
_LRC_TAG = re.compile(r"\[[^\]]*\]")


def _lyrics_lines(song: Song) -> list[str]:
    text = song.lyrics_plain or _LRC_TAG.sub("", song.lyrics_synced or "")
    return [line.strip() for line in text.splitlines() if line.strip()]


def _snippet(line: str, word: str) -> str:
    """The line, cut around `word` when it is long."""
    if len(line) <= SNIPPET_CHARS:
        return line
    at = max(0, line.lower().find(word.lower()) - SNIPPET_CHARS // 3)
    cut = line[at:at + SNIPPET_CHARS].strip()
    return ("…" if at > 0 else "") + cut + ("…" if at + SNIPPET_CHARS < len(line) else "")


def lyrics_snippet(song: Song, words: list[str]) -> str:
    """The lyrics line with the most of `words` in it, when the metadata alone does not match them all."""
    metadata = " ".join((song.title, song.artist, song.album)).lower()
    missing = [word for word in words if word.lower() not in metadata]
    if not missing:
        return ""
    best, best_count = "", 0
    for line in _lyrics_lines(song):
        lowered = line.lower()
        count = sum(word.lower() in lowered for word in words)
        if count > best_count:
            best, best_count = line, count
    if not best:
        return ""
    word = next((w for w in missing if w.lower() in best.lower()), missing[0])
    return _snippet(best, word)


def song_search_for_singers(*, query: str = "", limit: int = 30) -> list[SingerHit]:
    """What a singer may queue: live songs that did not fail, ready ones first, then by
    title; every word of `query` in the title, artist, album or lyrics (plain or synced)."""
    words = (query or "").split()[:10]
    songs = Song.objects.filter(deleted_at__isnull=True).exclude(status=Song.Status.ERROR)
    for word in words:
        songs = songs.filter(
            Q(title__icontains=word) | Q(artist__icontains=word) | Q(album__icontains=word)
            | Q(lyrics_plain__icontains=word) | Q(lyrics_synced__icontains=word)
        )
    songs = songs.annotate(
        not_ready=Case(When(status=Song.Status.READY, then=Value(0)), default=Value(1), output_field=IntegerField())
    ).order_by("not_ready", "title", "artist", "pk")[:limit]
    return [SingerHit(song=song, snippet=lyrics_snippet(song, words) if words else "") for song in songs]


# The empty-value exclusions repeat the conditions of the partial unique indexes,
# which is what lets SQLite use them: without them it walked every live song
# (13 ms per import with 1,400 songs, growing with the library).
def live_song_with_source(*, source: str, source_id: str) -> Song | None:
    """The live song imported from (source, source_id), if any (at most one: a unique index)."""
    return Song.objects.filter(deleted_at__isnull=True, source=source, source_id=source_id).exclude(source_id="").first()


def live_songs_with_content(*, content_hash: str) -> QuerySet[Song]:
    """The live song with this audio (at most one: a unique index)."""
    return Song.objects.filter(deleted_at__isnull=True, content_hash=content_hash).exclude(content_hash="")


def song_rows(songs: QuerySet[Song] | None = None) -> QuerySet[Song]:
    """What templates/songs/partials/_song.html needs: `active_jobs` (0 or 1) and m:ss.

    Every render of the row (page, HTMX response, WebSocket push) should load
    its song through this, or the row loses its progress bar.
    """
    songs = Song.objects.all() if songs is None else songs
    return songs.prefetch_related(
        Prefetch("jobs", queryset=Job.objects.filter(status__in=Job.ACTIVE), to_attr="active_jobs")
    ).annotate(duration_minutes=Floor(F("duration") / 60), duration_seconds=Mod(Floor(F("duration")), 60))


def song_rows_to_resync(*, since=None, limit: int = 100) -> QuerySet[Song]:
    """What /ws/library/html/ sends on (re)connect: the songs with an active job, and every
    song changed after `since` (when the page was drawn), deleted ones too."""
    changed = Q(pk__in=Job.objects.filter(status__in=Job.ACTIVE).values("song_id"))
    if since is not None:
        changed |= Q(updated_at__gte=since) | Q(pk__in=Job.objects.filter(updated_at__gte=since).values("song_id"))
    return song_rows(Song.objects.filter(changed)).order_by("-created_at")[:limit]


def song_row(*, song_id) -> Song:
    """One song ready for its row (deleted ones too); Song.DoesNotExist when there is none."""
    return song_rows(Song.objects.filter(pk=song_id)).get()


def song_lyrics_lines(song: Song) -> list[Line]:
    """The timed lines of the song's synced lyrics (offset applied); [] when it has none."""
    if not song.lyrics_synced:
        return []
    try:
        return parse_lrc(song.lyrics_synced).lines
    except LrcError:
        # Everything stored was validated; a file edited by hand in the database is not worth a 500.
        return []


def song_duplicate_mbids() -> QuerySet:
    """Recording MBIDs shared by more than one live song (likely duplicates)."""
    return (
        Song.objects.filter(deleted_at__isnull=True).exclude(recording_mbid="")
        .values("recording_mbid").annotate(songs=Count("id")).filter(songs__gt=1).values("recording_mbid")
    )


def song_likely_duplicates(*, song: Song | None = None) -> QuerySet[Song]:
    """Live songs sharing a MusicBrainz recording with another live song (or with `song`)."""
    songs = Song.objects.filter(deleted_at__isnull=True)
    if song is not None:
        if not song.recording_mbid:
            return songs.none()
        return songs.filter(recording_mbid=song.recording_mbid).exclude(pk=song.pk)
    return songs.filter(recording_mbid__in=song_duplicate_mbids()).order_by("recording_mbid", "created_at")


# -- YouTube search ----------------------------------------------------------

YOUTUBE_QUERY_MAX_CHARS = 200


def youtube_search_cache_key(query: str, limit: int) -> str:
    digest = hashlib.sha256(" ".join(query.lower().split()).encode()).hexdigest()[:32]
    return f"youtube-search:{limit}:{digest}"


def youtube_search(*, query: str, limit: int = 5) -> list[dict]:
    """Videos on YouTube for `query` (id, title, duration, channel, url, thumbnail), cached
    for YOUTUBE_SEARCH_CACHE_SECONDS.

    ApplicationError: 400 for a blank or too long query (or a search YouTube refuses),
    503 with a message when YouTube cannot be reached.
    """
    query = " ".join((query or "").split())
    if not query:
        raise ApplicationError("Type what to look for on YouTube.", extra={"code": "blank_query"})
    if len(query) > YOUTUBE_QUERY_MAX_CHARS:
        raise ApplicationError(
            f"That search is too long: at most {YOUTUBE_QUERY_MAX_CHARS} characters.", extra={"code": "query_too_long"}
        )
    key = youtube_search_cache_key(query, limit)
    results = cache.get(key)
    if results is None:
        try:
            found = ytdlp.search(query, limit=limit)
        except AdapterError as exc:
            raise ApplicationError(
                exc.message, extra={"code": exc.code}, status_code=503 if exc.transient else 400
            ) from None
        results = [dataclasses.asdict(result) for result in found]
        cache.set(key, results, settings.YOUTUBE_SEARCH_CACHE_SECONDS)
        # Each result by its id too: a singer who requests one is not made to wait for
        # YouTube again (youtube_video).
        cache.set_many({_video_key(r["id"]): r for r in results}, settings.YOUTUBE_VIDEO_CACHE_SECONDS)
    return results


def _video_key(video_id: str) -> str:
    return f"youtube-video:{video_id}"


def youtube_video(*, video_id: str) -> dict:
    """What YouTube says of one video (id, title, duration, channel, url, thumbnail): from a
    recent search, or asked. ApplicationError: 400 when YouTube says it is unavailable
    (with the reason), 503 when YouTube cannot be reached."""
    key = _video_key(video_id)
    info = cache.get(key)
    if info is None:
        try:
            info = dataclasses.asdict(ytdlp.video_info(video_id))
        except AdapterError as exc:
            raise ApplicationError(
                exc.message, extra={"code": exc.code, "video": video_id}, status_code=503 if exc.transient else 400
            ) from None
        cache.set(key, info, settings.YOUTUBE_VIDEO_CACHE_SECONDS)
    return info


# Thumbnails are shown only from YouTube's own image hosts (the page links to nothing else).
_YOUTUBE_IMAGE_HOSTS = (".ytimg.com", ".ggpht.com")


@dataclass(frozen=True)
class YoutubeHit:
    """One YouTube search result on the Library page, and the live song that already has it."""

    id: str
    title: str
    url: str
    channel: str | None = None
    duration: float | None = None
    thumbnail: str | None = None
    song: Song | None = None

    @property
    def duration_text(self) -> str:
        return format_seconds(self.duration) if self.duration is not None else ""

    @property
    def thumbnail_url(self) -> str:
        parts = urlsplit(self.thumbnail or "")
        ok = parts.scheme == "https" and (parts.hostname or "").endswith(_YOUTUBE_IMAGE_HOSTS)
        return self.thumbnail if ok else ""


def songs_by_youtube_id(*, video_ids) -> dict[str, Song]:
    """The live songs of these YouTube videos, by video id."""
    songs = Song.objects.filter(deleted_at__isnull=True, source=Song.Source.YOUTUBE, source_id__in=list(video_ids))
    return {song.source_id: song for song in songs}


def youtube_search_hits(*, query: str, limit: int = 8) -> list[YoutubeHit]:
    """youtube_search, each result with the live song that already has it (one query)."""
    results = youtube_search(query=query, limit=limit)
    songs = songs_by_youtube_id(video_ids=[result["id"] for result in results])
    fields = {field.name for field in dataclasses.fields(YoutubeHit)} - {"song"}
    return [
        YoutubeHit(**{name: value for name, value in result.items() if name in fields}, song=songs.get(result["id"]))
        for result in results
    ]
