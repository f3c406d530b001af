"""Every write of a Song: a new one (songs/imports.py decides when), the host's edits,
deletes and merges, the state the pipeline moves it through, and what its stages learn.

A write that changes what a page shows announces it with `song_announce`: the
library hears `song.changed` (songs/events.py) and the layers above hear the
`song_changed` signal (songs/signals.py; queue_app redraws the rooms with it).
"""

import contextlib
import contextvars
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from common.errors import ApplicationError, Conflict
from jobs.models import Job
from songs import events, keys, search, search_index, signals, streaming
from songs.audio import ffmpeg
from songs.errors import AdapterError, TransientError
from songs.models import Song
from songs.providers.lrc import LrcError, parse_lrc

logger = logging.getLogger(__name__)

# What a host edits by hand; an edited one is locked against automatic enrichment
# (lyrics and the cover too, through song_set_lyrics and song_set_cover).
EDITABLE_FIELDS = ("title", "artist", "album", "year", "key")
# Which lock protects which column when a stage writes what it found.
_LOCK_OF = {"title": "title", "artist": "artist", "album": "album", "year": "year",
            "lyrics_synced": "lyrics", "lyrics_plain": "lyrics", "key": "key", "key_confidence": "key"}
# The columns a room or the library shows: a stage that changes one announces it.
_SHOWN = {"title", "artist", "album", "year", "duration", "lyrics_synced", "lyrics_plain", "key"}
_COVER_EXTENSIONS = (".jpg", ".png", ".gif", ".webp")
# The columns the search finds a song by (songs/search_index.py): a write of one reindexes it.
_SEARCHED = {"title", "artist", "album", "lyrics_synced", "lyrics_plain"}


# Songs whose announcement waits for the end of a song_changes_batched() block.
_batched: contextvars.ContextVar[dict | None] = contextvars.ContextVar("songs_batched", default=None)


def song_announce(song: Song, *, deleting: bool = False, was_playable: bool | None = None, new: bool = False) -> None:
    """Tell the library (an event after commit) and the layers above (a signal, now) that
    `song` changed. `deleting`: sent before a hard delete takes the song's rows.
    `was_playable`: whether it could be sung before this change (None: it did not change),
    so the signal can say it became playable (a room waiting for it starts it).
    `new`: the row was created in this transaction: no queue entry or request can name it
    yet, so only the library hears of it (the signal's room queries would only lengthen an
    import's write transaction, on SQLite the one write lock every writer waits for)."""
    if new:
        events.song_changed(song)
        return
    batch = _batched.get()
    if batch is not None and not deleting and was_playable is None:
        batch[song.pk] = song
        return
    if not deleting:
        events.song_changed(song)
    became_playable = was_playable is False and streaming.is_playable(song)
    signals.song_changed.send(sender=Song, song=song, deleting=deleting, became_playable=became_playable)


@contextlib.contextmanager
def song_changes_batched():
    """Several writes of one operation (the lookups of `manage.py enrich`), one announcement
    per song at the end: every room is redrawn once, not once per write."""
    if _batched.get() is not None:  # already inside one: the outer block announces
        yield
        return
    batch: dict = {}
    token = _batched.set(batch)
    try:
        yield
    finally:
        _batched.reset(token)
        for song in batch.values():
            song_announce(song)


def _reindex(song: Song, names) -> None:
    """Keep the song's search texts in step, when `names` (the columns written) include one they come from."""
    if _SEARCHED.intersection(names):
        search_index.song_index(song=song)


def _live() -> "models.QuerySet[Song]":  # noqa: F821 - string annotation only
    return Song.objects.filter(deleted_at__isnull=True)


def song_new(*, original: Path | None = None, move: bool = False, **fields) -> Song:
    """A new Song row with `fields`, searchable at once; with `original`, that file is
    its original (moved or copied into its folder). The caller's transaction announces it
    with `song_announce(song, new=True)` (an IntegrityError for a second song of the same
    source is the caller's to handle)."""
    song = Song(**fields)
    # Its search texts go in with the row: indexing it after would read, update and
    # replace it again, inside the import's write transaction.
    song.search_text, song.search_lyrics = search.song_texts(song)
    song.save(force_insert=True)
    if original is not None:
        try:
            song_store_original(song=song, src=original, move=move)
            song.save(update_fields=["files"])
        except BaseException:
            # The row goes with the caller's transaction; its folder would stay.
            shutil.rmtree(song.folder, ignore_errors=True)
            raise
    search_index.song_index_new(song=song)
    return song


def song_store_original(*, song: Song, src: Path, move: bool) -> None:
    """Put the source file in the song's folder as its original (the caller saves `files`)."""
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


