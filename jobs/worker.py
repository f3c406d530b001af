"""Life of a Django-Q2 worker process: a background heartbeat, and events sent per task.

A worker can be busy for minutes (a long separation), and Django-Q2 has no
periodic hook, so a daemon thread records the heartbeat. It dies with the
process, which is exactly what /healthz and the stuck-job sweep need to see.

Events leave through a background thread (common.events); a task's last
ones (`job.finished`) are flushed before the worker reports the task done, so
a worker that is recycled or stopped next cannot take them with it.
"""

import logging
import os
import signal
import threading

from django.conf import settings
from django.db import close_old_connections, connection

from common import events
from jobs.services import worker_heartbeat_record

logger = logging.getLogger(__name__)


def _beat_forever(cluster: str, interval: float) -> None:
    pause = threading.Event()  # never set: an interruptible sleep
    while True:
        try:
            close_old_connections()
            worker_heartbeat_record(cluster=cluster)
        except Exception:
            logger.warning("could not record the heartbeat of %s", cluster, exc_info=True)
            connection.close()
        pause.wait(interval)


def _die_with_supervisor(supervisor_pid: int, interval: float) -> None:
    """`serve` killed outright (kill -9, a power button) cannot stop its clusters: a busy
    worker would go on until its task ends (up to the separation timeout) beside the next
    `serve`. Every worker watches the supervisor and takes its whole cluster (its process
    group, with the ffmpeg or Demucs it runs) down as soon as the supervisor is gone."""
    pause = threading.Event()
    while not pause.wait(interval):
        try:
            os.kill(supervisor_pid, 0)
        except ProcessLookupError:
            logger.error("the supervisor (pid %s) is gone; stopping this cluster", supervisor_pid)
            os.killpg(os.getpgid(0), signal.SIGKILL)
        except PermissionError:  # alive, another user's: not ours to judge
            continue


def on_worker_spawn(sender, proc_name=None, **kwargs) -> None:
    from django_q.conf import Conf  # noqa: PLC0415 - Django-Q2 reads its settings on import; only workers need it

    cluster = Conf.CLUSTER_NAME
    thread = threading.Thread(
        target=_beat_forever,
        args=(cluster, settings.WORKER_HEARTBEAT_INTERVAL),
        name=f"heartbeat-{cluster}",
        daemon=True,
    )
    thread.start()
    supervisor = os.environ.get("ENCORE_SUPERVISOR_PID", "")
    if supervisor.isdigit():
        threading.Thread(
            target=_die_with_supervisor, args=(int(supervisor), 1.0), name="supervisor-watch", daemon=True
        ).start()


def after_task(sender, **kwargs) -> None:
    events.flush()
