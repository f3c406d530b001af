import secrets
from datetime import datetime

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

# Read aloud across a noisy room: no 0/O, no 1/I (and no lowercase to confuse).
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 5


def new_singer_token() -> str:
    return secrets.token_urlsafe(24)


class Room(models.Model):
    """A party: its join code, who runs it, its settings and the TV's playback state."""

    class RotationMode(models.TextChoices):
        FAIR = "fair", "Fair (one song per singer per round)"
        FIFO = "fifo", "First come, first served"

    name = models.CharField(max_length=100)
    code = models.CharField(max_length=8, unique=True, help_text="What singers type (or scan) to join.")
    password = models.CharField(
        max_length=128, blank=True, help_text="Hashed; empty when the room needs no password."
    )
    is_open = models.BooleanField(default=True, help_text="A closed room accepts no new singers.")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="rooms")
    rotation_mode = models.CharField(max_length=8, choices=RotationMode.choices, default=RotationMode.FAIR)
    max_waiting_per_singer = models.PositiveSmallIntegerField(
        null=True, blank=True, default=3, validators=[MinValueValidator(1)],
        help_text="How many songs one singer may have waiting; empty for no limit.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Requests(models.TextChoices):
        OFF = "off", "Off (the library only)"
        HOST = "host", "The host approves each"
        AUTO = "auto", "Approved at once"

    # Songs on demand: what a singer may ask for from YouTube (queue_app/requests.py).
    requests = models.CharField(max_length=8, choices=Requests.choices, default=Requests.HOST)
    request_max_minutes = models.PositiveSmallIntegerField(
        default=10, validators=[MinValueValidator(1), MaxValueValidator(60)],
        help_text="The longest video a singer may request, in minutes.",
    )
    max_pending_requests = models.PositiveSmallIntegerField(
        default=2, validators=[MinValueValidator(1), MaxValueValidator(20)],
        help_text="How many requests one singer may have waiting for the host.",
    )

    # Playback: the current entry is the room's one `playing` QueueEntry (a constraint
    # keeps it unique). Position is where the player was at `position_at`; while
    # playing it has moved on since, so a TV that reloads resumes at the right place.
    paused = models.BooleanField(default=True)
    position = models.FloatField(default=0.0, help_text="Seconds into the current entry at position_at.")
    # In the future while the interlude before a song counts down ("Up next: Ann"): the
    # position stays 0 until then, on every TV alike (a reloaded one too).
    position_at = models.DateTimeField(default=timezone.now)
    # A song still separating plays only as far as its stream reaches (less a segment a
    # player may read late): the position stops there, and the TVs hold with "getting
    # ready", until the stream is far enough ahead again. None: the whole song is there.
    position_limit = models.FloatField(null=True, blank=True)
    interlude_seconds = models.PositiveSmallIntegerField(
        default=10, validators=[MaxValueValidator(60)],
        help_text="Between singers, the TV shows who is up next for this long (0: no pause).",
    )
    # The host paused the room: nothing starts by itself (a song that becomes playable
    # waits for Play).
    held = models.BooleanField(default=False)
    # Bumped by every queue or player change (under the room lock): events carry it so
    # a client that gets two pushes out of order keeps the newer one.
    version = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(position__gte=0), name="room_position_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def has_password(self) -> bool:
        return bool(self.password)

    def position_now(self, now: datetime | None = None) -> float:
        if self.paused:
            position = self.position
        else:
            # max(): position_at lies ahead during an interlude.
            position = self.position + max(0.0, ((now or timezone.now()) - self.position_at).total_seconds())
        if self.position_limit is not None:
            position = min(position, max(self.position, self.position_limit))
        return position

    def starts_in(self, now: datetime | None = None) -> float:
        """Seconds of interlude left before the current song starts (0: none)."""
        if self.paused:
            return 0.0
        return max(0.0, (self.position_at - (now or timezone.now())).total_seconds())


class Singer(models.Model):
    """Someone in a room: a signed-in user, or a guest known by their browser session."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="singers")
    display_name = models.CharField(max_length=80)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="singers"
    )
    # The guest's (and API client's) proof of identity: kept in the browser session,
    # or sent as the X-Singer-Token header.
    token = models.CharField(max_length=64, unique=True, default=new_singer_token, editable=False)
    joined_at = models.DateTimeField(default=timezone.now)
    left_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["joined_at", "id"]
        constraints = [
            # Joining twice as the same user gives back the same singer.
            models.UniqueConstraint(fields=["room", "user"], condition=Q(user__isnull=False), name="one_singer_per_user_per_room"),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def is_active(self) -> bool:
        return self.left_at is None


class QueueEntry(models.Model):
    """One song a singer queued; after it leaves the waiting list it is the room's history."""

    class Status(models.TextChoices):
        WAITING = "waiting", "Waiting"
        PLAYING = "playing", "Playing"
        DONE = "done", "Done"
        SKIPPED = "skipped", "Skipped"

    # What was sung outlives the song, the room and the singer: deleting one of them
    # leaves the played entries with a null link and the names below (the history);
    # waiting entries go with a deleted song or room (queue_app/receivers.py).
    room = models.ForeignKey(Room, null=True, on_delete=models.SET_NULL, related_name="entries")
    singer = models.ForeignKey(Singer, null=True, on_delete=models.SET_NULL, related_name="entries")
    song = models.ForeignKey("songs.Song", null=True, on_delete=models.SET_NULL, related_name="queue_entries")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="sung_entries",
        help_text="The singer's account, if any: their profile's history.",
    )
    song_title = models.CharField(max_length=300, blank=True)
    song_artist = models.CharField(max_length=300, blank=True)
    singer_name = models.CharField(max_length=80, blank=True)
    room_name = models.CharField(max_length=100, blank=True)
    room_code = models.CharField(max_length=8, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.WAITING)
    key_shift = models.SmallIntegerField(
        default=0, validators=[MinValueValidator(-12), MaxValueValidator(12)],
        help_text="Semitones; stored now, applied by the player later.",
    )
    added_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    pinned_position = models.PositiveIntegerField(
        null=True, blank=True, help_text="A host override: this index in the waiting list (0: play next)."
    )

    class Meta:
        ordering = ["added_at", "id"]
        verbose_name_plural = "queue entries"
        constraints = [
            models.UniqueConstraint(fields=["room"], condition=Q(status="playing"), name="one_playing_entry_per_room"),
            models.UniqueConstraint(
                fields=["room", "pinned_position"],
                condition=Q(status="waiting", pinned_position__isnull=False),
                name="unique_pin_per_room",
            ),
            models.CheckConstraint(condition=Q(key_shift__gte=-12, key_shift__lte=12), name="key_shift_within_an_octave"),
        ]
        indexes = [models.Index(fields=["room", "status"])]

    def __str__(self) -> str:
        return f"{self.song or self.song_title} for {self.singer or self.singer_name}"

    def remember_names(self) -> None:
        """Copy what the history shows from the song, singer and room (kept if they go)."""
        if self.song is not None:
            self.song_title, self.song_artist = self.song.title[:300], self.song.artist[:300]
        if self.singer is not None:
            self.singer_name, self.user_id = self.singer.display_name, self.singer.user_id
        if self.room is not None:
            self.room_name, self.room_code = self.room.name, self.room.code


