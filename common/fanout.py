"""One channel-layer subscription per group and process, shared by the consumers watching it.

A room's watchers (every phone, the host's page, the TVs) all receive the same
events. Subscribed one by one, each consumer is one channel-layer receiver: per
event and per watcher, channels-redis wakes a receive task (two futures and an
`asyncio.wait`), Channels' dispatch loop another, and only then the handler runs.
For one queue change in a room of 200 phones that plumbing was about a third of
the web process's time in bench/broadcast.py. Here the process subscribes once
per group (one channel of its own, one reader task) and calls each watcher's
handler in turn: the same handlers, in the same order, on the same event object.

A watcher joins before it reads the state it sends first, so no event between the
two is lost; events that arrive until it calls `ready()` are held and delivered
then, in order, as Channels' own queue did while `connect()` ran.

After that each watcher has a mailbox, emptied in order by a task of its own, so a
phone that reads slowly (its socket's buffer full: the send waits for it to drain)
delays only itself, not every watcher after it in the room. A mailbox that keeps
growing (a phone that stopped reading) closes that socket; its client reconnects
and gets the whole state again.

State is per event loop: a process has one (uvicorn's), but tests start several.
"""

import asyncio
import logging
import weakref
from collections import deque
from dataclasses import dataclass, field

from channels.consumer import get_handler_name

logger = logging.getLogger(__name__)


# Events waiting for one watcher past which its socket is closed (code 1013, "try again
# later"): minutes of a busy party's changes; a watcher that far behind is not reading.
MAILBOX_LIMIT = 200


@dataclass(eq=False)
class _Watcher:
    consumer: object
    held: list | None = field(default_factory=list)  # None once ready: into the mailbox
    mailbox: deque = field(default_factory=deque)
    sender: asyncio.Task | None = None
    gone: bool = False

    def post(self, event: dict) -> None:
        if self.gone:
            return
        if len(self.mailbox) >= MAILBOX_LIMIT:
            logger.warning("%r is %d events behind; closing its socket", self.consumer, len(self.mailbox))
            self.mailbox.clear()
            self.gone = True
            self.sender = asyncio.ensure_future(_close(self.consumer, 1013))
            return
        self.mailbox.append(event)
        if self.sender is None or self.sender.done():
            self.sender = asyncio.ensure_future(self._send())

    async def _send(self) -> None:
        while self.mailbox and not self.gone:
            await _deliver(self.consumer, self.mailbox.popleft())


@dataclass(eq=False)
class _Subscription:
    channel: str | None = None
    reader: asyncio.Task | None = None
    subscribed: asyncio.Future | None = None
    watchers: dict = field(default_factory=dict)  # consumer -> _Watcher, in joining order


class _Fanout:
    def __init__(self) -> None:
        self.groups: dict[str, _Subscription] = {}

    async def join(self, group: str, consumer) -> None:
        subscription = self.groups.get(group)
        if subscription is None:
            subscription = self.groups[group] = _Subscription()
            subscription.subscribed = asyncio.get_running_loop().create_future()
            subscription.reader = asyncio.create_task(self._read(group, subscription, consumer.channel_layer))
        subscription.watchers[consumer] = _Watcher(consumer)
        # The first watcher waits for the subscription; the others find it made.
        await asyncio.shield(subscription.subscribed)

    async def leave(self, group: str, consumer) -> None:
        subscription = self.groups.get(group)
        watcher = subscription.watchers.pop(consumer, None) if subscription is not None else None
        if watcher is None:
            return
        # Its mailbox is dropped; a delivery under way ends by itself (not cancelled: leave()
        # may be called from a handler that the sender task is running).
        watcher.gone = True
        watcher.mailbox.clear()
        if subscription.watchers:
            return
        del self.groups[group]
        subscription.reader.cancel()
        if subscription.channel is not None:
            await consumer.channel_layer.group_discard(group, subscription.channel)

    async def ready(self, group: str, consumer) -> None:
        subscription = self.groups.get(group)
        watcher = subscription.watchers.get(consumer) if subscription else None
        if watcher is None:
            return
        while watcher.held:
            await _deliver(consumer, watcher.held.pop(0))
        watcher.held = None  # no await since the loop's last check: nothing slips in between

    async def _read(self, group: str, subscription: _Subscription, layer) -> None:
        try:
            # The default prefix: channels-redis receives a process's channels together
            # only when they share it.
            subscription.channel = await layer.new_channel()
            await layer.group_add(group, subscription.channel)
        except asyncio.CancelledError:
            if self.groups.get(group) is subscription:
                del self.groups[group]
            subscription.subscribed.cancel()
            raise
        except Exception as exc:
            # The joiners get the error (their connect() fails and the socket closes);
            # the task ends quietly rather than as an exception nobody retrieves.
            if self.groups.get(group) is subscription:
                del self.groups[group]
            subscription.subscribed.set_exception(exc)
            return
        subscription.subscribed.set_result(None)
        try:
            while True:
                event = await layer.receive(subscription.channel)
                for watcher in list(subscription.watchers.values()):
                    if watcher.held is not None:
                        watcher.held.append(event)
                    else:
                        watcher.post(event)
        except Exception:
            # The channel layer failed (Redis went away, say). Close every watcher's
            # socket: clients reconnect, get the whole state again, and subscribe anew.
            logger.exception("the subscription to %s failed; closing its %d watchers", group,
                             len(subscription.watchers))
            if self.groups.get(group) is subscription:
                del self.groups[group]
            for watcher in list(subscription.watchers.values()):
                await _close(watcher.consumer, 1011)


async def _close(consumer, code: int) -> None:
    try:
        await consumer.close(code=code)
    except Exception:
        pass  # already closed


async def _deliver(consumer, event: dict) -> None:
    try:
        await getattr(consumer, get_handler_name(event))(event)
    except Exception:
        # One watcher's failure (its socket closed a moment ago, say) is not the others'.
        logger.warning("could not deliver %s to %r", event.get("type"), consumer, exc_info=True)


_by_loop: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Fanout]" = weakref.WeakKeyDictionary()


def _fanout() -> _Fanout:
    loop = asyncio.get_running_loop()
    fanout = _by_loop.get(loop)
    if fanout is None:
        fanout = _by_loop[loop] = _Fanout()
    return fanout


async def join(group: str, consumer) -> None:
    """Watch `group`: its events go to `consumer`'s handlers, held until `ready()`."""
    await _fanout().join(group, consumer)


async def ready(group: str, consumer) -> None:
    """Deliver what arrived since `join()`, then every event as it comes."""
    await _fanout().ready(group, consumer)


async def leave(group: str, consumer) -> None:
    """Stop watching; the last watcher of a group ends the process's subscription."""
    await _fanout().leave(group, consumer)
