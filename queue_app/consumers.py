"""WebSocket consumers of the party: thin, they only read and forward."""

import asyncio
import json
from collections import OrderedDict
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer

from common import fanout
from common.errors import NotFound
from common.throttle import Throttled, scope_client
from queue_app import access, fragments, selectors, throttles
from queue_app.events import room_group


def _query(scope) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(scope.get("query_string", b"").decode()).items()}


@database_sync_to_async
def _room(code, client):
    """The room, or None; Throttled when this client sent too many codes that match no room."""
    throttles.ROOM_LOOKUPS.check(client)
    try:
        return selectors.room_get(code=code)
    except NotFound:
        throttles.ROOM_LOOKUPS.hit(client)
        return None


@database_sync_to_async
def _actor(scope, room) -> access.Actor:
    token = _query(scope).get("token") or access.session_token(scope.get("session"), room)
    return access.actor_for(room, user=scope.get("user"), token=token)


@database_sync_to_async
def _state(room) -> dict:
    room.refresh_from_db()
    return selectors.room_state(room=room)


# The fan-out hands one event object to every watcher of the room in this process: it
# is serialized once, not once per client, which was a whole queue's json.dumps per
# phone per change. Each watcher sends from its own task, so the last few events are
# kept (held, so no other event can take one's id). The event loop is one thread.
_recent_json: "OrderedDict[int, tuple[dict, str]]" = OrderedDict()
_RECENT_JSON = 16


def _as_json(event: dict) -> str:
    found = _recent_json.get(id(event))
    if found is not None and found[0] is event:
        return found[1]
    text = json.dumps(event)
    _recent_json[id(event)] = (event, text)
    while len(_recent_json) > _RECENT_JSON:
        _recent_json.popitem(last=False)
    return text


class _RoomWatcher:
    """What both room consumers share: who may watch, and watching through the fan-out."""

    group: str | None = None
    watching_as: int | None = None  # the singer whose membership lets this socket watch; None for a host

    async def _admit(self) -> tuple | None:
        """The room and who is asking, or None once the socket is closed (4404, 4403; 4429
        for a client that sent too many unknown codes)."""
        try:
            room = await _room(self.scope["url_route"]["kwargs"]["code"], scope_client(self.scope))
        except Throttled:
            await self.close(code=4429)
            return None
        if room is None:
            await self.close(code=4404)
            return None
        actor = await _actor(self.scope, room)
        if not actor.is_member:
            await self.close(code=4403)
            return None
        self.watching_as = None if actor.is_host or actor.singer is None else actor.singer.pk
        return room, actor

    async def _watch(self, room, send_state) -> None:
        """Subscribe, accept, send the whole room (`send_state`), then every change."""
        self.group = room_group(room.code)
        await fanout.join(self.group, self)
        try:
            await self.accept()
            await send_state()
            await fanout.ready(self.group, self)
        except BaseException:
            # A connect() that fails half-way gets no disconnect(): stop the events held for it.
            await asyncio.shield(fanout.leave(self.group, self))
            raise

    async def disconnect(self, code):
        if self.group:
            await fanout.leave(self.group, self)

    def _sees(self, request: dict) -> bool:
        """A host follows every request of the room; a singer their own."""
        return self.watching_as is None or request["singer"]["id"] == self.watching_as

    async def singer_left(self, event):
        # Close the sockets that watched as the singer who just left (a host watches as host).
        if self.watching_as != event["singer"]:
            return
        # Leave the fan-out from a task of its own, apart from the fan-out's tasks (this
        # handler runs on one; leave() cancels the group's reader with its last watcher).
        self.leaving = asyncio.ensure_future(fanout.leave(self.group, self))
        await self.close(code=4403)


class RoomJsonConsumer(_RoomWatcher, AsyncJsonWebsocketConsumer):
    """`/ws/rooms/<code>/`: the whole room first (`state`), then every change, as JSON.

    Who may watch: the host (the owner or staff; a TV signs in as the host) and the
    singers in the room, known by their user, their browser session or `?token=`.
    Close codes: 4404 unknown room, 4403 not allowed (also when the singer it watched
    as leaves the room).
    """

    async def connect(self):
        admitted = await self._admit()
        if admitted is None:
            return
        room, _ = admitted

        async def send_state():
            state = await _state(room)
            state["requests"] = [r for r in state["requests"] if self._sees(r)]
            await self.send_json(state)

        await self._watch(room, send_state)

    # One handler per event type; each forwards the event as it is.
    async def queue_changed(self, event):
        await self.send(text_data=_as_json(event))

    async def player_state(self, event):
        await self.send(text_data=_as_json(event))

    async def room_changed(self, event):
        await self.send(text_data=_as_json(event))

    async def request_changed(self, event):
        if self._sees(event["request"]):
            await self.send(text_data=_as_json(event))


class RoomHtmlConsumer(_RoomWatcher, AsyncWebsocketConsumer):
    """`/ws/rooms/<code>/html/`: the pages' fragments, swapped by id (htmx ws extension).

    The same watchers and close codes as RoomJsonConsumer. `?view=host` (the host's
    page, for the host only) gets the host's queue with its handles and buttons and the
    Requests card; a singer also gets their own "My songs" and "My requests". Everything
    is rendered from the events' payloads (queue_app.fragments), so no watcher costs a
    query per event.
    """

    async def connect(self):
        admitted = await self._admit()
        if admitted is None:
            return
        room, actor = admitted
        self.host_view = actor.is_host and _query(self.scope).get("view") == "host"
        # A singer's "My songs" needs the queue and the player together, which arrive in
        # different events: keep the newest of each (pushes may come out of order).
        self.singer_id = actor.singer.pk if actor.singer is not None and not self.host_view else None

        async def send_state():
            state = await _state(room)
            self.queue, self.queue_version = state["queue"], state["version"]
            self.player, self.player_version = state["player"], state["version"]
            # The song requests this socket may see, by id: each request.changed brings one.
            state["requests"] = [r for r in state["requests"] if self._sees(r)]
            self.requests = {r["id"]: r for r in state["requests"]}
            await self.send(text_data=fragments.state_html(state, host=self.host_view, singer_id=self.singer_id))

        await self._watch(room, send_state)

    async def queue_changed(self, event):
        if event["version"] >= self.queue_version:
            self.queue, self.queue_version = event["queue"], event["version"]
        await self.send(text_data=fragments.queue_changed_html(
            event, host=self.host_view, singer_id=self.singer_id, player=self.player))

    async def player_state(self, event):
        before = fragments.my_playing(self.player, self.singer_id)
        if event["version"] >= self.player_version:
            self.player, self.player_version = event["player"], event["version"]
        after = fragments.my_playing(self.player, self.singer_id)
        # The singer's own song started or ended: "My songs" says "singing now", or no longer.
        mine_changed = (before or {}).get("id") != (after or {}).get("id")
        await self.send(text_data=fragments.player_state_html(
            event, singer_id=self.singer_id, queue=self.queue if mine_changed else None, host=self.host_view))

    async def room_changed(self, event):
        await self.send(text_data=fragments.room_changed_html(event, host=self.host_view))

    async def request_changed(self, event):
        # The whole card or "My requests", drawn from this socket's requests (never a query).
        if not self._sees(event["request"]) or not fragments.request_merge(self.requests, event["request"]):
            return
        requests = sorted(self.requests.values(), key=lambda r: r["id"])
        html = fragments.request_changed_html(event, requests=requests, host=self.host_view, singer_id=self.singer_id)
        if html:
            await self.send(text_data=html)
