"""Writes of the songs app: adding songs, editing, deleting, and stage results.

Adding a song is two-phase: these services create the Song and its Job in one
transaction and return in milliseconds; the job is enqueued when the
transaction commits and the work happens in a worker.
"""

import logging
import re
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from karaoke_site.errors import ApplicationError, Conflict
from songs import events, selectors
from songs.audio import ffmpeg
from songs.errors import AdapterError
from songs.models import Song
from songs.providers.lrc import LrcError, parse_lrc
from songs.sources import ytdlp

logger = logging.getLogger(__name__)

# What a host edits by hand; an edited one is locked against automatic enrichment
# (lyrics and the cover too, through song_set_lyrics and song_set_cover).
EDITABLE_FIELDS = ("title", "artist", "album", "year")


@dataclass(frozen=True)
class ImportResult:
    song: Song
    job: "object | None"  # jobs.models.Job; None when an existing song was returned
    created: bool
    message: str


def _existing_result(song: Song, message: str) -> ImportResult:
    return ImportResult(song=song, job=song.jobs.order_by("-created_at").first(), created=False, message=message)


def _live() -> "models.QuerySet[Song]":  # noqa: F821 - string annotation only
    return Song.objects.filter(deleted_at__isnull=True)


def _source_of(url: str) -> tuple[str, str, str]:
    """(source, source_id, canonical URL) of a link, or a 400 that says what is wrong."""
    try:
        canonical = ytdlp.normalise_url(url)
    except AdapterError as exc:
        raise ApplicationError(exc.message, extra={"code": exc.code, "url": url}) from None
    video_id = ytdlp.parse_youtube_id(canonical)
    if video_id:
        return Song.Source.YOUTUBE, video_id, canonical
    return Song.Source.URL, canonical, canonical


def song_import_url(*, url: str, user=None) -> ImportResult:
    """Add the song behind a link, or return the live song that already has it."""
    from jobs.services import job_create

    source, source_id, canonical = _source_of(url.strip())
    existing = selectors.live_song_with_source(source=source, source_id=source_id)
    if existing:
        return _existing_result(existing, f"Already in the library: {existing}.")
    try:
        with transaction.atomic():
            song = Song.objects.create(
                source=source, source_id=source_id, source_url=canonical, title="", added_by=user
            )
            job = job_create(song=song, user=user)
            events.song_changed(song)
    except IntegrityError:
        # Another request created it between our check and our insert.
        existing = selectors.live_song_with_source(source=source, source_id=source_id)
        if existing is None:
            raise
        return _existing_result(existing, f"Already in the library: {existing}.")
    return ImportResult(song=song, job=job, created=True, message="Added; it is being downloaded.")


def _store_original(song: Song, src: Path, *, move: bool) -> None:
    song.folder.mkdir(parents=True, exist_ok=True)
    name = "original" + (src.suffix.lower() or ".bin")
    destination = song.folder / name
    if move:
        shutil.move(str(src), destination)
    else:
        # A copy, not a hard link: a tag editor saving the host's file in place
        # would otherwise change our original under its content hash.
        shutil.copyfile(src, destination)
    song.files = {**song.files, "original": name}


def _local_duplicate(*, content_hash: str, source: str, source_id: str) -> ImportResult | None:
    existing = selectors.live_songs_with_content(content_hash=content_hash).first()
    if existing:
        return _existing_result(existing, f"The same audio is already in the library: {existing}.")
    # The same file of a folder, changed since its import (its tags edited, say):
    # the (source, source_id) constraint refuses a second song for that path.
    existing = selectors.live_song_with_source(source=source, source_id=source_id) if source_id else None
    if existing:
        return _existing_result(existing, f"This file was imported before (it has changed since): {existing}.")
    return None


def _import_local_file(
    *, path: Path, source: str, source_id: str, user, title: str, artist: str, album: str, move: bool
) -> ImportResult:
    from jobs.services import job_create

    content_hash = ffmpeg.sha256_file(path)
    duplicate = _local_duplicate(content_hash=content_hash, source=source, source_id=source_id)
    if duplicate:
        return duplicate
    song = None
    try:
        with transaction.atomic():
            song = Song.objects.create(
                source=source, source_id=source_id, content_hash=content_hash,
                title=title, artist=artist, album=album, added_by=user,
            )
            _store_original(song, path, move=move)
            song.save(update_fields=["files"])
            job = job_create(song=song, user=user)
            events.song_changed(song)
    except IntegrityError:
        if song is not None:
            shutil.rmtree(song.folder, ignore_errors=True)
        duplicate = _local_duplicate(content_hash=content_hash, source=source, source_id=source_id)
        if duplicate is None:
            raise
        return duplicate
    except BaseException:
        if song is not None:
            shutil.rmtree(song.folder, ignore_errors=True)
        raise
    return ImportResult(song=song, job=job, created=True, message="Added; it is being processed.")


