"""The `enrich` and `lyrics` stages: MusicBrainz, the Cover Art Archive and LRCLIB.

The adapters in songs.providers know nothing of songs; this module wires them
to settings (where each service is, timeouts, the User-Agent), to Redis (the
MusicBrainz request slot and a circuit breaker per provider, shared by every
worker on every host) and to the cache (answers by normalised query, so a
reprocess or the next song of the same album repeats no request).

Neither stage ever fails a song: a provider that is down, slow or refusing
only sets the song's `metadata_status` / `lyrics_status` to `failed` (picked up
later by `manage.py enrich --missing`), the stage returns a message and the
pipeline goes on. Only `Cancelled` leaves these functions. Fields the host
edited (`Song.locked_fields`) are never written here; the lock is read again,
under a row lock, right before every write.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import shutil
import tempfile
import threading
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import redis
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from songs import services
from songs.audio import ffmpeg
from songs.errors import AdapterError, Cancelled, TransientError
from songs.models import Song
from songs.providers import coverart, lrclib, musicbrainz
from songs.providers.lrc import LrcError, parse_lrc
from songs.providers.ratelimit import Breaker, CircuitBreaker, CircuitOpen, Limiter, RedisRateLimiter
from songs.providers.titles import guess_artist_title

logger = logging.getLogger(__name__)

Lookup = Song.LookupStatus
T = TypeVar("T")

_MISS = object()
_RETRY_HINT = "It will be tried again by `manage.py enrich --missing`."


# --- the stages ---------------------------------------------------------------------


def enrich_done(song: Song) -> bool:
    return song.metadata_status in (Lookup.FOUND, Lookup.NOT_FOUND)


def enrich(ctx) -> str | None:
    """Clean the title, find the MusicBrainz recording, fetch the release's cover."""
    song: Song = ctx.song
    title, artist = lookup_query(song)
    cleaned = {"title": title[:300], **({"artist": artist[:300]} if artist else {})}
    if not title:
        services.song_save_found(song=song, fields={"metadata_status": Lookup.NOT_FOUND, "metadata_checked_at": timezone.now()})
        return "No title to look up on MusicBrainz."
    ctx.progress(None, "Looking up MusicBrainz")
    try:
        match = _guarded_call(lambda: search_musicbrainz(title, artist, song.duration))
    except _Skipped as skipped:
        # Keep the cleaned-up guess: singers search for "Dancing Queen", not "(Official Video) [HD]".
        services.song_save_found(song=song, fields={**cleaned, "metadata_status": Lookup.FAILED, "metadata_checked_at": timezone.now()})
        return f"Metadata not looked up: {skipped}. {_RETRY_HINT}"
    _stop_if_cancelled(ctx)
    if match is None:
        services.song_save_found(song=song, fields={**cleaned, "metadata_status": Lookup.NOT_FOUND, "metadata_checked_at": timezone.now()})
        return f"No MusicBrainz recording matches “{_describe(artist, title)}”."

    previous_release = song.release_mbid
    services.song_save_found(song=song, fields={
        "title": match.title[:300] or cleaned["title"],
        "artist": match.artist[:300] or cleaned.get("artist", song.artist),
        "album": (match.album or "")[:300],
        "year": match.year,
        "recording_mbid": match.recording_mbid,
        "release_mbid": match.release_mbid or "",
        "artist_mbid": match.artist_mbid or "",
        "isrc": (match.isrc or "")[:12],
        "genres": list(match.tags[:10]),
        "metadata_status": Lookup.FOUND,
        "metadata_checked_at": timezone.now(),
    })
    found = f"Matched “{_describe(match.artist, match.title)}” on MusicBrainz"
    if not match.release_mbid:
        return f"{found}; it names no release, so no cover."
    if song.is_locked("cover"):
        return f"{found}; the host's cover is kept."
    if previous_release == match.release_mbid and song.has_file("cover"):
        return f"{found}; the cover was already there."
    ctx.progress(None, "Fetching the cover")
    try:
        note = _guarded_call(lambda: _save_cover(song, match.release_mbid))
    except _Skipped as skipped:
        note = f"no cover ({skipped})"
    return f"{found}; {note}."


