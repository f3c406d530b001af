"""Writes of the jobs app."""

import os
import socket
import uuid

from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from jobs import events
from jobs.models import WorkerHeartbeat


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
