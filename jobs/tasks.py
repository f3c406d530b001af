"""Django-Q2 entry points: take plain values, call the runner or a service."""

from django_q.conf import Conf

from jobs import runner, services


def run_job(job_id: str, cluster: str) -> None:
    runner.run_job(job_id=job_id, cluster=cluster)


def recover_jobs() -> None:
    services.jobs_recover()


def worker_ping(cluster: str, token: str) -> None:
    # Conf.CLUSTER_NAME is the cluster that actually picked the task up.
    services.worker_heartbeat_record(cluster=Conf.CLUSTER_NAME or cluster, token=token)
