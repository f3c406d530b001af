"""The pipeline as data: the stages a song goes through, in order.

Each stage says which cluster runs it, how much of the job's progress bar it
fills, how to tell its output is already there (so a retry or a reprocess skips
it), and the function that does it. Later stages (separate, enrich, lyrics,
finalize) are added to this list, not to the runner.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings

from songs import enrichment
from songs import stages as song_stages


@dataclass(frozen=True)
class Stage:
    name: str
    cluster: str
    weight: float
    is_done: Callable  # (song) -> bool
    run: Callable  # (StageContext) -> str | None: a message for the job, or None


def stages() -> list[Stage]:
    return [
        Stage("download", settings.DEFAULT_CLUSTER, 30, song_stages.download_done, song_stages.download),
        Stage("transcode", settings.DEFAULT_CLUSTER, 10, song_stages.transcode_done, song_stages.transcode),
        # Its own cluster, so a GPU host can run only this stage.
        Stage("separate", settings.SEPARATION_CLUSTER, 50, song_stages.separate_done, song_stages.separate),
        Stage("enrich", settings.DEFAULT_CLUSTER, 4, enrichment.enrich_done, enrichment.enrich),
        Stage("lyrics", settings.DEFAULT_CLUSTER, 2, enrichment.lyrics_done, enrichment.lyrics),
    ]


def stage_names() -> list[str]:
    return [stage.name for stage in stages()]


def first_stage() -> Stage:
    return stages()[0]


def get_stage(name: str) -> Stage:
    for stage in stages():
        if stage.name == name:
            return stage
    raise KeyError(name)


def cluster_for(stage_name: str) -> str:
    try:
        return get_stage(stage_name).cluster
    except KeyError:
        return settings.DEFAULT_CLUSTER


def progress_span(stage_name: str) -> tuple[float, float]:
    """Where a stage's 0–100 % lands on the job's overall 0–100 % bar."""
    all_stages = stages()
    total = sum(stage.weight for stage in all_stages)
    start = 0.0
    for stage in all_stages:
        if stage.name == stage_name:
            return 100 * start / total, 100 * (start + stage.weight) / total
        start += stage.weight
    raise KeyError(stage_name)
