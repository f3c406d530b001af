"""The party's HTML fragments: the `_noun.html` partials that the pages include, the HTMX
answers swap and the HTML consumer pushes, each rooted at an element with an id.

Everything here renders from the payloads of queue_app/selectors.py (what the events
carry), never from the database, so a push to 200 phones costs no query. A fragment
carries the room `version` it was drawn from (`data-version`); static/js/party.js keeps
the newest copy of each fragment.
"""

from collections import OrderedDict
from functools import partial

from django.template.loader import render_to_string

from queue_app.forms import RoomSettingsForm

# Fragment ids, one per kind and room (a page shows one room).
ROOM = "room-{code}"
NOW_PLAYING = "now-playing-{code}"
QUEUE = "queue-{code}"
HOST_QUEUE = "host-queue-{code}"
MY_SONGS = "my-songs-{code}"
SETTINGS = "settings-{code}"
MY_REQUESTS = "my-requests-{code}"
HOST_REQUESTS = "host-requests-{code}"


def my_entries(queue: list[dict], singer_id: int | None) -> list[dict]:
    """The singer's own waiting songs, in play order (each with its wait_minutes)."""
    if singer_id is None:
        return []
    return [item for item in queue if item["singer"]["id"] == singer_id]


def my_playing(player: dict | None, singer_id: int | None) -> dict | None:
    """The singer's own song, when it is the one playing now (else None)."""
    entry = player.get("entry") if player else None
    if entry is None or singer_id is None or entry["singer"]["id"] != singer_id:
        return None
    # With the interlude before it (seconds left) and whether it waits for its stream.
    return {**entry, "starts_in": player.get("starts_in") or 0, "holding": bool(player.get("holding"))}


def my_requests(requests: list[dict], singer_id: int | None) -> list[dict]:
    """The singer's own song requests (selectors.request_payload), oldest first."""
    if singer_id is None:
        return []
    return [request for request in requests if request["singer"]["id"] == singer_id]


# A request only moves forward (pending → approved → ready, denied, failed, cancelled):
# a late event of an earlier step (a progress tick that crossed the song's "ready" on
# the way from another process) must not bring an ended request back.
_STEP = {"pending": 0, "approved": 1}
_ENDED = 2


def request_merge(held: dict[int, dict], request: dict) -> bool:
    """Put `request` (an event's payload) into a watcher's requests, by id; False when it
    is older news than what is held (nothing to redraw)."""
    before = held.get(request["id"])
    if before is not None and _STEP.get(request["status"], _ENDED) < _STEP.get(before["status"], _ENDED):
        return False
    held[request["id"]] = request
    return True


def room_context(*, room: dict, version: int) -> dict:
    return {"room": room, "code": room["code"], "version": version}


def now_playing_context(*, code: str, player: dict, version: int, host: bool = False) -> dict:
    """`host`: the host's console, where the key of the song playing can be changed."""
    return {"code": code, "player": player, "version": version, "host_view": host}


def queue_context(*, code: str, queue: list[dict], version: int, **extra) -> dict:
    return {"code": code, "queue": queue, "version": version, **extra}


def my_songs_context(
    *, code: str, queue: list[dict], singer_id: int | None, version: int, player: dict | None = None, **extra
) -> dict:
    return {
        "code": code, "mine": my_entries(queue, singer_id), "singing_now": my_playing(player, singer_id),
        "version": version, **extra,
    }


def settings_context(*, room: dict, version: int, **extra) -> dict:
    return {
        "code": room["code"], "room": room, "version": version,
        "settings_form": extra.pop("settings_form", None) or RoomSettingsForm(initial=room), **extra,
    }


def my_requests_context(*, code: str, requests: list[dict], singer_id: int | None, **extra) -> dict:
    return {"code": code, "requests": my_requests(requests, singer_id), **extra}


def host_requests_context(*, code: str, requests: list[dict], **extra) -> dict:
    """The host's card: the requests waiting for an answer, and the approved ones being prepared."""
    return {
        "code": code,
        "pending": [request for request in requests if request["status"] == "pending"],
        "approved": [request for request in requests if request["status"] == "approved"],
        **extra,
    }


def render(template: str, context: dict, *, oob: bool = True) -> str:
    return render_to_string(f"queue_app/partials/{template}", {**context, "oob": oob})


# A pushed event is rendered once per process, not once per watcher: every consumer of
# the room in this process asks for the same (fragment, room, version) and gets the
# string the first one rendered. Only event payloads are cached: a state read at
# connect time has fresher estimates than an older event of the same version.
_CACHE: OrderedDict = OrderedDict()
_CACHE_SIZE = 64


def _cached(key: tuple, build) -> str:
    html = _CACHE.get(key)
    if html is None:
        html = build()
        _CACHE[key] = html
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    else:
        _CACHE.move_to_end(key)
    return html


