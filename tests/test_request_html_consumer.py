"""Song requests on /ws/rooms/<code>/html/: the host's Requests card and the singer's "My
requests", in the first message and on every request.changed, to those who may see the
request only (the host: all; a singer: their own; another singer: nothing). The last test
holds the JSON socket (/ws/rooms/<code>/) to the same rule.
"""

import asyncio
import json
import re
import uuid

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.test import Client

from queue_app import fragments, services
from queue_app import requests as song_requests
from queue_app.access import actor_for
from queue_app.events import room_group
from queue_app.models import Room
from songs.selectors import youtube_search_cache_key
from tests.helpers import roots, session_cookies, ws_communicator
from tests.internet import LocalInternet
from tests.youtube import Video, point_ytdlp_at, serve_search

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_channel_layer")]

QUEEN = Video("xFrGuyw1V8s", "ABBA - Dancing Queen (Official Lyric Video)", "ABBA", "3:51")
WATERLOO = Video("Sj_9CiNkkn4", "ABBA - Waterloo", "ABBA", "2:49")


@pytest.fixture
def room(carol):
    return services.room_create(owner=carol, name="Friday", max_waiting_per_singer=None)


@pytest.fixture
def youtube(monkeypatch, room, carol):
    """The stand-in for YouTube, searched once: what it said of each video is remembered,
    as after a singer's search."""
    query = f"abba {uuid.uuid4().hex[:8]}"
    with LocalInternet(tls=True) as net:
        serve_search(net, [QUEEN, WATERLOO])
        point_ytdlp_at(monkeypatch, net.host)
        song_requests.youtube_hits_for(room=room, actor=actor_for(room, user=carol), query=query)
        yield net
    cache.delete_many([youtube_search_cache_key(query, limit) for limit in range(1, 21)])
    cache.delete_many([f"youtube-video:{video.id}" for video in (QUEEN, WATERLOO)])


def communicator(code: str, cookies: dict[str, str], query: str = ""):
    return ws_communicator(f"/ws/rooms/{code}/html/{query}", cookies)


async def first_message(ws) -> str:
    connected, code = await ws.connect()
    assert connected, code
    return await ws.receive_from(timeout=5)


def guest(room, name) -> tuple[dict[str, str], int]:
    """A guest who joined through the singer's page: their session cookie, and their singer id."""
    client = Client()
    assert client.post(f"/rooms/{room.code}/join", {"display_name": name}).status_code == 302
    singer = room.singers.get(display_name=name)
    return {settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value}, singer.pk


def fragment(html: str, fragment_id: str) -> str:
    match = re.search(rf'^<(\w+) id="{re.escape(fragment_id)}".*?^</\1>', html, flags=re.MULTILINE | re.DOTALL)
    assert match, f"no #{fragment_id} in {html[:500]}"
    return match.group(0)


def ask(room, singer_id, video: Video):
    singer = Room.objects.get(pk=room.pk).singers.get(pk=singer_id)
    return song_requests.request_create(room=room, actor=actor_for(room, token=singer.token), video=video.id)


def decide(room, carol, request_id, action, reason=""):
    return song_requests.request_decide(room=room, actor=actor_for(room, user=carol), request_id=request_id,
                                        action=action, reason=reason)


def ids(html: str) -> list[str]:
    return [element_id for _, element_id, _ in roots(html)]


def test_it_sends_the_requests_in_the_first_message_to_those_who_may_see_them(room, carol, youtube):
    gus_cookies, gus = guest(room, "Gus")
    hal_cookies, hal = guest(room, "Hal")
    ask(room, gus, QUEEN)
    ask(room, hal, WATERLOO)
    host_cookies = session_cookies(carol)

    async def scenario():
        states = []
        for cookies, query in ((host_cookies, "?view=host"), (gus_cookies, ""), (hal_cookies, "")):
            ws = communicator(room.code, cookies, query)
            states.append(await first_message(ws))
            await ws.disconnect()
        return states

    host, gus_state, hal_state = asyncio.run(scenario())
    code = room.code
    card = fragment(host, f"host-requests-{code}")
    assert QUEEN.title in card and WATERLOO.title in card and "Gus" in card and "2 waiting" in card
    assert 'value="approve"' in card and f"my-requests-{code}" not in ids(host)
    gus_mine = fragment(gus_state, f"my-requests-{code}")
    assert QUEEN.title in gus_mine and WATERLOO.title not in gus_mine and "Waiting for the host" in gus_mine
    assert WATERLOO.title in fragment(hal_state, f"my-requests-{code}")
    assert f"host-requests-{code}" not in ids(gus_state) and QUEEN.title not in hal_state


