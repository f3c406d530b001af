"""The party's pages (HTMX-aware function views): the singer's room, the host's console
and the TV. Reads through queue_app.selectors, writes through queue_app.services, who is
asking through queue_app.access; refusals are shown where the user acted, with their 4xx.
"""

import uuid
from functools import wraps
from urllib.parse import urlencode, urlsplit, urlunsplit

import segno
from django import forms
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from common.errors import ApplicationError, NotFound
from common.procs import lan_addresses
from common.throttle import Throttled, client_address, with_retry_after
from queue_app import access, fragments, selectors, services, throttles
from queue_app import requests as song_requests
from queue_app.forms import RoomSettingsForm
from queue_app.models import Room
from queue_app.templatetags.party import key_shift_label
from songs import selectors as song_selectors
from songs.models import Song

MAX_ID = 2**63 - 1  # larger ids would overflow the database's integer, not just miss
SEARCH_LIMIT = 30
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}

# --- singers and hosts ---------------------------------------------------------------------


def _form_error(form: forms.Form) -> str:
    """A bound, invalid form's errors as one sentence for the inline message."""
    parts = []
    for field, errors in form.errors.items():
        label = (form.fields[field].label or field.replace("_", " ")) if field in form.fields else ""
        parts.append(f"{label.capitalize()}: {' '.join(errors)}" if label else " ".join(errors))
    return " ".join(parts)


def _room_or_none(code: str) -> Room | None:
    try:
        return selectors.room_get(code=code)
    except NotFound:
        return None


def render_to_error(message: str, status: int) -> HttpResponse:
    """A refusal as the small fragment an HTMX request swaps where the user acted."""
    return HttpResponse(format_html('<p class="error" role="alert">{}</p>', message), status=status)


# --- /rooms/: join with a code, a host's rooms, open a room ---------------------------------


class JoinCodeForm(forms.Form):
    code = forms.CharField(max_length=8, label="Room code")


class RoomCreateForm(forms.Form):
    name = forms.CharField(max_length=100, required=False, label="Name")
    password = forms.CharField(
        max_length=128, required=False, strip=False, label="Password (optional)", widget=forms.PasswordInput
    )
    rotation_mode = forms.ChoiceField(choices=Room.RotationMode.choices, initial=Room.RotationMode.FAIR, label="Rotation")
    max_waiting_per_singer = forms.IntegerField(
        min_value=1, max_value=100, required=False, initial=3, label="Songs waiting per singer (empty: no limit)"
    )


def _rooms_page(request, *, status: int = 200, code_error: str = "", create_form=None, create_error: str = ""):
    context = {
        "code_form": JoinCodeForm(request.GET or None),
        "code_error": code_error,
        "rooms": selectors.rooms_run_by(user=request.user),
        "can_host": getattr(request.user, "can_host", False),
        "create_form": create_form or RoomCreateForm(),
        "create_error": create_error,
    }
    return render(request, "queue_app/rooms.html", context, status=status)


@require_http_methods(["GET", "POST"])
def room_list(request):
    """Everyone: join with a code (any case). Hosts: their rooms (staff: all) and a new one."""
    if request.method == "POST":
        return _room_create(request)
    code = request.GET.get("code")
    if code is None:
        return _rooms_page(request)
    code = selectors.normalize_code(code)
    if not code:
        return _rooms_page(request, status=400, code_error="Type the room's code first.")
    client = client_address(request)
    try:
        throttles.ROOM_LOOKUPS.check(client)
    except Throttled as exc:
        return with_retry_after(_rooms_page(request, status=429, code_error=exc.message), exc)
    room = _room_or_none(code) if len(code) <= 8 else None
    if room is None:
        throttles.ROOM_LOOKUPS.hit(client)
        return _rooms_page(request, status=404, code_error=f"{_no_room_message(code)} Check the code on the TV.")
    return redirect("rooms:singer", code=room.code)


