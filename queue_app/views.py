"""The party's pages (HTMX-aware function views): the singer's room, the host's console
and the TV. Reads through queue_app.selectors, writes through queue_app.services, who is
asking through queue_app.access; refusals are shown where the user acted, with their 4xx.
"""

from django.contrib.auth.views import redirect_to_login
from django.http import Http404
from django.http.request import split_domain_port
from django.shortcuts import render
from django.urls import reverse

from karaoke_site.errors import NotFound
from queue_app import access, selectors

# --- singers and hosts ---------------------------------------------------------------------


def room_list(request):
    raise Http404("not built yet")


def room_singer(request, code):
    raise Http404("not built yet")


def room_host(request, code):
    raise Http404("not built yet")


# --- the TV ----------------------------------------------------------------------------------


LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]", "::1")


def _join_url(request, code: str) -> str:
    """Where phones join, as the TV shows it. A TV opened on the server itself
    (http://127.0.0.1:8000) would show an address phones cannot reach: then the
    machine's own network address is shown instead."""
    path = reverse("rooms:singer", args=[code])
    domain, port = split_domain_port(request.get_host())
    if domain in LOOPBACK_HOSTS and not request.is_secure():
        from karaoke_site.supervisor import network_urls

        lan = network_urls("0.0.0.0", int(port or 80))[1:]
        if lan:
            return lan[0].rstrip("/") + path
    return request.build_absolute_uri(path)


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
    return render(request, "queue_app/tv.html", {
        "room": room,
        "ws_path": f"/ws/rooms/{room.code}/",
        "player_url": reverse("api-room-player", kwargs={"code": room.code}),
        "join_url": _join_url(request, room.code),
    })
