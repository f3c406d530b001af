"""Find the MusicBrainz recording behind a song, through musicbrainzngs.

musicbrainzngs parses the XML well, but its transport is wrong for a party:
it sets no network timeout, and ``_safe_read`` retries a 5xx eight times,
sleeping about a minute in all, inside the worker. We replace exactly that
function (``musicbrainzngs.musicbrainz._safe_read``, which ``_mb_request`` looks
up as a module global on every call) with ``_read_once``: one attempt, bounded by
the caller's ``timeout``, every failure mapped at once to ``TransientError`` or
``PermanentError``. Retries belong to our job runner, pacing to the shared Redis
limiter, and giving up on a dead service to the circuit breaker; so the library's
own per-process limiter is switched off.
"""

from __future__ import annotations

import contextvars
import http.client
import re
import time
import unicodedata
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

import musicbrainzngs
from musicbrainzngs import musicbrainz as _mb

from songs.errors import PermanentError, TransientError
from songs.providers.ratelimit import Breaker, CircuitOpen, Limiter

__all__ = ["Match", "best_match", "configure", "search_recording"]

# Used only when something calls musicbrainzngs outside ``search_recording``.
DEFAULT_TIMEOUT = 10.0
# A recording search answer is a few tens of kB; anything huge is not MusicBrainz.
_MAX_RESPONSE_BYTES = 5 * 1024 * 1024

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("musicbrainz_deadline", default=None)


@dataclass(frozen=True)
class Match:
    recording_mbid: str
    release_mbid: str | None
    artist_mbid: str | None
    title: str
    artist: str
    album: str | None
    year: int | None
    isrc: str | None
    tags: tuple[str, ...]
    duration: float | None  # seconds
    score: float  # our confidence, 0..1
    mb_score: int  # MusicBrainz's own search score, 0..100


class _NotFound(Exception):
    """404: for a search this means "nothing", not an error."""


def configure(host: str, https: bool, user_agent_app: str, version: str, contact: str) -> None:
    """Point musicbrainzngs at ``host`` ("host[:port]") and install our transport."""
    musicbrainzngs.set_useragent(user_agent_app, version, contact)
    musicbrainzngs.set_hostname(host, use_https=https)
    _install()


def _install() -> None:
    # Idempotent, and repeated in search_recording so our guarantees hold even if
    # something configured musicbrainzngs without us.
    musicbrainzngs.set_rate_limit(False)
    _mb._safe_read = _read_once


def search_recording(
    title: str,
    artist: str | None,
    duration: float | None = None,
    *,
    limiter: Limiter,
    breaker: Breaker,
    timeout: float,
    limit: int = 10,
) -> Match | None:
    """The recording that best fits, or None when nothing fits well enough.

    ``timeout`` bounds the wait for a rate-limit slot and, separately, the HTTP
    request. Raises ``CircuitOpen`` (transient) without any request while the
    breaker is open, ``TransientError`` for outages and ``PermanentError`` for
    requests MusicBrainz will never accept.
    """
    _install()
    if not title.strip():
        return None  # musicbrainzngs refuses an empty query; there is nothing to look up
    if not breaker.allow():
        raise CircuitOpen("musicbrainz_circuit_open", "MusicBrainz failed repeatedly; skipped for a while")
    fields = {"recording": title, **({"artist": artist} if artist else {})}
    if not limiter.acquire(timeout, hold_seconds=timeout):
        raise TransientError("musicbrainz_rate_limited", f"no MusicBrainz request slot within {timeout:g} s")
    try:
        with _time_limit(timeout):
            result = musicbrainzngs.search_recordings(limit=limit, **fields)
    except _NotFound:
        breaker.record_success()
        return None
    except TransientError:
        breaker.record_failure()
        raise
    except musicbrainzngs.ResponseError as exc:
        # Our transport raises our own errors, so a ResponseError here comes from the
        # XML parser. A search has no permanently malformed answer: the same query on
        # a healthy server parses, so this is a proxy page or a broken mirror, and worth
        # a retry later (counted by the breaker so a broken mirror gets skipped).
        breaker.record_failure()
        raise TransientError("musicbrainz_bad_response", f"MusicBrainz sent an unreadable answer: {exc}") from exc
    except musicbrainzngs.UsageError as exc:
        raise PermanentError("musicbrainz_not_configured", str(exc)) from exc
    finally:
        limiter.release()
    breaker.record_success()
    return best_match(result.get("recording-list", []), title, artist, duration)