def _room_create(request):
    if not getattr(request.user, "can_host", False):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return render(request, "queue_app/forbidden.html", {"reason": "Only hosts can open a room."}, status=403)
    form = RoomCreateForm(request.POST)
    if not form.is_valid():
        return _rooms_page(request, status=400, create_form=form, create_error=_form_error(form))
    try:
        room = services.room_create(owner=request.user, **form.cleaned_data)
    except ApplicationError as exc:
        return _rooms_page(request, status=exc.status_code, create_form=form, create_error=exc.message)
    messages.success(request, f"{room.name} is open: singers join with the code {room.code}.")
    return redirect("rooms:host", code=room.code)


# --- /rooms/<code>/: the singer's page --------------------------------------------------------


class JoinForm(forms.Form):
    display_name = forms.CharField(max_length=80, required=False, label="Your name")
    password = forms.CharField(max_length=128, required=False, strip=False, label="Room password",
                               widget=forms.PasswordInput)


def _no_room_message(code: str) -> str:
    code = selectors.normalize_code(code)
    return f"There is no room with the code {code if len(code) <= 8 else code[:8] + '…'}."


def _no_such_room(request, code: str):
    if request.htmx:
        return render_to_error(_no_room_message(code), 404)
    return _rooms_page(request, status=404, code_error=_no_room_message(code))


def _page_number(value) -> int:
    try:
        return min(max(1, int(value)), 100_000)
    except (TypeError, ValueError):  # a hand-edited address: the first page
        return 1


def _songs_context(request, room: Room, actor: access.Actor | None = None) -> dict:
    """The singer's song list: what matches `q`, or without one the whole library a page at
    a time (`order`: title or artist; `page`), with its count; and (`remembered`) the key
    the singer last chose for each song listed, their Add's default."""
    query = request.GET.get("q", "")[:200]
    context = {"code": room.code, "q": query, "requests_on": room.requests != Room.Requests.OFF, "hits": []}
    if query.strip():
        context["hits"] = song_selectors.song_search_for_singers(query=query, limit=SEARCH_LIMIT)
    else:
        context["library"] = song_selectors.song_browse_for_singers(
            order=request.GET.get("order", ""), page=_page_number(request.GET.get("page"))
        )
        context["orders"] = list(song_selectors.BROWSE_ORDERS.items())
    listed = [hit.song for hit in context["hits"]] or list(getattr(context.get("library"), "songs", []))
    context["remembered"] = selectors.remembered_key_shifts(
        singer=actor.singer if actor is not None else None, song_ids=[song.pk for song in listed]
    )
    return context


def _singer_context(request, room: Room, actor: access.Actor, **extra) -> dict:
    state = selectors.room_state(room=room)
    singer_id = actor.singer.pk if actor.singer is not None else None
    return {
        "room": state["room"], "code": room.code, "version": state["version"],
        "queue": state["queue"], "player": state["player"],
        "mine": fragments.my_entries(state["queue"], singer_id),
        "singing_now": fragments.my_playing(state["player"], singer_id),
        "actor": actor, "singer": actor.singer,
        **_songs_context(request, room, actor),
        "requests": fragments.my_requests(state["requests"], singer_id),
        "ws_url": f"/ws/rooms/{room.code}/html/",
        **extra,
    }


def _join_page(request, room: Room, actor: access.Actor, *, status: int = 200, error: str = "", form=None):
    context = {
        "room": selectors.room_payload(room), "code": room.code, "actor": actor,
        "form": form or JoinForm(), "error": error,
        "needs_password": room.has_password and not actor.is_host,
    }
    return render(request, "queue_app/join.html", context, status=status)


@require_GET
def room_singer(request, code):
    """Where the QR code lands: the join form, or (a singer) the room from their phone."""
    room = _room_or_none(code)
    if room is None:
        return _no_such_room(request, code)
    if room.code != code:
        return redirect("rooms:singer", code=room.code)
    actor = access.actor_from_request(room, request)
    if actor.singer is None:
        return _join_page(request, room, actor)
    return render(request, "queue_app/singer.html", _singer_context(request, room, actor))


