"""Every event the jobs app publishes, and the only place it calls group_send.

Events go out after the transaction commits: a client that reacts by reading
the database must find what the event announced. Publishing is best effort:
the database is the source of truth, and a client that missed an event
resyncs when it reconnects.
"""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from jobs.models import WorkerHeartbeat

logger = logging.getLogger(__name__)

JOBS_GROUP = "jobs"


def _publish(group: str, event: dict) -> None:
    def send() -> None:
        try:
            async_to_sync(get_channel_layer().group_send)(group, event)
        except Exception:
            logger.warning("could not publish %s to %s", event.get("type"), group, exc_info=True)

    transaction.on_commit(send)


def worker_heartbeat(heartbeat: WorkerHeartbeat, *, token: str) -> None:
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
