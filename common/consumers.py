"""What every WebSocket consumer of the site shares."""

from channels.consumer import get_handler_name


class GroupEventsMixin:
    """Group events go straight to their handler.

    Channels closes stale database connections (`aclose_old_connections`, a hop to a
    worker thread) before every message a consumer handles. For a group event that is
    one thread hop per watcher per change: for one queue change in a room of 200 phones,
    200 hops, 13 % of the web process's time in bench/broadcast.py. Our event handlers
    forward or render the event's payload; the few that read the database do it through
    `database_sync_to_async`, which closes stale connections itself. WebSocket messages
    (connect, receive, disconnect) keep Channels' behaviour.
    """

    async def dispatch(self, message):
        if message["type"].startswith("websocket."):
            await super().dispatch(message)
            return
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)
