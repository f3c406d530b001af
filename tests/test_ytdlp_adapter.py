"""The yt-dlp adapter, driving the real yt-dlp against a server on 127.0.0.1.

YouTube itself cannot be reached from tests; what depends on it is covered by
the offline classification test, by mapping a flat search entry, and by searching
a local HTTPS stand-in for YouTube's search API (tests/youtube.py).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from songs.audio.ffmpeg import ffmpeg_exe
from songs.errors import Cancelled, PermanentError, TransientError
from songs.sources.ytdlp import download as ytdlp_download
from songs.sources.ytdlp import (
    normalise_url,
    parse_youtube_id,
    search,
    search_result_from_entry,
)
from tests.internet import Framing, LocalInternet, closed_port
from tests.youtube import Video, point_ytdlp_at, searched_queries, serve_search


@pytest.fixture(scope="module")
def mp3() -> bytes:
    done = subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=3",
         "-c:a", "libmp3lame", "-f", "mp3", "-"],
        check=True, capture_output=True,
    )
    return done.stdout


class Progress:
    def __init__(self) -> None:
        self.calls: list[tuple[float | None, str]] = []

    def __call__(self, percent: float | None, message: str) -> None:
        self.calls.append((percent, message))

    @property
    def percents(self) -> list[float | None]:
        return [p for p, _ in self.calls]


def download(url: str, dest: Path, **kwargs: Any) -> Any:
    # Short timeouts keep the failure tests fast; nothing here is far away.
    kwargs.setdefault("timeout", 2)
    return ytdlp_download(url, dest, **kwargs)


def page(body: str, title: str = "Karaoke night") -> str:
    return f"<!doctype html><html><head><title>{title}</title></head><body>{body}</body></html>"


# -- downloads --------------------------------------------------------------


def test_it_downloads_a_direct_audio_file(internet: LocalInternet, mp3: bytes, tmp_path: Path) -> None:
    internet.add_file("/songs/take-on-me.mp3", mp3, "audio/mpeg")
    progress = Progress()

    result = download(internet.url("/songs/take-on-me.mp3"), tmp_path, on_progress=progress)

    assert result.path == tmp_path / "original.mp3"
    assert result.path.read_bytes() == mp3
    assert result.title == "take-on-me"
    assert result.source_id == "take-on-me"
    assert result.extractor == "Generic"
    assert result.duration is None
    assert result.webpage_url == internet.url("/songs/take-on-me.mp3")
    assert os.listdir(tmp_path) == ["original.mp3"]
    assert progress.percents[-1] == 100.0


def test_it_finds_the_audio_in_an_html_page(internet: LocalInternet, mp3: bytes, tmp_path: Path) -> None:
    internet.add_file("/media/track.mp3", mp3, "audio/mpeg")
    internet.add_page("/listen", page('<audio controls src="/media/track.mp3"></audio>', title="Bohemian Rhapsody"))

    result = download(internet.url("/listen"), tmp_path)

    assert result.path.read_bytes() == mp3
    assert result.title == "Bohemian Rhapsody"
    assert internet.requests_to("/media/track.mp3")


def _json_ld_page(audio_url: str, duration: str) -> str:
    data = {
        "@context": "https://schema.org", "@type": "AudioObject", "name": "Dancing Queen",
        "contentUrl": audio_url, "encodingFormat": "audio/mpeg", "duration": duration,
        "byArtist": {"@type": "MusicGroup", "name": "ABBA"},
    }
    return page(f'<script type="application/ld+json">{json.dumps(data)}</script>')


def test_it_reads_duration_and_artist_when_the_page_gives_them(internet: LocalInternet, mp3: bytes,
                                                               tmp_path: Path) -> None:
    internet.add_file("/dq.mp3", mp3, "audio/mpeg")
    internet.add_page("/dancing-queen", _json_ld_page(internet.url("/dq.mp3"), "PT3S"))

    result = download(internet.url("/dancing-queen"), tmp_path, max_duration=600)

    assert (result.title, result.artist, result.duration) == ("Dancing Queen", "ABBA", 3.0)
    assert result.path.read_bytes() == mp3


def test_it_refuses_a_song_over_the_limit_before_downloading_it(internet: LocalInternet, mp3: bytes,
                                                                 tmp_path: Path) -> None:
    internet.add_file("/long.mp3", mp3, "audio/mpeg")
    internet.add_page("/concert", _json_ld_page(internet.url("/long.mp3"), "PT2H5M"))

    with pytest.raises(PermanentError) as caught:
        download(internet.url("/concert"), tmp_path, max_duration=600)

    assert caught.value.code == "too_long"
    assert "2:05:00" in caught.value.message and "10:00" in caught.value.message
    assert internet.requests_to("/long.mp3") == []
    assert os.listdir(tmp_path) == []


def test_it_reports_progress_in_percent_when_the_size_is_known(internet: LocalInternet, tmp_path: Path) -> None:
    body = os.urandom(400_000)
    internet.add_file("/big.mp3", body, "audio/mpeg", chunk_size=20_000)
    progress = Progress()

    download(internet.url("/big.mp3"), tmp_path, on_progress=progress)

    percents = progress.percents
    assert all(p is not None for p in percents)
    assert len(percents) > 3
    assert percents == sorted(percents)  # type: ignore[type-var]
    assert percents[-1] == 100.0
    assert "MB of 0.4 MB" in progress.calls[-2][1]


@pytest.mark.parametrize("framing", ["chunked", "close"])
def test_it_reports_progress_when_the_server_sends_no_length(internet: LocalInternet, tmp_path: Path,
                                                             framing: Framing) -> None:
    body = os.urandom(300_000)
    internet.add_file("/stream.mp3", body, "audio/mpeg", framing=framing, chunk_size=20_000)
    progress = Progress()

    result = download(internet.url("/stream.mp3"), tmp_path, on_progress=progress)

    assert result.path.read_bytes() == body
    *during, last = progress.calls
    assert len(during) > 3
    assert all(percent is None for percent, _ in during)  # unknown, not a made-up number
    assert during[-1][1] == "Downloading: 0.3 MB"
    assert last == (100.0, "Downloaded")


def test_it_cancels_mid_download_and_leaves_no_partial_files(internet: LocalInternet, tmp_path: Path) -> None:
    # ~4 s to serve in full, so finishing instead of cancelling would show.
    internet.add_file("/slow.mp3", os.urandom(2_000_000), "audio/mpeg", chunk_size=10_000, chunk_delay=0.02)
    progress = Progress()

    with pytest.raises(Cancelled):
        download(internet.url("/slow.mp3"), tmp_path, on_progress=progress,
                 is_cancelled=lambda: len(progress.calls) >= 3)

    assert len(progress.calls) >= 3
    assert progress.percents[-1] is not None and progress.percents[-1] < 50
    assert os.listdir(tmp_path) == []


def test_it_does_not_start_when_already_cancelled(internet: LocalInternet, mp3: bytes, tmp_path: Path) -> None:
    internet.add_file("/a.mp3", mp3, "audio/mpeg")

    with pytest.raises(Cancelled):
        download(internet.url("/a.mp3"), tmp_path, is_cancelled=lambda: True)

    assert internet.requests == []


# -- errors -----------------------------------------------------------------


@pytest.mark.parametrize("status", [404, 403, 410])
def test_it_classifies_a_missing_link_as_permanent(internet: LocalInternet, tmp_path: Path, status: int) -> None:
    internet.add_route("/gone.mp3", status, "nope", {"Content-Type": "text/plain"})

    with pytest.raises(PermanentError) as caught:
        download(internet.url("/gone.mp3"), tmp_path)

    assert caught.value.code == "not_found"
    assert f"HTTP {status}" in caught.value.message
    assert os.listdir(tmp_path) == []


def test_it_classifies_a_missing_file_behind_a_page_as_permanent(internet: LocalInternet, tmp_path: Path) -> None:
    # Here the page loads and the 404 comes from the media request, a different yt-dlp path.
    internet.add_page("/listen", page('<audio src="/missing.mp3"></audio>'))

    with pytest.raises(PermanentError) as caught:
        download(internet.url("/listen"), tmp_path)

    assert caught.value.code == "not_found"
    assert internet.requests_to("/missing.mp3")


def test_it_classifies_a_closed_port_as_transient(tmp_path: Path) -> None:
    port = closed_port()

    with pytest.raises(TransientError) as caught:
        download(f"http://127.0.0.1:{port}/song.mp3", tmp_path)

    assert caught.value.code == "network"
    assert caught.value.message == (
        f"Could not reach the server at 127.0.0.1:{port} (connection refused). Will try again."
    )


@pytest.mark.parametrize("status", [500, 503, 429])
def test_it_classifies_server_trouble_as_transient(internet: LocalInternet, tmp_path: Path, status: int) -> None:
    internet.add_route("/busy.mp3", status, "try later", {"Content-Type": "text/plain"})

    with pytest.raises(TransientError) as caught:
        download(internet.url("/busy.mp3"), tmp_path)

    assert caught.value.code == "network"
    assert f"HTTP {status}" in caught.value.message


def test_it_classifies_server_trouble_during_the_media_download_as_transient(internet: LocalInternet,
                                                                             tmp_path: Path) -> None:
    # yt-dlp gives up on the media request with no exception attached, only text.
    internet.add_page("/listen", page('<audio src="/busy.mp3"></audio>'))
    internet.add_route("/busy.mp3", 503, "try later")

    with pytest.raises(TransientError) as caught:
        download(internet.url("/listen"), tmp_path)

    assert "HTTP 503" in caught.value.message
    assert os.listdir(tmp_path) == []


def test_it_classifies_a_stalled_server_as_transient(internet: LocalInternet, tmp_path: Path) -> None:
    internet.add_file("/stalled.mp3", b"x" * 100, "audio/mpeg", chunk_size=1, chunk_delay=10)

    with pytest.raises(TransientError) as caught:
        download(internet.url("/stalled.mp3"), tmp_path, timeout=0.3)

    assert "timed out" in caught.value.message
    assert os.listdir(tmp_path) == []


def test_it_classifies_a_body_cut_short_as_transient(internet: LocalInternet, tmp_path: Path) -> None:
    internet.add_route("/cut.mp3", 200, b"x" * 1000, {"Content-Type": "audio/mpeg", "Content-Length": "5000"},
                  framing="close")

    with pytest.raises(TransientError) as caught:
        download(internet.url("/cut.mp3"), tmp_path)

    assert "broke off" in caught.value.message
    assert os.listdir(tmp_path) == []


def test_it_classifies_a_page_without_audio_as_unsupported(internet: LocalInternet, tmp_path: Path) -> None:
    internet.add_page("/about", page("<p>We sing on Fridays.</p>"))

    with pytest.raises(PermanentError) as caught:
        download(internet.url("/about"), tmp_path)

    assert caught.value.code == "unsupported_url"


@pytest.mark.parametrize("url", ["ftp://example.com/song.mp3", "javascript:alert(1)", "file:///etc/passwd",
                                 "not a link", "http://", "http://example.com:99999/x", ""])
def test_it_rejects_links_that_are_not_web_links(url: str, tmp_path: Path) -> None:
    with pytest.raises(PermanentError) as caught:
        download(url, tmp_path)

    assert caught.value.code == "invalid_url"


# -- links ------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
        "https://youtube.com/watch?feature=share&v=dQw4w9WgXcQ&t=42s",
        "https://m.youtube.com/watch?v=dQw4w9WgXcQ",
        "https://music.youtube.com/watch?v=dQw4w9WgXcQ&list=RDAMVM",
        "https://www.youtube.com/shorts/dQw4w9WgXcQ",
        "https://youtu.be/dQw4w9WgXcQ?si=abc",
        "https://www.youtube.com/embed/dQw4w9WgXcQ",
        "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ",
        "https://www.youtube.com/live/dQw4w9WgXcQ?feature=shared",
        "youtu.be/dQw4w9WgXcQ",
        "  http://WWW.YOUTUBE.COM/watch?v=dQw4w9WgXcQ  ",
    ],
)
def test_it_finds_the_video_id_in_youtube_links(url: str) -> None:
    assert parse_youtube_id(url) == "dQw4w9WgXcQ"
    assert normalise_url(url) == "https://www.youtube.com/watch?v=dQw4w9WgXcQ"


@pytest.mark.parametrize(
    "url",
    [
        "https://www.youtube.com/watch?v=short",
        "https://www.youtube.com/playlist?list=PL123",
        "https://www.youtube.com/@somechannel",
        "https://notyoutube.com/watch?v=dQw4w9WgXcQ",
        "https://youtu.be/",
        "https://example.com/shorts/dQw4w9WgXcQ",
        "dQw4w9WgXcQ",
    ],
)
def test_it_finds_no_video_id_in_other_links(url: str) -> None:
    assert parse_youtube_id(url) is None


def test_it_tidies_other_links() -> None:
    assert normalise_url(" HTTPS://Example.COM/Song.mp3?x=1#t=10 ") == "https://example.com/Song.mp3?x=1"
    assert normalise_url("example.com/a.mp3") == "https://example.com/a.mp3"


# -- search -----------------------------------------------------------------


@pytest.mark.timeout(10)
def test_it_says_youtube_is_unreachable_when_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    real_getaddrinfo = socket.getaddrinfo

    def offline(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in ("127.0.0.1", "localhost"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real_getaddrinfo(host, *args, **kwargs)

    # This machine is offline anyway; the patch makes the test mean the same everywhere.
    monkeypatch.setattr(socket, "getaddrinfo", offline)

    with pytest.raises(TransientError) as caught:
        search("never gonna give you up", timeout=1)

    assert caught.value.code == "youtube_unreachable"
    assert "YouTube could not be reached" in caught.value.message


def test_it_searches_youtube_and_keeps_only_videos_up_to_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    videos = [Video(f"video{n:06d}", f"Song {n}", "Channel", "4:05") for n in range(4)]
    with LocalInternet(tls=True) as net:
        serve_search(net, videos)
        point_ytdlp_at(monkeypatch, net.host)

        found = search("  some   song ", limit=3, timeout=5)

        assert searched_queries(net) == ["some song"]
    assert [(r.id, r.title, r.duration, r.channel) for r in found] == [
        (f"video{n:06d}", f"Song {n}", 245.0, "Channel") for n in range(3)
    ]
    assert found[0].url == "https://www.youtube.com/watch?v=video000000" and found[0].thumbnail is None


def test_it_returns_nothing_for_a_blank_search() -> None:
    assert search("   ") == []


def test_it_maps_a_flat_search_entry() -> None:
    # The shape of one entry of yt-dlp's flat "ytsearch" result.
    entry = {
        "_type": "url", "ie_key": "Youtube", "id": "dQw4w9WgXcQ",
        "url": "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
        "title": "Rick Astley - Never Gonna Give You Up (Official Video)",
        "duration": 213.0, "channel": "Rick Astley", "channel_id": "UCuAXFkgsw1L7xaCfnd5JJOw",
        "thumbnails": [
            {"url": "https://i.ytimg.com/vi/dQw4w9WgXcQ/hqdefault.jpg?sqp=small", "height": 94, "width": 168},
            {"url": "https://i.ytimg.com/vi/dQw4w9WgXcQ/hqdefault.jpg?sqp=large", "height": 404, "width": 720},
        ],
    }

    result = search_result_from_entry(entry)

    assert result is not None
    assert (result.id, result.duration, result.channel) == ("dQw4w9WgXcQ", 213.0, "Rick Astley")
    assert result.url == "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
    assert result.thumbnail == "https://i.ytimg.com/vi/dQw4w9WgXcQ/hqdefault.jpg?sqp=large"
    assert search_result_from_entry({"_type": "url", "id": "UCuAXFkgsw1L7xaCfnd5JJOw", "title": "a channel"}) is None
