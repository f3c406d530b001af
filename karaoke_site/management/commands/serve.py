from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from karaoke_site.supervisor import Supervisor


class Command(BaseCommand):
    help = (
        "Run the whole site: the embedded Redis (when REDIS_URL is unset), the ASGI "
        "web server and the task clusters. Ctrl-C or SIGTERM stops everything."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default=settings.HOST, help="Address to bind (HOST).")
        parser.add_argument("--port", type=int, default=settings.PORT, help="Port to serve on (PORT).")
        parser.add_argument("--no-web", action="store_true", help="Run task clusters only (a worker host).")
        parser.add_argument(
            "--clusters",
            default=",".join(settings.CLUSTERS),
            help=f"Comma-separated task clusters to run; '' for none (default: {','.join(settings.CLUSTERS)}).",
        )

    def handle(self, *args, host, port, no_web, clusters, **options):
        names = [name.strip() for name in clusters.split(",") if name.strip()]
        unknown = sorted(set(names) - set(settings.CLUSTERS))
        if unknown:
            raise CommandError(f"Unknown cluster(s): {', '.join(unknown)}. Known: {', '.join(settings.CLUSTERS)}.")
        if no_web and not names:
            raise CommandError("Nothing to run: --no-web and no clusters.")
        code = Supervisor(host=host, port=port, web=not no_web, clusters=names, stdout=self.stdout).run()
        if code:
            raise CommandError("Encore stopped because a part of it failed; see the log above.", returncode=code)
