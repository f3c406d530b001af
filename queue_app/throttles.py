"""The party's throttles (common/throttle.py): room codes that match no room, joins, and
wrong room passwords, counted per client address (and per room), shared by every process.

Unknown codes are counted by RoomLookupThrottle for every address that names a room (the
pages, the API), by the room list's code form, and by the room consumers; joins and
passwords by `singer_join`, which the join page and the join API call instead of the
service.
"""

from django.utils.deprecation import MiddlewareMixin

from common.answers import error_answer
from common.errors import ApplicationError
from common.throttle import Throttle, Throttled, client_address, with_retry_after
from queue_app import access, selectors, services
from queue_app.models import Room, Singer

ROOM_LOOKUPS = Throttle(
    "room-lookups", setting="THROTTLE_ROOM_LOOKUPS", message="Too many room codes that match no room from this device."
)
JOINS = Throttle("joins", setting="THROTTLE_JOINS", message="Too many joins from this device.")
REQUESTS = Throttle("song-requests", setting="THROTTLE_REQUESTS", message="That is a lot of song requests.")
PASSWORD_PER_CLIENT = Throttle(
    "room-password-client", setting="THROTTLE_ROOM_PASSWORD_PER_CLIENT",
    message="Too many wrong passwords for this room from this device.",
)
PASSWORD_PER_ROOM = Throttle(
    "room-password-room", setting="THROTTLE_ROOM_PASSWORD_PER_ROOM",
    message="Too many wrong passwords for this room; the host can tell you the right one.",
)


def room_missed(code: str, client: str) -> None:
    """Count a code that matched no room (unless it names one: a 404 for something else)."""
    if not Room.objects.filter(code=selectors.normalize_code(code)).exists():
        ROOM_LOOKUPS.hit(client)


def singer_join(*, room: Room, client: str, user=None, token: str = "", display_name: str = "",
                password: str = "") -> tuple[Singer, bool]:
    """services.singer_join, counted: every join per client, and each wrong password per
    room and client and per room. A password is not asked of the room's host, and an
    empty one is no guess."""
    JOINS.hit_or_refuse(client)
    guessing = bool(room.password and password) and not access.is_host(room, user)
    if guessing:
        PASSWORD_PER_CLIENT.check(room.code, client)
        PASSWORD_PER_ROOM.check(room.code)
    try:
        return services.singer_join(room=room, user=user, token=token, display_name=display_name, password=password)
    except ApplicationError as exc:
        if guessing and exc.extra.get("reason") == "wrong_password":
            PASSWORD_PER_CLIENT.hit(room.code, client)
            PASSWORD_PER_ROOM.hit(room.code)
        raise


def _names_a_room(request) -> str | None:
    match = request.resolver_match
    if match is None or "code" not in match.kwargs:
        return None
    if match.namespace == "rooms" or (match.url_name or "").startswith("api-room"):
        return match.kwargs["code"]
    return None


class RoomLookupThrottle(MiddlewareMixin):
    """Every page and API address with a room code: a client that sent too many codes
    matching no room gets a 429 (with Retry-After) before the view runs; a 404 for a code
    that matches no room is counted."""

    def process_view(self, request, view_func, view_args, view_kwargs):
        if _names_a_room(request) is None:
            return None
        try:
            ROOM_LOOKUPS.check(client_address(request))
        except Throttled as exc:
            answer = error_answer(request, status=429, message=exc.message, template="429.html", extra=exc.extra)
            return with_retry_after(answer, exc)
        return None

    def process_response(self, request, response):
        if response.status_code == 404:
            code = _names_a_room(request)
            if code is not None:
                room_missed(code, client_address(request))
        return response