def lyrics_done(song: Song) -> bool:
    return song.lyrics_status in (Lookup.FOUND, Lookup.NOT_FOUND)


def lyrics(ctx) -> str | None:
    """Synced (LRC) and plain lyrics from LRCLIB, unless the host wrote their own."""
    song: Song = ctx.song
    now = timezone.now()
    if song.is_locked("lyrics"):
        has_words = bool(song.lyrics_synced or song.lyrics_plain)
        services.song_save_found(song=song, fields={"lyrics_status": Lookup.FOUND if has_words else Lookup.NOT_FOUND, "lyrics_checked_at": now})
        return "The host's lyrics are kept."
    if not song.title or not song.artist:
        services.song_save_found(song=song, fields={"lyrics_status": Lookup.NOT_FOUND, "lyrics_checked_at": now})
        return "Lyrics need a title and an artist to look up."
    ctx.progress(None, "Looking up lyrics")
    try:
        result = _guarded_call(lambda: fetch_lyrics(song.title, song.artist, song.album or None, song.duration))
    except _Skipped as skipped:
        services.song_save_found(song=song, fields={"lyrics_status": Lookup.FAILED, "lyrics_checked_at": now})
        return f"Lyrics not looked up: {skipped}. {_RETRY_HINT}"
    _stop_if_cancelled(ctx)
    synced = valid_lrc(result.synced) if result else ""
    plain = (result.plain or "") if result else ""
    if synced and not plain:
        plain = "\n".join(line.text for line in parse_lrc(synced).lines)
    if not (synced or plain):
        services.song_save_found(song=song, fields={"lyrics_synced": "", "lyrics_plain": "", "lyrics_status": Lookup.NOT_FOUND, "lyrics_checked_at": now})
        if result is not None and result.instrumental:
            return "LRCLIB lists this song as an instrumental: no lyrics."
        return f"LRCLIB has no lyrics for “{_describe(song.artist, song.title)}”."
    services.song_save_found(song=song, fields={"lyrics_synced": synced, "lyrics_plain": plain, "lyrics_status": Lookup.FOUND, "lyrics_checked_at": now})
    return "Synced lyrics found." if synced else "Only plain (untimed) lyrics found."


# --- what to look up ----------------------------------------------------------------


def lookup_query(song: Song) -> tuple[str, str | None]:
    """(title, artist) to search for: the host's words if locked, else a cleaned-up guess.

    The download stage stores yt-dlp's title and its artist-or-uploader; after a
    match they hold MusicBrainz's canonical names, which the guess leaves alone.
    """
    guess = guess_artist_title(song.title, uploader=song.artist or None) if song.title.strip() else None
    title = song.title.strip() if song.is_locked("title") or guess is None else guess.title
    if song.is_locked("artist"):
        artist = song.artist.strip() or None
    else:
        artist = (guess.artist if guess else None) or song.artist.strip() or None
    return title, artist


def valid_lrc(text: str | None) -> str:
    """`text` if it is LRC with at least one timed line, else "" (bad timings are dropped)."""
    if not text or not text.strip():
        return ""
    try:
        return text if parse_lrc(text).lines else ""
    except LrcError as exc:
        logger.info("synced lyrics dropped: %s", exc)
        return ""


# --- providers, cached and guarded -------------------------------------------------


def search_musicbrainz(title: str, artist: str | None, duration: float | None) -> musicbrainz.Match | None:
    key = _cache_key("musicbrainz", title, artist, round(duration) if duration else None)
    hit = _cache_get(key)
    if hit is not _MISS:
        return musicbrainz.Match(**hit) if hit else None
    configure_musicbrainz()
    match = musicbrainz.search_recording(
        title, artist, duration,
        limiter=musicbrainz_limiter(), breaker=breaker("musicbrainz"), timeout=settings.PROVIDER_TIMEOUT,
    )
    _cache_set(key, dataclasses.asdict(match) if match else None)
    return match


