"""Writes of the jobs app: the job state machine, and worker heartbeats.

Every transition is a conditional UPDATE on the job row (`WHERE status IN
(...)`), so two workers, a worker and the recovery sweep, or a worker and a
host pressing Cancel can race without corrupting it: the loser updates 0 rows
and backs off. Status changes are published through jobs/events.py after commit.
"""

import copy
import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.models import Schedule
from django_q.tasks import async_task

from common.errors import ApplicationError, Conflict
from jobs import events, signals
from jobs.models import Job, JobLog, WorkerHeartbeat

logger = logging.getLogger(__name__)

JobStatus = Job.Status


def _log(job_id, event: str, *, stage: str = "", message: str = "") -> None:
    JobLog.objects.create(job_id=job_id, event=event, stage=stage, message=message[:2000])


def _refresh(job_id) -> Job:
    return Job.objects.select_related("song").get(pk=job_id)


# --- creating and enqueueing ------------------------------------------------------


def job_create(
    *, song, stage: str, cluster: str, user=None, kind: str = Job.Kind.IMPORT, start_stage: str = "",
    params: dict | None = None,
) -> Job:
    """A new job for `song` at `stage` on `cluster`, enqueued (and announced as queued) when
    the caller's transaction commits. The caller's pipeline knows the stages (and what
    `params` mean); this app does not."""
    job = Job.objects.create(
        song=song, kind=kind, stage=stage, cluster=cluster, start_stage=start_stage, created_by=user,
        params=params or {},
    )
    _log(job.pk, "created", stage=stage, message=f"{job.get_kind_display()} requested")
    transaction.on_commit(lambda: job_enqueue(job_id=job.pk, job=job))
    return job


def job_enqueue(*, job_id, job: Job | None = None) -> None:
    """Hand the job to the cluster that runs its current stage.

    `job` is the caller's row when it has one that fresh (job_create's): it
    saves reading it again. `job.updated` goes out when this is what made the
    job `queued`; a caller that had already marked it queued (a hand-off, the
    recovery sweep) announced it itself.
    """
    if job is None:
        job = Job.objects.get(pk=job_id)
    if job.status not in Job.CLAIMABLE:
        return
    cluster = job.cluster or settings.DEFAULT_CLUSTER
    now = timezone.now()
    # One transaction: with the ORM broker the task row and the `queued` status
    # are written together (one write lock on SQLite instead of two).
    with transaction.atomic():
        task_id = async_task(
            settings.JOBS_TASK, str(job.pk), cluster, cluster=cluster, task_name=f"job-{job.pk}-{uuid.uuid4().hex[:8]}"
        ) or ""
        # Only a job still waiting becomes "queued": a worker may have claimed it already.
        updated = Job.objects.filter(pk=job.pk, status__in=Job.CLAIMABLE).update(
            status=JobStatus.QUEUED, task_id=task_id, updated_at=now
        )
        if updated and job.status != JobStatus.QUEUED:
            announced = copy.copy(job)
            announced.status, announced.task_id, announced.updated_at = JobStatus.QUEUED, task_id, now
            events.job_updated(announced)


# --- the worker's side -------------------------------------------------------------


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def job_claim(*, job_id, worker: str) -> Job | None:
    """Take the job for this worker, or None when someone else has it (or it is over).

    A `running` job whose heartbeat is stale lost its worker: it may be taken
    over, which is how a task the ORM broker delivers again resumes the work.
    """
    now = timezone.now()
    stale = now - timedelta(seconds=settings.JOB_STALE_AFTER)
    with transaction.atomic():
        claimed = (
            Job.objects.filter(pk=job_id, cancel_requested=False)
            .filter(Q(status__in=Job.CLAIMABLE) | Q(status=JobStatus.RUNNING, heartbeat_at__lt=stale))
            .update(
                status=JobStatus.RUNNING, worker=worker, heartbeat_at=now, next_attempt_at=None,
                started_at=now, finished_at=None, updated_at=now,
            )
        )
        if not claimed:
            return None
        job = _refresh(job_id)
        _log(job.pk, "claimed", stage=job.stage, message=f"by {worker}")
        events.job_updated(job)
        signals.job_changed.send(sender=Job, job=job)
    return job


