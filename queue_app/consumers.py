"""WebSocket consumers of the party: thin, they only read and forward."""

import json
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from karaoke_site.errors import NotFound
from queue_app import access, selectors
from queue_app.events import room_group


class RoomJsonConsumer(AsyncJsonWebsocketConsumer):
    """`/ws/rooms/<code>/`: the whole room first (`state`), then every change, as JSON.

    Who may watch: the host (the owner or staff; a TV signs in as the host) and the
    singers in the room, known by their user, their browser session or `?token=`.
    Close codes: 4404 unknown room, 4403 not allowed.
    """

    async def connect(self):
        self.group = None
        room = await self._room(self.scope["url_route"]["kwargs"]["code"])
        if room is None:
            await self.close(code=4404)
            return
        if not await self._may_watch(room):
            await self.close(code=4403)
            return
        self.group = room_group(room.code)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json(await self._state(room))

    async def disconnect(self, code):
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    @database_sync_to_async
    def _room(self, code):
        try:
            return selectors.room_get(code=code)
        except NotFound:
            return None

    @database_sync_to_async
    def _may_watch(self, room) -> bool:
        query = parse_qs(self.scope.get("query_string", b"").decode())
        token = (query.get("token") or [""])[0] or access.session_token(self.scope.get("session"), room)
        return access.actor_for(room, user=self.scope.get("user"), token=token).is_member

    @database_sync_to_async
    def _state(self, room) -> dict:
        room.refresh_from_db()
        return selectors.room_state(room=room)

    # One handler per event type; each forwards the event as it is.
    async def queue_changed(self, event):
        await self.send(text_data=_as_json(event))

    async def player_state(self, event):
        await self.send(text_data=_as_json(event))

    async def room_changed(self, event):
        await self.send(text_data=_as_json(event))


# channels-redis hands one event object to every consumer of the group in this process
# (one Redis message per process): it is serialized once, not once per client, which
# was a whole queue's json.dumps per phone per change. The event loop is one thread.
_last_sent: tuple[dict, str] | None = None


def _as_json(event: dict) -> str:
    global _last_sent
    if _last_sent is None or _last_sent[0] is not event:
        _last_sent = (event, json.dumps(event))
    return _last_sent[1]