def test_it_pushes_a_request_to_the_host_and_the_requesting_singer_only(room, carol, youtube):
    gus_cookies, gus = guest(room, "Gus")
    hal_cookies, _hal = guest(room, "Hal")
    host_cookies = session_cookies(carol)

    async def scenario():
        host_ws = communicator(room.code, host_cookies, "?view=host")
        gus_ws, hal_ws = communicator(room.code, gus_cookies), communicator(room.code, hal_cookies)
        for ws in (host_ws, gus_ws, hal_ws):
            await first_message(ws)
        request = await database_sync_to_async(ask)(room, gus, QUEEN)
        asked = {"host": await host_ws.receive_from(timeout=5), "gus": await gus_ws.receive_from(timeout=5)}
        assert await hal_ws.receive_nothing(timeout=0.5)

        await database_sync_to_async(decide)(room, carol, request.pk, "approve")
        # The approval queues an entry (queue.changed, player.state) and says so (request.changed).
        approved = {
            name: [await ws.receive_from(timeout=5) for _ in range(3)] for name, ws in (("host", host_ws), ("gus", gus_ws))
        }
        hal_got = [await hal_ws.receive_from(timeout=5) for _ in range(2)]
        assert await hal_ws.receive_nothing(timeout=0.5)
        for ws in (host_ws, gus_ws, hal_ws):
            await ws.disconnect()
        return asked, approved, hal_got

    asked, approved, hal_got = asyncio.run(scenario())
    code = room.code
    assert ids(asked["host"]) == [f"host-requests-{code}"] and ids(asked["gus"]) == [f"my-requests-{code}"]
    card = fragment(asked["host"], f"host-requests-{code}")
    assert QUEEN.title in card and "Gus" in card and "3:51" in card and 'hx-swap-oob="true"' in card
    mine = fragment(asked["gus"], f"my-requests-{code}")
    assert QUEEN.title in mine and "Waiting for the host" in mine and ">Cancel</button>" in mine

    host_card = next(m for m in approved["host"] if ids(m) == [f"host-requests-{code}"])
    assert "Getting ready" in host_card and "Waiting to download" in host_card and "ready in about" in host_card
    assert 'value="approve"' not in host_card
    gus_mine = next(m for m in approved["gus"] if ids(m) == [f"my-requests-{code}"])
    assert "Getting ready" in gus_mine and ">Cancel</button>" not in gus_mine
    gus_songs = next(m for m in approved["gus"] if f"my-songs-{code}" in ids(m))
    assert QUEEN.title in fragment(gus_songs, f"my-songs-{code}")
    # Hal sees the queue change (the song is in the room's queue), never the request.
    assert all(f"my-requests-{code}" not in ids(m) for m in hal_got)


def test_it_pushes_progress_and_the_end_of_a_request_to_the_singer(room, carol, youtube):
    """Progress ticks arrive as request.changed with the job's step; a denial says why."""
    gus_cookies, gus = guest(room, "Gus")
    code = room.code
    event = {"type": "request.changed", "room": code, "request": None}

    def payload(request_id, status, progress=None, reason=""):
        return {
            "id": request_id, "singer": {"id": gus, "name": "Gus"}, "video_id": QUEEN.id, "title": QUEEN.title,
            "channel": "ABBA", "duration": 231.0, "thumbnail": None, "status": status,
            "status_label": {"approved": "Getting ready", "denied": "Denied"}.get(status, status), "reason": reason,
            "song": None, "entry": None, "progress": progress, "ready_in_seconds": 150 if progress else None,
            "ready_in_minutes": 3 if progress else None, "created_at": "", "decided_at": None,
        }

    async def scenario():
        ws = communicator(code, gus_cookies)
        await first_message(ws)
        layer = get_channel_layer()
        pushed = []
        for sent in (
            payload(901, "approved", {"stage": "download", "status": "running", "percent": 40, "message": ""}),
            payload(901, "approved", {"stage": "separate", "status": "running", "percent": 70, "message": ""}),
            payload(902, "denied", reason="Not tonight"),
            # Late news of 902 (an earlier step) does not bring it back.
            payload(902, "pending"),
        ):
            await layer.group_send(room_group(code), {**event, "request": sent})
        for _ in range(3):
            pushed.append(await ws.receive_from(timeout=5))
        assert await ws.receive_nothing(timeout=0.5)
        await ws.disconnect()
        return pushed

    downloading, separating, denied = (fragment(m, f"my-requests-{code}") for m in asyncio.run(scenario()))
    assert "Downloading 40 %" in downloading and "ready in about 3 min" in downloading
    assert "Separating 70 %" in separating
    assert "Separating 70 %" in denied and "Denied" in denied and "Not tonight" in denied


def test_a_request_only_moves_forward():
    held = {}
    assert fragments.request_merge(held, {"id": 1, "status": "pending"})
    assert fragments.request_merge(held, {"id": 1, "status": "approved"})
    assert fragments.request_merge(held, {"id": 1, "status": "approved", "progress": {"percent": 50}})
    assert fragments.request_merge(held, {"id": 1, "status": "ready"})
    assert not fragments.request_merge(held, {"id": 1, "status": "approved"})
    assert not fragments.request_merge(held, {"id": 1, "status": "pending"})
    assert held[1]["status"] == "ready"


def test_the_json_socket_shows_a_request_to_the_host_and_the_requesting_singer_only(room, carol, youtube):
    # API clients (/ws/rooms/<code>/) follow the same rule as the pages: in the first
    # message ("state") and in every request.changed.
    gus_cookies, gus = guest(room, "Gus")
    hal_cookies, hal = guest(room, "Hal")
    ask(room, hal, WATERLOO)
    host_cookies = session_cookies(carol)

    async def scenario():
        sockets = {name: ws_communicator(f"/ws/rooms/{room.code}/", cookies)
                   for name, cookies in (("host", host_cookies), ("gus", gus_cookies), ("hal", hal_cookies))}
        states = {name: json.loads(await first_message(ws)) for name, ws in sockets.items()}
        await database_sync_to_async(ask)(room, gus, QUEEN)
        changed = {name: json.loads(await sockets[name].receive_from(timeout=5)) for name in ("host", "gus")}
        quiet = await sockets["hal"].receive_nothing(timeout=0.5)
        for ws in sockets.values():
            await ws.disconnect()
        return states, changed, quiet

    states, changed, hal_heard_nothing = asyncio.run(scenario())
    assert [r["video_id"] for r in states["host"]["requests"]] == [WATERLOO.id]
    assert [r["video_id"] for r in states["hal"]["requests"]] == [WATERLOO.id]
    assert states["gus"]["requests"] == []
    for name in ("host", "gus"):
        assert changed[name]["type"] == "request.changed"
        assert (changed[name]["request"]["video_id"], changed[name]["request"]["singer"]["id"]) == (QUEEN.id, gus)
    assert hal_heard_nothing
