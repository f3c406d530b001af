"""YouTube links through the adapter's real download path: the real yt-dlp reads and
downloads a video from the local stand-in for YouTube (tests/youtube.py).
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from songs.audio.ffmpeg import ffmpeg_exe, probe
from songs.errors import PermanentError
from songs.sources import ytdlp
from tests.helpers import make_audio
from tests.internet import LocalInternet
from tests.youtube import MEDIA_PATH, NEXT_PATH, PLAYER_PATH, Video, point_ytdlp_at, serve_unavailable, serve_video

TAKE_ON_ME = Video("djV11Xbc914", "a-ha - Take On Me (Official Video)", "a-ha", "0:03")
GONE = "gone0000000"


@pytest.fixture
def youtube(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalInternet]:
    """The stand-in, with every other host made unreachable: a test fails if yt-dlp so
    much as looks one up (www.youtube.com, a thumbnail...), even when it would shrug."""
    looked_up: list[str] = []
    real_getaddrinfo = socket.getaddrinfo

    def only_local(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in ("127.0.0.1", "localhost"):
            looked_up.append(str(host))
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", only_local)
    with LocalInternet(tls=True) as net:
        point_ytdlp_at(monkeypatch, net.host)
        yield net
    assert looked_up == []


@pytest.fixture(scope="module")
def opus() -> bytes:
    """Three seconds of webm/Opus, as YouTube's audio format 251."""
    done = subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=3",
         "-c:a", "libopus", "-b:a", "64k", "-f", "webm", "-"],
        check=True, capture_output=True,
    )
    return done.stdout


def watch_url(video_id: str) -> str:
    return f"https://www.youtube.com/watch?v={video_id}"


def paths(net: LocalInternet) -> list[tuple[str, str]]:
    return [(r.method, r.path.split("?")[0]) for r in net.requests]


def test_it_downloads_the_audio_of_a_youtube_link(youtube: LocalInternet, opus: bytes, tmp_path: Path) -> None:
    serve_video(youtube, TAKE_ON_ME, opus)
    percents: list[float | None] = []

    result = ytdlp.download(f"https://youtu.be/{TAKE_ON_ME.id}?t=42", tmp_path, timeout=5, max_duration=600,
                            on_progress=lambda percent, _: percents.append(percent))

    assert result.path == tmp_path / "original.webm"
    assert result.path.read_bytes() == opus
    assert os.listdir(tmp_path) == ["original.webm"]
    assert (result.title, result.uploader, result.duration) == (TAKE_ON_ME.title, "a-ha", 3.0)
    assert (result.source_id, result.extractor) == (TAKE_ON_ME.id, "Youtube")
    assert result.webpage_url == watch_url(TAKE_ON_ME.id)
    assert percents[-1] == 100.0
    # The API, then the audio: no watch page, no JavaScript player, nothing else.
    assert paths(youtube) == [("POST", NEXT_PATH), ("POST", PLAYER_PATH), ("GET", f"{MEDIA_PATH}{TAKE_ON_ME.id}.webm")]


def test_it_downloads_m4a_audio_as_a_playable_file(youtube: LocalInternet, tmp_path: Path) -> None:
    serve_video(youtube, TAKE_ON_ME, make_audio(3.0, fmt="m4a"))

    result = ytdlp.download(watch_url(TAKE_ON_ME.id), tmp_path, timeout=5)

    # yt-dlp rewrites YouTube's DASH m4a into a plain one with ffmpeg.
    assert result.path == tmp_path / "original.m4a"
    audio = probe(result.path)
    assert audio.codec == "aac" and audio.duration == pytest.approx(3.0, abs=0.1)


def test_it_reads_a_youtube_video_without_downloading_it(youtube: LocalInternet, opus: bytes) -> None:
    serve_video(youtube, TAKE_ON_ME, opus)

    info = ytdlp.video_info(TAKE_ON_ME.id, timeout=5)

    assert (info.id, info.title, info.channel, info.duration) == (TAKE_ON_ME.id, TAKE_ON_ME.title, "a-ha", 3.0)
    assert info.url == watch_url(TAKE_ON_ME.id)
    assert youtube.requests_to(f"{MEDIA_PATH}{TAKE_ON_ME.id}.webm") == []


def test_it_refuses_a_youtube_video_over_the_limit_before_downloading_it(youtube: LocalInternet, opus: bytes,
                                                                       tmp_path: Path) -> None:
    serve_video(youtube, Video(TAKE_ON_ME.id, "Live at Wembley", "a-ha", "1:02:03"), opus)

    with pytest.raises(PermanentError) as caught:
        ytdlp.download(watch_url(TAKE_ON_ME.id), tmp_path, timeout=5, max_duration=600)

    assert caught.value.code == "too_long"
    assert "1:02:03" in caught.value.message
    assert youtube.requests_to(f"{MEDIA_PATH}{TAKE_ON_ME.id}.webm") == []
    assert os.listdir(tmp_path) == []


def test_an_unavailable_youtube_video_fails_for_good_with_youtubes_reason(youtube: LocalInternet,
                                                                          tmp_path: Path) -> None:
    serve_unavailable(youtube, GONE, subreason="This video has been removed by the uploader")

    with pytest.raises(PermanentError) as downloading:
        ytdlp.download(watch_url(GONE), tmp_path, timeout=5)
    with pytest.raises(PermanentError) as reading:
        ytdlp.video_info(GONE, timeout=5)

    for caught in (downloading, reading):
        assert caught.value.code == "unavailable"
        assert caught.value.message == (
            "This video cannot be downloaded: Video unavailable. This video has been removed by the uploader")
    assert os.listdir(tmp_path) == []
    assert [path for _, path in paths(youtube)] == [NEXT_PATH, PLAYER_PATH] * 2


def test_a_video_youtube_does_not_know_is_unavailable(youtube: LocalInternet, opus: bytes) -> None:
    serve_video(youtube, TAKE_ON_ME, opus)

    with pytest.raises(PermanentError) as caught:
        ytdlp.video_info("nosuchvideo", timeout=5)

    assert caught.value.code == "unavailable"
    assert caught.value.message == "This video cannot be downloaded: Video unavailable"