class SongRequest(models.Model):
    """A singer asks for a YouTube video the library lacks; the host (or the room) decides.

    Approving imports the video (songs.imports, one song and one job per video however
    many ask) and queues an entry for the singer at once, passed over until it can play.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for the host"
        APPROVED = "approved", "Getting ready"
        READY = "ready", "Ready"
        DENIED = "denied", "Denied"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    LIVE = (Status.PENDING, Status.APPROVED)

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="requests_made")
    singer = models.ForeignKey(Singer, on_delete=models.CASCADE, related_name="requests")
    video_id = models.CharField(max_length=11)
    title = models.CharField(max_length=300)
    channel = models.CharField(max_length=300, blank=True)
    duration = models.FloatField(null=True, blank=True, help_text="Seconds, as YouTube says.")
    thumbnail = models.URLField(max_length=500, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    reason = models.CharField(max_length=300, blank=True, help_text="Why it was denied or failed.")
    song = models.ForeignKey("songs.Song", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    entry = models.ForeignKey(QueueEntry, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # A singer asks once for a video at a time (another singer may ask too).
            models.UniqueConstraint(
                fields=["singer", "video_id"], condition=Q(status__in=["pending", "approved"]),
                name="one_live_request_per_singer_and_video",
            ),
        ]
        indexes = [models.Index(fields=["room", "status"]), models.Index(fields=["song", "status"])]

    def __str__(self) -> str:
        return f"{self.title} for {self.singer}"

    @property
    def is_live(self) -> bool:
        return self.status in self.LIVE