def room_html(*, room: dict, version: int, cache: bool = False) -> str:
    build = partial(render, "_room_header.html", room_context(room=room, version=version))
    return _cached(("room", room["code"], version), build) if cache else build()


def now_playing_html(*, code: str, player: dict, version: int, cache: bool = False, host: bool = False) -> str:
    build = partial(render, "_now_playing.html", now_playing_context(code=code, player=player, version=version, host=host))
    return _cached(("now_playing", code, version, host), build) if cache else build()


def queue_html(*, code: str, queue: list[dict], version: int, host: bool, cache: bool = False) -> str:
    template = "_host_queue.html" if host else "_queue.html"
    build = partial(render, template, queue_context(code=code, queue=queue, version=version))
    return _cached((template, code, version), build) if cache else build()


def my_songs_html(*, code: str, queue: list[dict], singer_id: int | None, version: int, player: dict | None = None) -> str:
    # Per singer: small, and not worth a cache entry per phone.
    return render("_my_songs.html", my_songs_context(
        code=code, queue=queue, singer_id=singer_id, version=version, player=player))


def my_requests_html(*, code: str, requests: list[dict], singer_id: int | None) -> str:
    # Per singer, like "My songs". (Requests carry no room version: a request changes
    # without the room's version; the consumer keeps each request's newest step.)
    return render("_my_requests.html", my_requests_context(code=code, requests=requests, singer_id=singer_id))


def host_requests_html(*, code: str, requests: list[dict]) -> str:
    # Per host connection: a room has a host or two, and each keeps its own requests.
    return render("_host_requests.html", host_requests_context(code=code, requests=requests))


def settings_html(*, room: dict, version: int, cache: bool = False) -> str:
    build = partial(render, "_settings.html", settings_context(room=room, version=version))
    return _cached(("settings", room["code"], version), build) if cache else build()


def state_html(state: dict, *, host: bool, singer_id: int | None) -> str:
    """Everything a page shows of the room (selectors.room_state), for a (re)connect;
    `state["requests"]` are those the watcher may see."""
    code, version = state["room"]["code"], state["version"]
    parts = [
        room_html(room=state["room"], version=version),
        now_playing_html(code=code, player=state["player"], version=version, host=host),
        queue_html(code=code, queue=state["queue"], version=version, host=host),
    ]
    if not host and singer_id is not None:
        parts.append(my_songs_html(code=code, queue=state["queue"], singer_id=singer_id, version=version,
                                   player=state["player"]))
        parts.append(my_requests_html(code=code, requests=state["requests"], singer_id=singer_id))
    if host:
        parts.append(settings_html(room=state["room"], version=version))
        parts.append(host_requests_html(code=code, requests=state["requests"]))
    return "\n".join(parts)


def queue_changed_html(event: dict, *, host: bool, singer_id: int | None, player: dict | None = None) -> str:
    """`player`: the newest player the watcher has seen (for the singer's "singing now")."""
    code, version, queue = event["room"], event["version"], event["queue"]
    parts = [queue_html(code=code, queue=queue, version=version, host=host, cache=True)]
    if not host and singer_id is not None:
        parts.append(my_songs_html(code=code, queue=queue, singer_id=singer_id, version=version, player=player))
    return "\n".join(parts)


def player_state_html(
    event: dict, *, singer_id: int | None = None, queue: list[dict] | None = None, host: bool = False
) -> str:
    """Now playing (`host`: the console's, with the key stepper); with `queue` (the newest
    the watcher has seen) also the singer's "My songs", for a player change that starts or
    ends their own song."""
    parts = [now_playing_html(code=event["room"], player=event["player"], version=event["version"], cache=True,
                              host=host)]
    if queue is not None and singer_id is not None:
        parts.append(my_songs_html(code=event["room"], queue=queue, singer_id=singer_id, version=event["version"],
                                   player=event["player"]))
    return "\n".join(parts)


def room_changed_html(event: dict, *, host: bool = False) -> str:
    parts = [room_html(room=event["settings"], version=event["version"], cache=True)]
    if host:
        parts.append(settings_html(room=event["settings"], version=event["version"], cache=True))
    return "\n".join(parts)


def request_changed_html(event: dict, *, requests: list[dict], host: bool, singer_id: int | None) -> str:
    """`requests`: the watcher's requests with the event's in (request_merge). The host's
    page gets its Requests card; a singer their "My requests" when the request is theirs;
    anyone else nothing ("")."""
    code, request = event["room"], event["request"]
    if host:
        return host_requests_html(code=code, requests=requests)
    if singer_id is not None and request["singer"]["id"] == singer_id:
        return my_requests_html(code=code, requests=requests, singer_id=singer_id)
    return ""
