"""The one way events leave the process: after commit, best effort.

Each app's events.py builds its events and calls `publish`; nothing else calls
group_send. After commit, because a client that reacts by reading the database
must find what the event announced. Best effort, because the database is the
source of truth and a client that missed an event resyncs when it reconnects.
"""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)


def publish(group: str, event: dict) -> None:
    def send() -> None:
        try:
            async_to_sync(get_channel_layer().group_send)(group, event)
        except Exception:
            logger.warning("could not publish %s to %s", event.get("type"), group, exc_info=True)

    transaction.on_commit(send)
