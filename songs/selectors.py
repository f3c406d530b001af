"""Reads of the songs app that are more than a filter."""

from django.db.models import F, Prefetch, Q, QuerySet
from django.db.models.functions import Floor, Mod

from songs.models import Song


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
