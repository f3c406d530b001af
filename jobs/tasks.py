"""Django-Q2 entry points: take plain values, call a service."""

from django.conf import settings
from django.utils.module_loading import import_string
from django_q.conf import Conf

from jobs import services


def run_job(job_id: str, cluster: str) -> None:
    """Deprecated path of the task that runs a job, kept for one release.

    Tasks queued before the upgrade name `jobs.tasks.run_job`; they run through
    the task the wiring names now (settings.JOBS_TASK, `songs.tasks.run_job`).
    """
    import_string(settings.JOBS_TASK)(job_id, cluster)


def recover_jobs() -> None:
    services.jobs_recover()


def worker_ping(cluster: str, token: str) -> None:
    # Conf.CLUSTER_NAME is the cluster that actually picked the task up.
    services.worker_heartbeat_record(cluster=Conf.CLUSTER_NAME or cluster, token=token)
