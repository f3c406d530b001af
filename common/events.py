"""The one way events leave the process: after commit, best effort, in order.

Each app's events.py builds its events and calls `publish`; nothing else calls
group_send. After commit, because a client that reacts by reading the database
must find what the event announced. Best effort, because the database is the
source of truth and a client that missed an event resyncs when it reconnects.

The sending happens on one background thread per process, with its own event
loop and so its own Redis connections, fed by a queue: the thread that
committed only hands the events over, instead of waiting on Redis for each
event (an import sends five). One thread sending in turn keeps the order in
which the events were committed, per group and overall.

`flush()` waits until everything handed over so far has been sent: task workers
call it after each task, tests before they look, and the process at exit.
"""

import asyncio
import atexit
import logging
import os
import threading
from multiprocessing import util as multiprocessing_util

from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

# More waiting than this means the channel layer is gone or far behind: new
# events are dropped (and logged) instead of growing the queue without end.
MAX_PENDING = 10_000


class _Publisher:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue | None = None
        self._pending = 0
        self._dropped = 0
        os.register_at_fork(after_in_child=self._forget_parent)

    def _forget_parent(self) -> None:
        # A forked child (a Django-Q2 worker) has our attributes but not the
        # thread, and the lock may have been held by a thread that is not there.
        self._lock = threading.Lock()
        self._pid = None
        self._pending = 0

    def submit(self, group: str, event: dict) -> None:
        loop = self._running_loop()
        with self._lock:
            if self._pending >= MAX_PENDING:
                self._dropped += 1
                if self._dropped == 1 or self._dropped % 1000 == 0:
                    logger.warning("the channel layer is not keeping up: %s events dropped", self._dropped)
                return
            self._pending += 1
        loop.call_soon_threadsafe(self._queue.put_nowait, (group, event))

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every event submitted before this call is sent (or failed)."""
        if self._pid != os.getpid() or self._loop is None:
            return True  # nothing was ever submitted in this process
        if threading.current_thread() is self._thread:
            return True
        done = threading.Event()
        self._loop.call_soon_threadsafe(self._queue.put_nowait, done)
        if not done.wait(timeout):
            logger.warning("events not sent within %.1f s", timeout)
            return False
        return True

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        if self._pid == os.getpid():
            return self._loop
        with self._lock:
            if self._pid != os.getpid():
                started = threading.Event()
                self._thread = threading.Thread(
                    target=self._run, args=(started,), name="encore-events", daemon=True
                )
                self._thread.start()
                started.wait()
                self._pid = os.getpid()
                # atexit for plain processes; multiprocessing children (Django-Q2
                # workers) leave through os._exit, which only runs these finalizers.
                atexit.register(self.flush, 2.0)
                multiprocessing_util.Finalize(self, self.flush, args=(2.0,), exitpriority=100)
        return self._loop

    def _run(self, started: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()
        self._queue = asyncio.Queue()
        started.set()
        self._loop.run_until_complete(self._send_forever())

    async def _send_forever(self) -> None:
        while True:
            item = await self._queue.get()
            if isinstance(item, threading.Event):
                item.set()
                continue
            group, event = item
            try:
                # Looked up each time: tests may swap the layer's settings.
                await get_channel_layer().group_send(group, event)
            except Exception:
                logger.warning("could not publish %s to %s", event.get("type"), group, exc_info=True)
            finally:
                with self._lock:
                    self._pending -= 1


_publisher = _Publisher()


def publish(group: str, event: dict) -> None:
    transaction.on_commit(lambda: _publisher.submit(group, event))


def flush(timeout: float = 5.0) -> bool:
    """Block until the events published so far have left; False if that took over `timeout`."""
    return _publisher.flush(timeout)
