"""The song's pipeline stages: adapters in, song fields and files out.

Each stage is idempotent: its `*_done` check looks at the files on disk, and
outputs are written under temporary names and renamed into place by the
adapters, so a stage interrupted half-way leaves nothing that looks finished.
"""

import logging
import secrets
import time
from pathlib import Path

from django.conf import settings

from songs import selectors, services
from songs.audio import ffmpeg, keyfinder
from songs.audio.tags import read_tags
from songs.errors import PermanentError
from songs.models import Song
from songs.sources import ytdlp

logger = logging.getLogger(__name__)


def download_done(song: Song) -> bool:
    return song.has_file("original") and bool(song.content_hash)


def download(ctx) -> str | None:
    song: Song = ctx.song
    if song.source in (Song.Source.UPLOAD, Song.Source.FOLDER):
        if song.has_file("original"):
            return None
        source = Path(song.source_id)
        if song.source == Song.Source.FOLDER and source.is_file():
            services.song_store_original(song=song, src=source, move=False)
            services.song_set_fields(song=song, files=song.files, content_hash=ffmpeg.sha256_file(song.file_path("original")))
            return None
        raise PermanentError("original_missing", "The uploaded file is gone from the media folder; upload it again.")

    song.folder.mkdir(parents=True, exist_ok=True)
    # This worker holds the job's claim, so earlier attempts' leftovers are dead.
    if ytdlp.remove_partial_downloads(song.folder):
        logger.info("song %s: removed the partial files of an interrupted download", song.pk)
    result = ytdlp.download(
        song.source_url,
        song.folder,
        on_progress=ctx.progress,
        is_cancelled=ctx.is_cancelled,
        max_duration=settings.SONG_MAX_DURATION,
        timeout=settings.DOWNLOAD_SOCKET_TIMEOUT,
        filename="original",
    )
    content_hash = ffmpeg.sha256_file(result.path)
    duplicate = selectors.live_songs_with_content(content_hash=content_hash).exclude(pk=song.pk).first()
    if duplicate is not None:
        services.song_merge_duplicate(song=song, into=duplicate, by_its_job=True)
        ctx.merged = duplicate
        return f"Same audio as “{duplicate}”, already in the library: merged into it."
    fields = {"files": {**song.files, "original": Path(result.path).name}, "content_hash": content_hash}
    fields.update(_names_found(song, result))
    services.song_set_fields(song=song, **fields)
    return None


def _names_found(song: Song, result: ytdlp.DownloadResult) -> dict:
    """Title, artist and album until metadata arrives: the file's own tags first (a plain
    file link), then what the site says of the track (YouTube Music's track and artist),
    then its title and uploader. A field the host edited (locked) is never touched."""
    tags = read_tags(Path(result.path))
    found = {
        "title": tags.title if tags.from_tags else (result.track or ""),
        "artist": (tags.artist if tags.from_tags else "") or result.artist or "",
        "album": (tags.album if tags.from_tags else "") or result.album or "",
    }
    fallback = {"title": result.title or "", "artist": result.uploader or "", "album": ""}
    fields = {}
    for name, value in found.items():
        if song.is_locked(name):
            continue
        value = value or ("" if getattr(song, name) else fallback[name])
        if value and value != getattr(song, name):
            fields[name] = value[:300]
    return fields


def transcode_done(song: Song) -> bool:
    return song.has_file("audio") and song.has_file("audio_web") and song.duration is not None


def transcode(ctx) -> str | None:
    song: Song = ctx.song
    original = song.file_path("original")
    if original is None or not original.is_file():
        raise PermanentError("original_missing", "The downloaded original is missing; retry to download it again.")
    info = ffmpeg.probe(original)
    ffmpeg.ensure_max_duration(info, settings.SONG_MAX_DURATION)
    result = ffmpeg.transcode(
        original,
        work_path=song.folder / "audio.flac",
        web_path=song.folder / "audio.m4a",
        on_progress=ctx.progress,
        is_cancelled=ctx.is_cancelled,
    )
    services.song_set_fields(
        song=song, files={**song.files, "audio": "audio.flac", "audio_web": "audio.m4a"}, duration=result.duration
    )
    return None


STEM_KINDS = {
    "vocals": "vocals",
    "instrumental": "instrumental",
    "vocals_compressed": "vocals_web",
    "instrumental_compressed": "instrumental_web",
}


def separation_config():
    from songs.audio.separation import SeparationConfig  # noqa: PLC0415 - torch and Demucs load only in the processes that separate

    return SeparationConfig(
        name=settings.DEMUCS_MODEL,
        model_dir=settings.DEMUCS_MODEL_DIR,
        device=settings.DEMUCS_DEVICE,
        threads=settings.DEMUCS_THREADS,
        overlap=settings.DEMUCS_OVERLAP,
        shifts=settings.DEMUCS_SHIFTS,
        segment=settings.DEMUCS_SEGMENT,
        pace=settings.DEMUCS_PACE,
    )