@require_POST
def room_join(request, code):
    room = _room_or_none(code)
    if room is None:
        return _no_such_room(request, code)
    actor = access.actor_from_request(room, request)
    form = JoinForm(request.POST)
    if not form.is_valid():
        return _join_page(request, room, actor, status=400, error=_form_error(form), form=form)
    try:
        singer, _created = throttles.singer_join(
            room=room, client=client_address(request), user=request.user,
            token=access.session_token(request.session, room), **form.cleaned_data
        )
    except ApplicationError as exc:
        return with_retry_after(
            _join_page(request, room, actor, status=exc.status_code, error=exc.message, form=form), exc
        )
    access.remember_singer(request.session, singer)
    return redirect("rooms:singer", code=room.code)


@require_POST
def room_leave(request, code):
    room = _room_or_none(code)
    if room is None:
        return _no_such_room(request, code)
    actor = access.actor_from_request(room, request)
    if actor.singer is None:
        return _join_page(request, room, actor, status=403, error="You are not singing in this room.")
    services.singer_leave(singer=actor.singer)
    access.forget_singer(request.session, room)
    messages.info(request, f"You left {room.name}. Your waiting songs were taken out of the queue.")
    return redirect("rooms:singer", code=room.code)


def singer_action(view):
    """Actions of the singer's page: the room (404), and a singer of it (403 otherwise)."""

    @wraps(view)
    def wrapper(request, code, *args, **kwargs):
        room = _room_or_none(code)
        if room is None:
            return _no_such_room(request, code)
        actor = access.actor_from_request(room, request)
        if actor.singer is None:
            message = "Join the room as a singer first." if actor.is_host else "Join the room first."
            if request.htmx:
                return render_to_error(message, 403)
            return _join_page(request, room, actor, status=403, error=message)
        return view(request, room, actor, *args, **kwargs)

    return wrapper


@require_GET
@singer_action
def room_search(request, room, actor):
    """The song list as the singer types (`q`), sorts (`order`) or asks for more (`page`,
    with `more`: only that page's rows and the next "Show more", appended in place)."""
    if not request.htmx:
        kept = {name: request.GET[name] for name in ("q", "order", "page") if request.GET.get(name)}
        return redirect(reverse("rooms:singer", args=[room.code]) + "?" + urlencode(kept))
    context = _songs_context(request, room, actor)
    if "library" in context and request.GET.get("more"):
        return render(request, "queue_app/partials/_library_rows.html", context)
    return render(request, "queue_app/partials/_search_results.html", context)


def _song_for_queue(value: str) -> Song:
    try:
        song = Song.objects.filter(pk=uuid.UUID(value)).first()
    except ValueError:  # a malformed id is no song either
        song = None
    if song is None:
        raise ApplicationError("There is no such song in the library.", extra={"song": value})
    return song


@require_POST
@singer_action
def room_queue_add(request, room, actor):
    song_id = request.POST.get("song", "")
    target = {"song_id": song_id}
    try:
        song = _song_for_queue(song_id)
        # The stepper's key; none sent (no JavaScript, an old page): the singer's remembered one.
        key_shift = _int_field(request, "key_shift", minimum=-12, maximum=12, allow_empty=True)
        entry = services.queue_add(room=room, actor=actor, song=song, key_shift=key_shift)
    except ApplicationError as exc:
        if not request.htmx:
            return render(request, "queue_app/singer.html",
                          _singer_context(request, room, actor, page_error=exc.message), status=exc.status_code)
        return render(request, "queue_app/partials/_add_result.html", {**target, "error": exc.message},
                      status=exc.status_code)
    room.refresh_from_db()
    context = _singer_context(request, room, actor)
    added = next((item for item in context["queue"] if item["id"] == entry.pk), None)
    message = f"Added “{song.title or song}”."
    if added is not None:
        message += f" You're up in about {added['wait_minutes']} min."
    if song.status != Song.Status.READY:
        message += " It is still being prepared: it plays once it is ready."
    if entry.key_shift:
        message += f" Key {key_shift_label(entry.key_shift)}."
    if not request.htmx:
        messages.success(request, message)
        return redirect("rooms:singer", code=room.code)
    return render(request, "queue_app/partials/_added.html", {**context, **target, "message": message}, status=201)


