"""Who is asking, in a room: the host, a singer in it, or anyone else.

The API and the consumers resolve an `Actor` from the request (the signed-in user,
the browser session, or the X-Singer-Token header); the services check it, so every
caller (API, pages, consumers) gets the same answer.
"""

from dataclasses import dataclass

from common.errors import ApplicationError
from queue_app.models import Room, Singer

SESSION_KEY = "party_singers"  # {room code: singer token}
TOKEN_HEADER = "HTTP_X_SINGER_TOKEN"


@dataclass(frozen=True)
class Actor:
    user: object | None  # a signed-in User, or None
    singer: Singer | None  # their active singer in this room, or None
    is_host: bool

    @property
    def is_member(self) -> bool:
        return self.is_host or self.singer is not None


def is_host(room: Room, user) -> bool:
    """The room's owner, or staff (who may run any room)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return user.is_staff or user.pk == room.owner_id


def room_singer(room: Room, *, user=None, token: str = "") -> Singer | None:
    """The active singer this user or token is in `room`, if any (the token wins)."""
    singers = Singer.objects.filter(room=room, left_at__isnull=True)
    if token:
        singer = singers.filter(token=token).first()
        if singer is not None:
            return singer
    if user is not None and user.is_authenticated:
        return singers.filter(user=user).first()
    return None


def session_token(session, room: Room) -> str:
    return (session.get(SESSION_KEY) or {}).get(room.code, "") if session is not None else ""


def remember_singer(session, singer: Singer) -> None:
    tokens = dict(session.get(SESSION_KEY) or {})
    tokens[singer.room.code] = singer.token
    session[SESSION_KEY] = tokens


def forget_singer(session, room: Room) -> None:
    tokens = dict(session.get(SESSION_KEY) or {})
    if tokens.pop(room.code, None) is not None:
        session[SESSION_KEY] = tokens


def actor_for(room: Room, *, user=None, token: str = "") -> Actor:
    signed_in = user if user is not None and user.is_authenticated else None
    return Actor(user=signed_in, singer=room_singer(room, user=signed_in, token=token), is_host=is_host(room, signed_in))


def actor_from_request(room: Room, request) -> Actor:
    token = request.META.get(TOKEN_HEADER, "") or session_token(getattr(request, "session", None), room)
    return actor_for(room, user=request.user, token=token)


def forbidden(message: str, **extra) -> ApplicationError:
    return ApplicationError(message, extra=extra, status_code=403)


def require_host(actor: Actor) -> None:
    if not actor.is_host:
        raise forbidden("Only the room's host can do that.")


def require_member(actor: Actor) -> None:
    if not actor.is_member:
        raise forbidden("Join the room first.")
