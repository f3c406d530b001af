import re
import uuid
from pathlib import Path

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Length
from django.urls import reverse


class Song(models.Model):
    class Source(models.TextChoices):
        YOUTUBE = "youtube", "YouTube"
        URL = "url", "Link"
        UPLOAD = "upload", "Upload"
        FOLDER = "folder", "Folder"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PROCESSING = "processing", "Processing"
        READY = "ready", "Ready"
        ERROR = "error", "Error"
        # Its import was cancelled before it was ready: not an error; reprocess imports it.
        CANCELLED = "cancelled", "Cancelled"

    # What cannot be sung and is not on its way: a singer cannot queue it.
    STOPPED = (Status.ERROR, Status.CANCELLED)

    class LookupStatus(models.TextChoices):
        """Where a metadata or lyrics lookup stands; found and not_found are final."""

        PENDING = "pending", "Pending"
        FOUND = "found", "Found"
        NOT_FOUND = "not_found", "Not found"
        FAILED = "failed", "Failed (will be retried)"

    # The kinds of file a song can own, each a name inside the song's folder (the keys
    # of `files`; songs.services.song_set_fields refuses any other).
    FILE_KINDS = (
        "original", "audio", "audio_web", "cover", "cover_thumb",
        "vocals", "instrumental", "vocals_web", "instrumental_web",
    )
    # The browser stems rendered in another key (a job of kind "key", songs/keys.py): per
    # shift, kinds `instrumental_web_key+2` and `vocals_web_key+2`, files
    # `instrumental_web.key+2.m4a` and `vocals_web.key+2.m4a`, shared by every entry and room.
    KEY_STEMS = ("instrumental_web", "vocals_web")
    KEY_SHIFT_MAX = 12  # semitones either way (an octave)
    _KEY_KIND = re.compile(r"(instrumental_web|vocals_web)_key([+-](?:[1-9]|1[0-2]))")
    # What a host can edit; an edited one is locked against automatic enrichment
    # (songs.services._lock_fields refuses any other name).
    LOCKABLE_FIELDS = ("title", "artist", "album", "year", "cover", "lyrics", "key")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    title = models.CharField(max_length=300, blank=True)
    artist = models.CharField(max_length=300, blank=True)
    album = models.CharField(max_length=300, blank=True)
    duration = models.FloatField(null=True, blank=True, help_text="Seconds.")

    source = models.CharField(max_length=16, choices=Source.choices)
    # What identifies the source: a YouTube video id, a normalised URL, or the
    # path a folder import read. Empty for uploads (their content hash is the key).
    source_id = models.CharField(max_length=2000, blank=True)
    source_url = models.URLField(max_length=2000, blank=True)
    content_hash = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the original file.")

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True)
    files = models.JSONField(default=dict, blank=True, help_text="File kind → name in the song's folder.")
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    # MusicBrainz metadata (the `enrich` stage); blank until found.
    recording_mbid = models.CharField("recording MBID", max_length=36, blank=True)
    release_mbid = models.CharField("release MBID", max_length=36, blank=True)
    artist_mbid = models.CharField("artist MBID", max_length=36, blank=True)
    year = models.PositiveSmallIntegerField(null=True, blank=True)
    isrc = models.CharField("ISRC", max_length=12, blank=True)
    genres = models.JSONField(default=list, blank=True, help_text="MusicBrainz tags, most voted first.")
    metadata_status = models.CharField(max_length=16, choices=LookupStatus.choices, default=LookupStatus.PENDING)
    metadata_checked_at = models.DateTimeField(null=True, blank=True)

    # Lyrics (the `lyrics` stage, or pasted by the host): LRC text and plain words.
    lyrics_synced = models.TextField(blank=True, help_text="LRC: [mm:ss.xx] lines.")
    lyrics_plain = models.TextField(blank=True)
    lyrics_status = models.CharField(max_length=16, choices=LookupStatus.choices, default=LookupStatus.PENDING)
    lyrics_checked_at = models.DateTimeField(null=True, blank=True)

    # The song's musical key, as the `key` stage heard it in the instrumental ("A minor"),
    # or as the host set it; blank when unknown. Confidence: 0–1, None until detected.
    key = models.CharField(max_length=16, blank=True)
    key_confidence = models.FloatField(null=True, blank=True)

    # The live stream of the separation running now or last (songs/streaming.py): the
    # attempt's folder under stream/, how many seconds of audio its playlists hold, and
    # how fast it grew (seconds of audio per second). Blank / None when never streamed.
    stream = models.CharField(max_length=16, blank=True)
    stream_seconds = models.FloatField(null=True, blank=True)
    stream_rate = models.FloatField(null=True, blank=True)

    locked_fields = models.JSONField(
        default=list, blank=True, help_text="Fields the host edited: automatic enrichment leaves them alone."
    )

    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="songs_added"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    # What the search finds the song by: its title, artist and album, and its lyrics' words,
    # folded (songs/search.py). Kept by songs/search_index.py, which every service that
    # writes those fields calls; indexed for substring search (pg_trgm on PostgreSQL, an
    # FTS5 table on SQLite: migration 0005).
    search_text = models.TextField(blank=True, editable=False)
    search_lyrics = models.TextField(blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Duplicates are refused by the database, not only by code: two
            # imports of the same link racing each other end with one song.
            models.UniqueConstraint(
                fields=["source", "source_id"],
                condition=Q(deleted_at__isnull=True) & ~Q(source_id=""),
                name="unique_live_song_source",
            ),
            models.UniqueConstraint(
                fields=["content_hash"],
                condition=Q(deleted_at__isnull=True) & ~Q(content_hash=""),
                name="unique_live_song_content",
            ),
        ]
        indexes = [
            models.Index(fields=["status"]),
            models.Index(fields=["deleted_at"]),
            models.Index(fields=["recording_mbid"]),
            # A search for a common word ("me", "love") wants the shortest matching songs
            # of thousands: PostgreSQL walks this index in order and stops at the first
            # few hundred, rather than reading every match to sort it (songs.selectors.
            # _containing; its planner picks the trigram index for rare words).
            models.Index(Length("search_text"), F("id"), name="songs_song_shortest_live",
                         condition=Q(deleted_at__isnull=True)),
        ]

    def __str__(self) -> str:
        if self.artist and self.title:
            return f"{self.artist} – {self.title}"
        return self.title or self.source_url or str(self.id)

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def folder(self) -> Path:
        return Path(settings.MEDIA_ROOT) / "songs" / str(self.id)

    def file_path(self, kind: str) -> Path | None:
        name = self.files.get(kind)
        return self.folder / name if name else None

    def file_url(self, kind: str) -> str | None:
        """Where the browser gets this file (the Range-capable song file endpoint)."""
        name = self.files.get(kind)
        return reverse("song-file", args=[self.pk, name]) if name else None

    @property
    def stream_folder(self) -> Path | None:
        return self.folder / "stream" / self.stream if self.stream else None

    def has_file(self, kind: str) -> bool:
        path = self.file_path(kind)
        return path is not None and path.is_file()

    @classmethod
    def is_file_kind(cls, kind: str) -> bool:
        return kind in cls.FILE_KINDS or cls._KEY_KIND.fullmatch(kind) is not None

    @staticmethod
    def key_kind(stem: str, semitones: int) -> str:
        """The file kind of `stem` ("instrumental_web", "vocals_web") shifted by `semitones`."""
        return f"{stem}_key{semitones:+d}"

    @staticmethod
    def key_file_name(stem: str, semitones: int) -> str:
        return f"{stem}.key{semitones:+d}.m4a"

    @classmethod
    def key_shift_of(cls, kind: str) -> int | None:
        """The shift of a rendered kind ("vocals_web_key-3" → -3), None for any other kind."""
        match = cls._KEY_KIND.fullmatch(kind)
        return int(match[2]) if match else None

    def has_key_render(self, semitones: int) -> bool:
        """Both browser stems exist at `semitones` (0: the original ones), by `files`."""
        kinds = [self.key_kind(stem, semitones) if semitones else stem for stem in self.KEY_STEMS]
        return all(kind in self.files for kind in kinds)

    def is_locked(self, field: str) -> bool:
        return field in (self.locked_fields or [])


class SearchWord(models.Model):
    """A word of some song's title, artist or album, folded: where the search looks for the
    word a singer meant when theirs has a typo (songs/search.py). Only ever added to: a word
    no song has any more costs a row and finds nothing."""

    word = models.CharField(max_length=100, primary_key=True)

    def __str__(self) -> str:
        return self.word
