"""Every event the party publishes (through common.events, after commit).

Group: `room.<code>` (everyone watching the room: host, singers, TVs).
Vocabulary: `queue.changed` (the whole waiting list in play order),
`player.state` (the current entry, paused or playing, position, who is next), and
`room.changed` (the room's settings), `request.changed` (a song request: asked,
approved, its import's progress and ETA, ready, denied, failed, cancelled). Each carries the room's `version`: a client
keeps the newest and ignores an older one that arrives late. `singer.left` is for
the consumers only (not forwarded): the sockets that watched as that singer close.
"""

from django.utils import timezone

from common.events import publish as _publish
from queue_app import selectors


def room_group(code: str) -> str:
    return f"room.{code}"


def queue_changed(snapshot: "selectors.RoomSnapshot") -> None:
    room = snapshot.room
    _publish(room_group(room.code), {
        "type": "queue.changed", "room": room.code, "version": room.version,
        "queue": selectors.queue_payload(snapshot, timezone.now()),
    })


def player_state(snapshot: "selectors.RoomSnapshot") -> None:
    room = snapshot.room
    _publish(room_group(room.code), {
        "type": "player.state", "room": room.code, "version": room.version,
        "player": selectors.player_payload(snapshot, timezone.now()),
    })


def room_changed(room) -> None:
    _publish(room_group(room.code), {
        "type": "room.changed", "room": room.code, "version": room.version,
        "settings": selectors.room_payload(room),
    })


def request_changed(request) -> None:
    _publish(room_group(request.room.code), {
        "type": "request.changed", "room": request.room.code,
        "request": selectors.request_payload(request),
    })


def singer_left(room, singer_id: int) -> None:
    # Watching a room needs membership: a singer who leaves stops getting its changes.
    _publish(room_group(room.code), {"type": "singer.left", "room": room.code, "singer": singer_id})
