"""Job statistics: counts by status, success rate, stage durations (a selector)."""

import math
from collections import Counter, defaultdict

from django.db.models import Count

from jobs.models import Job


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    # Nearest-rank: the smallest value with at least `fraction` of the values at or below it.
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def job_stats(*, recent: int = 1000) -> dict:
    counts = Counter(dict(Job.objects.values_list("status").annotate(n=Count("id"))))
    by_status = {status: counts.get(status, 0) for status in Job.Status.values}
    completed, failed = by_status[Job.Status.COMPLETED], by_status[Job.Status.FAILED]
    per_stage: dict[str, list[float]] = defaultdict(list)
    finished = Job.objects.filter(status=Job.Status.COMPLETED).order_by("-finished_at")[:recent]
    for timings in finished.values_list("stage_seconds", flat=True):
        for stage, seconds in (timings or {}).items():
            per_stage[stage].append(float(seconds))
    return {
        "by_status": by_status,
        "total": sum(by_status.values()),
        "success_rate": round(completed / (completed + failed), 4) if completed + failed else None,
        "stages": {
            stage: {
                "count": len(values),
                "mean_seconds": round(sum(values) / len(values), 3),
                "p95_seconds": round(_percentile(values, 0.95), 3),
            }
            for stage, values in sorted(per_stage.items())
        },
    }
