"""How long until a song being imported is ready: the "ready in about 2 min" of a request.

Each stage's speed is measured on this machine: seconds of work per second of audio,
the median over the last completed jobs (DEFAULT_SPEEDS until there are any). A job's
remaining work is its unfinished stages at those speeds (the current one less what its
progress says is done). A song waits, on each cluster it still needs, for the remaining
work there of the jobs ahead of it (due sooner, or already running), shared among that
cluster's workers.
"""

import statistics
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from jobs.models import Job
from songs.keys import RENDER_STAGE
from songs.models import Song
from songs.pipeline import plan

# Seconds of work per second of audio on a 2-core laptop, until this machine has
# measured its own (bench/README.md has the separation figures).
DEFAULT_SPEEDS = {"download": 0.05, "transcode": 0.03, "separate": 0.5, "key": 0.01, "enrich": 0.01, "lyrics": 0.005,
                  RENDER_STAGE: 0.1}
# A song of unknown length (not downloaded, no hint): a typical pop song.
DEFAULT_DURATION = 240.0
SAMPLE = 20
_SPEEDS_KEY = "eta:stage-speeds"


def stage_speeds() -> dict[str, float]:
    """Seconds of work per second of audio for each stage, from recent completed jobs."""
    speeds = cache.get(_SPEEDS_KEY)
    if speeds is not None:
        return speeds
    recent = (
        Job.objects.filter(status=Job.Status.COMPLETED, song__duration__gt=0)
        .order_by("-finished_at").values_list("stage_seconds", "song__duration")[:SAMPLE]
    )
    measured: dict[str, list[float]] = {}
    for timings, duration in recent:
        for stage, seconds in (timings or {}).items():
            measured.setdefault(stage, []).append(seconds / duration)
    speeds = {name: statistics.median(measured[name]) if measured.get(name) else DEFAULT_SPEEDS.get(name, 0.01)
              for name in [*plan.stage_names(), RENDER_STAGE]}
    cache.set(_SPEEDS_KEY, speeds, 60)
    return speeds


@dataclass(frozen=True)
class _Work:
    job: Job
    remaining: dict[str, float]  # cluster -> seconds of work left there


def _remaining(job: Job, duration: float, speeds: dict[str, float]) -> dict[str, float]:
    stages = plan.stages_for(job)
    names = [stage.name for stage in stages]
    current = names.index(job.stage) if job.stage in names else 0
    left: dict[str, float] = {}
    for index, stage in enumerate(stages[current:], start=current):
        if stage.name in (job.stage_seconds or {}) and index != current:
            continue
        work = speeds[stage.name] * duration
        if index == current and job.status == Job.Status.RUNNING:
            low, high = plan.progress_span(stage.name, stages)
            done = (job.progress - low) / (high - low) if high > low else 0.0
            work *= 1.0 - max(0.0, min(1.0, done))
        left[stage.cluster] = left.get(stage.cluster, 0.0) + work
    return left


def _workers(cluster: str) -> int:
    if cluster == settings.DEFAULT_CLUSTER:
        return max(1, int(settings.Q_CLUSTER.get("workers", 1)))
    return max(1, int(settings.Q_CLUSTER.get("ALT_CLUSTERS", {}).get(cluster, {}).get("workers", 1)))


def song_ready_in(*, song: Song) -> float | None:
    """Seconds until `song` is ready, or None when no job works on it."""
    active = list(Job.objects.filter(status__in=Job.ACTIVE).select_related("song"))
    # The song's import or reprocess (a key change of it is other work ahead or behind).
    mine = next((job for job in active if job.song_id == song.pk and job.kind in Job.EXCLUSIVE_KINDS), None)
    if mine is None:
        return None
    speeds = stage_speeds()
    work = {job.pk: _remaining(job, job.song.duration or DEFAULT_DURATION, speeds) for job in active}
    total = sum(work[mine.pk].values())
    for cluster in work[mine.pk]:
        ahead = [
            job for job in active
            if job.pk != mine.pk and cluster in work[job.pk] and (
                (job.status == Job.Status.RUNNING and job.cluster == cluster)
                or (job.priority, job.created_at) < (mine.priority, mine.created_at)
            )
        ]
        total += sum(work[job.pk][cluster] for job in ahead) / _workers(cluster)
    return total