def job_claim_next(*, job_id, cluster: str, worker: str) -> Job | None:
    """What a task of `cluster` runs: the waiting job of that cluster that is due soonest
    (lowest priority, then oldest), which need not be the task's own.

    Every waiting job has a task on the broker, so whichever job a task takes, each is
    run once; the order is the jobs table's, whatever order the broker delivers in. With
    none waiting, the task's own job (a running one whose worker died may be taken over).
    """
    waiting = (
        Job.objects.filter(cluster=cluster, status__in=[JobStatus.PENDING, JobStatus.QUEUED], cancel_requested=False)
        .order_by("priority", "created_at")
        .values_list("pk", flat=True)
    )
    for candidate in waiting[:5]:  # another worker may take one between the read and the claim
        job = job_claim(job_id=candidate, worker=worker)
        if job is not None:
            return job
    return job_claim(job_id=job_id, worker=worker)


def job_priorities_set(*, by_song: dict) -> None:
    """Rotation order for the waiting work: each song's active jobs get its priority (the
    seconds until it is due to be sung); active jobs of other songs go last. Reads first
    and writes only what differs: this runs after every change of a room."""
    wanted = {song_id: max(0, min(int(seconds), Job.PRIORITY_LAST - 1)) for song_id, seconds in by_song.items()}
    active = Job.objects.filter(status__in=Job.ACTIVE)
    for job_id, song_id, priority in active.values_list("pk", "song_id", "priority"):
        target = wanted.get(song_id, Job.PRIORITY_LAST)
        if priority != target:
            active.filter(pk=job_id).update(priority=target)


def _owned(job: Job):
    """The job's row, only while this worker still owns it."""
    return Job.objects.filter(pk=job.pk, worker=job.worker, status__in=[JobStatus.RUNNING, JobStatus.RETRYING])


def job_heartbeat(*, job: Job) -> tuple[bool, bool]:
    """Beat; returns (still ours, cancel requested)."""
    owned = _owned(job).update(heartbeat_at=timezone.now())
    if not owned:
        return False, False
    cancel = Job.objects.filter(pk=job.pk).values_list("cancel_requested", flat=True).first()
    return True, bool(cancel)


def job_progress(*, job: Job, stage: str, progress: float, message: str) -> bool:
    """Save progress (the caller throttles); False when the job is no longer ours."""
    with transaction.atomic():
        updated = _owned(job).update(
            stage=stage, progress=max(0.0, min(100.0, progress)), message=message[:500],
            heartbeat_at=timezone.now(), updated_at=timezone.now(),
        )
        if updated:
            job.stage, job.progress, job.message = stage, max(0.0, min(100.0, progress)), message[:500]
            events.job_progress(job)
            signals.job_changed.send(sender=Job, job=job)
    return bool(updated)


def job_stage_started(*, job: Job, stage: str) -> None:
    with transaction.atomic():
        _owned(job).update(stage=stage, updated_at=timezone.now())
        job.stage = stage
        _log(job.pk, "stage_started", stage=stage)


def job_stage_finished(*, job: Job, stage: str, seconds: float, skipped: bool = False) -> None:
    with transaction.atomic():
        locked = Job.objects.select_for_update().get(pk=job.pk)
        timings = {**locked.stage_seconds, stage: round(seconds, 3)}
        _owned(job).update(stage_seconds=timings, updated_at=timezone.now())
        job.stage_seconds = timings
        _log(job.pk, "stage_skipped" if skipped else "stage_finished", stage=stage,
             message="output already there" if skipped else f"{seconds:.1f} s")


def job_handoff(*, job: Job, stage: str, cluster: str) -> None:
    """The next stage runs on another cluster: release the job and enqueue it there."""
    with transaction.atomic():
        updated = _owned(job).update(
            status=JobStatus.QUEUED, stage=stage, cluster=cluster, worker="", updated_at=timezone.now()
        )
        if updated:
            _log(job.pk, "handoff", stage=stage)
            fresh = _refresh(job.pk)
            events.job_updated(fresh)
            signals.job_changed.send(sender=Job, job=fresh)
            transaction.on_commit(lambda: job_enqueue(job_id=job.pk))