def separate_done(song: Song) -> bool:
    return all(song.has_file(kind) for kind in STEM_KINDS.values())


def separate(ctx) -> str | None:
    from songs.audio import separation  # noqa: PLC0415 - torch and Demucs load only in the processes that separate

    song: Song = ctx.song
    audio = song.file_path("audio")
    if audio is None or not audio.is_file():
        raise PermanentError("audio_missing", "The working audio file is missing; reprocess from transcode.")
    # The stems stream as they are separated, so the song can be sung before this ends
    # (songs/streaming.py). Each attempt streams into a folder of its own.
    stream = secrets.token_hex(4)
    stream_dir = services.song_stream_begin(song=song, stream=stream)
    began = time.monotonic()
    first: list[tuple[float, float]] = []  # (when, seconds) of the first report with audio

    def on_stream(seconds: float) -> None:
        # The speed since the first segment: the decode and the model's load before it
        # happen once and would make the rest look slower than it is. Until there is a
        # second report, the speed since the stage began (lower: the safe side).
        now = time.monotonic()
        if not first and seconds > 0:
            first.append((now, seconds))
        if first and now - first[0][0] >= 1.0 and seconds > first[0][1]:
            rate = (seconds - first[0][1]) / (now - first[0][0])
        else:
            rate = seconds / max(now - began, 1e-3)
        services.song_stream_progress(song=song, stream=stream, seconds=seconds, rate=rate)

    try:
        result = separation.separate(
            audio,
            out_dir=song.folder,
            config=separation_config(),
            on_progress=ctx.progress,
            is_cancelled=ctx.is_cancelled,
            stream_dir=stream_dir,
            on_stream=on_stream,
        )
    except BaseException:
        # Cancelled or failed: half a stream is nothing to sing from (a retry streams again).
        services.song_stream_end(song=song)
        raise
    files = dict(song.files)
    for attribute, kind in STEM_KINDS.items():
        files[kind] = getattr(result, attribute).name
    services.song_set_fields(song=song, files=files)
    # New stems: the key changes made from the old ones go (asked again as rooms need them).
    services.song_key_renders_drop(song=song)
    note = f" (both stems turned down to {result.gain:.2f} to avoid clipping)" if result.gain < 1.0 else ""
    return f"Separated in {result.seconds:.0f} s on {result.device}{note}."


# --- the song's key (a stage after separation) -------------------------------------------


def key_done(song: Song) -> bool:
    return song.key_confidence is not None or song.is_locked("key")


def detect_key(ctx) -> str | None:
    """The song's key, heard in its instrumental (the whole mix when it has none)."""
    song: Song = ctx.song
    source = next((song.file_path(kind) for kind in ("instrumental", "instrumental_web", "audio")
                   if song.has_file(kind)), None)
    if source is None:
        raise PermanentError("audio_missing", "The song has no audio to find its key in; reprocess from transcode.")
    found = keyfinder.detect_key(source, is_cancelled=ctx.is_cancelled)
    written = services.song_save_found(
        song=song, fields={"key": found.name if found else "", "key_confidence": round(found.confidence, 3) if found else 0.0},
    )
    if not written:
        return "The key was set by hand: kept."
    return f"Key: {found.name} (confidence {found.confidence:.2f})." if found else "No key could be heard."


# --- a key change (a job of kind "key": songs/pipeline/plan.render_stages) ----------------

# What a key change reads, best first: the lossless stems, else the browser ones.
_RENDER_SOURCES = {"instrumental_web": ("instrumental", "instrumental_web"), "vocals_web": ("vocals", "vocals_web")}


def render_key_done(song: Song, *, semitones: int) -> bool:
    return all(song.has_file(Song.key_kind(stem, semitones)) for stem in Song.KEY_STEMS)


def render_key(ctx, *, semitones: int) -> str | None:
    """Both browser stems shifted by `semitones`, kept in the song's folder for every room."""
    song: Song = ctx.song
    if not semitones or abs(semitones) > Song.KEY_SHIFT_MAX:
        raise PermanentError("bad_key_shift", f"A key change of {semitones} semitones cannot be made.")
    pairs, read = [], []
    for stem, candidates in _RENDER_SOURCES.items():
        kind = next((kind for kind in candidates if song.has_file(kind)), None)
        if kind is None:
            raise PermanentError("stems_missing", "The song has no stems to change the key of; reprocess it from separate.")
        pairs.append((song.file_path(kind), song.folder / Song.key_file_name(stem, semitones)))
        read.append(kind)
    # What the stems were when this began: stems replaced meanwhile make the render stale.
    sources = services.song_stem_stats(song=song, kinds=read)
    ffmpeg.pitch_shift(
        pairs, semitones=semitones, duration=song.duration, on_progress=ctx.progress, is_cancelled=ctx.is_cancelled,
    )
    services.song_key_render_install(song=song, semitones=semitones, sources=sources)
    return f"Both stems shifted {semitones:+d} semitones."