def _row_id(value, *, kind: str, message: str) -> int:
    """A row id from the address: past a bigint it cannot exist (the database would overflow)."""
    if not 0 < int(value) <= MAX_ID:
        raise NotFound(message, extra={kind: value})
    return int(value)


def _entry_id(value) -> int:
    return _row_id(value, kind="entry", message="There is no such entry in this room's queue.")


@require_POST
@singer_action
def room_queue_key(request, room, actor, entry_id):
    """The singer's ♭ / ♯ on one of their songs: answered with "My songs" (and the queue)."""
    error, status = "", 200
    try:
        key_shift = _int_field(request, "key_shift", minimum=-12, maximum=12)
        services.queue_update(room=room, actor=actor, entry_id=_entry_id(entry_id), key_shift=key_shift)
    except ApplicationError as exc:
        error, status = exc.message, exc.status_code
    if not request.htmx:
        (messages.error if error else messages.success)(request, error or "Key changed.")
        return redirect("rooms:singer", code=room.code)
    room.refresh_from_db()
    context = _singer_answer_context(room, actor, error=error)
    return render(request, "queue_app/partials/_key_changed.html", context, status=status)


@require_POST
@singer_action
def room_queue_remove(request, room, actor, entry_id):
    error, status = "", 200
    try:
        services.queue_remove(room=room, actor=actor, entry_id=_entry_id(entry_id))
    except ApplicationError as exc:
        error, status = exc.message, exc.status_code
    if not request.htmx:
        (messages.error if error else messages.success)(request, error or "Removed from the queue.")
        return redirect("rooms:singer", code=room.code)
    room.refresh_from_db()
    context = _singer_context(request, room, actor, error=error)
    return render(request, "queue_app/partials/_removed.html", context, status=status)


# --- songs on demand: a singer searches YouTube and requests a video --------------------------


@require_GET
@singer_action
def room_youtube(request, room, actor):
    """Search YouTube as the singer types (queue_app.requests.youtube_hits_for: a pasted
    link is its one video; rate-limited per singer). Refusals are shown in place of the
    results, with their status: 400 (too short, not YouTube), 403 (the room takes no
    requests), 429 (too many searches), 503 (YouTube cannot be reached)."""
    query = request.GET.get("q", "")[:200]
    context = {"code": room.code, "youtube_query": " ".join(query.split())}
    status = 200
    try:
        context["youtube_hits"] = song_requests.youtube_hits_for(room=room, actor=actor, query=query)
    except ApplicationError as exc:
        context["youtube_error"], status = exc.message, exc.status_code
        context["youtube_hint"] = exc.extra.get("code") == "query_too_short"
    if request.htmx:
        return render(request, "queue_app/partials/_youtube_results.html", context, status=status)
    # Without JavaScript: the whole page, with the results under the YouTube search.
    return render(request, "queue_app/singer.html", _singer_context(request, room, actor, **context), status=status)


REQUEST_MADE = {
    "pending": "Requested: the host will answer soon.",
    "approved": "Requested and queued: it is being prepared, and plays once it is ready.",
    "ready": "It was in the library already: it is in your songs.",
}