# -- the transport ------------------------------------------------------------


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def _read_once(
    opener: urllib.request.OpenerDirector,
    req: urllib.request.Request,
    body: bytes | None = None,
    *_retry_settings: object,
    **_retry_keywords: object,
) -> bytes:
    """Replacement for ``musicbrainzngs.musicbrainz._safe_read``: one try, within the deadline.

    The socket timeout (set by ``opener.open``) bounds the connect and every wait
    for bytes; the deadline is also checked between chunks of the body, so a
    server that trickles bytes is cut off too (at most one socket wait late).
    """
    deadline = _deadline.get() or time.monotonic() + DEFAULT_TIMEOUT
    try:
        response = opener.open(req, body, timeout=_remaining(deadline))
        with response:
            return _read_body(response, deadline)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise _http_error(exc) from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise _timed_out() from exc
        raise TransientError("musicbrainz_unreachable", f"cannot reach MusicBrainz: {exc.reason}") from exc
    except TimeoutError as exc:
        raise _timed_out() from exc
    except (http.client.HTTPException, OSError) as exc:
        raise TransientError("musicbrainz_unreachable", f"MusicBrainz connection failed: {exc!r}") from exc


def _read_body(response: http.client.HTTPResponse, deadline: float) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := response.read1(64 * 1024):
        size += len(chunk)
        if size > _MAX_RESPONSE_BYTES:
            raise TransientError("musicbrainz_bad_response", "MusicBrainz answer is implausibly large")
        chunks.append(chunk)
        _remaining(deadline)
    return b"".join(chunks)


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left


def _timed_out() -> TransientError:
    return TransientError("musicbrainz_timeout", "MusicBrainz did not answer in time")


def _http_error(exc: urllib.error.HTTPError) -> Exception:
    code = exc.code
    if code == 404:
        return _NotFound()
    if code == 400:
        return PermanentError("musicbrainz_bad_request", "MusicBrainz rejected the search (HTTP 400)")
    if code in (401, 403):
        # MusicBrainz answers 403 to clients it has blocked, e.g. for a missing or
        # anonymous User-Agent: a setting to fix, not something time will cure.
        return PermanentError(
            "musicbrainz_refused",
            f"MusicBrainz refused the request (HTTP {code}); check the User-Agent contact setting",
        )
    retry_after = exc.headers.get("Retry-After") if exc.headers else None
    hint = f", retry after {retry_after} s" if retry_after else ""
    # 429, 503 (its rate-limit answer), other 5xx, and anything unexpected.
    return TransientError("musicbrainz_unavailable", f"MusicBrainz answered HTTP {code}{hint}")


# -- choosing the best recording ---------------------------------------------

# Versions a singer does not mean when they ask for a song. Strong: it is not the
# original performance at all. Mild: the same artist, but not the usual cut.
_WRONG_KIND = re.compile(
    r"\b(karaoke|instrumental|backing track|in the style of|made famous|originally performed"
    r"|tribute|cover|a ?cappella|8[- ]bit|lullaby)\b",
    re.I,
)
_OTHER_CUT = re.compile(r"\b(live|remix|mix|acoustic|demo|unplugged|rehearsal|session|extended|reprise)\b", re.I)
_BRACKETS = re.compile(r"\s*[(\[][^()\[\]]*[)\]]")

_DURATION_EXACT = 3.0  # seconds of difference that still count as "the same cut"
_DURATION_WRONG = 20.0  # beyond this it is certainly another recording
_MIN_TITLE = 0.6
_MIN_ARTIST = 0.6
_MIN_SCORE = 0.55


def best_match(
    recordings: list[dict[str, Any]], title: str, artist: str | None, duration: float | None
) -> Match | None:
    """Pick the recording that fits ``title``/``artist``/``duration`` best, or None."""
    best: tuple[float, Match] | None = None
    for recording in recordings:
        scored = _score(recording, title, artist, duration)
        if scored is not None and (best is None or scored[0] > best[0]):
            best = scored
    return best[1] if best else None


def _score(
    recording: dict[str, Any], title: str, artist: str | None, duration: float | None
) -> tuple[float, Match] | None:
    rec_title = recording.get("title", "")
    title_sim = max(_similarity(title, rec_title), _similarity(title, _BRACKETS.sub("", rec_title)))
    # "Mark Ronson" should match the credit "Mark Ronson feat. Bruno Mars".
    credited = [recording.get("artist-credit-phrase", "")] + _credited_names(recording.get("artist-credit", []))
    artist_sim = max(_similarity(artist, name) for name in credited) if artist else 0.5
    if title_sim < _MIN_TITLE or (artist and artist_sim < _MIN_ARTIST):
        return None

    length = _seconds(recording.get("length"))
    mb_score = int(recording.get("ext:score") or 0)
    # Weights sum to 1. Duration weighs as much as the names: it is what tells the
    # studio take from the live, karaoke or edit versions that share its title.
    score = (
        0.2 * mb_score / 100
        + 0.3 * title_sim
        + 0.25 * artist_sim
        + 0.2 * _duration_fit(duration, length)
        + 0.05 * _popularity(recording)
        - _version_penalty(recording, title)
    )
    if score < _MIN_SCORE:
        return None
    return score, _to_match(recording, length, min(score, 1.0), mb_score)


