import json

from django.core.management.base import BaseCommand

from jobs.stats import job_stats


class Command(BaseCommand):
    help = "Job counts by status, success rate, and mean / 95th-percentile seconds per stage."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", dest="as_json", help="Print JSON.")

    def handle(self, *args, as_json: bool = False, **options):
        stats = job_stats()
        if as_json:
            self.stdout.write(json.dumps(stats, indent=2))
            return
        counts = ", ".join(f"{status} {n}" for status, n in stats["by_status"].items() if n) or "no jobs"
        rate = "n/a" if stats["success_rate"] is None else f"{stats['success_rate']:.1%}"
        self.stdout.write(f"Jobs: {stats['total']} ({counts}). Success rate: {rate}.")
        for stage, figures in stats["stages"].items():
            self.stdout.write(
                f"  {stage:<10} {figures['count']:>5} runs  mean {figures['mean_seconds']:>8.2f} s"
                f"  p95 {figures['p95_seconds']:>8.2f} s"
            )