def fetch_lyrics(track: str, artist: str, album: str | None, duration: float | None) -> lrclib.LyricsResult | None:
    key = _cache_key("lrclib", track, artist, album, round(duration) if duration else None)
    hit = _cache_get(key)
    if hit is not _MISS:
        return lrclib.LyricsResult(**hit) if hit else None
    result = _with_breaker("lrclib", lambda: lrclib.fetch_lyrics(
        track, artist, album, duration,
        base_url=settings.LRCLIB_URL, timeout=settings.PROVIDER_TIMEOUT, user_agent=settings.PROVIDER_USER_AGENT,
    ))
    _cache_set(key, dataclasses.asdict(result) if result else None)
    return result


def configure_musicbrainz() -> None:
    """Point musicbrainzngs at the configured host with our User-Agent (once per process).

    Compared with the library's own globals rather than a flag, so that a process
    whose settings changed (tests) or that something else reconfigured gets ours back.
    """
    from musicbrainzngs import musicbrainz as mb  # noqa: PLC0415 - musicbrainzngs' internal module, only to reset its configuration

    app, version, contact = "Encore", settings.ENCORE_VERSION, settings.PROVIDER_USER_AGENT_CONTACT
    agent = f"{app}/{version} python-musicbrainzngs/{mb._version} ( {contact} )"
    if (mb.hostname, mb.https, mb._useragent) != (settings.MUSICBRAINZ_HOST, settings.MUSICBRAINZ_HTTPS, agent):
        musicbrainz.configure(settings.MUSICBRAINZ_HOST, settings.MUSICBRAINZ_HTTPS, app, version, contact)


def musicbrainz_limiter() -> Limiter:
    key = f"{settings.PROVIDER_KEY_PREFIX}:musicbrainz:slot"
    client = redis_client()
    if client is None:
        return _ProcessLimiter(key, settings.MUSICBRAINZ_MIN_INTERVAL)
    return RedisRateLimiter(client, key, settings.MUSICBRAINZ_MIN_INTERVAL)


def breaker(name: str) -> Breaker:
    client = redis_client()
    if client is None:
        return _NoBreaker()
    return CircuitBreaker(
        client, name, settings.PROVIDER_BREAKER_FAILURES, settings.PROVIDER_BREAKER_COOL_DOWN,
        key_prefix=f"{settings.PROVIDER_KEY_PREFIX}:breaker",
    )


_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()


def redis_client() -> redis.Redis | None:
    """One client (and connection pool) per process; None only for a command run while the site is stopped."""
    url = settings.REDIS_URL
    if not url:
        return None
    with _clients_lock:
        if url not in _clients:
            _clients[url] = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        return _clients[url]


class _ProcessLimiter:
    """Without Redis no worker is running (they all need it), so pacing this process is enough."""

    _next_at: dict[str, float] = {}
    _lock = threading.Lock()

    def __init__(self, key: str, interval: float):
        self._key, self._interval = key, interval

    def acquire(self, timeout: float, *, hold_seconds: float = 0.0) -> bool:
        with self._lock:
            wait = self._next_at.get(self._key, 0.0) - time.monotonic()
            if wait > timeout:
                return False
            time.sleep(max(0.0, wait))
            self._next_at[self._key] = time.monotonic() + hold_seconds + self._interval
            return True

    def release(self) -> None:
        with self._lock:
            self._next_at[self._key] = time.monotonic() + self._interval


class _NoBreaker:
    def allow(self) -> bool:
        return True

    def record_success(self) -> None:
        pass

    def record_failure(self) -> None:
        pass


def _with_breaker(name: str, call: Callable[[], T]) -> T:
    """The musicbrainz adapter takes its breaker; Cover Art Archive and LRCLIB get it here."""
    guard = breaker(name)
    if not guard.allow():
        raise CircuitOpen(f"{name}_circuit_open", f"{name} failed repeatedly; skipped for a while")
    try:
        result = call()
    except TransientError:
        guard.record_failure()
        raise
    guard.record_success()
    return result


