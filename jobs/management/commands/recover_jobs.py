from django.conf import settings
from django.core.management.base import BaseCommand

from jobs import services


class Command(BaseCommand):
    help = (
        "Requeue running jobs whose worker stopped beating (or fail them after too many losses). "
        "The same sweep runs every minute in the task cluster."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--stale-after", type=float, default=settings.JOB_STALE_AFTER,
            help=f"Seconds without a heartbeat that mean the worker is gone (default {settings.JOB_STALE_AFTER:g}).",
        )

    def handle(self, *args, stale_after, **options):
        recovery = services.jobs_recover(stale_after=stale_after)
        for job_id in recovery.requeued:
            self.stdout.write(f"requeued {job_id}")
        for job_id in recovery.failed:
            self.stdout.write(f"failed {job_id} (its worker was lost too often)")
        self.stdout.write(f"{len(recovery.requeued)} requeued, {len(recovery.failed)} failed.")
