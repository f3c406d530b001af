"""MusicBrainz search through the real musicbrainzngs, against recorded XML on a local server."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from songs.errors import TransientError
from songs.providers import musicbrainz
from songs.providers.musicbrainz import Match, search_recording
from songs.providers.ratelimit import CircuitBreaker, CircuitOpen, RedisRateLimiter
from tests.internet import LocalInternet, closed_port

RECORDED = Path(__file__).parent / "recorded" / "musicbrainz"
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
SEARCH = "/ws/2/recording/"
XML = {"Content-Type": "application/xml; charset=UTF-8"}

STUDIO = "8a1e3ec3-93d4-4b54-a2c0-ecfc1e1b2d83"
SHORT_DECOY = "0c8d2f36-5b1e-4a36-9f0e-2a7b5d1c4e01"
KARAOKE_DECOY = "3e5a7c91-2d4f-4b86-8a1c-9e0f2b3d4c02"
LIVE = "6a9c1e3b-7d5f-4e2a-b1c3-4d5e6f7a8b05"


def _point_musicbrainz_at(port: int) -> None:
    musicbrainz.configure(
        f"127.0.0.1:{port}", https=False, user_agent_app="Encore-tests", version="0.1", contact="tests@example.org"
    )


@pytest.fixture
def net() -> Iterator[LocalInternet]:
    with LocalInternet() as server:
        _point_musicbrainz_at(server.port)
        yield server


class Providers:
    def __init__(self, client: redis.Redis, key: str) -> None:
        self.slot_key = f"{key}:musicbrainz-slot"
        # A short interval keeps the tests quick; the 1/s spacing itself is tested in test_ratelimit.
        self.limiter = RedisRateLimiter(client, self.slot_key, interval_seconds=0.01)
        self.breaker = CircuitBreaker(
            client, "musicbrainz", failure_threshold=2, cool_down_seconds=30, key_prefix=f"{key}:breaker"
        )

    def search(
        self, title: str, artist: str | None, duration: float | None = None, timeout: float = 2.0
    ) -> Match | None:
        return search_recording(title, artist, duration, limiter=self.limiter, breaker=self.breaker, timeout=timeout)


@pytest.fixture
def musicbrainz_client(redis_client: redis.Redis, key: str) -> Providers:
    """MusicBrainz search with a rate limiter and a breaker of this test's own (in Redis)."""
    return Providers(redis_client, key)


def _serve(
    net: LocalInternet, name: str, status: int = 200, headers: dict[str, str] | None = None, **options: object
) -> None:
    body = (RECORDED / name).read_bytes()
    net.add_route(SEARCH, status, body, headers or XML, **options)  # type: ignore[arg-type]


def test_it_picks_the_studio_recording_over_karaoke_live_and_wrong_duration_decoys(
    net: LocalInternet, musicbrainz_client: Providers
) -> None:
    _serve(net, "recording-dancing-queen.xml")

    match = musicbrainz_client.search("Dancing Queen", "ABBA", duration=231)

    assert match == Match(
        recording_mbid=STUDIO,
        release_mbid="0b0b1cc5-2a1a-4d0e-8c6b-3a4f0d5e7a90",
        artist_mbid="d87e52c5-bb8d-4da8-b941-9f4928627dc8",
        title="Dancing Queen",
        artist="ABBA",
        album="Arrival",
        year=1976,
        isrc="SEAYD7601020",
        tags=("pop", "disco", "swedish"),
        duration=230.4,
        score=match.score if match else 0,
        mb_score=98,
    )


def test_it_sends_a_fielded_query_and_a_user_agent_with_the_contact(net: LocalInternet, musicbrainz_client: Providers) -> None:
    _serve(net, "recording-dancing-queen.xml")
    musicbrainz_client.search("Dancing Queen", "ABBA", duration=231)
    (request,) = net.requests_to(SEARCH)
    assert "query=recording%3A%28dancing+queen%29+artist%3A%28abba%29" in request.path
    assert "limit=10" in request.path
    assert request.headers["User-Agent"].startswith(
        "Encore-tests/0.1 python-musicbrainzngs/0.7.1 ( tests@example.org )"
    )


def test_it_never_prefers_karaoke_or_live_when_the_duration_is_unknown(
    net: LocalInternet, musicbrainz_client: Providers
) -> None:
    _serve(net, "recording-dancing-queen.xml")
    match = musicbrainz_client.search("Dancing Queen", "ABBA")
    assert match is not None and match.recording_mbid == STUDIO


def test_it_takes_the_live_recording_when_that_is_what_was_asked_for(net: LocalInternet, musicbrainz_client: Providers) -> None:
    _serve(net, "recording-dancing-queen.xml")
    match = musicbrainz_client.search("Dancing Queen (Live)", "ABBA", duration=262)
    assert match is not None and match.recording_mbid == LIVE


