from django.core.management.base import BaseCommand, CommandError

from common.errors import ApplicationError
from songs import imports
from songs.models import Song
from songs.pipeline import plan


class Command(BaseCommand):
    help = "Run the pipeline again for songs, from a stage, without downloading again."

    def add_arguments(self, parser):
        parser.add_argument("songs", nargs="*", metavar="SONG_ID")
        parser.add_argument(
            "--stage", default=None,
            help=f"One of: {', '.join(plan.stage_names())} (default {plan.DEFAULT_REPROCESS_STAGE}).",
        )
        parser.add_argument("--all", action="store_true", help="Every live song.")
        parser.add_argument("--status", choices=Song.Status.values, help="Only songs with this status (with --all).")

    def handle(self, *args, songs, stage, all, status, **options):
        names = plan.stage_names()
        stage = stage or plan.DEFAULT_REPROCESS_STAGE
        if stage not in names:
            raise CommandError(f"Unknown stage {stage!r}; choose one of: {', '.join(names)}.")
        if bool(songs) == bool(all):
            raise CommandError("Name song ids, or use --all (not both).")
        queryset = Song.objects.filter(deleted_at__isnull=True)
        if all:
            selected = queryset.filter(status=status) if status else queryset
        else:
            selected = queryset.filter(pk__in=songs)
            missing = set(songs) - {str(pk) for pk in selected.values_list("pk", flat=True)}
            if missing:
                raise CommandError(f"No live song with id: {', '.join(sorted(missing))}.")
        queued = refused = 0
        for song in selected:
            try:
                job = imports.song_reprocess(song=song, stage=stage)
            except ApplicationError as exc:
                refused += 1
                self.stderr.write(f"{song}: {exc.message}")
                continue
            queued += 1
            self.stdout.write(f"{song}: job {job.pk} from {stage}")
        self.stdout.write(f"{queued} queued, {refused} refused.")