def song_import_upload(*, uploaded: UploadedFile, user=None, title: str = "", artist: str = "") -> ImportResult:
    """Add an uploaded file after checking, with ffmpeg, that it really is audio."""
    limit = settings.UPLOAD_MAX_MB * 1024 * 1024
    if uploaded.size is not None and uploaded.size > limit:
        raise ApplicationError(
            f"The file is {uploaded.size / 1024 / 1024:.0f} MB; the limit is {settings.UPLOAD_MAX_MB} MB.",
            status_code=413,
        )
    if not uploaded.size:
        raise ApplicationError("The file is empty.", extra={"code": "empty_file"})
    staging = Path(settings.MEDIA_ROOT) / "incoming"
    staging.mkdir(parents=True, exist_ok=True)
    suffix = Path(uploaded.name or "").suffix.lower()[:10]
    temporary = staging / f"{uuid.uuid4().hex}{suffix}"
    try:
        with temporary.open("wb") as out:
            for chunk in uploaded.chunks():
                out.write(chunk)
        try:
            info = ffmpeg.probe(temporary)
            ffmpeg.ensure_max_duration(info, settings.SONG_MAX_DURATION)
        except AdapterError as exc:
            raise ApplicationError(exc.message, extra={"code": exc.code, "file": uploaded.name}) from None
        guess = title or Path(uploaded.name or "upload").stem
        return _import_local_file(
            path=temporary, source=Song.Source.UPLOAD, source_id="", user=user,
            title=guess[:300], artist=artist[:300], album="", move=True,
        )
    finally:
        temporary.unlink(missing_ok=True)


def song_import_file(*, path: Path, user=None, title: str = "", artist: str = "", album: str = "") -> ImportResult:
    """Add a file from a folder on this machine (the host's own files are not moved)."""
    path = path.resolve()
    try:
        ffmpeg.probe(path)
    except AdapterError as exc:
        raise ApplicationError(exc.message, extra={"code": exc.code, "file": str(path)}) from None
    return _import_local_file(
        path=path, source=Song.Source.FOLDER, source_id=str(path), user=user,
        title=(title or path.stem)[:300], artist=artist[:300], album=album[:300], move=False,
    )


def song_update(*, song: Song, data: dict) -> Song:
    """The host's edit of title/artist/album/year (and lyrics): changed fields are locked.

    A locked field is one automatic enrichment never writes again, so what the
    host typed survives a reprocess.
    """
    if "lyrics" in data and data["lyrics"] is not None:
        # Validated first: a malformed LRC refuses the whole edit, nothing half-saved.
        synced, plain = lyrics_from_text(data["lyrics"])
    changed = [name for name in EDITABLE_FIELDS if name in data and getattr(song, name) != data[name]]
    with transaction.atomic():
        if changed:
            for name in changed:
                setattr(song, name, data[name])
            song.locked_fields = _lock(song, changed)
            song.save(update_fields=[*changed, "locked_fields", "updated_at"])
            events.song_changed(song)
        if "lyrics" in data and data["lyrics"] is not None:
            _store_lyrics(song, synced, plain)
    return song


def _lock(song: Song, names) -> list[str]:
    """`locked_fields` plus `names`, read under a row lock so concurrent edits add up."""
    current = Song.objects.select_for_update().filter(pk=song.pk).values_list("locked_fields", flat=True).first()
    return sorted({*(current or []), *names})


# A line that starts with a time tag makes the text LRC (and then every line must be valid).
_TIME_TAG_LINE = re.compile(r"^\s*\[\s*\d+\s*:\s*\d")


def lyrics_from_text(text: str) -> tuple[str, str]:
    """(synced LRC, plain words) from what a host pasted; ApplicationError naming the bad line."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        return "", ""
    if not any(_TIME_TAG_LINE.match(line) for line in text.splitlines()):
        return "", text
    try:
        lrc = parse_lrc(text)
    except LrcError as exc:
        raise ApplicationError(
            f"The lyrics are not valid LRC: {exc}.",
            extra={"fields": {"lyrics": [str(exc)]}, "line": exc.line_no},
        ) from None
    if not lrc.lines:
        raise ApplicationError("The lyrics have tags but no timed line.", extra={"fields": {"lyrics": ["no timed line"]}})
    return text + "\n", "\n".join(line.text for line in lrc.lines)


def song_set_lyrics(*, song: Song, text: str) -> Song:
    """The host's lyrics (LRC or plain; empty means none), locked against LRCLIB."""
    synced, plain = lyrics_from_text(text)
    with transaction.atomic():
        _store_lyrics(song, synced, plain)
    return song


