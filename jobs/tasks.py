"""Django-Q2 entry points: take plain values, call a service, nothing more."""

from django_q.conf import Conf

from jobs import services


def worker_ping(cluster: str, token: str) -> None:
    # Conf.CLUSTER_NAME is the cluster that actually picked the task up.
    services.worker_heartbeat_record(cluster=Conf.CLUSTER_NAME or cluster, token=token)