@require_POST
@singer_action
def room_request(request, room, actor):
    """Request a YouTube video (a search result's id): answered with the message where the
    singer tapped and their "My requests" (and "My songs" when it was queued at once)."""
    try:
        made = song_requests.request_create(room=room, actor=actor, video=request.POST.get("video", ""))
    except ApplicationError as exc:
        if not request.htmx:
            messages.error(request, exc.message)
            return redirect("rooms:singer", code=room.code)
        return render(request, "queue_app/partials/_add_result.html", {"error": exc.message}, status=exc.status_code)
    message = REQUEST_MADE.get(made.status, f"Requested: {made.get_status_display().lower()}.")
    if not request.htmx:
        messages.success(request, message)
        return redirect("rooms:singer", code=room.code)
    room.refresh_from_db()
    context = {**_singer_answer_context(room, actor), "message": message, "queued": made.entry_id is not None}
    return render(request, "queue_app/partials/_requested.html", context, status=201)


def _singer_answer_context(room: Room, actor: access.Actor, **extra) -> dict:
    """What an answer to the singer redraws besides its message: "My requests", "My
    songs" and the queue (without the library search of the whole page)."""
    state = selectors.room_state(room=room)
    singer_id = actor.singer.pk
    return {
        "code": room.code, "version": state["version"], "queue": state["queue"],
        "mine": fragments.my_entries(state["queue"], singer_id),
        "singing_now": fragments.my_playing(state["player"], singer_id),
        "requests": fragments.my_requests(state["requests"], singer_id),
        **extra,
    }


def _request_id(value) -> int:
    return _row_id(value, kind="request", message="There is no such request in this room.")


@require_POST
@singer_action
def room_request_cancel(request, room, actor, request_id):
    """The singer takes back a request the host has not answered: "My requests" again."""
    error, status = "", 200
    try:
        song_requests.request_cancel(room=room, actor=actor, request_id=_request_id(request_id))
    except ApplicationError as exc:
        error, status = exc.message, exc.status_code
    if not request.htmx:
        (messages.error if error else messages.success)(request, error or "Request cancelled.")
        return redirect("rooms:singer", code=room.code)
    context = _singer_answer_context(room, actor, error=error)
    return render(request, "queue_app/partials/_my_requests.html", context, status=status)


# --- /rooms/<code>/host/: the host's console ---------------------------------------------------


def host_required(view):
    """The room's host (its owner or staff). Anonymous visitors of the page sign in first;
    anyone else gets a friendly 403 (the page) or a 403 message (an action)."""

    @wraps(view)
    def wrapper(request, code, *args, **kwargs):
        room = _room_or_none(code)
        if room is None:
            return _no_such_room(request, code)
        actor = access.actor_from_request(room, request)
        if not actor.is_host:
            if request.method == "GET" and not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if request.htmx:
                return render_to_error("Only the room's host can do that.", 403)
            return render(request, "queue_app/forbidden.html",
                          {"reason": "Only the room's host can run it.", "room": room}, status=403)
        return view(request, room, actor, *args, **kwargs)

    return wrapper


def join_url(request, room: Room) -> str:
    """The singer page's absolute address, as a phone on the same network can reach it.

    A host who opened the console on this machine (127.0.0.1, localhost) would give phones
    an address that means the phone itself: use the machine's LAN address instead (the
    site must then listen on it: `manage.py serve --host 0.0.0.0`).
    """
    url = urlsplit(request.build_absolute_uri(reverse("rooms:singer", args=[room.code])))
    hostname = (url.hostname or "").lower()
    if hostname in LOOPBACK_HOSTS or hostname.startswith("127."):
        lan = lan_addresses()
        if lan:
            url = url._replace(netloc=f"{lan[0]}:{url.port}" if url.port else lan[0])
    return urlunsplit(url)


def _qr_svg(url: str, *, scalable: bool = False) -> str:
    """`scalable`: no fixed size, only a viewBox, so CSS sizes it (the TV's, to the screen)."""
    qr = segno.make(url, error="m")
    return mark_safe(qr.svg_inline(scale=6, dark="#000", light="#fff", title="Scan to join the party",
                                   omitsize=scalable))