def _store_lyrics(song: Song, synced: str, plain: str) -> None:
    song.lyrics_synced, song.lyrics_plain = synced, plain
    song.lyrics_status = Song.LookupStatus.FOUND if (synced or plain) else Song.LookupStatus.NOT_FOUND
    song.lyrics_checked_at = timezone.now()
    song.locked_fields = _lock(song, ["lyrics"])
    song.save(update_fields=[
        "lyrics_synced", "lyrics_plain", "lyrics_status", "lyrics_checked_at", "locked_fields", "updated_at",
    ])
    events.song_changed(song)


COVER_MAX_MB = 15
_IMAGE_MAGIC = ((b"\xff\xd8\xff", ".jpg"), (b"\x89PNG\r\n\x1a\n", ".png"), (b"GIF87a", ".gif"), (b"GIF89a", ".gif"))


def _image_extension(head: bytes) -> str | None:
    for magic, extension in _IMAGE_MAGIC:
        if head.startswith(magic):
            return extension
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ".webp"
    return None


def song_set_cover(*, song: Song, uploaded: UploadedFile) -> Song:
    """The host's cover (JPEG, PNG, GIF or WebP) and a 250 px thumbnail, locked against the archive."""
    from songs import enrichment

    if uploaded.size is not None and uploaded.size > COVER_MAX_MB * 1024 * 1024:
        raise ApplicationError(f"The image is {uploaded.size / 1024 / 1024:.0f} MB; the limit is {COVER_MAX_MB} MB.")
    head = uploaded.read(12)
    uploaded.seek(0)
    extension = _image_extension(head)
    if extension is None:
        raise ApplicationError("The cover must be a JPEG, PNG, GIF or WebP image.", extra={"file": uploaded.name})
    song.folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=song.folder, prefix=".cover-"))
    try:
        image = staging / f"cover{extension}"
        with image.open("wb") as out:
            for chunk in uploaded.chunks():
                out.write(chunk)
        try:
            thumb = enrichment.make_thumbnail(image, staging)
        except AdapterError:
            raise ApplicationError("This image cannot be read; save it again as JPEG or PNG.",
                                   extra={"file": uploaded.name}) from None
        # Locked first, so an enrichment running right now cannot install its cover over this one.
        with transaction.atomic():
            song.locked_fields = _lock(song, ["cover"])
            Song.objects.filter(pk=song.pk).update(locked_fields=song.locked_fields)
        enrichment.install_cover(song, image, thumb, respect_lock=False)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return song


def song_soft_delete(*, song: Song) -> Song:
    """Hide a song from singers; its files stay so it can be restored."""
    if song.is_deleted:
        return song
    song.deleted_at = timezone.now()
    with transaction.atomic():
        song.save(update_fields=["deleted_at", "updated_at"])
        events.song_changed(song)
        _tell_rooms(song.pk)
    return song


def song_restore(*, song: Song) -> Song:
    if not song.is_deleted:
        return song
    clash = _live().exclude(pk=song.pk)
    if song.source_id and clash.filter(source=song.source, source_id=song.source_id).exists():
        raise Conflict("Another live song has the same source; delete it first.", extra={"song": str(song.pk)})
    if song.content_hash and clash.filter(content_hash=song.content_hash).exists():
        raise Conflict("Another live song has the same audio; delete it first.", extra={"song": str(song.pk)})
    song.deleted_at = None
    try:
        with transaction.atomic():
            song.save(update_fields=["deleted_at", "updated_at"])
            events.song_changed(song)
            _tell_rooms(song.pk)
    except IntegrityError:
        # A song took its place between the check above and this save.
        song.deleted_at = Song.objects.filter(pk=song.pk).values_list("deleted_at", flat=True).first()
        raise Conflict("Another live song has the same source or audio; delete it first.",
                       extra={"song": str(song.pk)}) from None
    return song


def song_hard_delete(*, song: Song) -> None:
    """Remove the song, its jobs, queue entries and files for good."""
    from jobs.models import Job

    if song.jobs.filter(status=Job.Status.RUNNING).exists():
        raise Conflict("A job is working on this song; cancel it first.", extra={"song": str(song.pk)})
    from queue_app.services import rooms_song_changed, rooms_with_song

    folder = song.folder
    song_id = song.pk
    with transaction.atomic():
        rooms = rooms_with_song(song_id=song_id)
        song.delete()
        rooms_song_changed(song_id=song_id, room_ids=rooms)
        # Files go only once the rows are gone for sure.
        transaction.on_commit(lambda: shutil.rmtree(folder, ignore_errors=True))
        events.song_deleted(song_id)


def song_mark_processing(*, song: Song) -> None:
    Song.objects.filter(pk=song.pk, status__in=[Song.Status.PENDING, Song.Status.ERROR]).update(
        status=Song.Status.PROCESSING, error="", updated_at=timezone.now()
    )


def _tell_rooms(song_id) -> None:
    """Rooms where the song is queued show its new state (queue_app's events)."""
    from queue_app.services import rooms_song_changed

    rooms_song_changed(song_id=song_id)


