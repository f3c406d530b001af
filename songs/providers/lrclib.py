"""Synced and plain lyrics from LRCLIB.

``/api/get`` is LRCLIB's exact lookup (track, artist, album, duration within
about 2 s). Titles from YouTube rarely match exactly, so a miss falls back to
``/api/search`` and we choose among its results ourselves: same duration (±2 s),
similar names, synced lyrics that actually parse preferred over plain ones. A
karaoke screen needs timings, so a plain-only exact hit still looks for a
synced alternative before settling.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

import requests

from songs.errors import TransientError
from songs.providers._http import Deadline, get, read_json
from songs.providers.lrc import LrcError, parse_lrc

__all__ = ["LyricsResult", "fetch_lyrics"]

log = logging.getLogger(__name__)

DURATION_TOLERANCE = 2.0  # seconds, as LRCLIB itself matches
_MIN_NAME_SIMILARITY = 0.6
_OTHER_VERSION = re.compile(r"\b(live|karaoke|instrumental|acoustic|remix|demo|cover)\b")
_SUFFIXES = re.compile(r"\s*[(\[][^()\[\]]*[)\]]|\s+[-–]\s+.*$")


@dataclass(frozen=True)
class LyricsResult:
    synced: str | None
    plain: str | None
    instrumental: bool
    source_id: int | None


def fetch_lyrics(
    track: str,
    artist: str,
    album: str | None = None,
    duration: float | None = None,
    *,
    base_url: str,
    timeout: float,
    user_agent: str,
) -> LyricsResult | None:
    """Lyrics for the song, or None when LRCLIB has none that fit."""
    base = base_url.rstrip("/")
    deadline = Deadline(timeout, "lrclib")
    with requests.Session() as session:
        session.headers["User-Agent"] = user_agent
        exact = None
        if duration is not None:  # /api/get cannot match without one
            exact = _exact(session, base, track, artist, album, duration, deadline)
            if exact is not None and (exact.synced or exact.instrumental):
                return exact
        found = _search(session, base, track, artist, duration, deadline)
    if found is not None and (found.synced or exact is None):
        return found
    return exact


def _exact(
    session: requests.Session,
    base: str,
    track: str,
    artist: str,
    album: str | None,
    duration: float,
    deadline: Deadline,
) -> LyricsResult | None:
    params = {"track_name": track, "artist_name": artist, "duration": str(round(duration))}
    if album:
        params["album_name"] = album
    response = get(session, f"{base}/api/get", params=params, deadline=deadline)
    if response is None:
        return None
    record = read_json(response, deadline)
    if not isinstance(record, dict):
        raise TransientError("lrclib_bad_response", "LRCLIB /api/get did not answer with an object")
    return _to_result(record)


def _search(
    session: requests.Session, base: str, track: str, artist: str, duration: float | None, deadline: Deadline
) -> LyricsResult | None:
    response = get(
        session, f"{base}/api/search", params={"track_name": track, "artist_name": artist}, deadline=deadline
    )
    if response is None:
        return None
    records = read_json(response, deadline)
    if not isinstance(records, list):
        raise TransientError("lrclib_bad_response", "LRCLIB /api/search did not answer with a list")
    ranked = []
    for record in records:
        if not isinstance(record, dict) or not _fits(record, track, artist, duration):
            continue
        result = _to_result(record)
        if result.synced or result.plain or result.instrumental:
            ranked.append((_rank(record, result, track, artist, duration), result))
    return max(ranked, key=lambda pair: pair[0])[1] if ranked else None


def _fits(record: dict[str, Any], track: str, artist: str, duration: float | None) -> bool:
    if duration is not None:
        length = record.get("duration")
        if not isinstance(length, int | float) or abs(length - duration) > DURATION_TOLERANCE:
            return False
    return (
        _similarity(track, record.get("trackName")) >= _MIN_NAME_SIMILARITY
        and _similarity(artist, record.get("artistName")) >= _MIN_NAME_SIMILARITY
    )


def _rank(
    record: dict[str, Any], result: LyricsResult, track: str, artist: str, duration: float | None
) -> tuple[bool, bool, bool, float, float]:
    names = _similarity(track, record.get("trackName")) + _similarity(artist, record.get("artistName"))
    closeness = -abs(record["duration"] - duration) if duration is not None else 0.0
    # Without a duration, "Song (Live at Wembley)" would tie with the studio words.
    found = f"{record.get('trackName', '')} {record.get('albumName', '')}"
    same_version = set(_OTHER_VERSION.findall(found.casefold())) <= set(_OTHER_VERSION.findall(track.casefold()))
    return bool(result.synced), bool(result.plain), same_version, round(names, 2), closeness


def _to_result(record: dict[str, Any]) -> LyricsResult:
    synced = record.get("syncedLyrics") or None
    if synced is not None:
        try:
            parse_lrc(synced)
        except LrcError as exc:
            # Keep the plain words rather than reject the record over its timings.
            log.info("LRCLIB %s has unusable synced lyrics: %s", record.get("id"), exc)
            synced = None
    return LyricsResult(
        synced=synced,
        plain=record.get("plainLyrics") or None,
        instrumental=bool(record.get("instrumental")),
        source_id=record.get("id") if isinstance(record.get("id"), int) else None,
    )


def _similarity(wanted: str, found: object) -> float:
    if not isinstance(found, str):
        return 0.0
    a, b = wanted.casefold().strip(), found.casefold().strip()
    # LRCLIB titles carry their own suffixes ("Dancing Queen - Remastered", "(Live)").
    return max(SequenceMatcher(None, a, b).ratio(), SequenceMatcher(None, _core(a), _core(b)).ratio())


def _core(name: str) -> str:
    return _SUFFIXES.sub("", name).strip() or name
