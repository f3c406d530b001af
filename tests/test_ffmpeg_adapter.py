"""The ffmpeg adapter against real files made by the real ffmpeg."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import mutagen.flac
import mutagen.mp4
import pytest

from songs.audio.ffmpeg import (
    AudioInfo,
    ensure_max_duration,
    ffmpeg_exe,
    probe,
    sha256_file,
    transcode,
)
from songs.errors import Cancelled, PermanentError

MakeTone = Callable[..., Path]


@pytest.fixture
def make_tone(tmp_path: Path) -> MakeTone:
    """Write a sine tone with the real ffmpeg; extra ffmpeg output args pick the codec."""

    def make(name: str, *args: str, seconds: float = 3, rate: int = 44100, channels: int = 1) -> Path:
        out = tmp_path / name
        subprocess.run(
            [ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-f", "lavfi",
             "-i", f"sine=frequency=440:duration={seconds}:sample_rate={rate}",
             "-ac", str(channels), *args, str(out)],
            check=True,
        )
        return out

    return make


@pytest.mark.parametrize(
    ("name", "args", "rate", "channels", "codec"),
    [
        ("tone.mp3", ("-c:a", "libmp3lame"), 22050, 1, "mp3"),
        ("tone.wav", (), 48000, 2, "pcm_s16le"),
        ("tone.ogg", ("-c:a", "libvorbis"), 44100, 1, "vorbis"),
    ],
)
def test_it_probes_real_audio(make_tone: MakeTone, name: str, args: tuple[str, ...],
                              rate: int, channels: int, codec: str) -> None:
    info = probe(make_tone(name, *args, rate=rate, channels=channels))

    assert info.sample_rate == rate
    assert info.channels == channels
    assert info.codec == codec
    assert info.duration == pytest.approx(3.0, abs=0.1)


def test_it_judges_content_not_the_file_name(make_tone: MakeTone) -> None:
    ogg_in_disguise = make_tone("song.mp3", "-c:a", "libvorbis", "-f", "ogg")

    assert probe(ogg_in_disguise).codec == "vorbis"


def _text(tmp: Path, tone: Path) -> Path:
    path = tmp / "lyrics.mp3"
    path.write_text("Never gonna give you up\n" * 200)
    return path


def _empty(tmp: Path, tone: Path) -> Path:
    path = tmp / "empty.mp3"
    path.write_bytes(b"")
    return path


def _valid_header_then_garbage(tmp: Path, tone: Path) -> Path:
    path = tmp / "corrupt.mp3"
    path.write_bytes(tone.read_bytes()[:600] + os.urandom(200_000))
    return path


def _image(tmp: Path, tone: Path) -> Path:
    path = tmp / "cover.png"
    subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-f", "lavfi", "-i",
                    "color=red:size=32x32", "-frames:v", "1", str(path)], check=True)
    return path


@pytest.mark.parametrize(
    "make_bad", [_text, _empty, _valid_header_then_garbage, _image],
    ids=["text", "empty", "corrupt", "no-audio-stream"],
)
def test_it_rejects_files_that_are_not_audio(tmp_path: Path, make_tone: MakeTone,
                                             make_bad: Callable[[Path, Path], Path]) -> None:
    bad = make_bad(tmp_path, make_tone("tone.mp3", seconds=10))

    with pytest.raises(PermanentError) as caught:
        probe(bad)

    assert caught.value.code == "not_audio"
    assert bad.name in caught.value.message


def test_it_rejects_a_file_that_breaks_off_early(make_tone: MakeTone) -> None:
    tone = make_tone("long.mp3", "-b:a", "128k", seconds=30)
    data = tone.read_bytes()
    # Keep the first third; the rest is zeros, so the header promises 30 s that are not there.
    tone.write_bytes(data[: len(data) // 3] + b"\x00" * (len(data) - len(data) // 3))

    with pytest.raises(PermanentError) as caught:
        probe(tone)

    assert caught.value.code == "not_audio"
    assert "damaged" in caught.value.message


def test_it_transcodes_to_flac_for_work_and_aac_for_the_web(make_tone: MakeTone, tmp_path: Path) -> None:
    source = make_tone("tone.mp3", "-c:a", "libmp3lame", rate=22050, channels=1, seconds=4)
    work, web = tmp_path / "out" / "work.flac", tmp_path / "out" / "web.m4a"

    info = transcode(source, work_path=work, web_path=web)

    flac = mutagen.flac.FLAC(work).info
    assert (flac.sample_rate, flac.channels) == (44100, 2)
    m4a = mutagen.mp4.MP4(web).info
    assert m4a.codec == "mp4a.40.2"  # AAC-LC, what iOS Safari plays
    assert (m4a.sample_rate, m4a.channels) == (44100, 2)
    assert info == AudioInfo(duration=info.duration, sample_rate=44100, channels=2, codec="flac")
    assert info.duration == pytest.approx(probe(source).duration, abs=0.1)
    assert probe(web).duration == pytest.approx(probe(source).duration, abs=0.1)
    assert sorted(p.name for p in work.parent.iterdir()) == ["web.m4a", "work.flac"]


def test_it_puts_the_m4a_index_first_so_browsers_can_start_playing(make_tone: MakeTone, tmp_path: Path) -> None:
    source = make_tone("tone.wav")
    web = tmp_path / "web.m4a"

    transcode(source, work_path=tmp_path / "work.flac", web_path=web)

    data = web.read_bytes()
    assert 0 < data.find(b"moov") < data.find(b"mdat")


def test_it_reports_progress_up_to_100(make_tone: MakeTone, tmp_path: Path) -> None:
    source = make_tone("tone.mp3", seconds=10)
    seen: list[float | None] = []

    transcode(source, work_path=tmp_path / "w.flac", web_path=tmp_path / "w.m4a",
              on_progress=lambda percent, message: seen.append(percent))

    assert seen[-1] == 100.0
    assert len(seen) >= 2
    assert seen == sorted(seen)  # type: ignore[type-var]


def test_it_cancels_a_transcode_and_leaves_no_files(make_tone: MakeTone, tmp_path: Path) -> None:
    source = make_tone("tone.mp3", seconds=60)
    out = tmp_path / "out"
    checks: list[bool] = []

    def is_cancelled() -> bool:
        checks.append(True)
        return True

    with pytest.raises(Cancelled):
        transcode(source, work_path=out / "w.flac", web_path=out / "w.m4a", is_cancelled=is_cancelled)

    assert checks
    assert list(out.iterdir()) == []


def test_it_refuses_songs_over_the_limit() -> None:
    info = AudioInfo(duration=601.0, sample_rate=44100, channels=2, codec="flac")

    ensure_max_duration(info, 601.0)
    ensure_max_duration(info, None)
    with pytest.raises(PermanentError) as caught:
        ensure_max_duration(info, 600.0)

    assert caught.value.code == "too_long"
    assert "10:01" in caught.value.message and "10:00" in caught.value.message


def test_it_hashes_a_file_like_hashlib(tmp_path: Path) -> None:
    data = os.urandom(3_000_000)
    path = tmp_path / "blob.bin"
    path.write_bytes(data)

    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
