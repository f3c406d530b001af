"""When a song can be sung before it is finished, and where its live stream is.

While Demucs separates a song, each stem is also written as an HLS event playlist of
2 s segments (songs/audio/separation.py); `Song.stream_seconds` says how much audio both
hold and `Song.stream_rate` how fast that grew (seconds of audio per second, measured on
this song since its separation began). A player that starts the song now reaches second
`p` after `p` seconds; the stream reaches it after `(p - E) / r`. The song is *playable*
when, at the rate measured so far, playback never catches the stream up closer than a
safety margin (STREAM_SAFETY_SECONDS of audio, which also covers a player reading the
playlist a segment late):

    E >= m                         (the first moments are there)
    E >= D - r * (D - m)           (the end arrives in time; binds only when r < 1)

with `E` the seconds held, `D` the song's length, `r` the rate and `m` the margin. A
separation faster than real time makes a song playable a few seconds in; a slower one
only once enough is ahead that the rest arrives in time. Nothing here is a constant
about the machine: both figures are the song's own, measured.

Pure functions of a Song's fields (and one setting), for the rooms and the API.
"""

from dataclasses import dataclass

from django.conf import settings
from django.urls import reverse

from songs.audio.hls import INSTRUMENTAL, VOCALS, playlist_name
from songs.models import Song


def margin() -> float:
    return float(settings.STREAM_SAFETY_SECONDS)


def extent_needed(*, duration: float, rate: float, safety: float | None = None) -> float:
    """Seconds of audio the stream must hold before playback may start (see above)."""
    m = margin() if safety is None else safety
    m = min(m, duration)
    return max(m, duration - rate * (duration - m))


def is_streaming(song: Song) -> bool:
    """Its separation runs (or ran) with a live stream a player can open: one that holds a
    segment at least (before that its playlist does not exist)."""
    return bool(song.stream) and (song.stream_seconds or 0.0) > 0.0 and song.deleted_at is None


def is_playable(song: Song) -> bool:
    """Ready, or far enough into its separation that it plays through without a stall."""
    if song.deleted_at is not None:
        return False
    if song.status == Song.Status.READY:
        return True
    if song.status != Song.Status.PROCESSING or not is_streaming(song) or not song.duration:
        return False
    held = song.stream_seconds or 0.0
    if held >= song.duration - 0.05:
        return True  # the whole song is in the stream
    if not song.stream_rate:
        return False
    return held >= extent_needed(duration=song.duration, rate=song.stream_rate)


def playable_in(song: Song) -> float | None:
    """Seconds until it becomes playable at the rate measured so far: 0 when it is, None
    when its separation has not begun streaming (the import's estimate answers then)."""
    if is_playable(song):
        return 0.0
    if not is_streaming(song) or not song.duration or not song.stream_rate:
        return None
    needed = extent_needed(duration=song.duration, rate=song.stream_rate)
    return max(0.0, (needed - (song.stream_seconds or 0.0)) / song.stream_rate)


def playable_in_estimated(*, duration: float, ready_in: float, separate_speed: float) -> float:
    """Before its separation streams: when it will be playable, from the import's estimate
    of when it is ready (`ready_in`) and the separation's measured speed (seconds of work
    per second of audio): ready less the part of the separation it need not wait for."""
    if separate_speed <= 0 or duration <= 0:
        return ready_in
    rate = 1.0 / separate_speed
    waited = extent_needed(duration=duration, rate=rate) / rate
    return max(0.0, ready_in - (separate_speed * duration - waited))


@dataclass(frozen=True)
class StreamUrls:
    instrumental: str
    vocals: str
    seconds: float  # of audio both playlists hold now
    complete: bool


def stream_urls(song: Song) -> StreamUrls | None:
    """The live playlists of the song's separation, or None when it has none."""
    if not is_streaming(song):
        return None

    def url(stem: str) -> str:
        return reverse("song-stream-file", args=[song.pk, song.stream, playlist_name(stem)])

    complete = bool(song.duration) and (song.stream_seconds or 0.0) >= song.duration - 0.05
    return StreamUrls(url(INSTRUMENTAL), url(VOCALS), song.stream_seconds or 0.0, complete)
