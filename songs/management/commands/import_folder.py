"""``manage.py import_folder PATH``: add every song of a music folder to the library.

Each file goes through ``songs.imports.song_import_file``, like any import:
its content is checked by ffmpeg, a duplicate (same audio) is skipped, and a
job is enqueued for the rest of the pipeline. The host's files are not moved.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from common.errors import ApplicationError
from songs import imports
from songs.audio import ffmpeg
from songs.audio.tags import read_tags
from songs.errors import AdapterError
from songs.models import Song

logger = logging.getLogger(__name__)

MEDIA_EXTENSIONS = frozenset({
    # audio
    ".mp3", ".m4a", ".aac", ".flac", ".wav", ".ogg", ".oga", ".opus", ".wma", ".aiff", ".aif",
    # video (the audio track is what is kept)
    ".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v",
})


@dataclass
class Report:
    added: list[tuple[Path, str]] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def done(self) -> int:
        return len(self.added) + len(self.skipped) + len(self.failed)


def find_media_files(root: Path) -> list[Path]:
    """Audio and video files under `root`, sorted, hidden files and folders left out.

    Hidden entries include macOS "._song.mp3" resource forks, which carry an
    audio extension but no audio. Symlinked folders are not followed (no loops),
    and the media folder itself is never imported into itself.
    """
    media_root = Path(settings.MEDIA_ROOT).resolve()
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and Path(folder, d).resolve() != media_root)
        for name in names:
            if not name.startswith(".") and Path(name).suffix.lower() in MEDIA_EXTENSIONS:
                found.append(Path(folder) / name)
    return sorted(found)


class Command(BaseCommand):
    help = (
        "Add every audio and video file under PATH (recursively) to the library. Tags give the "
        "title, artist and album; files already in the library (same audio) are skipped."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="The folder to import.")
        parser.add_argument("--dry-run", action="store_true", help="Check every file and say what would happen; store nothing.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar (it is off anyway when stderr is not a terminal).")

    def handle(self, *args, path, dry_run, no_progress, verbosity, **options):
        root = Path(path).expanduser()
        if not root.exists():
            raise CommandError(f"{root} does not exist.")
        if not root.is_dir():
            raise CommandError(f"{root} is not a folder; give the folder that holds the songs.")
        root = root.resolve()
        try:
            paths = find_media_files(root)
        except OSError as exc:
            raise CommandError(f"Cannot read {root}: {exc.strerror or exc}.") from None
        if not paths:
            self.stdout.write(f"No audio or video files under {root}.")
            return

        report = Report()
        seen: dict[str, Path] = {}  # content hash → first file, for the dry run
        # Not self.stderr: its write() adds a newline and would break the bar's redraws.
        stream = getattr(self.stderr, "_out", sys.stderr)
        bar = tqdm(total=len(paths), unit="file", desc="Checking" if dry_run else "Importing",
                   file=stream, disable=True if no_progress else None, dynamic_ncols=True)
        interrupted = False
        try:
            for file in paths:
                name = file.relative_to(root)
                bar.set_postfix_str(str(name)[-40:], refresh=False)
                outcome, detail = self._check(file, seen) if dry_run else self._import(file)
                getattr(report, outcome).append((name, detail))
                if verbosity >= 2:
                    bar.write(f"{outcome}: {name}: {detail}", file=self.stdout._out)
                bar.update()
        except KeyboardInterrupt:
            interrupted = True
        finally:
            bar.close()

        self._summary(report, root=root, total=len(paths), dry_run=dry_run, verbosity=verbosity)
        if interrupted:
            raise CommandError(f"Interrupted after {report.done} of {len(paths)} files.", returncode=130)

    def _import(self, file: Path) -> tuple[str, str]:
        tags = read_tags(file)
        try:
            result = imports.song_import_file(path=file, title=tags.title, artist=tags.artist, album=tags.album)
        except ApplicationError as exc:
            return "failed", exc.message
        except OSError as exc:
            return "failed", f"cannot be read: {exc.strerror or exc}."
        if result.created:
            return "added", f"{result.song} (song {result.song.pk})"
        return "skipped", f"{result.message.rstrip('.')} (song {result.song.pk})."

    def _check(self, file: Path, seen: dict[str, Path]) -> tuple[str, str]:
        """What `_import` would do, without storing anything."""
        tags = read_tags(file)
        try:
            ffmpeg.probe(file)
            content_hash = ffmpeg.sha256_file(file)
        except AdapterError as exc:
            return "failed", exc.message
        except OSError as exc:
            return "failed", f"cannot be read: {exc.strerror or exc}."
        live = Song.objects.filter(deleted_at__isnull=True)
        existing = (
            live.filter(content_hash=content_hash).first()
            or live.filter(source=Song.Source.FOLDER, source_id=str(file.resolve())).first()
        )
        if existing is not None:
            return "skipped", f"Already in the library: {existing} (song {existing.pk})."
        if content_hash in seen:
            return "skipped", f"The same audio as {seen[content_hash].name}, which would be added."
        seen[content_hash] = file
        return "added", f"{tags.artist} – {tags.title}" if tags.artist else tags.title

    def _summary(self, report: Report, *, root: Path, total: int, dry_run: bool, verbosity: int) -> None:
        out = self.stdout
        if dry_run:
            head = (f"Dry run: would add {len(report.added)}, skip {len(report.skipped)}, "
                    f"fail {len(report.failed)} ({total} files under {root}). Nothing was stored.")
        else:
            head = (f"Added {len(report.added)}, skipped {len(report.skipped)}, "
                    f"failed {len(report.failed)} ({total} files under {root}).")
        out.write(head, self.style.SUCCESS if not report.failed else self.style.WARNING)
        if verbosity < 1:
            return
        if dry_run and report.added:
            out.write("Would add:")
            for name, detail in report.added:
                out.write(f"  {name}: {detail}")
        if report.skipped:
            out.write("Skipped (already in the library):")
            for name, detail in report.skipped:
                out.write(f"  {name}: {detail}")
        if report.failed:
            out.write("Failed:")
            for name, detail in report.failed:
                out.write(f"  {name}: {detail}", self.style.ERROR)
