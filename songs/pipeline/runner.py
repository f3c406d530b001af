"""The pipeline runner: what a Django-Q2 worker does with a job id (songs.tasks.run_job).

It claims the job (or returns: someone else has it), walks the stages from the
first whose output is missing, and ends the job completed, failed or cancelled.
While it works, a monitor thread beats the job's heartbeat and notices a
cancel request, so a long stage (a download, a separation) can stop within a
second and the recovery sweep can tell a live worker from a dead one.
"""

import logging
import re
import threading
import time

from django.conf import settings
from django.db import connection

from jobs import services
from jobs.models import Job
from songs import services as song_services
from songs.errors import AdapterError, Cancelled
from songs.pipeline import plan

logger = logging.getLogger(__name__)


class JobLost(Exception):
    """Another worker (or the recovery sweep) took the job over: stop quietly."""


class JobMonitor:
    """Beats the heartbeat and polls for cancel in a thread, for as long as the job runs."""

    POLL_SECONDS = 1.0

    def __init__(self, job: Job):
        self.job = job
        self.cancelled = False
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"job-{job.pk}-watch", daemon=True)

    def __enter__(self) -> "JobMonitor":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        last_beat = 0.0
        try:
            while not self._stop.wait(min(self.POLL_SECONDS, settings.JOB_HEARTBEAT_INTERVAL)):
                try:
                    if time.monotonic() - last_beat >= settings.JOB_HEARTBEAT_INTERVAL:
                        owned, cancel = services.job_heartbeat(job=self.job)
                        last_beat = time.monotonic()
                        self.lost = self.lost or not owned
                    else:
                        cancel = Job.objects.filter(pk=self.job.pk, cancel_requested=True).exists()
                    self.cancelled = self.cancelled or cancel
                except Exception:  # a database hiccup must not kill the monitor
                    logger.warning("job %s: heartbeat failed", self.job.pk, exc_info=True)
        finally:
            connection.close()

    def should_stop(self) -> bool:
        return self.cancelled or self.lost

    def wait(self, seconds: float) -> None:
        """Sleep, but wake up for a cancel."""
        deadline = time.monotonic() + seconds
        while not self.should_stop() and time.monotonic() < deadline:
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))


class StageContext:
    """What a stage gets: its song, progress reporting and a cancel check."""

    def __init__(
        self, job: Job, stage: plan.Stage, monitor: JobMonitor, last_progress: float,
        all_stages: list[plan.Stage] | None = None,
    ):
        self.job = job
        self.song = job.song
        self.stage = stage
        self.monitor = monitor
        self.merged = None
        self._low, self._high = plan.progress_span(stage.name, all_stages)
        self._saved = last_progress
        self._saved_at = 0.0
        self._message = ""

    def is_cancelled(self) -> bool:
        return self.monitor.should_stop()

    def progress(self, percent: float | None, message: str = "") -> None:
        """Stage progress 0–100 (None: unknown) → the job's bar, saved throttled."""
        if percent is not None:
            overall = self._low + (self._high - self._low) * max(0.0, min(100.0, percent)) / 100
        else:
            overall = self._saved
        overall = max(overall, self._saved)  # a bar that goes backwards reads as a bug
        now = time.monotonic()
        step = overall - self._saved >= 1.0
        due = now - self._saved_at >= settings.JOB_PROGRESS_MIN_INTERVAL and (
            overall != self._saved or message != self._message
        )
        if step or due:
            if not services.job_progress(job=self.job, stage=self.stage.name, progress=overall, message=message):
                self.monitor.lost = True
            self._saved, self._saved_at, self._message = overall, now, message

    @property
    def saved_progress(self) -> float:
        return self._saved


def run_job(*, job_id, cluster: str) -> None:
    # The job due soonest on this cluster, not necessarily job_id's (rotation order).
    job = services.job_claim_next(job_id=job_id, cluster=cluster, worker=services.worker_name())
    if job is None:
        logger.info("job %s: not claimable (taken, cancelled or over)", job_id)
        return
    # A key change leaves the song as it is: it plays meanwhile, in its own key.
    render = job.kind == Job.Kind.KEY
    if not render:
        song_services.song_mark_processing(song=job.song)
    # This worker holds the job's claim: whatever an interrupted attempt left is dead.
    leftovers = _leftovers_of(job)
    remove_leftovers(job.song.folder, which=leftovers)
    with JobMonitor(job) as monitor:
        try:
            outcome = _run_stages(job, cluster, monitor)
        except (Cancelled, JobLost):
            if monitor.lost:
                logger.warning("job %s: taken over by another worker; stopping", job.pk)
            else:
                services.job_mark_cancelled(job=job)
            return
        except AdapterError as exc:
            remove_leftovers(job.song.folder, which=leftovers)
            services.job_fail(job=job, code=exc.code, message=exc.message)
            return
        except Exception as exc:
            logger.exception("job %s failed unexpectedly", job.pk)
            remove_leftovers(job.song.folder, which=leftovers)
            services.job_fail(job=job, code="internal_error", message=f"Unexpected error: {type(exc).__name__}: {exc}")
            return
    if outcome == "handoff":
        return
    if outcome != "merged" and not render:
        song_services.song_mark_ready(song=job.song)
    services.job_complete(job=job, message=job.message if outcome == "merged" else "Done.")