def test_it_ignores_another_artists_song_with_the_same_title(net: LocalInternet, musicbrainz_client: Providers) -> None:
    _serve(net, "recording-dancing-queen.xml")
    assert musicbrainz_client.search("Dancing Queen", "Madonna", duration=231) is None


def test_it_matches_the_main_artist_of_a_featuring_credit(net: LocalInternet, musicbrainz_client: Providers) -> None:
    _serve(net, "recording-feat.xml")
    match = musicbrainz_client.search("Uptown Funk", "Mark Ronson", duration=270)
    assert match is not None
    assert (match.artist, match.artist_mbid) == ("Mark Ronson feat. Bruno Mars", "ed2ac1e9-d51d-4eff-a2c2-85e81abd6360")


def test_it_returns_none_when_nothing_is_found(net: LocalInternet, musicbrainz_client: Providers) -> None:
    _serve(net, "recording-empty.xml")
    assert musicbrainz_client.search("Nonexistent Song", "Nobody") is None


def test_it_returns_none_on_404(net: LocalInternet, musicbrainz_client: Providers) -> None:
    net.add_route(SEARCH, 404, b"<error><text>Not Found</text></error>", XML)
    assert musicbrainz_client.search("Dancing Queen", "ABBA") is None


def test_it_raises_a_transient_error_at_once_on_503_without_retrying(net: LocalInternet, musicbrainz_client: Providers) -> None:
    _serve(net, "error-503.xml", status=503, headers={**XML, "Retry-After": "2"})
    started = time.monotonic()
    with pytest.raises(TransientError) as caught:
        musicbrainz_client.search("Dancing Queen", "ABBA")
    # musicbrainzngs alone would retry 8 times over about a minute.
    assert time.monotonic() - started < 5
    assert len(net.requests_to(SEARCH)) == 1
    assert caught.value.code == "musicbrainz_unavailable"
    assert "HTTP 503" in caught.value.message


def test_it_trips_the_breaker_after_repeated_failures(net: LocalInternet, musicbrainz_client: Providers) -> None:
    _serve(net, "error-503.xml", status=503)
    for _ in range(2):
        with pytest.raises(TransientError):
            musicbrainz_client.search("Dancing Queen", "ABBA")
    with pytest.raises(CircuitOpen):
        musicbrainz_client.search("Dancing Queen", "ABBA")
    assert len(net.requests_to(SEARCH)) == 2  # the open breaker spared MusicBrainz the third


def test_it_times_out_when_the_server_never_answers(musicbrainz_client: Providers) -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        _point_musicbrainz_at(silent.getsockname()[1])
        started = time.monotonic()
        with pytest.raises(TransientError) as caught:
            musicbrainz_client.search("Dancing Queen", "ABBA", timeout=0.5)
    assert time.monotonic() - started < 5
    assert caught.value.code == "musicbrainz_timeout"


def test_it_times_out_when_the_answer_trickles_in(net: LocalInternet, musicbrainz_client: Providers) -> None:
    _serve(net, "recording-dancing-queen.xml", chunk_size=200, chunk_delay=0.1)  # ~5 s for the whole body
    started = time.monotonic()
    with pytest.raises(TransientError) as caught:
        musicbrainz_client.search("Dancing Queen", "ABBA", timeout=0.5)
    assert time.monotonic() - started < 3
    assert caught.value.code == "musicbrainz_timeout"


def test_it_reports_a_refused_connection_as_transient(musicbrainz_client: Providers) -> None:
    _point_musicbrainz_at(closed_port())
    with pytest.raises(TransientError) as caught:
        musicbrainz_client.search("Dancing Queen", "ABBA")
    assert caught.value.code == "musicbrainz_unreachable"


def test_it_reports_a_truncated_answer_as_transient(net: LocalInternet, musicbrainz_client: Providers) -> None:
    _serve(net, "recording-truncated.xml")
    with pytest.raises(TransientError) as caught:
        musicbrainz_client.search("Dancing Queen", "ABBA")
    assert caught.value.code == "musicbrainz_bad_response"


def test_it_waits_for_the_shared_request_slot(
    net: LocalInternet, musicbrainz_client: Providers, redis_client: redis.Redis
) -> None:
    _serve(net, "recording-dancing-queen.xml")
    other_worker = RedisRateLimiter(redis_client, musicbrainz_client.slot_key, interval_seconds=30)
    assert other_worker.acquire(timeout=1)
    with pytest.raises(TransientError) as caught:
        musicbrainz_client.search("Dancing Queen", "ABBA", timeout=0.2)
    assert caught.value.code == "musicbrainz_rate_limited"
    assert net.requests_to(SEARCH) == []