def song_mark_ready(*, song: Song) -> None:
    with transaction.atomic():
        Song.objects.filter(pk=song.pk).update(status=Song.Status.READY, error="", updated_at=timezone.now())
        song.refresh_from_db()
        events.song_changed(song)
        _tell_rooms(song.pk)


def song_mark_error(*, song: Song, message: str) -> None:
    # A song that was ready keeps playing with its old files if a reprocess fails.
    with transaction.atomic():
        changed = Song.objects.filter(pk=song.pk).exclude(status=Song.Status.READY).update(
            status=Song.Status.ERROR, error=message, updated_at=timezone.now()
        )
        song.refresh_from_db()
        events.song_changed(song)
        if changed:
            _tell_rooms(song.pk)


def song_set_fields(*, song: Song, **fields) -> Song:
    """Record what a stage learnt (files, hash, duration, a title guess)."""
    for name, value in fields.items():
        setattr(song, name, value)
    song.save(update_fields=[*fields, "updated_at"])
    return song


def song_merge_into(*, song: Song, into: Song) -> None:
    """`song` turned out to be the same audio as `into`: hide it and point to `into`."""
    folder = song.folder
    with transaction.atomic():
        Song.objects.filter(pk=song.pk).update(
            deleted_at=timezone.now(), merged_into=into, files={}, error="", updated_at=timezone.now()
        )
        transaction.on_commit(lambda: shutil.rmtree(folder, ignore_errors=True))
    song.refresh_from_db()
    events.song_changed(song)


# --- likely duplicates (same MusicBrainz recording) ---------------------------------

_STEM_PREFIXES = ("vocals", "instrumental")


def song_merge_rank(song: Song) -> tuple:
    """Which of several songs to keep: ready, with stems, with audio, dressed (cover, lyrics), oldest."""
    present = [kind for kind in song.files if song.has_file(kind)]
    return (
        song.status == Song.Status.READY,
        sum(1 for kind in present if kind.startswith(_STEM_PREFIXES)),
        "audio_web" in present or "audio" in present,
        "cover" in present,
        bool(song.lyrics_synced),
        bool(song.lyrics_plain),
        -song.created_at.timestamp(),
    )


def song_merge_duplicates(*, songs: list[Song]) -> tuple[Song, list[Song]]:
    """Keep the best of `songs` (see song_merge_rank); soft-delete the others into it."""
    if len(songs) < 2:
        raise ApplicationError("Choose at least two songs to merge.")
    if len({song.recording_mbid for song in songs}) != 1 or not songs[0].recording_mbid:
        raise ApplicationError("Only songs with the same MusicBrainz recording can be merged.")
    keep = max(songs, key=song_merge_rank)
    merged = [song for song in songs if song.pk != keep.pk]
    from jobs.models import Job

    busy = [song for song in merged if song.jobs.filter(status__in=Job.ACTIVE).exists()]
    if busy:  # refuse before merging any, so a group is merged whole or not at all
        raise Conflict(f"A job is working on “{busy[0]}”; wait for it or cancel it first.",
                       extra={"song": str(busy[0].pk)})
    for song in merged:
        song_merge_duplicate(song=song, into=keep)
    return keep, merged


def song_merge_duplicate(*, song: Song, into: Song) -> Song:
    """Hide `song` as a duplicate of `into`; its files stay, so a restore undoes it."""
    from jobs.models import Job

    if song.pk == into.pk:
        raise ApplicationError("A song cannot be merged into itself.")
    if song.jobs.filter(status__in=Job.ACTIVE).exists():
        raise Conflict(f"A job is working on “{song}”; wait for it or cancel it first.", extra={"song": str(song.pk)})
    with transaction.atomic():
        Song.objects.filter(pk=song.pk).update(deleted_at=timezone.now(), merged_into=into, updated_at=timezone.now())
        if not (into.lyrics_synced or into.lyrics_plain) and (song.lyrics_synced or song.lyrics_plain):
            Song.objects.filter(pk=into.pk).update(
                lyrics_synced=song.lyrics_synced, lyrics_plain=song.lyrics_plain,
                lyrics_status=Song.LookupStatus.FOUND, updated_at=timezone.now(),
            )
        song_move_queue_history(from_song=song, to_song=into)
        song.refresh_from_db()
        into.refresh_from_db()
        events.song_changed(song)
        events.song_changed(into)
    return song


def song_move_queue_history(*, from_song: Song, to_song: Song) -> None:
    """Point the queue history (past and waiting QueueEntry rows) of a merged song at the kept one.

    Called inside the merge's transaction; the rooms concerned hear `queue.changed`.
    """
    from queue_app.services import queue_entries_move_song

    queue_entries_move_song(from_song=from_song, to_song=to_song)
