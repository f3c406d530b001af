"""A restarted server: clients that reconnect get the whole room, changes made while it
was down included, on both WebSockets (`/ws/rooms/<code>/` JSON and `/html/` fragments).

The site is a real subprocess (`manage.py serve`, web only) stopped with SIGTERM and
started again on the same port; the queue changes in between, through the services on
the shared database (its events have nobody to reach: the database is the truth).
"""

import asyncio
import json

import pytest
import websockets

from queue_app import services
from queue_app.access import actor_for
from songs.models import Song
from tests.helpers import session_cookies, start_site

pytestmark = [pytest.mark.slow]


@pytest.fixture
def site(django_db_setup, transactional_db):
    """A site of this test's own (the session's live site must not be restarted under others)."""
    holder = {"site": start_site(clusters="")}
    yield holder
    holder["site"].stop()


def ready_song(title: str) -> Song:
    return Song.objects.create(title=title, artist="The Testers", source=Song.Source.UPLOAD,
                               status=Song.Status.READY, duration=180)


async def first_messages(site, code: str, token: str, cookies: dict[str, str]) -> tuple[dict, str]:
    """Connect both flavours and return their first message (the JSON one parsed)."""
    json_ws = await websockets.connect(f"{site.ws_url}/ws/rooms/{code}/?token={token}",
                                       additional_headers={"Origin": site.url})
    html_ws = await websockets.connect(f"{site.ws_url}/ws/rooms/{code}/html/", additional_headers={
        "Origin": site.url, "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()),
    })
    try:
        return json.loads(await asyncio.wait_for(json_ws.recv(), 10)), await asyncio.wait_for(html_ws.recv(), 10)
    finally:
        await json_ws.close()
        await html_ws.close()


async def wait_closed_by_server(ws) -> None:
    with pytest.raises(websockets.ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), 30)


def test_it_sends_the_whole_room_with_what_changed_meanwhile_after_a_restart(site, django_user_model):
    carol = django_user_model.objects.create_user(username="carol", password="x" * 12, is_host=True)
    bob = django_user_model.objects.create_user(username="bob", password="x" * 12, display_name="Bob")
    room = services.room_create(owner=carol, name="Friday", max_waiting_per_singer=None)
    bob_singer, _ = services.singer_join(room=room, user=bob)
    gus, _ = services.singer_join(room=room, display_name="Gus")
    services.queue_add(room=room, actor=actor_for(room, user=bob), song=ready_song("Before"))
    cookies = session_cookies(bob)
    live = site["site"]

    async def before_and_during():
        json_ws = await websockets.connect(f"{live.ws_url}/ws/rooms/{room.code}/?token={gus.token}",
                                           additional_headers={"Origin": live.url})
        html_ws = await websockets.connect(f"{live.ws_url}/ws/rooms/{room.code}/html/", additional_headers={
            "Origin": live.url, "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()),
        })
        state = json.loads(await asyncio.wait_for(json_ws.recv(), 10))
        html = await asyncio.wait_for(html_ws.recv(), 10)
        # The server goes down under both clients: they see their connection close.
        await asyncio.to_thread(live.stop)
        await wait_closed_by_server(json_ws)
        await wait_closed_by_server(html_ws)
        return state, html

    state, html = asyncio.run(before_and_during())
    assert state["type"] == "state" and [item["song"]["title"] for item in state["queue"]] == ["Before"]
    assert "Before" in html and "Missed" not in html

    # While it is down: Gus queues a song and the host starts Bob's.
    services.queue_add(room=room, actor=actor_for(room, token=gus.token), song=ready_song("Missed"))
    services.player_play(room=room, actor=actor_for(room, user=carol))
    room.refresh_from_db()

    site["site"] = start_site(clusters="", port=live.port)
    state, html = asyncio.run(first_messages(site["site"], room.code, gus.token, cookies))

    assert state["type"] == "state" and state["version"] == room.version
    assert [item["song"]["title"] for item in state["queue"]] == ["Missed"]
    assert state["queue"][0]["singer"]["name"] == "Gus"
    assert state["player"]["entry"]["song"]["title"] == "Before" and state["player"]["paused"] is False
    # The HTML flavour: every fragment of Bob's page, drawn from the same version.
    code = room.code
    for fragment_id in (f"room-{code}", f"now-playing-{code}", f"queue-{code}", f"my-songs-{code}"):
        assert f'id="{fragment_id}"' in html
    assert html.count(f'data-version="{room.version}"') == 4
    queue_part = html.split(f'id="queue-{code}"', 1)[1]
    assert "Missed" in queue_part and "Gus" in queue_part
    now_playing = html.split(f'id="now-playing-{code}"', 1)[1].split("</section>", 1)[0]
    assert "Before" in now_playing and "Playing" in now_playing
    assert bob_singer.pk