def job_schedule_retry(*, job: Job, code: str, message: str, delay: float) -> bool:
    """A transient failure: wait `delay` seconds, then try the stage again."""
    with transaction.atomic():
        updated = _owned(job).update(
            status=JobStatus.RETRYING, attempts=F("attempts") + 1, error_code=code, error_message=message,
            next_attempt_at=timezone.now() + timedelta(seconds=delay), updated_at=timezone.now(),
        )
        if updated:
            fresh = _refresh(job.pk)
            _log(job.pk, "retrying", stage=fresh.stage, message=f"{code}: {message} (attempt {fresh.attempts}, in {delay:g} s)")
            events.job_updated(fresh)
    return bool(updated)


def job_resume_after_wait(*, job: Job) -> bool:
    with transaction.atomic():
        updated = _owned(job).update(status=JobStatus.RUNNING, next_attempt_at=None, updated_at=timezone.now())
        if updated:
            events.job_updated(_refresh(job.pk))
    return bool(updated)


def _finish(job: Job, *, status: str, event: str, code: str = "", message: str = "", progress=None) -> bool:
    now = timezone.now()
    fields = dict(status=status, finished_at=now, updated_at=now, next_attempt_at=None, heartbeat_at=None)
    if status == JobStatus.COMPLETED:
        fields.update(error_code="", error_message="")
    else:
        fields.update(error_code=code, error_message=message)
    if progress is not None:
        fields["progress"] = progress
    if message:
        fields["message"] = message[:500]
    with transaction.atomic():
        if not _owned(job).update(**fields):
            return False
        fresh = _refresh(job.pk)
        _log(job.pk, event, stage=fresh.stage, message=f"{code}: {message}" if code else message)
        _finished(fresh)
    return True


def _finished(job: Job) -> None:
    """Every end of a job (completed, failed, cancelled): the layers above, then the sockets."""
    signals.job_finished.send(sender=Job, job=job)
    events.job_finished(job)


def job_complete(*, job: Job, message: str = "Done.") -> bool:
    return _finish(job, status=JobStatus.COMPLETED, event="completed", message=message, progress=100.0)


def job_fail(*, job: Job, code: str, message: str) -> bool:
    return _finish(job, status=JobStatus.FAILED, event="failed", code=code, message=message)


def job_mark_cancelled(*, job: Job) -> bool:
    return _finish(job, status=JobStatus.CANCELLED, event="cancelled", code="cancelled", message="Cancelled.")


# --- what hosts do -------------------------------------------------------------------


def job_cancel(*, job: Job, user=None) -> Job:
    """Cancel at once if nothing runs it yet; otherwise ask its worker to stop."""
    who = f" by {user}" if user else ""
    with transaction.atomic():
        now = timezone.now()
        if Job.objects.filter(pk=job.pk, status__in=Job.CLAIMABLE).update(
            status=JobStatus.CANCELLED, cancel_requested=True, error_code="cancelled",
            error_message=f"Cancelled{who}.", finished_at=now, updated_at=now,
        ):
            fresh = _refresh(job.pk)
            _log(job.pk, "cancelled", stage=fresh.stage, message=f"before it ran{who}")
            _finished(fresh)
            return fresh
        if Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(cancel_requested=True, updated_at=now):
            fresh = _refresh(job.pk)
            _log(job.pk, "cancel_requested", stage=fresh.stage, message=who.strip())
            events.job_updated(fresh)
            return fresh
    fresh = _refresh(job.pk)
    raise Conflict(f"A {fresh.status} job cannot be cancelled.", extra={"job": str(job.pk), "status": fresh.status})


