"""The song's pipeline stages: adapters in, song fields and files out.

Each stage is idempotent: its `*_done` check looks at the files on disk, and
outputs are written under temporary names and renamed into place by the
adapters, so a stage interrupted half-way leaves nothing that looks finished.
"""

import logging
from pathlib import Path

from django.conf import settings

from songs import selectors, services
from songs.audio import ffmpeg
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
    # A guess until metadata arrives: the host sees something better than a URL.
    if not song.title:
        fields["title"] = (result.track or result.title or "")[:300]
    if not song.artist and (result.artist or result.uploader):
        fields["artist"] = (result.artist or result.uploader or "")[:300]
    services.song_set_fields(song=song, **fields)
    return None


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
    )


def separate_done(song: Song) -> bool:
    return all(song.has_file(kind) for kind in STEM_KINDS.values())


def separate(ctx) -> str | None:
    from songs.audio import separation  # noqa: PLC0415 - torch and Demucs load only in the processes that separate

    song: Song = ctx.song
    audio = song.file_path("audio")
    if audio is None or not audio.is_file():
        raise PermanentError("audio_missing", "The working audio file is missing; reprocess from transcode.")
    result = separation.separate(
        audio,
        out_dir=song.folder,
        config=separation_config(),
        on_progress=ctx.progress,
        is_cancelled=ctx.is_cancelled,
    )
    files = dict(song.files)
    for attribute, kind in STEM_KINDS.items():
        files[kind] = getattr(result, attribute).name
    services.song_set_fields(song=song, files=files)
    note = f" (both stems turned down to {result.gain:.2f} to avoid clipping)" if result.gain < 1.0 else ""
    return f"Separated in {result.seconds:.0f} s on {result.device}{note}."
