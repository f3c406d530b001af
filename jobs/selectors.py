"""Reads of the jobs app that are more than a filter."""

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Max, Q, QuerySet
from django.utils import timezone

from jobs.models import Job, WorkerHeartbeat


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


def job_search(*, status: str | None = None, song_id=None, active: bool | None = None) -> QuerySet[Job]:
    """Jobs, most recent first, with their song (for lists that show it)."""
    jobs = Job.objects.select_related("song")
    if status:
        jobs = jobs.filter(status=status)
    if song_id is not None:
        jobs = jobs.filter(song_id=song_id)
    if active is not None:
        jobs = jobs.filter(status__in=Job.ACTIVE) if active else jobs.exclude(status__in=Job.ACTIVE)
    return jobs.order_by("-created_at")


def job_row(*, job_id) -> Job:
    """One job with its song, for templates/jobs/partials/_job.html; Job.DoesNotExist otherwise."""
    return Job.objects.select_related("song").get(pk=job_id)


def job_rows_to_resync(*, since=None, limit: int = 100) -> list[Job]:
    """What /ws/jobs/html/ sends on (re)connect: the active jobs, and every job changed after
    `since` (when the page was drawn), so rows that missed events while the socket was down
    catch up. Oldest first: pushed on top one by one, the newest ends up first."""
    changed = Q(status__in=Job.ACTIVE)
    if since is not None:
        changed |= Q(updated_at__gte=since)
    return list(reversed(job_search().filter(changed)[:limit]))
