"""The pipeline as data: the stages a song goes through, in order.

Each stage says which cluster runs it, how much of the job's progress bar it
fills, how to tell its output is already there (so a retry or a reprocess skips
it), and the function that does it. A new stage is added to this list, not to
the runner.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from django.conf import settings

from jobs.models import Job
from songs.keys import RENDER_STAGE
from songs.pipeline import media, metadata


@dataclass(frozen=True)
class Stage:
    name: str
    cluster: str
    weight: float
    is_done: Callable  # (song) -> bool
    run: Callable  # (StageContext) -> str | None: a message for the job, or None


def stages() -> list[Stage]:
    return [
        Stage("download", settings.DEFAULT_CLUSTER, 30, media.download_done, media.download),
        Stage("transcode", settings.DEFAULT_CLUSTER, 10, media.transcode_done, media.transcode),
        # Its own cluster, so a GPU host can run only this stage.
        Stage("separate", settings.SEPARATION_CLUSTER, 50, media.separate_done, media.separate),
        # On the instrumental the separation made: the song's key (songs/audio/keyfinder.py).
        Stage("key", settings.DEFAULT_CLUSTER, 1, media.key_done, media.detect_key),
        Stage("enrich", settings.DEFAULT_CLUSTER, 4, metadata.enrich_done, metadata.enrich),
        Stage("lyrics", settings.DEFAULT_CLUSTER, 2, metadata.lyrics_done, metadata.lyrics),
    ]


# Where a reprocess starts when nobody says: after the download, which it reuses.
DEFAULT_REPROCESS_STAGE = "transcode"


def render_stages(semitones: int) -> list[Stage]:
    """A key change (a job of kind "key", params {"semitones": n}): both browser stems
    shifted, in one stage on the default cluster, in rotation order like the imports."""
    return [
        Stage(RENDER_STAGE, settings.DEFAULT_CLUSTER, 100,
              partial(media.render_key_done, semitones=semitones), partial(media.render_key, semitones=semitones)),
    ]


def stages_for(job: Job) -> list[Stage]:
    """The stages a job walks: a key change's, or the whole pipeline's."""
    if job.kind == Job.Kind.KEY:
        return render_stages(int((job.params or {}).get("semitones", 0)))
    return stages()


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


def progress_span(stage_name: str, all_stages: list[Stage] | None = None) -> tuple[float, float]:
    """Where a stage's 0–100 % lands on the job's overall 0–100 % bar (of the whole
    pipeline, or of `all_stages`)."""
    all_stages = stages() if all_stages is None else all_stages
    total = sum(stage.weight for stage in all_stages)
    start = 0.0
    for stage in all_stages:
        if stage.name == stage_name:
            return 100 * start / total, 100 * (start + stage.weight) / total
        start += stage.weight
    raise KeyError(stage_name)
