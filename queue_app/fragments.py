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
    return entry


def room_context(*, room: dict, version: int) -> dict:
    return {"room": room, "code": room["code"], "version": version}


def now_playing_context(*, code: str, player: dict, version: int) -> dict:
    return {"code": code, "player": player, "version": version}


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


def now_playing_html(*, code: str, player: dict, version: int, cache: bool = False) -> str:
    build = partial(render, "_now_playing.html", now_playing_context(code=code, player=player, version=version))
    return _cached(("now_playing", code, version), build) if cache else build()


def queue_html(*, code: str, queue: list[dict], version: int, host: bool, cache: bool = False) -> str:
    template = "_host_queue.html" if host else "_queue.html"
    build = partial(render, template, queue_context(code=code, queue=queue, version=version))
    return _cached((template, code, version), build) if cache else build()


def my_songs_html(*, code: str, queue: list[dict], singer_id: int | None, version: int, player: dict | None = None) -> str:
    # Per singer: small, and not worth a cache entry per phone.
    return render("_my_songs.html", my_songs_context(
        code=code, queue=queue, singer_id=singer_id, version=version, player=player))


def settings_html(*, room: dict, version: int, cache: bool = False) -> str:
    build = partial(render, "_settings.html", settings_context(room=room, version=version))
    return _cached(("settings", room["code"], version), build) if cache else build()


def state_html(state: dict, *, host: bool, singer_id: int | None) -> str:
    """Everything a page shows of the room (selectors.room_state), for a (re)connect."""
    code, version = state["room"]["code"], state["version"]
    parts = [
        room_html(room=state["room"], version=version),
        now_playing_html(code=code, player=state["player"], version=version),
        queue_html(code=code, queue=state["queue"], version=version, host=host),
    ]
    if not host and singer_id is not None:
        parts.append(my_songs_html(code=code, queue=state["queue"], singer_id=singer_id, version=version,
                                   player=state["player"]))
    if host:
        parts.append(settings_html(room=state["room"], version=version))
    return "\n".join(parts)


def queue_changed_html(event: dict, *, host: bool, singer_id: int | None, player: dict | None = None) -> str:
    """`player`: the newest player the watcher has seen (for the singer's "singing now")."""
    code, version, queue = event["room"], event["version"], event["queue"]
    parts = [queue_html(code=code, queue=queue, version=version, host=host, cache=True)]
    if not host and singer_id is not None:
        parts.append(my_songs_html(code=code, queue=queue, singer_id=singer_id, version=version, player=player))
    return "\n".join(parts)


def player_state_html(event: dict, *, singer_id: int | None = None, queue: list[dict] | None = None) -> str:
    """Now playing; with `queue` (the newest the watcher has seen) also the singer's "My
    songs", for a player change that starts or ends their own song."""
    parts = [now_playing_html(code=event["room"], player=event["player"], version=event["version"], cache=True)]
    if queue is not None and singer_id is not None:
        parts.append(my_songs_html(code=event["room"], queue=queue, singer_id=singer_id, version=event["version"],
                                   player=event["player"]))
    return "\n".join(parts)


def room_changed_html(event: dict, *, host: bool = False) -> str:
    parts = [room_html(room=event["settings"], version=event["version"], cache=True)]
    if host:
        parts.append(settings_html(room=event["settings"], version=event["version"], cache=True))
    return "\n".join(parts)
