"""ffmpeg adapter: read the facts of an audio file, transcode it, hash it.

Uses the ffmpeg binary shipped in the imageio-ffmpeg wheel, which has no
ffprobe, so facts come from parsing ``ffmpeg -i`` output and from decoding the
file to the null muxer. Decoding the whole file is what makes ``probe`` trust
the content rather than the name or the header: a corrupt file with a valid
header announces a duration it cannot deliver.

Plain functions, no Django: paths and values in, paths and values out.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import imageio_ffmpeg

from songs.errors import Cancelled, PermanentError, TransientError

log = logging.getLogger(__name__)

ProgressCallback = Callable[[float | None, str], None]
CancelCheck = Callable[[], bool]

WORK_SAMPLE_RATE = 44100
WORK_CHANNELS = 2
WEB_AAC_BITRATE = "192k"
# Decoding runs at hundreds of times real time; this only catches a hung ffmpeg.
PROBE_TIMEOUT_SECONDS = 600
# A file that decodes to less than this share of its announced duration is broken.
MIN_DECODED_SHARE = 0.9
MIN_AUDIO_SECONDS = 0.1
# How often ffmpeg reports progress, which is also how often cancel is checked.
PROGRESS_PERIOD_SECONDS = 0.25

_DURATION_RE = re.compile(r"^\s*Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)", re.MULTILINE)
_AUDIO_STREAM_RE = re.compile(
    r"^\s*Stream #\d+:\d+\S*: Audio: (?P<codec>[^\s,]+)[^,\n]*, (?P<rate>\d+) Hz, (?P<layout>[^,\n]+)",
    re.MULTILINE,
)
_NAMED_LAYOUTS = {"mono": 1, "stereo": 2, "downmix": 2, "quad": 4, "hexagonal": 6, "octagonal": 8}


@dataclass(frozen=True)
class AudioInfo:
    duration: float  # seconds of audio that actually decode
    sample_rate: int
    channels: int  # 0 when ffmpeg names a layout we do not know
    codec: str


def ffmpeg_exe() -> str:
    return imageio_ffmpeg.get_ffmpeg_exe()


_BITRATE_RE = re.compile(r"Duration: .*?, bitrate: (\d+) kb/s")
_STREAM_BITRATE_RE = re.compile(r"Stream #\S+.*?: Audio: .*?(\d+) kb/s")


def bitrate_of(path: str | os.PathLike[str]) -> float | None:
    """The audio's bitrate (bits per second) ffmpeg reads from the head of a file, even a
    partly downloaded one; None when it cannot tell.

    The audio stream's own rate first: the container's "bitrate" of a partial file is its
    size over the whole duration when a header (an MP3's Xing frame) gives that duration,
    so a quarter of a file would read as a quarter of its rate."""
    try:
        done = subprocess.run(
            [ffmpeg_exe(), "-nostdin", "-hide_banner", "-i", str(path)],
            check=False, capture_output=True, text=True, errors="replace", timeout=15, stdin=subprocess.DEVNULL,
        )
    except (subprocess.TimeoutExpired, OSError):
        return None
    match = _STREAM_BITRATE_RE.search(done.stderr) or _BITRATE_RE.search(done.stderr)
    return float(match[1]) * 1000 if match else None


def probe(path: str | os.PathLike[str]) -> AudioInfo:
    """Decode ``path`` fully and describe its first audio stream.

    Raises ``PermanentError("not_audio")`` for anything that is not playable audio.
    """
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise PermanentError("not_audio", f"The file {name} does not exist.")
    if path.stat().st_size == 0:
        raise PermanentError("not_audio", f"The file {name} is empty.")

    cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-i", str(path),
           "-map", "0:a:0", "-f", "null", "-", "-progress", "pipe:1", "-nostats"]
    try:
        done = subprocess.run(cmd, check=False, capture_output=True, text=True, errors="replace",
                              timeout=PROBE_TIMEOUT_SECONDS, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise TransientError("ffmpeg_timeout", f"Reading {name} took too long.") from exc

    stream = _AUDIO_STREAM_RE.search(done.stderr)
    if "Error opening input" in done.stderr:
        raise PermanentError("not_audio", f"{name} is not an audio or video file ffmpeg can read.")
    if stream is None:
        raise PermanentError("not_audio", f"{name} has no audio in it.")
    if done.returncode != 0:
        log.info("ffmpeg failed on %s: %s", path, _tail(done.stderr))
        raise PermanentError("not_audio", f"{name} could not be decoded; the file looks damaged.")

    decoded = _last_out_time(done.stdout)
    announced = _announced_duration(done.stderr)
    if decoded < MIN_AUDIO_SECONDS:
        raise PermanentError("not_audio", f"{name} contains no playable audio.")
    if announced and decoded < announced * MIN_DECODED_SHARE:
        raise PermanentError(
            "not_audio",
            f"{name} is damaged: it should last {format_seconds(announced)} "
            f"but only {format_seconds(decoded)} could be played.",
        )
    return AudioInfo(
        duration=decoded,
        sample_rate=int(stream["rate"]),
        channels=_channel_count(stream["layout"]),
        codec=stream["codec"],
    )


def ensure_max_duration(info: AudioInfo, max_seconds: float | None) -> None:
    if max_seconds is not None and info.duration > max_seconds:
        raise PermanentError(
            "too_long",
            f"This song lasts {format_seconds(info.duration)}; "
            f"the limit is {format_seconds(max_seconds)}.",
        )


def transcode(
    src: str | os.PathLike[str],
    *,
    work_path: str | os.PathLike[str],
    web_path: str | os.PathLike[str],
    on_progress: ProgressCallback | None = None,
    is_cancelled: CancelCheck | None = None,
) -> AudioInfo:
    """Write a 44.1 kHz stereo FLAC working copy and an AAC ``.m4a`` for browsers.

    Both come from one ffmpeg run. Returns the facts of the working copy.
    """
    source = probe(src)
    work_path, web_path = Path(work_path), Path(web_path)
    work_tmp, web_tmp = _temp_name(work_path), _temp_name(web_path)
    audio = ["-map", "0:a:0", "-ar", str(WORK_SAMPLE_RATE), "-ac", str(WORK_CHANNELS)]
    cmd = [
        ffmpeg_exe(), "-nostdin", "-hide_banner", "-v", "error", "-y", "-i", str(src),
        *audio, "-c:a", "flac", "-f", "flac", str(work_tmp),
        *audio, "-c:a", "aac", "-b:a", WEB_AAC_BITRATE, "-movflags", "+faststart",
        "-f", "ipod", str(web_tmp),
        "-progress", "pipe:1", "-nostats", "-stats_period", str(PROGRESS_PERIOD_SECONDS),
    ]
    try:
        _run_with_progress(cmd, source.duration, on_progress, is_cancelled)
        os.replace(work_tmp, work_path)
        os.replace(web_tmp, web_path)
    finally:
        _remove(work_tmp, web_tmp)
    if on_progress:
        on_progress(100.0, "Converted")
    return probe(work_path)


# Rubber Band (the `rubberband` filter of the imageio-ffmpeg build): a pitch shift that
# keeps the tempo and the length; its high-quality pitch mode, which costs about a
# quarter more CPU than its default for audibly cleaner sustained notes.
PITCH_FILTER = "rubberband=pitch={ratio:.9f}:pitchq=quality"


def pitch_ratio(semitones: int) -> float:
    return 2.0 ** (semitones / 12)


def pitch_shift(
    pairs: list[tuple[str | os.PathLike[str], str | os.PathLike[str]]],
    *,
    semitones: int,
    duration: float | None = None,
    on_progress: ProgressCallback | None = None,
    is_cancelled: CancelCheck | None = None,
) -> None:
    """Write each (source, destination) pair's source shifted by `semitones`, as AAC in
    ``.m4a`` like the browser stems (44.1 kHz stereo), same length and tempo.

    One ffmpeg per pair, all at once (Rubber Band runs on one core per stream; the stems
    of a song are two). Each is written under a temporary name and renamed into place
    only when every pair succeeded. `duration` (seconds, for progress) is the source's.
    Raises PermanentError("key_change_failed") with what ffmpeg said, or Cancelled.
    """
    if not pairs:
        return
    sources = [Path(src) for src, _ in pairs]
    for source in sources:
        if not source.is_file():
            raise PermanentError("key_change_failed", f"The stem {source.name} to shift is missing.")
    finals = [Path(dest) for _, dest in pairs]
    temps = [_temp_name(final) for final in finals]
    done = [0.0] * len(pairs)
    stop = threading.Event()
    errors: list[BaseException | None] = [None] * len(pairs)

    def failure(source: Path):
        def make(stderr: str) -> PermanentError:
            if "No such filter" in stderr and "rubberband" in stderr:
                return PermanentError("no_rubberband", "This ffmpeg has no rubberband filter: install the "
                                      "imageio-ffmpeg wheel (or an ffmpeg built with librubberband).")
            return PermanentError("key_change_failed", f"ffmpeg could not shift {source.name} by {semitones:+d} "
                                  f"semitones: {_tail(stderr, 2) or 'no message'}")
        return make

    def run(index: int, source: Path, temp: Path) -> None:
        cmd = [
            ffmpeg_exe(), "-nostdin", "-hide_banner", "-v", "error", "-y", "-i", str(source),
            "-map", "0:a:0", "-af", PITCH_FILTER.format(ratio=pitch_ratio(semitones)),
            "-ar", str(WORK_SAMPLE_RATE), "-ac", str(WORK_CHANNELS),
            "-c:a", "aac", "-b:a", WEB_AAC_BITRATE, "-movflags", "+faststart", "-f", "ipod", str(temp),
            "-progress", "pipe:1", "-nostats", "-stats_period", str(PROGRESS_PERIOD_SECONDS),
        ]

        def progress(percent: float | None, _message: str) -> None:
            done[index] = percent or done[index]

        try:
            _run_with_progress(cmd, duration or 0.0, progress, stop.is_set, failure=failure(source))
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread, which raises it
            errors[index] = exc
            stop.set()

    threads = [
        threading.Thread(target=run, args=(index, source, temp), name=f"pitch-{index}", daemon=True)
        for index, (source, temp) in enumerate(zip(sources, temps, strict=True))
    ]
    try:
        for thread in threads:
            thread.start()
        # Progress and cancel from the calling thread: its callback may write to the database.
        while any(thread.is_alive() for thread in threads):
            for thread in threads:
                thread.join(PROGRESS_PERIOD_SECONDS / len(threads))
            if is_cancelled and is_cancelled():
                stop.set()
            if on_progress and duration:
                share = sum(done) / len(done)
                on_progress(min(99.9, share), f"Changing the key ({semitones:+d}): {share:.0f} %")
        failed = [error for error in errors if error is not None and not isinstance(error, Cancelled)]
        if failed:
            raise failed[0]
        if stop.is_set() or any(errors):
            raise Cancelled("Key change cancelled.")
        for temp, final in zip(temps, finals, strict=True):
            os.replace(temp, final)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        _remove(*temps)
    if on_progress:
        on_progress(100.0, f"Key changed ({semitones:+d})")


def sha256_file(path: str | os.PathLike[str]) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def format_seconds(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


# -- helpers ----------------------------------------------------------------


def _run_with_progress(
    cmd: list[str],
    duration: float,
    on_progress: ProgressCallback | None,
    is_cancelled: CancelCheck | None,
    *,
    failure: Callable[[str], PermanentError] | None = None,
) -> None:
    """Run ffmpeg, reporting its progress; `failure` turns its error output into the error to raise."""
    # stderr goes to a file: a pipe nobody reads fills up and stalls ffmpeg.
    with tempfile.TemporaryFile("w+", errors="replace") as stderr:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=stderr, text=True)
        assert proc.stdout is not None
        try:
            for block in _progress_blocks(proc.stdout):
                if is_cancelled and is_cancelled():
                    raise Cancelled("Conversion cancelled.")
                if on_progress and duration > 0:
                    done = _seconds(block.get("out_time_us")) or 0.0
                    percent = min(99.9, 100.0 * done / duration)
                    on_progress(percent, f"Converting: {format_seconds(done)} of {format_seconds(duration)}")
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        if proc.returncode != 0:
            stderr.seek(0)
            errors = stderr.read()
            log.warning("ffmpeg failed: %s", _tail(errors))
            if failure is not None:
                raise failure(errors)
            raise PermanentError("transcode_failed", "ffmpeg could not convert this file.")


def _progress_blocks(stream: IO[str]) -> Iterator[dict[str, str]]:
    """Yield each ``key=value`` block that ``-progress`` writes, every half second."""
    block: dict[str, str] = {}
    for line in stream:
        key, _, value = line.strip().partition("=")
        block[key] = value
        if key == "progress":
            yield block
            block = {}


def _last_out_time(progress_output: str) -> float:
    times = re.findall(r"^out_time_us=(\d+)$", progress_output, re.MULTILINE)
    return int(times[-1]) / 1_000_000 if times else 0.0


def _seconds(out_time_us: str | None) -> float | None:
    # ffmpeg writes "N/A" before the first frame is out.
    return int(out_time_us) / 1_000_000 if out_time_us and out_time_us.isdigit() else None


def _announced_duration(stderr: str) -> float | None:
    m = _DURATION_RE.search(stderr)
    if m is None:
        return None
    hours, minutes, seconds = m.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def _channel_count(layout: str) -> int:
    layout = layout.strip()
    if m := re.match(r"(\d+) channels", layout):
        return int(m[1])
    if m := re.match(r"(\d+)\.(\d+)", layout):  # "5.1(side)" is 5 + 1
        return int(m[1]) + int(m[2])
    return _NAMED_LAYOUTS.get(layout.split("(")[0], 0)


def _temp_name(final: Path) -> Path:
    final.parent.mkdir(parents=True, exist_ok=True)
    return final.with_name(f".{final.name}.{secrets.token_hex(4)}.part")


def _remove(*paths: Path) -> None:
    for p in paths:
        p.unlink(missing_ok=True)


def _tail(text: str, lines: int = 5) -> str:
    return " | ".join(text.strip().splitlines()[-lines:])


THUMBNAIL_SIZE = 250


def make_thumbnail(image: Path, dest_dir: Path, *, size: int = THUMBNAIL_SIZE) -> Path:
    """A JPEG at most 250 px wide and high, made by ffmpeg (CAA gave none, or the host uploaded a cover)."""
    final = dest_dir / "cover-250.jpg"
    temp = dest_dir / f".thumb-{os.getpid()}-{threading.get_ident()}.jpg"
    try:
        done = subprocess.run(
            [ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-i", str(image),
             "-vf", f"scale={size}:{size}:force_original_aspect_ratio=decrease", "-frames:v", "1", "-q:v", "3",
             str(temp)],
            capture_output=True, text=True, timeout=30,
        )
    except subprocess.TimeoutExpired as exc:
        temp.unlink(missing_ok=True)
        raise PermanentError("thumbnail_failed", "ffmpeg took too long to make the cover thumbnail") from exc
    if done.returncode != 0 or not temp.is_file():
        temp.unlink(missing_ok=True)
        reason = done.stderr.strip().splitlines()[-1:] or ["no output"]
        raise PermanentError("thumbnail_failed", f"ffmpeg could not make a thumbnail: {reason[0]}")
    os.replace(temp, final)
    return final
