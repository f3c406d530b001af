"""Reads of the songs app that are more than a filter."""

from django.db.models import Count, F, Prefetch, Q, QuerySet
from django.db.models.functions import Floor, Mod

from songs.models import Song
from songs.providers.lrc import Line, LrcError, parse_lrc


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
    from jobs.models import Job

    songs = Song.objects.all() if songs is None else songs
    return songs.prefetch_related(
        Prefetch("jobs", queryset=Job.objects.filter(status__in=Job.ACTIVE), to_attr="active_jobs")
    ).annotate(duration_minutes=Floor(F("duration") / 60), duration_seconds=Mod(Floor(F("duration")), 60))


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
