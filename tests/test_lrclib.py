"""LRCLIB: exact lookup, search fallback and choice, errors, against recorded JSON on a local server."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from songs.errors import TransientError
from songs.providers.lrc import parse_lines
from songs.providers.lrclib import LyricsResult, fetch_lyrics
from tests.internet import LocalInternet

RECORDED = Path(__file__).parent / "recorded" / "lrclib"
JSON = {"Content-Type": "application/json"}
UA = "Encore-tests/0.1 ( tests@example.org )"


def _serve(internet: LocalInternet, path: str, name: str, status: int = 200, **options: object) -> None:
    internet.add_route(path, status, (RECORDED / name).read_bytes(), JSON, **options)  # type: ignore[arg-type]


def _fetch(
    base_url: str, duration: float | None = 231, album: str | None = "Arrival", timeout: float = 2.0
) -> LyricsResult | None:
    return fetch_lyrics("Dancing Queen", "ABBA", album, duration, base_url=base_url, timeout=timeout, user_agent=UA)


def _query(internet: LocalInternet, path: str) -> dict[str, list[str]]:
    (request,) = internet.requests_to(path)
    return parse_qs(urlsplit(request.path).query)


def test_it_returns_the_exact_match_with_synced_and_plain_lyrics(internet: LocalInternet) -> None:
    _serve(internet, "/api/get", "get-dancing-queen.json")

    result = _fetch(internet.url(""))

    record = json.loads((RECORDED / "get-dancing-queen.json").read_text())
    assert result == LyricsResult(
        synced=record["syncedLyrics"], plain=record["plainLyrics"], instrumental=False, source_id=120123
    )
    assert parse_lines(result.synced or "")[0].text == "You can dance"
    assert _query(internet, "/api/get") == {
        "track_name": ["Dancing Queen"],
        "artist_name": ["ABBA"],
        "album_name": ["Arrival"],
        "duration": ["231"],
    }
    assert internet.requests[0].headers["User-Agent"] == UA
    assert internet.requests_to("/api/search") == []


def test_it_falls_back_to_search_and_picks_synced_lyrics_of_the_same_length(internet: LocalInternet) -> None:
    _serve(internet, "/api/get", "get-not-found.json", status=404)
    _serve(internet, "/api/search", "search-dancing-queen.json")

    result = _fetch(internet.url(""))

    # Not the live one (262 s), not A*Teens, not plain-only, not the one with broken timings.
    assert result is not None and result.source_id == 120125
    assert result.synced is not None
    assert _query(internet, "/api/search") == {"track_name": ["Dancing Queen"], "artist_name": ["ABBA"]}


def test_it_searches_directly_when_the_duration_is_unknown(internet: LocalInternet) -> None:
    _serve(internet, "/api/search", "search-dancing-queen.json")
    result = _fetch(internet.url(""), duration=None)
    assert result is not None and result.source_id == 120125  # studio words over the live ones
    assert internet.requests_to("/api/get") == []


def test_it_looks_for_synced_lyrics_when_the_exact_match_is_plain_only(internet: LocalInternet) -> None:
    _serve(internet, "/api/get", "get-plain-only.json")
    _serve(internet, "/api/search", "search-dancing-queen.json")
    result = _fetch(internet.url(""))
    assert result is not None and (result.source_id, result.synced is not None) == (120125, True)


def test_it_keeps_plain_lyrics_when_nothing_synced_exists(internet: LocalInternet) -> None:
    _serve(internet, "/api/get", "get-plain-only.json")
    _serve(internet, "/api/search", "search-empty.json")
    result = _fetch(internet.url(""))
    assert result is not None and (result.source_id, result.synced) == (120124, None)
    assert result.plain and result.plain.startswith("You can dance")


def test_it_reports_an_instrumental(internet: LocalInternet) -> None:
    _serve(internet, "/api/get", "get-instrumental.json")
    result = fetch_lyrics("Intermezzo No. 1", "ABBA", None, 229, base_url=internet.url(""), timeout=2, user_agent=UA)
    assert result == LyricsResult(synced=None, plain=None, instrumental=True, source_id=884213)


def test_it_returns_none_when_lrclib_has_nothing(internet: LocalInternet) -> None:
    _serve(internet, "/api/get", "get-not-found.json", status=404)
    _serve(internet, "/api/search", "search-empty.json")
    assert _fetch(internet.url("")) is None


def test_it_reports_a_5xx_as_transient(internet: LocalInternet) -> None:
    internet.add_route("/api/get", 502, b"<html>502 Bad Gateway</html>", {"Content-Type": "text/html"})
    with pytest.raises(TransientError) as caught:
        _fetch(internet.url(""))
    assert caught.value.code == "lrclib_unavailable"


def test_it_reports_an_html_page_instead_of_json_as_transient(internet: LocalInternet) -> None:
    internet.add_page("/api/get", "<html>Just a moment...</html>")
    with pytest.raises(TransientError) as caught:
        _fetch(internet.url(""))
    assert caught.value.code == "lrclib_bad_response"


def test_it_times_out_when_the_server_never_answers() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        started = time.monotonic()
        with pytest.raises(TransientError) as caught:
            _fetch(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=0.5)
    assert time.monotonic() - started < 5
    assert caught.value.code == "lrclib_timeout"


def test_it_times_out_when_the_answer_trickles_in(internet: LocalInternet) -> None:
    _serve(internet, "/api/get", "get-dancing-queen.json", chunk_size=20, chunk_delay=0.1)
    started = time.monotonic()
    with pytest.raises(TransientError) as caught:
        _fetch(internet.url(""), timeout=0.5)
    assert time.monotonic() - started < 3
    assert caught.value.code == "lrclib_timeout"
