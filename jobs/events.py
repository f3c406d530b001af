"""Every event the jobs app publishes (through common.events, after commit).

Groups: `jobs` (every job, the Jobs page) and `job.<id>` (one job's page or client).
Vocabulary: `job.updated` (created, queued, running, retrying...), `job.progress`,
`job.finished` (completed, failed or cancelled), `worker.heartbeat` (a ping answered).
"""

from common.events import publish as _publish

JOBS_GROUP = "jobs"


def job_group(job_id) -> str:
    return f"job.{job_id}"


def job_payload(job) -> dict:
    return {
        "id": str(job.pk),
        "song": str(job.song_id),
        "kind": job.kind,
        "status": job.status,
        "stage": job.stage,
        "progress": round(job.progress, 1),
        "message": job.message,
        "error_code": job.error_code,
        "error_message": job.error_message,
        "attempts": job.attempts,
        "manual_retries": job.manual_retries,
        "next_attempt_at": job.next_attempt_at.isoformat() if job.next_attempt_at else None,
    }


def _to_job_groups(job, event: dict) -> None:
    _publish(JOBS_GROUP, event)
    _publish(job_group(job.pk), event)


def job_updated(job) -> None:
    _to_job_groups(job, {"type": "job.updated", "job": job_payload(job)})


def job_progress(job) -> None:
    _to_job_groups(job, {"type": "job.progress", "job": job_payload(job)})


def job_finished(job) -> None:
    _to_job_groups(job, {"type": "job.finished", "job": job_payload(job)})


def worker_heartbeat(heartbeat, *, token: str) -> None:
    _publish(
        JOBS_GROUP,
        {
            "type": "worker.heartbeat",
            "cluster": heartbeat.cluster,
            "host": heartbeat.host,
            "pid": heartbeat.pid,
            "at": heartbeat.beat_at.isoformat(),
            "token": token,
        },
    )
