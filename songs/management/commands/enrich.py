"""``manage.py enrich --missing | --song ID``: look metadata and lyrics up again, here and now.

Runs the `enrich` and `lyrics` stage bodies in this process (not through the
task queue), with the same shared rate limit, breakers and cache as the
workers. `--missing` takes every live song whose metadata or lyrics lookup is
pending or failed and not being worked on by a job; `--song` redoes one song's
lookups even if they were found before (fields the host edited stay locked).
"""

from __future__ import annotations

from collections import Counter

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from jobs.models import Job
from songs import services
from songs.errors import Cancelled
from songs.models import Song
from songs.pipeline import metadata

Lookup = Song.LookupStatus
RETRYABLE = (Lookup.PENDING, Lookup.FAILED)


class _Context:
    """What a stage body needs from the runner: the song, progress, a cancel check."""

    def __init__(self, song: Song):
        self.song = song
        self.merged = None

    def progress(self, percent: float | None, message: str = "") -> None:
        pass

    def is_cancelled(self) -> bool:
        return False


class Command(BaseCommand):
    help = "Look up metadata (MusicBrainz, cover) and lyrics (LRCLIB) for songs missing them."

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--missing", action="store_true",
                           help="every live song whose metadata or lyrics status is pending or failed")
        which.add_argument("--song", metavar="ID", help="one song (by id), looked up again even if found before")
        parser.add_argument("--limit", type=int, default=None, help="at most this many songs (with --missing)")

    def handle(self, *args, missing: bool, song: str | None, limit: int | None, **options):
        force = song is not None
        songs = self._songs(song) if force else self._missing(limit)
        totals = {"metadata": Counter(), "lyrics": Counter()}
        count = 0
        try:
            for item in songs:
                count += 1
                self._enrich(item, force=force, totals=totals)
        except KeyboardInterrupt:
            self.stderr.write("Interrupted.")
        except Cancelled:
            pass
        self.stdout.write(self._summary(count, totals))

    def _songs(self, song_id: str) -> list[Song]:
        try:
            song = Song.objects.filter(pk=song_id).first()
        except ValidationError:
            song = None
        if song is None:
            raise CommandError(f"No song with id {song_id!r}.")
        if song.is_deleted:
            raise CommandError(f"“{song}” is deleted; restore it first.")
        return [song]

    def _missing(self, limit: int | None):
        busy = Job.objects.filter(status__in=Job.ACTIVE).values("song_id")
        songs = (
            Song.objects.filter(deleted_at__isnull=True)
            .filter(Q(metadata_status__in=RETRYABLE) | Q(lyrics_status__in=RETRYABLE))
            # A song still in the pipeline gets its lookups there; do not race it.
            .exclude(pk__in=busy)
            .order_by("created_at")
        )
        return songs[:limit] if limit else songs.iterator()

    def _enrich(self, song: Song, *, force: bool, totals: dict) -> None:
        ctx = _Context(song)
        notes = []
        # The rooms showing the song are redrawn once, with everything it found.
        with services.song_changes_batched():
            if force or song.metadata_status in RETRYABLE:
                notes.append(metadata.enrich(ctx) or "")
                totals["metadata"][song.metadata_status] += 1
                song.refresh_from_db()
            if force or song.lyrics_status in RETRYABLE:
                notes.append(metadata.lyrics(ctx) or "")
                totals["lyrics"][song.lyrics_status] += 1
        self.stdout.write(f"{song.pk} {song}: " + " ".join(note for note in notes if note))

    def _summary(self, count: int, totals: dict) -> str:
        if not count:
            return "Nothing to look up."
        parts = []
        for name in ("metadata", "lyrics"):
            counted = totals[name]
            if counted:
                described = ", ".join(f"{counted[status]} {Lookup(status).label.lower()}" for status in Lookup.values
                                      if counted[status])
                parts.append(f"{name}: {described}")
        return f"{count} song{'' if count == 1 else 's'} looked up. " + "; ".join(parts) + "."