def job_retry(*, job: Job, user=None) -> Job:
    """Run a failed or cancelled job again, from the first stage whose output is missing."""
    fresh = _refresh(job.pk)
    stranded = [j.pk for jobs in jobs_waiting_stranded().values() for j in jobs]
    if fresh.pk in stranded:
        # Waiting with no task left for it: give it one (not a retry of a failure).
        _log(job.pk, "reenqueued", stage=fresh.stage, message="retry asked; no task was left for it" + (f" by {user}" if user else ""))
        job_enqueue(job_id=job.pk)
        return _refresh(job.pk)
    if fresh.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
        waiting = " (or one left waiting with no task)" if fresh.status in Job.CLAIMABLE else ""
        raise Conflict(f"Only a failed or cancelled job can be retried{waiting}; this one is {fresh.status}.",
                       extra={"job": str(job.pk), "status": fresh.status})
    if fresh.manual_retries >= settings.JOB_MAX_MANUAL_RETRIES:
        raise ApplicationError(
            f"This job was retried {fresh.manual_retries} times already; the limit is "
            f"{settings.JOB_MAX_MANUAL_RETRIES}. Reprocess the song or delete it.",
            extra={"job": str(job.pk)}, status_code=409,
        )
    if jobs_competing(fresh).exists():
        raise Conflict("Another job is already working on this song.", extra={"job": str(job.pk)})
    with transaction.atomic():
        updated = Job.objects.filter(pk=job.pk, status__in=[JobStatus.FAILED, JobStatus.CANCELLED]).update(
            status=JobStatus.PENDING, manual_retries=F("manual_retries") + 1, attempts=0, cancel_requested=False,
            error_code="", error_message="", message="Retrying.", finished_at=None, next_attempt_at=None,
            worker="", updated_at=timezone.now(),
        )
        if not updated:
            raise Conflict("The job changed meanwhile; reload and try again.", extra={"job": str(job.pk)})
        fresh = _refresh(job.pk)
        _log(job.pk, "retry_requested", stage=fresh.stage, message=f"manual retry {fresh.manual_retries}" + (f" by {user}" if user else ""))
        events.job_updated(fresh)
        transaction.on_commit(lambda: job_enqueue(job_id=job.pk))
    return fresh


def jobs_competing(job: Job):
    """The active jobs that `job` may not run beside (the database's unique constraints):
    for an import or a reprocess, any other of those on its subject; for another kind,
    the same kind with the same params on its subject."""
    others = Job.objects.filter(song_id=job.song_id, status__in=Job.ACTIVE).exclude(pk=job.pk)
    if job.kind in Job.EXCLUSIVE_KINDS:
        return others.filter(kind__in=Job.EXCLUSIVE_KINDS)
    return others.filter(kind=job.kind, params=job.params)


# --- crash recovery -----------------------------------------------------------------


@dataclass(frozen=True)
class Recovery:
    requeued: list
    failed: list
    reenqueued: list = field(default_factory=list)  # waiting jobs given a new task


def jobs_waiting_stranded(*, waiting_after: float | None = None) -> dict[str, list]:
    """Per cluster, the waiting jobs (longest waiting first) that no task on its broker queue is left
    for: there are fewer tasks queued for the cluster than jobs waiting on it for longer
    than `waiting_after` seconds. Any task of a cluster runs that cluster's most urgent
    waiting job (job_claim_next), so tasks are counted, not matched."""
    waiting_after = settings.JOB_WAITING_STALE_AFTER if waiting_after is None else waiting_after
    cutoff = timezone.now() - timedelta(seconds=waiting_after)
    waiting = Job.objects.filter(
        status__in=[JobStatus.PENDING, JobStatus.QUEUED], cancel_requested=False, updated_at__lte=cutoff,
    ).order_by("updated_at", "created_at")
    stranded: dict[str, list] = {}
    by_cluster: dict[str, list] = {}
    for job in waiting:
        by_cluster.setdefault(job.cluster or settings.DEFAULT_CLUSTER, []).append(job)
    for cluster, jobs in by_cluster.items():
        tasks = get_broker(cluster).queue_size()
        if tasks < len(jobs):
            stranded[cluster] = jobs[: len(jobs) - tasks]
    return stranded