def _host_context(request, room: Room, actor: access.Actor, **extra) -> dict:
    state = selectors.room_state(room=room)
    url = join_url(request, room)
    return {
        "room": state["room"], "code": room.code, "version": state["version"],
        "queue": state["queue"], "player": state["player"], "actor": actor,
        "join_url": url, "qr_svg": _qr_svg(url),
        "settings_form": extra.pop("settings_form", None) or RoomSettingsForm(initial=state["room"]),
        **fragments.host_requests_context(code=room.code, requests=state["requests"]),
        "ws_url": f"/ws/rooms/{room.code}/html/?view=host", "host_view": True,
        **extra,
    }


@require_GET
@host_required
def room_host(request, room, actor):
    if room.code != request.resolver_match.kwargs["code"]:
        return redirect("rooms:host", code=room.code)
    return render(request, "queue_app/host.html", _host_context(request, room, actor))


def _host_queue_answer(request, room, actor, *, error: str = "", status: int = 200):
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect("rooms:host", code=room.code)
    room.refresh_from_db()
    state = selectors.room_state(room=room)
    context = fragments.queue_context(code=room.code, queue=state["queue"], version=state["version"], error=error)
    return render(request, "queue_app/partials/_host_queue.html", context, status=status)


def _int_field(request, name: str, *, minimum: int = 0, maximum: int = MAX_ID, allow_empty: bool = False):
    value = request.POST.get(name, "").strip()
    if value == "" and allow_empty:
        return None
    try:
        number = int(value)
    except ValueError:
        raise ApplicationError(f"{name} must be a whole number.", extra={"fields": {name: ["invalid"]}}) from None
    if not minimum <= number <= maximum:
        raise ApplicationError(f"{name} must be between {minimum} and {maximum}.", extra={"fields": {name: ["range"]}})
    return number


@require_POST
@host_required
def host_move(request, room, actor):
    """A drop of the drag-and-drop list: the entry goes to `position` (0: plays next)."""
    try:
        entry_id = _int_field(request, "entry", minimum=1)
        position = _int_field(request, "position", maximum=10_000)
        services.queue_move(room=room, actor=actor, entry_id=entry_id, position=position)
    except ApplicationError as exc:
        return _host_queue_answer(request, room, actor, error=exc.message, status=exc.status_code)
    return _host_queue_answer(request, room, actor)


@require_POST
@host_required
def host_remove(request, room, actor, entry_id):
    try:
        services.queue_remove(room=room, actor=actor, entry_id=_entry_id(entry_id))
    except ApplicationError as exc:
        return _host_queue_answer(request, room, actor, error=exc.message, status=exc.status_code)
    return _host_queue_answer(request, room, actor)


@require_POST
@host_required
def host_key(request, room, actor, entry_id):
    """The host's ♭ / ♯ on any entry: a waiting one (answered with the queue) or the one
    playing (from Now playing, answered with it; the TV switches once the key is rendered)."""
    error, status = "", 200
    try:
        key_shift = _int_field(request, "key_shift", minimum=-12, maximum=12)
        services.queue_update(room=room, actor=actor, entry_id=_entry_id(entry_id), key_shift=key_shift)
    except ApplicationError as exc:
        error, status = exc.message, exc.status_code
    if request.htmx and request.headers.get("HX-Target", "").startswith("now-playing-"):
        room.refresh_from_db()
        state = selectors.room_state(room=room)
        context = fragments.now_playing_context(code=room.code, player=state["player"], version=state["version"], host=True)
        return render(request, "queue_app/partials/_now_playing.html", {**context, "error": error}, status=status)
    return _host_queue_answer(request, room, actor, error=error, status=status)


@require_POST
@host_required
def host_unpin(request, room, actor, entry_id):
    try:
        services.queue_move(room=room, actor=actor, entry_id=_entry_id(entry_id), position=None)
    except ApplicationError as exc:
        return _host_queue_answer(request, room, actor, error=exc.message, status=exc.status_code)
    return _host_queue_answer(request, room, actor)


PLAYER_BUTTONS = {"play": "Playing.", "pause": "Paused.", "next": "On to the next song.",
                  "skip": "Skipped.", "previous": "Back to the song before."}