# What the stages write before renaming into place: ffmpeg's and Demucs' `.<name>.part`
# files, yt-dlp's `.download-*`. Nothing else in a song's folder starts with a dot and
# ends so, and only the worker holding the song's job writes them. A key change of the
# song may run beside its import (another job, another worker): its temporaries
# (`.vocals_web.key+2.m4a.<hex>.part`) are its own, one shift each.
_LEFTOVERS = (".*.part", ".download-*")
_KEY_PART = re.compile(r"\..*\.key[+-]\d+\.m4a\.[0-9a-f]+\.part")


def _leftovers_of(job: Job) -> str | None:
    """Which temporaries the job may remove: a key change's of its own shift (a pattern),
    None for an import's or a reprocess's (every one, but the key changes')."""
    if job.kind != Job.Kind.KEY:
        return None
    return f".*.key{int((job.params or {}).get('semitones', 0)):+d}.m4a.*.part"


def _without_promise(message: str) -> str:
    """An adapter's message for a transient error promises another try; not once we give up."""
    for promise in (" Will try again later.", " Will try again."):
        message = message.replace(promise, "")
    return message


def remove_leftovers(folder, *, which: str | None = None) -> int:
    """Remove the temporary files of interrupted stages from a song's folder: those that
    match the pattern `which`, or (None) every stage's but a key change's."""
    removed = 0
    if not folder.is_dir():
        return 0
    for pattern in (which,) if which else _LEFTOVERS:
        for path in folder.glob(pattern):
            if which is None and _KEY_PART.fullmatch(path.name):
                continue
            if path.is_file():
                path.unlink(missing_ok=True)
                removed += 1
    if removed:
        logger.info("%s: removed %s temporary file(s) of an interrupted stage", folder, removed)
    return removed


def _run_stages(job: Job, cluster: str, monitor: JobMonitor) -> str:
    all_stages = plan.stages_for(job)
    names = [stage.name for stage in all_stages]
    start = names.index(job.start_stage) if job.kind == Job.Kind.REPROCESS and job.start_stage in names else 0
    progress = job.progress
    for stage in all_stages[start:]:
        # A reprocess redoes its stages even though their outputs exist, but
        # not the ones this job already finished before a retry.
        forced = job.kind == Job.Kind.REPROCESS and stage.name not in job.stage_seconds
        if not forced and stage.is_done(job.song):
            continue
        if stage.cluster != cluster:
            services.job_handoff(job=job, stage=stage.name, cluster=stage.cluster)
            return "handoff"
        if monitor.should_stop():
            raise JobLost() if monitor.lost else Cancelled()
        services.job_stage_started(job=job, stage=stage.name)
        ctx = StageContext(job, stage, monitor, progress, all_stages)
        started = time.monotonic()
        message = _run_with_retries(job, stage, ctx, monitor)
        services.job_stage_finished(job=job, stage=stage.name, seconds=time.monotonic() - started)
        progress = max(progress, plan.progress_span(stage.name, all_stages)[1])
        job.song.refresh_from_db()
        if ctx.merged is not None:
            job.message = message or "Merged into an existing song."
            return "merged"
    return "done"


def _run_with_retries(job: Job, stage: plan.Stage, ctx: StageContext, monitor: JobMonitor) -> str | None:
    delays = settings.JOB_RETRY_DELAYS
    while True:
        try:
            return stage.run(ctx)
        except AdapterError as exc:
            if not exc.transient:
                raise
            if job.attempts >= len(delays):
                raise AdapterError(
                    exc.code, f"{_without_promise(exc.message)} Gave up after {job.attempts} retries."
                ) from exc
            delay = delays[job.attempts]
            if not services.job_schedule_retry(job=job, code=exc.code, message=exc.message, delay=delay):
                raise JobLost() from exc
            job.attempts += 1
            logger.info("job %s: %s failed (%s); retry %s in %s s", job.pk, stage.name, exc, job.attempts, delay)
            monitor.wait(delay)
            if monitor.should_stop():
                raise (JobLost() if monitor.lost else Cancelled()) from exc
            if not services.job_resume_after_wait(job=job):
                raise JobLost() from exc
            job.song.refresh_from_db()