def song_update(*, song: Song, data: dict) -> Song:
    """The host's edit of title/artist/album/year (and lyrics): changed fields are locked.

    A locked field is one automatic enrichment never writes again, so what the
    host typed survives a reprocess.
    """
    if "lyrics" in data and data["lyrics"] is not None:
        # Validated first: a malformed LRC refuses the whole edit, nothing half-saved.
        synced, plain = lyrics_from_text(data["lyrics"])
    if data.get("key") is not None:
        data = {**data, "key": keys.key_normalise(data["key"])}
    changed = [name for name in EDITABLE_FIELDS if name in data and getattr(song, name) != data[name]]
    with transaction.atomic():
        if changed:
            for name in changed:
                setattr(song, name, data[name])
            extra = []
            if "key" in changed:  # the host's word: no detector's confidence goes with it
                song.key_confidence, extra = None, ["key_confidence"]
            song.locked_fields = _lock_fields(song, changed)
            song.save(update_fields=[*changed, *extra, "locked_fields", "updated_at"])
            _reindex(song, changed)
            song_announce(song)
        if "lyrics" in data and data["lyrics"] is not None:
            _store_lyrics(song, synced, plain)
    return song


def _lock_fields(song: Song, names) -> list[str]:
    """`locked_fields` plus `names`, read under a row lock so concurrent edits add up."""
    unknown = set(names) - set(Song.LOCKABLE_FIELDS)
    if unknown:
        raise ValueError(f"not lockable: {sorted(unknown)}")
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
    song.locked_fields = _lock_fields(song, ["lyrics"])
    song.save(update_fields=[
        "lyrics_synced", "lyrics_plain", "lyrics_status", "lyrics_checked_at", "locked_fields", "updated_at",
    ])
    _reindex(song, ["lyrics_synced", "lyrics_plain"])
    song_announce(song)


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
            thumb = ffmpeg.make_thumbnail(image, staging)
        except AdapterError:
            raise ApplicationError("This image cannot be read; save it again as JPEG or PNG.",
                                   extra={"file": uploaded.name}) from None
        # Locked first, so an enrichment running right now cannot install its cover over this one.
        with transaction.atomic():
            song.locked_fields = _lock_fields(song, ["cover"])
            Song.objects.filter(pk=song.pk).update(locked_fields=song.locked_fields)
        song_install_cover(song=song, image=image, thumb=thumb, respect_lock=False)
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
        song_announce(song)
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
            song_announce(song, was_playable=False)
    except IntegrityError:
        # A song took its place between the check above and this save.
        song.deleted_at = Song.objects.filter(pk=song.pk).values_list("deleted_at", flat=True).first()
        raise Conflict("Another live song has the same source or audio; delete it first.",
                       extra={"song": str(song.pk)}) from None
    return song


def song_hard_delete(*, song: Song) -> None:
    """Remove the song, its jobs and files for good. The queues it waits in lose it (the
    rooms are told through song_changed); what was sung stays in the histories, by name."""
    if song.jobs.filter(status=Job.Status.RUNNING).exists():
        raise Conflict("A job is working on this song; cancel it first.", extra={"song": str(song.pk)})
    folder = song.folder
    song_id = song.pk
    with transaction.atomic():
        # Before the delete: whoever shows the song still finds where it is shown.
        song_announce(song, deleting=True)
        song.delete()
        search_index.song_unindex(song_id=song_id)
        # Files go only once the rows are gone for sure.
        transaction.on_commit(lambda: shutil.rmtree(folder, ignore_errors=True))
        events.song_deleted(song_id)


def song_mark_processing(*, song: Song) -> None:
    if Song.objects.filter(pk=song.pk, status__in=[Song.Status.PENDING, *Song.STOPPED]).update(
        status=Song.Status.PROCESSING, error="", updated_at=timezone.now()
    ):
        song.refresh_from_db()
        # The Library's row says "Processing" now, not when the job's next event redraws
        # it; the rooms show pending and processing alike (not playable yet), so no redraw.
        events.song_changed(song)


def song_mark_ready(*, song: Song) -> None:
    with transaction.atomic():
        before = Song.objects.select_for_update().filter(pk=song.pk).first()
        Song.objects.filter(pk=song.pk).update(status=Song.Status.READY, error="", updated_at=timezone.now())
        song.refresh_from_db()
        song_announce(song, was_playable=before is not None and streaming.is_playable(before))


def song_mark_error(*, song: Song, message: str, status: str = Song.Status.ERROR) -> None:
    # A song that was ready keeps playing with its old files if a reprocess fails.
    with transaction.atomic():
        changed = Song.objects.filter(pk=song.pk).exclude(status=Song.Status.READY).update(
            status=status, error=message, updated_at=timezone.now()
        )
        song.refresh_from_db()
        if changed:
            song_announce(song)
        else:
            events.song_changed(song)