@require_POST
@host_required
def host_player(request, room, actor):
    action = request.POST.get("action", "")
    error, status = "", 200
    if action not in PLAYER_BUTTONS:
        error, status = f"action must be one of: {', '.join(PLAYER_BUTTONS)}.", 400
    else:
        try:
            services.player_control(room=room, actor=actor, action=action)
        except ApplicationError as exc:
            error, status = exc.message, exc.status_code
    if not request.htmx:
        (messages.error if error else messages.success)(request, error or PLAYER_BUTTONS[action])
        return redirect("rooms:host", code=room.code)
    room.refresh_from_db()
    state = selectors.room_state(room=room)
    context = {"code": room.code, "version": state["version"], "queue": state["queue"], "player": state["player"],
               "error": error, "message": "" if error else PLAYER_BUTTONS[action], "host_view": True}
    return render(request, "queue_app/partials/_player_result.html", context, status=status)


@require_POST
@host_required
def host_settings(request, room, actor):
    form = RoomSettingsForm(request.POST)
    error, status = "", 200
    if not form.is_valid():
        error, status = _form_error(form), 400
    else:
        try:
            room = services.room_update(room=room, actor=actor, **form.changes())
        except ApplicationError as exc:
            error, status = exc.message, exc.status_code
    if not request.htmx:
        (messages.error if error else messages.success)(request, error or "Settings saved.")
        return redirect("rooms:host", code=room.code)
    room.refresh_from_db()
    payload = selectors.room_payload(room)
    context = {
        "code": room.code, "room": payload, "version": room.version, "error": error,
        "message": "" if error else "Settings saved.",
        "settings_form": form if error else RoomSettingsForm(initial=payload),
    }
    return render(request, "queue_app/partials/_settings.html", context, status=status)


REQUEST_DECIDED = {"approve": "Approved: it is queued for the singer and being prepared.", "deny": "Denied."}


@require_POST
@host_required
def host_request_decide(request, room, actor, request_id):
    """Approve (the video is imported and queued for the singer) or deny, with an optional
    reason: answered with the Requests card (and the queue, which an approval changed)."""
    action = request.POST.get("action", "")
    error, status = "", 200
    try:
        song_requests.request_decide(room=room, actor=actor, request_id=_request_id(request_id), action=action,
                                     reason=request.POST.get("reason", ""))
    except ApplicationError as exc:
        error, status = exc.message, exc.status_code
    if not request.htmx:
        (messages.error if error else messages.success)(request, error or REQUEST_DECIDED[action])
        return redirect("rooms:host", code=room.code)
    room.refresh_from_db()
    state = selectors.room_state(room=room)
    context = {
        **fragments.host_requests_context(code=room.code, requests=state["requests"], error=error),
        "version": state["version"], "queue": state["queue"], "redraw_queue": not error and action == "approve",
    }
    return render(request, "queue_app/partials/_host_requests_answer.html", context, status=status)


# --- the TV ----------------------------------------------------------------------------------


def room_tv(request, code):
    """The TV: plays the current song with its lyrics (static/js/tv.js does the work).

    The host's page: a TV signs in as the room's owner (or staff). Everything the
    script needs is in data attributes; the state itself comes over the WebSocket.
    """
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    try:
        room = selectors.room_get(code=code)
    except NotFound:
        raise Http404("There is no room with this code.") from None
    if not access.is_host(room, request.user):
        return render(request, "queue_app/tv_forbidden.html", {"room": room}, status=403)
    url = join_url(request, room)
    return render(request, "queue_app/tv.html", {
        "room": room,
        "ws_path": f"/ws/rooms/{room.code}/",
        "player_url": reverse("api-room-player", kwargs={"code": room.code}),
        "join_url": url,
        # The screen everyone looks at: a phone joins by pointing at it.
        "qr_svg": _qr_svg(url, scalable=True),
    })
