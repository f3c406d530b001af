"""``manage.py cleanup_media [--delete]``: find (and remove) media files nothing refers to.

Orphans are left by crashes and by hand: a song folder whose song is gone, a
file in a song's folder that is not one of its registered files (an old
``.part`` temporary, a replaced original, a key change rendered from stems that
were separated again, the live stream a TV played while the song separated), an
upload left in ``incoming/``. A key change in use is
registered in the song's files (``instrumental_web_key+2``...) and kept.

Two rules keep it from deleting work in progress:
- a song with an active job is skipped entirely: a stage may be writing files
  it has not registered yet;
- nothing modified in the last hour counts as an orphan. An import creates the
  song's folder inside a transaction this command cannot see yet, and a job
  may start right after this command looked. (So ``.part`` temporaries, like
  everything else, are orphans once they are an hour old.)
"""

from __future__ import annotations

import os
import re
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from jobs.models import Job
from songs.models import Song

GRACE_SECONDS = 3600
# A key change's stem (songs.models.Song.key_file_name): registered in `files` while it counts.
_RENDERED = re.compile(r"(instrumental_web|vocals_web)\.key[+-]\d+\.m4a")


@dataclass(frozen=True)
class Orphan:
    path: Path
    size: int
    reason: str


def find_orphans(media_root: Path, *, now: float | None = None) -> list[Orphan]:
    now = time.time() if now is None else now
    orphans: list[Orphan] = []

    songs_dir = media_root / "songs"
    if songs_dir.is_dir():
        # Read before the folders are listed: a song created meanwhile has a
        # fresh folder, which the grace period protects.
        files_of = {str(pk): files for pk, files in Song.objects.values_list("pk", "files")}
        busy = {str(pk) for pk in Job.objects.filter(status__in=Job.ACTIVE).values_list("song_id", flat=True)}
        for entry in sorted(songs_dir.iterdir()):
            song_id = _as_uuid(entry.name)
            if song_id is None or entry.is_symlink() or not entry.is_dir():
                _add_if_old(orphans, entry, now, "not a song folder")
            elif song_id not in files_of:
                _add_if_old(orphans, entry, now, "no song has this id")
            elif song_id not in busy:
                registered = {name for name in (files_of[song_id] or {}).values() if isinstance(name, str)}
                for item in sorted(entry.iterdir()):
                    if item.name in registered:
                        continue
                    if item.name.endswith(".part"):
                        reason = "a temporary left by an interrupted stage"
                    elif _RENDERED.fullmatch(item.name):  # its stems were separated again since
                        reason = "a key change no longer registered"
                    elif item.name == "stream":
                        # What a TV played while the song separated (songs/streaming.py): an
                        # hour on, no song is still playing from it; the finished files stay.
                        reason = "the live stream of a finished separation"
                    else:
                        reason = "not one of the song's files"
                    _add_if_old(orphans, item, now, reason)

    incoming = media_root / "incoming"
    if incoming.is_dir():
        for entry in sorted(incoming.iterdir()):
            _add_if_old(orphans, entry, now, "an upload left behind")
    return orphans


def _as_uuid(name: str) -> str | None:
    try:
        return str(uuid.UUID(name))
    except ValueError:
        return None


def _add_if_old(orphans: list[Orphan], path: Path, now: float, reason: str) -> None:
    try:
        size, newest = _size_and_newest(path)
    except FileNotFoundError:  # removed while we looked
        return
    if now - newest >= GRACE_SECONDS:
        orphans.append(Orphan(path=path, size=size, reason=reason))


def _size_and_newest(path: Path) -> tuple[int, float]:
    """Bytes under `path` and the newest modification time in it; symlinks are not followed."""
    stat = path.lstat()
    size, newest = stat.st_size, stat.st_mtime
    if path.is_dir() and not path.is_symlink():
        size = 0
        for folder, dirs, names in os.walk(path):
            for name in dirs:
                newest = max(newest, Path(folder, name).lstat().st_mtime)
            for name in names:
                child = Path(folder, name).lstat()
                newest = max(newest, child.st_mtime)
                size += child.st_size
    return size, newest


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def format_size(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


class Command(BaseCommand):
    help = (
        "List media files no song refers to (folders of deleted songs, stray files, old temporaries "
        "and uploads). Deletes them only with --delete."
    )

    def add_arguments(self, parser):
        parser.add_argument("--delete", action="store_true", help="Remove the orphans (default: only list them).")

    def handle(self, *args, delete, **options):
        media_root = Path(settings.MEDIA_ROOT)
        orphans = find_orphans(media_root)
        if not orphans:
            self.stdout.write(f"No orphan files under {media_root}.")
            return

        self.stdout.write(f"Orphan files under {media_root}:")
        freed = removed = 0
        for orphan in orphans:
            shown = orphan.path.relative_to(media_root).as_posix() + ("/" if orphan.path.is_dir() else "")
            line = f"  {shown}  {format_size(orphan.size)}  ({orphan.reason})"
            if delete:
                try:
                    _remove(orphan.path)
                except OSError as exc:
                    self.stdout.write(f"{line}: could not delete: {exc.strerror or exc}", self.style.ERROR)
                    continue
                freed += orphan.size
                removed += 1
            self.stdout.write(line)

        total = sum(o.size for o in orphans)
        count = f"{len(orphans)} orphan{'s' if len(orphans) != 1 else ''}"
        if delete:
            self.stdout.write(
                f"Deleted {removed} of {count}; freed {format_size(freed)}.",
                self.style.SUCCESS if removed == len(orphans) else self.style.WARNING,
            )
        else:
            self.stdout.write(
                f"{count}, {format_size(total)} in all. Nothing was deleted; run with --delete to remove them."
            )