def _dead_here(worker: str) -> bool:
    """A worker ("host:pid") of this machine whose process is gone."""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def jobs_recover(
    *, stale_after: float | None = None, waiting_after: float | None = None, dead_workers_here: bool = False
) -> Recovery:
    """Requeue (or fail, after too many tries) running jobs whose worker stopped beating, and
    enqueue again the waiting jobs whose task a crash took (jobs_waiting_stranded).
    `dead_workers_here`: also a running job of a worker of this machine whose process is
    gone, however fresh its heartbeat (`serve` starting again after a crash)."""
    stale_after = settings.JOB_STALE_AFTER if stale_after is None else stale_after
    cutoff = timezone.now() - timedelta(seconds=stale_after)
    requeued, failed = [], []
    running = Job.objects.filter(status__in=[JobStatus.RUNNING, JobStatus.RETRYING])
    candidates = list(running.filter(heartbeat_at__lt=cutoff))
    if dead_workers_here:
        candidates += [job for job in running.exclude(heartbeat_at__lt=cutoff) if _dead_here(job.worker)]
    for job in candidates:
        lost = running.filter(pk=job.pk, worker=job.worker, heartbeat_at=job.heartbeat_at)
        recoveries = JobLog.objects.filter(job=job, event="recovered").count()
        with transaction.atomic():
            if recoveries >= settings.JOB_MAX_RECOVERIES:
                message = f"Its worker stopped {recoveries + 1} times while running it ({job.worker}); giving up."
                if lost.update(status=JobStatus.FAILED, error_code="worker_lost", error_message=message,
                               finished_at=timezone.now(), heartbeat_at=None, updated_at=timezone.now()):
                    fresh = _refresh(job.pk)
                    _log(job.pk, "failed", stage=job.stage, message=message)
                    _finished(fresh)
                    failed.append(job.pk)
                continue
            if lost.update(status=JobStatus.QUEUED, worker="", heartbeat_at=None, updated_at=timezone.now()):
                _log(job.pk, "recovered", stage=job.stage, message=f"worker {job.worker} stopped beating; requeued")
                events.job_updated(_refresh(job.pk))
                transaction.on_commit(lambda job_id=job.pk: job_enqueue(job_id=job_id))
                requeued.append(job.pk)
    reenqueued = []
    for jobs in jobs_waiting_stranded(waiting_after=waiting_after).values():
        for job in jobs:
            _log(job.pk, "reenqueued", stage=job.stage, message="no task was left for it (a crash?); enqueued again")
            Job.objects.filter(pk=job.pk, status__in=[JobStatus.PENDING, JobStatus.QUEUED]).update(
                status=JobStatus.PENDING, updated_at=timezone.now()
            )
            job_enqueue(job_id=job.pk)
            reenqueued.append(job.pk)
    if requeued or failed or reenqueued:
        logger.warning("recovered jobs: requeued %s, failed %s, enqueued again %s", requeued, failed, reenqueued)
    return Recovery(requeued=requeued, failed=failed, reenqueued=reenqueued)


def schedules_ensure() -> None:
    """The periodic tasks the site relies on (idempotent; run after every migrate)."""
    Schedule.objects.update_or_create(
        name="recover-jobs",
        defaults={
            "func": "jobs.tasks.recover_jobs",
            "schedule_type": Schedule.MINUTES,
            "minutes": 1,
            "repeats": -1,
            "cluster": settings.DEFAULT_CLUSTER,
        },
    )


# --- worker heartbeats ---------------------------------------------------------------


def worker_heartbeat_record(*, cluster: str, token: str | None = None) -> WorkerHeartbeat:
    """Record that a worker of `cluster` on this host is alive.

    With a `token` (from `worker_ping_enqueue`) the beat is also announced to
    the `jobs` group, so whoever asked learns the round trip worked.
    """
    with transaction.atomic():
        heartbeat, _ = WorkerHeartbeat.objects.update_or_create(
            cluster=cluster,
            host=socket.gethostname(),
            defaults={"pid": os.getpid(), "beat_at": timezone.now()},
        )
        if token is not None:
            events.worker_heartbeat(heartbeat, token=token)
    return heartbeat


def worker_ping_enqueue(*, cluster: str, token: str | None = None) -> str:
    """Queue a ping task on `cluster`; returns the token its heartbeat event will carry."""
    token = token or uuid.uuid4().hex
    transaction.on_commit(
        lambda: async_task("jobs.tasks.worker_ping", cluster, token, cluster=cluster, task_name=f"ping-{token}")
    )
    return token
