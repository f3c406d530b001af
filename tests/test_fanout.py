"""The per-process fan-out of group events, against the configured channel layer.

The room consumers' tests show it end to end; these pin down what they rely on:
one subscription per group however many watchers, events held until a watcher is
ready and then delivered in order, and the subscription ended by the last watcher.
"""

import asyncio
import uuid

import pytest
from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer

from common import fanout
from karaoke_site import embedded

# A layer of each test's own: each runs its own event loop (see the fixture).
pytestmark = pytest.mark.usefixtures("fresh_channel_layer")


class Watcher:
    """A consumer as the fan-out sees it: a channel layer and one handler per event type."""

    def __init__(self, name: str, layer):
        self.name = name
        self.channel_layer = layer
        self.received: list[int] = []
        self.got = asyncio.Event()
        self.closed_with = None

    async def queue_changed(self, event):
        self.received.append(event["n"])
        self.got.set()

    async def close(self, code=None):
        self.closed_with = code


async def settle(*watchers: Watcher, count: int) -> None:
    async def until(watcher):
        while len(watcher.received) < count:
            watcher.got.clear()
            await watcher.got.wait()

    await asyncio.wait_for(asyncio.gather(*(until(w) for w in watchers)), 5)


async def group_size(layer, group: str) -> int:
    if hasattr(layer, "groups"):
        return len(layer.groups.get(group, {}))
    connection = layer.connection(layer.consistent_hash(group))
    return await connection.zcard(layer._group_key(group))


def test_watchers_of_a_group_share_one_subscription_that_the_last_one_ends():
    group = f"test-fanout-{uuid.uuid4().hex[:8]}"

    async def scenario():
        layer = get_channel_layer()
        a, b, c = Watcher("a", layer), Watcher("b", layer), Watcher("c", layer)
        for watcher in (a, b, c):
            await fanout.join(group, watcher)
            await fanout.ready(group, watcher)
        size_with_three = await group_size(layer, group)
        await layer.group_send(group, {"type": "queue.changed", "n": 1})
        await settle(a, b, c, count=1)
        await fanout.leave(group, b)
        await layer.group_send(group, {"type": "queue.changed", "n": 2})
        await settle(a, c, count=2)
        await fanout.leave(group, a)
        await fanout.leave(group, c)
        size_after = await group_size(layer, group)
        return size_with_three, size_after, a.received, b.received, c.received

    size_with_three, size_after, a, b, c = asyncio.run(scenario())
    assert size_with_three == 1
    assert size_after == 0
    assert a == [1, 2] and c == [1, 2]
    assert b == [1]


def test_events_wait_until_the_watcher_is_ready_then_arrive_in_order():
    group = f"test-fanout-{uuid.uuid4().hex[:8]}"

    async def scenario():
        layer = get_channel_layer()
        early, late = Watcher("early", layer), Watcher("late", layer)
        await fanout.join(group, early)
        await fanout.ready(group, early)
        # `late` joined (subscribed) but is still sending its first state.
        await fanout.join(group, late)
        for n in (1, 2, 3):
            await layer.group_send(group, {"type": "queue.changed", "n": n})
        await settle(early, count=3)
        held = list(late.received)
        await fanout.ready(group, late)
        after_ready = list(late.received)
        await layer.group_send(group, {"type": "queue.changed", "n": 4})
        await settle(early, late, count=4)
        await fanout.leave(group, early)
        await fanout.leave(group, late)
        return held, after_ready, late.received

    held, after_ready, everything = asyncio.run(scenario())
    assert held == []
    assert after_ready == [1, 2, 3]
    assert everything == [1, 2, 3, 4]


def test_a_failing_handler_does_not_stop_the_others():
    group = f"test-fanout-{uuid.uuid4().hex[:8]}"

    class Broken(Watcher):
        async def queue_changed(self, event):
            raise RuntimeError("its socket just closed")

    async def scenario():
        layer = get_channel_layer()
        broken, fine = Broken("broken", layer), Watcher("fine", layer)
        for watcher in (broken, fine):
            await fanout.join(group, watcher)
            await fanout.ready(group, watcher)
        await layer.group_send(group, {"type": "queue.changed", "n": 1})
        await layer.group_send(group, {"type": "queue.changed", "n": 2})
        await settle(fine, count=2)
        await fanout.leave(group, broken)
        await fanout.leave(group, fine)
        return fine.received

    assert asyncio.run(scenario()) == [1, 2]