class _Skipped(Exception):
    """A provider call that did not happen or did not work; the message says why."""


def _guarded_call(call: Callable[[], T]) -> T:
    """Run a provider call; every failure but Cancelled becomes `_Skipped` (never a failed song)."""
    try:
        return call()
    except Cancelled:
        raise
    except AdapterError as exc:
        logger.info("provider call skipped: %s", exc)
        raise _Skipped(exc.message) from exc
    except Exception as exc:
        # A bug or an unforeseen answer must not cost the party a song either.
        logger.exception("provider call failed unexpectedly")
        raise _Skipped(f"unexpected error {type(exc).__name__}") from exc


# --- cache ----------------------------------------------------------------------------


def _normalise(value: object) -> str:
    if value is None:
        return ""
    text = unicodedata.normalize("NFKC", str(value)).casefold()
    return " ".join(text.split())


def _cache_key(kind: str, *parts: object) -> str:
    digest = hashlib.sha256("\x1f".join(_normalise(p) for p in parts).encode()).hexdigest()[:40]
    return f"{settings.PROVIDER_KEY_PREFIX}:{kind}:{digest}"


def _cache_get(key: str) -> Any:
    try:
        return cache.get(key, _MISS)
    except Exception:  # the cache only saves requests; a lookup must not depend on it
        logger.warning("provider cache unreadable", exc_info=True)
        return _MISS


def _cache_set(key: str, value: Any) -> None:
    if settings.PROVIDER_CACHE_SECONDS <= 0:
        return
    try:
        cache.set(key, value, settings.PROVIDER_CACHE_SECONDS)
    except Exception:
        logger.warning("provider cache unwritable", exc_info=True)


# --- cover ----------------------------------------------------------------------------


def _save_cover(song: Song, release_mbid: str) -> str:
    """Fetch (or copy from a song of the same release) the cover and its thumbnail into the song."""
    no_art_key = _cache_key("coverart-none", release_mbid)
    if _cache_get(no_art_key) is True:
        return "the release has no cover art"
    song.folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=song.folder, prefix=".cover-"))
    try:
        image, thumb = _cover_from_sibling(song, release_mbid, staging)
        if image is None:
            fetched = _with_breaker("coverart", lambda: coverart.fetch_front_cover(
                release_mbid, staging, base_url=settings.COVERART_URL, timeout=settings.PROVIDER_TIMEOUT,
                user_agent=settings.PROVIDER_USER_AGENT,
            ))
            if fetched is None:
                _cache_set(no_art_key, True)
                return "the release has no cover art"
            image, thumb = fetched.image_path, fetched.thumb_path
        if thumb is None:
            thumb = ffmpeg.make_thumbnail(image, staging)
        if not services.song_install_cover(song=song, image=image, thumb=thumb, respect_lock=True):
            return "the host's cover is kept"
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return "cover saved"


def _cover_from_sibling(song: Song, release_mbid: str, staging: Path) -> tuple[Path | None, Path | None]:
    """A song of the same release already has the cover: copy it, no request."""
    siblings = Song.objects.filter(release_mbid=release_mbid, deleted_at__isnull=True).exclude(pk=song.pk)
    for other in siblings[:5]:
        # A host's own cover was chosen for that song, not for the release.
        if other.is_locked("cover") or not (other.has_file("cover") and other.has_file("cover_thumb")):
            continue
        image = staging / other.files["cover"]
        thumb = staging / other.files["cover_thumb"]
        shutil.copyfile(other.file_path("cover"), image)
        shutil.copyfile(other.file_path("cover_thumb"), thumb)
        return image, thumb
    return None, None


# --- writes -----------------------------------------------------------------------------


def _stop_if_cancelled(ctx) -> None:
    if ctx.is_cancelled():
        raise Cancelled("Stopped.")


def _describe(artist: str | None, title: str) -> str:
    return f"{artist} – {title}" if artist else title