def song_job_finished(*, job: Job) -> None:
    """A job of the song ended: a failure or a cancel shows on the song (success is the
    runner's song_mark_ready, after the last stage). A key change that did not work leaves
    the song as it is (it plays in its own key); the rooms are told, to say so."""
    if job.kind == Job.Kind.KEY:
        if job.status != Job.Status.COMPLETED:
            song_announce(job.song)
        return
    if job.status == Job.Status.FAILED:
        song_mark_error(song=job.song, message=job.error_message)
    elif job.status == Job.Status.CANCELLED:
        song_mark_error(song=job.song, message="The import was cancelled: reprocess to import it.",
                        status=Song.Status.CANCELLED)


def song_set_fields(*, song: Song, **fields) -> Song:
    """Record what a stage learnt (files, hash, duration, a title guess)."""
    unknown = {kind for kind in fields.get("files", {}) if not Song.is_file_kind(kind)}
    if unknown:
        raise ValueError(f"unknown file kinds: {sorted(unknown)}")
    shown = any(name in _SHOWN and getattr(song, name) != value for name, value in fields.items())
    for name, value in fields.items():
        setattr(song, name, value)
    with transaction.atomic():
        song.save(update_fields=[*fields, "updated_at"])
        _reindex(song, fields)
        if shown:
            song_announce(song)
    return song


def song_key_render_install(*, song: Song, semitones: int, sources: dict[str, tuple]) -> None:
    """Register the stems a key change wrote (the `render_key` stage), and tell the rooms.

    `sources`: the (mtime, size) of each stem it read, taken before it started. A stem
    replaced meanwhile (the song separated again) makes the render stale: its files go and
    the stage is tried again (TransientError) on the new stems.
    """
    kinds = {Song.key_kind(stem, semitones): Song.key_file_name(stem, semitones) for stem in Song.KEY_STEMS}
    with transaction.atomic():
        row = Song.objects.select_for_update().filter(pk=song.pk).values("files").first()
        files = (row or {}).get("files") or {}
        stale = row is None or any(_stat_of(song.folder, files.get(kind)) != before for kind, before in sources.items())
        if stale:
            for name in kinds.values():
                (song.folder / name).unlink(missing_ok=True)
            raise TransientError("stems_changed", "The song's stems changed while its key was being changed.")
        files = {**files, **kinds}
        Song.objects.filter(pk=song.pk).update(files=files, updated_at=timezone.now())
        song.files = files
        song_announce(song)


def _stat_of(folder: Path, name: str | None) -> tuple | None:
    try:
        stat = (folder / name).stat() if name else None
    except FileNotFoundError:
        return None
    return (stat.st_mtime_ns, stat.st_size) if stat else None


def song_stem_stats(*, song: Song, kinds) -> dict[str, tuple | None]:
    """What song_key_render_install compares: each stem's (mtime, size) now."""
    return {kind: _stat_of(song.folder, song.files.get(kind)) for kind in kinds}


def song_stream_begin(*, song: Song, stream: str) -> Path:
    """A separation begins streaming into a new folder: the streams of earlier attempts go
    (their segments would not follow on from a fresh start), and players hear of the new
    one. Returns the folder to stream into."""
    shutil.rmtree(song.folder / "stream", ignore_errors=True)
    song_stream_progress(song=song, stream=stream, seconds=0.0, rate=None)
    return song.stream_folder


def song_stream_end(*, song: Song) -> None:
    """The separation stopped short (a cancel, an error): its stream goes, and players hear
    that the song cannot be sung from it any more."""
    shutil.rmtree(song.folder / "stream", ignore_errors=True)
    if song.stream or song.stream_seconds is not None:
        song.stream, song.stream_seconds, song.stream_rate = "", None, None
        with transaction.atomic():
            Song.objects.filter(pk=song.pk).update(stream="", stream_seconds=None, stream_rate=None)
            song_announce(song)


def song_stream_progress(*, song: Song, stream: str, seconds: float, rate: float | None) -> None:
    """How far the song's live stream reaches and how fast it grows: the rooms redraw (a
    song may have become playable, a held TV may resume) and the library's row too."""
    was_playable = streaming.is_playable(song)
    song.stream, song.stream_seconds, song.stream_rate = stream, seconds, rate
    with transaction.atomic():
        # Only these columns: the stage's copy of the song may be older than the row.
        Song.objects.filter(pk=song.pk).update(stream=stream, stream_seconds=seconds, stream_rate=rate)
        song_announce(song, was_playable=was_playable)


