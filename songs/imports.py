"""Adding songs to the library (a link, an upload, a file of a folder) and reprocessing them.

Adding a song is two-phase: these services create the Song and its Job in one
transaction and return in milliseconds; the job is enqueued when the
transaction commits and the work happens in a worker (songs/pipeline/).
"""

import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction

from common.errors import ApplicationError, Conflict
from common.throttle import Throttle
from jobs import services as job_services
from jobs.models import Job
from songs import selectors, services
from songs.audio import ffmpeg
from songs.audio.tags import read_tags
from songs.errors import AdapterError
from songs.models import Song
from songs.pipeline import plan
from songs.sources import ytdlp

# Imports a user may start (links and uploads, from the Library page or the API), per
# THROTTLE_IMPORTS; counted by those views, not here (a host approving guests' requests,
# a command importing a folder are not throttled).
IMPORTS = Throttle("imports", setting="THROTTLE_IMPORTS", message="Too many songs added in a short time.")


def _job_for(song: Song, *, user) -> Job:
    """The import job of a new song, at the pipeline's first stage."""
    first = plan.first_stage()
    return job_services.job_create(song=song, stage=first.name, cluster=first.cluster, user=user)


@dataclass(frozen=True)
class ImportResult:
    song: Song
    job: Job | None  # None when an existing song was returned
    created: bool
    message: str


def _existing_result(song: Song, message: str) -> ImportResult:
    return ImportResult(song=song, job=song.jobs.order_by("-created_at").first(), created=False, message=message)


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


def song_import_url(
    *, url: str, user=None, title: str = "", artist: str = "", duration: float | None = None
) -> ImportResult:
    """Add the song behind a link, or return the live song that already has it.

    `title`, `artist` and `duration` are what the source said in a search (a guest's
    request): shown, and counted in waiting times, until the download knows better."""
    source, source_id, canonical = _source_of(url.strip())
    existing = selectors.live_song_with_source(source=source, source_id=source_id)
    if existing:
        return _existing_result(existing, f"Already in the library: {existing}.")
    try:
        with transaction.atomic():
            song = services.song_new(
                source=source, source_id=source_id, source_url=canonical, added_by=user,
                title=title[:300], artist=artist[:300], duration=duration,
            )
            job = _job_for(song, user=user)
            services.song_announce(song, new=True)
    except IntegrityError:
        # Another request created it between our check and our insert.
        existing = selectors.live_song_with_source(source=source, source_id=source_id)
        if existing is None:
            raise
        return _existing_result(existing, f"Already in the library: {existing}.")
    return ImportResult(song=song, job=job, created=True, message="Added; it is being downloaded.")


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
    content_hash = ffmpeg.sha256_file(path)
    duplicate = _local_duplicate(content_hash=content_hash, source=source, source_id=source_id)
    if duplicate:
        return duplicate
    song = None
    try:
        with transaction.atomic():
            song = services.song_new(
                source=source, source_id=source_id, content_hash=content_hash,
                title=title, artist=artist, album=album, added_by=user, original=path, move=move,
            )
            job = _job_for(song, user=user)
            services.song_announce(song, new=True)
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
            # The message names the file as the user knows it, not our staging name.
            message = exc.message.replace(temporary.name, uploaded.name or "the file")
            raise ApplicationError(message, extra={"code": exc.code, "file": uploaded.name}) from None
        # What the host typed, else the file's own tags, else a guess from its name.
        found = read_tags(temporary, name=uploaded.name or "upload")
        return _import_local_file(
            path=temporary, source=Song.Source.UPLOAD, source_id="", user=user,
            title=(title or found.title)[:300], artist=(artist or found.artist)[:300], album=found.album, move=True,
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



def song_reprocess(*, song, stage: str, user=None) -> Job:
    """Run the pipeline again from `stage`, reusing the download."""
    names = plan.stage_names()
    if stage not in names:
        raise ApplicationError(f"Unknown stage {stage!r}; choose one of: {', '.join(names)}.", extra={"stages": names})
    if stage == names[0] and not song.has_file("original") and not song.source_url:
        # The song's state, not the request, is in the way: a 409 like a busy or deleted song.
        raise ApplicationError("This song has no original to start again from.", status_code=409)
    if song.is_deleted:
        raise ApplicationError("This song is deleted; restore it first.", status_code=409)
    # A key change may be rendering meanwhile: a new separation drops it, and the rooms ask again.
    if song.jobs.filter(status__in=Job.ACTIVE, kind__in=Job.EXCLUSIVE_KINDS).exists():
        raise Conflict("A job is already working on this song.", extra={"song": str(song.pk)})
    try:
        with transaction.atomic():
            return job_services.job_create(
                song=song, stage=stage, cluster=plan.cluster_for(stage), user=user,
                kind=Job.Kind.REPROCESS, start_stage=stage,
            )
    except IntegrityError:
        raise Conflict("A job is already working on this song.", extra={"song": str(song.pk)}) from None