class Stuck(Watcher):
    """A phone whose socket stopped draining: its send waits until `release` is set."""

    def __init__(self, name, layer):
        super().__init__(name, layer)
        self.release = asyncio.Event()

    async def queue_changed(self, event):
        await self.release.wait()
        await super().queue_changed(event)


def test_a_slow_watcher_does_not_hold_up_the_others_and_gets_everything_in_order_later():
    group = f"test-fanout-{uuid.uuid4().hex[:8]}"

    async def scenario():
        layer = get_channel_layer()
        slow, fine = Stuck("slow", layer), Watcher("fine", layer)
        for watcher in (slow, fine):  # the slow one first: before, everyone waited behind it
            await fanout.join(group, watcher)
            await fanout.ready(group, watcher)
        for n in (1, 2, 3):
            await layer.group_send(group, {"type": "queue.changed", "n": n})
        await settle(fine, count=3)
        slow_meanwhile = list(slow.received)
        slow.release.set()
        await settle(slow, count=3)
        await fanout.leave(group, slow)
        await fanout.leave(group, fine)
        return slow_meanwhile, slow.received, fine.received

    slow_meanwhile, slow, fine = asyncio.run(scenario())
    assert fine == [1, 2, 3]
    assert slow_meanwhile == []
    assert slow == [1, 2, 3]


def test_a_watcher_too_far_behind_is_closed_to_reconnect_and_the_others_get_every_event(monkeypatch):
    monkeypatch.setattr(fanout, "MAILBOX_LIMIT", 3)
    group = f"test-fanout-{uuid.uuid4().hex[:8]}"

    async def scenario():
        layer = get_channel_layer()
        stuck, fine = Stuck("stuck", layer), Watcher("fine", layer)
        for watcher in (stuck, fine):
            await fanout.join(group, watcher)
            await fanout.ready(group, watcher)
        # One event is being sent (waiting), three wait in its mailbox: the fifth is one too many.
        for n in range(1, 7):
            await layer.group_send(group, {"type": "queue.changed", "n": n})
        await settle(fine, count=6)
        for _ in range(100):
            if stuck.closed_with is not None:
                break
            await asyncio.sleep(0.01)
        stuck.release.set()
        await asyncio.sleep(0.05)
        await fanout.leave(group, stuck)
        await fanout.leave(group, fine)
        return stuck.closed_with, stuck.received, fine.received

    closed_with, stuck, fine = asyncio.run(scenario())
    assert closed_with == 1013  # "try again later": the client reconnects and gets the whole state
    assert fine == [1, 2, 3, 4, 5, 6]
    assert stuck == [1]  # the send under way ends; what waited is dropped, not sent to a closed socket


def test_when_redis_goes_away_the_watchers_are_closed_so_they_reconnect(tmp_path):
    server = embedded.start(tmp_path)
    group = f"test-fanout-{uuid.uuid4().hex[:8]}"

    async def scenario():
        # A layer on a Redis of this test's own, which it then stops: what a web process
        # sees when the Redis it shares with the workers dies.
        layer = RedisChannelLayer(hosts=[{"address": server.url, "socket_timeout": None}], prefix="encore")
        a, b = Watcher("a", layer), Watcher("b", layer)
        for watcher in (a, b):
            await fanout.join(group, watcher)
            await fanout.ready(group, watcher)
        await layer.group_send(group, {"type": "queue.changed", "n": 1})
        await settle(a, b, count=1)
        await asyncio.to_thread(server.stop)
        for _ in range(100):
            if a.closed_with and b.closed_with:
                break
            await asyncio.sleep(0.1)
        # A socket that comes after gets a subscription of its own, not the dead one.
        late = Watcher("late", layer)
        try:
            await asyncio.wait_for(fanout.join(group, late), 10)
            joined = True
        except Exception:
            joined = False
        return a.closed_with, b.closed_with, joined

    try:
        closed_a, closed_b, late_joined = asyncio.run(scenario())
    finally:
        server.stop()
    assert (closed_a, closed_b) == (1011, 1011)
    assert late_joined is False  # Redis is still down: the join fails, it does not hang