def _duration_fit(wanted: float | None, actual: float | None) -> float:
    if wanted is None or actual is None:
        return 0.5  # unknown: neither for nor against
    diff = abs(wanted - actual)
    if diff <= _DURATION_EXACT:
        return 1.0
    return max(0.0, 1 - (diff - _DURATION_EXACT) / (_DURATION_WRONG - _DURATION_EXACT))


def _popularity(recording: dict[str, Any]) -> float:
    """0..1 from the number of official releases: the canonical recording of a song
    is on the album and every compilation, an alternate take on one or two. Only
    decides between candidates that are otherwise equal (e.g. no duration known)."""
    official = [r for r in recording.get("release-list", []) if r.get("status", "").lower() == "official"]
    return min(len(official), 5) / 5


def _version_penalty(recording: dict[str, Any], wanted_title: str) -> float:
    described = f"{recording.get('title', '')} {recording.get('disambiguation', '')}"
    penalty = 0.0
    # Asking for "Song (Live)" means the live one is right.
    for pattern, cost in ((_WRONG_KIND, 0.5), (_OTHER_CUT, 0.2)):
        found = {m.lower() for m in pattern.findall(described)}
        if found - {m.lower() for m in pattern.findall(wanted_title)}:
            penalty += cost
    return penalty


def _to_match(recording: dict[str, Any], length: float | None, score: float, mb_score: int) -> Match:
    release = _pick_release(recording.get("release-list", []))
    tags = sorted(recording.get("tag-list", []), key=lambda t: -int(t.get("count") or 0))
    isrcs = recording.get("isrc-list", [])
    return Match(
        recording_mbid=recording["id"],
        release_mbid=release.get("id") if release else None,
        artist_mbid=_first_artist_id(recording.get("artist-credit", [])),
        title=recording.get("title", ""),
        artist=recording.get("artist-credit-phrase", ""),
        album=release.get("title") if release else None,
        year=_first_year(recording),
        isrc=isrcs[0] if isrcs else None,
        tags=tuple(t["name"] for t in tags if t.get("name")),
        duration=length,
        score=round(score, 3),
        mb_score=mb_score,
    )


def _pick_release(releases: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The release whose cover a singer recognises: an official studio album, the earliest."""

    def rank(release: dict[str, Any]) -> tuple[bool, int, bool, str]:
        group = release.get("release-group", {})
        primary = group.get("primary-type", group.get("type", "")).lower()
        return (
            release.get("status", "").lower() != "official",
            {"album": 0, "single": 1, "ep": 1}.get(primary, 2),
            bool(group.get("secondary-type-list")),  # compilation, live, soundtrack...
            release.get("date") or "9999",
        )

    return min(releases, key=rank) if releases else None


def _first_year(recording: dict[str, Any]) -> int | None:
    releases = recording.get("release-list", [])
    official = [r for r in releases if r.get("status", "").lower() == "official"] or releases
    years = [int(r["date"][:4]) for r in official if re.match(r"\d{4}", r.get("date") or "")]
    return min(years) if years else None


def _credited_names(credit: list[Any]) -> list[str]:
    return [part.get("name") or part.get("artist", {}).get("name", "") for part in credit if isinstance(part, dict)]


def _first_artist_id(credit: list[Any]) -> str | None:
    for part in credit:  # names and join phrases (" feat. ") alternate
        if isinstance(part, dict) and "artist" in part:
            return part["artist"].get("id")
    return None


def _seconds(milliseconds: str | None) -> float | None:
    return int(milliseconds) / 1000 if milliseconds and milliseconds.isdigit() else None


def _similarity(a: str, b: str) -> float:
    na, nb = _normalise(a), _normalise(b)
    if not na or not nb:
        return 0.0
    return SequenceMatcher(None, na, nb).ratio()


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.replace("&", " and ")
    text = re.sub(r"[^\w\s]", "", text)
    text = re.sub(r"^the\s+", "", text.strip())
    return re.sub(r"\s+", " ", text)
