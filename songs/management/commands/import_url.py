from django.core.management.base import BaseCommand, CommandError

from common.errors import ApplicationError
from songs import imports


class Command(BaseCommand):
    help = "Add songs by link (YouTube or any http(s) audio/page). The work runs in the task workers."

    def add_arguments(self, parser):
        parser.add_argument("urls", nargs="+", metavar="URL")

    def handle(self, *args, urls, **options):
        failed = 0
        for url in urls:
            try:
                result = imports.song_import_url(url=url)
            except ApplicationError as exc:
                failed += 1
                self.stderr.write(self.style.ERROR(f"{url}: {exc.message}"))
                continue
            job = f" (job {result.job.pk})" if result.job else ""
            self.stdout.write(f"{url}: {result.message} Song {result.song.pk}{job}")
        if failed:
            raise CommandError(f"{failed} of {len(urls)} link(s) could not be added.")
