from django.conf import settings
from django.core.management.base import BaseCommand

from jobs import services


class Command(BaseCommand):
    help = (
        "Requeue running jobs whose worker stopped beating (or fail them after too many losses), and "
        "enqueue again waiting jobs whose task was lost. The same sweep runs every minute in the task "
        "cluster; `serve` runs it with --startup before starting the workers."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--stale-after", type=float, default=settings.JOB_STALE_AFTER,
            help=f"Seconds without a heartbeat that mean the worker is gone (default {settings.JOB_STALE_AFTER:g}).",
        )

        parser.add_argument(
            "--startup", action="store_true",
            help="No worker of this machine runs yet: its running jobs are lost, and every waiting job "
                 "without a task on the broker gets one now.",
        )

    def handle(self, *args, stale_after, startup, **options):
        if startup:
            recovery = services.jobs_recover(stale_after=stale_after, waiting_after=0, dead_workers_here=True)
        else:
            recovery = services.jobs_recover(stale_after=stale_after)
        for job_id in recovery.requeued:
            self.stdout.write(f"requeued {job_id}")
        for job_id in recovery.failed:
            self.stdout.write(f"failed {job_id} (its worker was lost too often)")
        for job_id in recovery.reenqueued:
            self.stdout.write(f"enqueued again {job_id} (its task was lost)")
        self.stdout.write(
            f"{len(recovery.requeued)} requeued, {len(recovery.failed)} failed, {len(recovery.reenqueued)} enqueued again."
        )