def song_key_renders_drop(*, song: Song) -> list[str]:
    """Forget every key change of the song, and remove their files after commit: its
    stems are new (a separation again), so each shift is rendered again when asked."""
    with transaction.atomic():
        row = Song.objects.select_for_update().filter(pk=song.pk).values("files").first()
        files = (row or {}).get("files") or {}
        dropped = [kind for kind in files if Song.key_shift_of(kind) is not None]
        if not dropped:
            return []
        names = [files[kind] for kind in dropped]
        kept = {kind: name for kind, name in files.items() if kind not in dropped}
        Song.objects.filter(pk=song.pk).update(files=kept, updated_at=timezone.now())
        song.files = kept
        folder = song.folder
        transaction.on_commit(lambda: [(folder / name).unlink(missing_ok=True) for name in names])
    return dropped


def song_save_found(*, song: Song, fields: dict[str, Any]) -> dict[str, Any]:
    """Write what a metadata stage found, except the fields the host locked (read again
    under a row lock); returns what was written."""
    with transaction.atomic():
        locked = Song.objects.select_for_update().filter(pk=song.pk).values_list("locked_fields", flat=True).first()
        locked = set(locked or [])
        kept = {name: value for name, value in fields.items() if _LOCK_OF.get(name) not in locked}
        shown = any(name in _SHOWN and getattr(song, name) != value for name, value in kept.items())
        if kept:
            Song.objects.filter(pk=song.pk).update(**kept, updated_at=timezone.now())
        for name, value in kept.items():
            setattr(song, name, value)
        song.locked_fields = sorted(locked)
        _reindex(song, kept)
        if shown:
            song_announce(song)
    return kept


def song_install_cover(*, song: Song, image: Path, thumb: Path, respect_lock: bool) -> bool:
    """Move a staged cover and thumbnail into the song's folder and `files`; False if locked."""
    with transaction.atomic():
        row = Song.objects.select_for_update().filter(pk=song.pk).values("files", "locked_fields").first()
        if row is None:
            return False
        if respect_lock and "cover" in (row["locked_fields"] or []):
            return False
        names = {}
        for kind, src, stem in (("cover", image, "cover"), ("cover_thumb", thumb, "cover-250")):
            final = song.folder / f"{stem}{src.suffix.lower()}"
            os.replace(src, final)
            # A cover of another type from an earlier fetch would otherwise linger.
            for extension in _COVER_EXTENSIONS:
                if extension != final.suffix:
                    (song.folder / f"{stem}{extension}").unlink(missing_ok=True)
            names[kind] = final.name
        files = {**(row["files"] or {}), **names}
        Song.objects.filter(pk=song.pk).update(files=files, updated_at=timezone.now())
        song.files = files
        song_announce(song)
    return True


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
    busy = [song for song in merged if song.jobs.filter(status__in=Job.ACTIVE).exists()]
    if busy:  # refuse before merging any, so a group is merged whole or not at all
        raise Conflict(f"A job is working on “{busy[0]}”; wait for it or cancel it first.",
                       extra={"song": str(busy[0].pk)})
    for song in merged:
        song_merge_duplicate(song=song, into=keep)
    return keep, merged


def song_merge_duplicate(*, song: Song, into: Song, by_its_job: bool = False) -> Song:
    """Hide `song` as a duplicate of `into`; its queue history (past and waiting entries)
    moves to `into` through the `song_merged` signal.

    A host's merge keeps the files, so a restore undoes it. `by_its_job`: the song's own
    import found the same audio already in the library; what it downloaded goes.
    """
    if song.pk == into.pk:
        raise ApplicationError("A song cannot be merged into itself.")
    if not by_its_job and song.jobs.filter(status__in=Job.ACTIVE).exists():
        raise Conflict(f"A job is working on “{song}”; wait for it or cancel it first.", extra={"song": str(song.pk)})
    folder = song.folder
    with transaction.atomic():
        hidden = {"deleted_at": timezone.now(), "merged_into": into, "updated_at": timezone.now()}
        if by_its_job:
            hidden.update(files={}, error="")
            transaction.on_commit(lambda: shutil.rmtree(folder, ignore_errors=True))
        Song.objects.filter(pk=song.pk).update(**hidden)
        if not (into.lyrics_synced or into.lyrics_plain) and (song.lyrics_synced or song.lyrics_plain):
            Song.objects.filter(pk=into.pk).update(
                lyrics_synced=song.lyrics_synced, lyrics_plain=song.lyrics_plain,
                lyrics_status=Song.LookupStatus.FOUND, updated_at=timezone.now(),
            )
        song.refresh_from_db()
        into.refresh_from_db()
        search_index.song_index(song=into)  # it may have the duplicate's lyrics now
        signals.song_merged.send(sender=Song, song=song, into=into)
        events.song_changed(song)
        events.song_changed(into)
    return song
