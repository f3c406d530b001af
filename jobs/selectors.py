"""Reads of the jobs app that are more than a filter."""

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from jobs.models import WorkerHeartbeat


@dataclass(frozen=True)
class ClusterHealth:
    cluster: str
    age_seconds: float | None  # None: never seen

    @property
    def alive(self) -> bool:
        return self.age_seconds is not None and self.age_seconds <= settings.WORKER_HEARTBEAT_STALE_AFTER


def cluster_health() -> list[ClusterHealth]:
    """The age of the freshest heartbeat of every configured cluster."""
    latest = dict(WorkerHeartbeat.objects.values_list("cluster").annotate(last=Max("beat_at")))
    now = timezone.now()
    return [
        ClusterHealth(
            cluster=name,
            age_seconds=(now - latest[name]).total_seconds() if name in latest else None,
        )
        for name in settings.CLUSTERS
    ]
