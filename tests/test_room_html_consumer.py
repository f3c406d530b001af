"""/ws/rooms/<code>/html/: the party pages' fragments, pushed for the htmx ws extension.

Who may watch is the JSON consumer's rule (host, staff, a singer of the room); the first
message is every fragment of the page, then each event becomes the fragments it changes,
with the ids the pages use, rendered from the event's payload.
"""

import asyncio
import re

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from queue_app import fragments, services
from queue_app.access import actor_for
from queue_app.events import room_group
from queue_app.models import Room
from tests.factories import SongFactory
from tests.helpers import session_cookies, ws_communicator

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_channel_layer")]


def communicator(code: str, cookies: dict[str, str] | None = None, query: str = "") -> WebsocketCommunicator:
    return ws_communicator(f"/ws/rooms/{code}/html/{query}", cookies)


@pytest.fixture
def room(carol):
    return services.room_create(owner=carol, name="Friday", max_waiting_per_singer=None)


def guest(room, name) -> tuple[dict[str, str], int]:
    """A guest who joined through the singer's page: their session cookie, and their singer id."""
    client = Client()
    assert client.post(f"/rooms/{room.code}/join", {"display_name": name}).status_code == 302
    singer = room.singers.get(display_name=name)
    return {settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value}, singer.pk


def add(room, singer_id, title):
    singer = room.singers.get(pk=singer_id)
    return services.queue_add(room=room, actor=actor_for(room, token=singer.token), song=SongFactory(title=title, ready=True))


def roots(html: str) -> list[str]:
    """The ids of the message's top-level fragments (what the ws extension swaps)."""
    return re.findall(r'^<\w+ id="([^"]+)"', html, flags=re.MULTILINE)


def fragment(html: str, fragment_id: str) -> str:
    match = re.search(rf'^<(\w+) id="{re.escape(fragment_id)}".*?^</\1>', html, flags=re.MULTILINE | re.DOTALL)
    assert match, f"no #{fragment_id} in {html[:500]}"
    return match.group(0)


async def first_message(ws) -> str:
    connected, code = await ws.connect()
    assert connected, code
    return await ws.receive_from(timeout=5)


@pytest.mark.parametrize("who", ["anonymous", "stranger"])
def test_it_turns_away_a_non_member(room, django_user_model, who):
    cookies = None
    if who == "stranger":
        cookies = session_cookies(django_user_model.objects.create_user(username="dave", password="x" * 12))

    async def scenario():
        ws = communicator(room.code, cookies)
        result = await ws.connect()
        await ws.disconnect()
        return result

    assert asyncio.run(scenario()) == (False, 4403)


def test_it_closes_4404_for_an_unknown_room(carol):
    cookies = session_cookies(carol)

    async def scenario():
        ws = communicator("ZZZZZ", cookies)
        result = await ws.connect()
        await ws.disconnect()
        return result

    assert asyncio.run(scenario()) == (False, 4404)


def test_it_sends_the_host_page_its_whole_state_first(room, carol):
    cookies, gus = guest(room, "Gus")
    add(room, gus, "First")
    add(room, gus, "Second")
    version = Room.objects.get(pk=room.pk).version
    cookies = session_cookies(carol)

    async def scenario():
        ws = communicator(room.code, cookies, "?view=host")
        html = await first_message(ws)
        await ws.disconnect()
        return html

    html = asyncio.run(scenario())
    code = room.code
    assert roots(html) == [f"room-{code}", f"now-playing-{code}", f"host-queue-{code}", f"settings-{code}",
                           f"host-requests-{code}"]
    assert 'value="Friday"' in fragment(html, f"settings-{code}")
    # Song requests change without the room's version (each request only moves forward).
    versioned = [fragment_id for fragment_id in roots(html) if fragment_id != f"host-requests-{code}"]
    assert all(f'data-version="{version}"' in fragment(html, fragment_id) for fragment_id in versioned)
    queue = fragment(html, f"host-queue-{code}")
    assert queue.index("First") < queue.index("Second") and 'class="drag-handle"' in queue
    assert "First" in fragment(html, f"now-playing-{code}")  # up next
    assert "Friday" in fragment(html, f"room-{code}")


def test_it_sends_a_singer_the_singers_fragments_with_their_own_songs(room, carol):
    gus_cookies, gus = guest(room, "Gus")
    _hal_cookies, hal = guest(room, "Hal")
    add(room, gus, "Gus sings")
    add(room, hal, "Hal sings")

    async def scenario():
        ws = communicator(room.code, gus_cookies, "?view=host")  # asking for the host's view changes nothing
        html = await first_message(ws)
        await ws.disconnect()
        return html

    html = asyncio.run(scenario())
    code = room.code
    assert roots(html) == [f"room-{code}", f"now-playing-{code}", f"queue-{code}", f"my-songs-{code}",
                           f"my-requests-{code}"]
    assert "drag-handle" not in html
    mine = fragment(html, f"my-songs-{code}")
    assert "Gus sings" in mine and "Hal sings" not in mine and "up next" in mine
    queue = fragment(html, f"queue-{code}")
    assert "Gus sings" in queue and "Hal sings" in queue


def test_it_gives_a_host_who_sings_the_singers_view_on_the_singer_page(room, carol):
    services.singer_join(room=room, user=carol)
    cookies = session_cookies(carol)

    async def scenario():
        singer_page = await first_message(ws := communicator(room.code, cookies))
        await ws.disconnect()
        host_page = await first_message(ws := communicator(room.code, cookies, "?view=host"))
        await ws.disconnect()
        return singer_page, host_page

    singer_page, host_page = asyncio.run(scenario())
    assert f"my-songs-{room.code}" in roots(singer_page) and f"queue-{room.code}" in roots(singer_page)
    assert f"host-queue-{room.code}" in roots(host_page) and f"my-songs-{room.code}" not in roots(host_page)


def test_it_renders_each_event_to_its_fragments(room, carol):
    gus_cookies, gus = guest(room, "Gus")
    song = SongFactory(title="Hello", ready=True)

    def add_play_rename():
        singer = Room.objects.get(pk=room.pk).singers.get(pk=gus)
        services.queue_add(room=room, actor=actor_for(room, token=singer.token), song=song)
        host = actor_for(room, user=carol)
        services.player_play(room=room, actor=host)
        services.room_update(room=room, actor=host, name="Saturday", is_open=False)

    host_cookies = session_cookies(carol)

    async def scenario():
        singer_ws = communicator(room.code, gus_cookies)
        host_ws = communicator(room.code, host_cookies, "?view=host")
        await first_message(singer_ws)
        await first_message(host_ws)
        await database_sync_to_async(add_play_rename)()
        received = {}
        for name, ws in (("singer", singer_ws), ("host", host_ws)):
            received[name] = [await ws.receive_from(timeout=5) for _ in range(5)]
            assert await ws.receive_nothing(timeout=0.3)
            await ws.disconnect()
        return received

    received = asyncio.run(scenario())
    code = room.code
    versions = Room.objects.get(pk=room.pk).version
    # add: queue.changed, player.state; play: queue.changed, player.state (Gus's own song
    # starts: his "My songs" too); rename: room.changed (and the host's settings form)
    assert [roots(m) for m in received["singer"]] == [
        [f"queue-{code}", f"my-songs-{code}"], [f"now-playing-{code}"],
        [f"queue-{code}", f"my-songs-{code}"], [f"now-playing-{code}", f"my-songs-{code}"], [f"room-{code}"],
    ]
    assert [roots(m) for m in received["host"]] == [
        [f"host-queue-{code}"], [f"now-playing-{code}"], [f"host-queue-{code}"], [f"now-playing-{code}"],
        [f"room-{code}", f"settings-{code}"],
    ]
    singer = received["singer"]
    assert "Hello" in fragment(singer[0], f"queue-{code}") and "Hello" in fragment(singer[0], f"my-songs-{code}")
    assert "Hello" in fragment(singer[1], f"now-playing-{code}")  # up next
    assert "Hello" not in fragment(singer[2], f"queue-{code}") and "None yet" in fragment(singer[2], f"my-songs-{code}")
    assert "Playing" in fragment(singer[3], f"now-playing-{code}")
    assert "singing now" in fragment(singer[3], f"my-songs-{code}") and "Hello" in fragment(singer[3], f"my-songs-{code}")
    settings_form = fragment(received["host"][4], f"settings-{code}")
    assert 'value="Saturday"' in settings_form and 'hx-swap-oob="true"' in settings_form
    assert 'name="is_open" value="on" checked' not in settings_form and f'data-version="{versions}"' in settings_form
    header = fragment(singer[4], f"room-{code}")
    assert "Saturday" in header and "Closed" in header and f'data-version="{versions}"' in header
    numbers = [int(re.search(r'data-version="(\d+)"', m).group(1)) for m in singer]
    assert numbers == sorted(numbers) and numbers[-1] == versions


def test_it_renders_my_songs_per_singer(room):
    gus_cookies, gus = guest(room, "Gus")
    hal_cookies, hal = guest(room, "Hal")

    async def scenario():
        gus_ws, hal_ws = communicator(room.code, gus_cookies), communicator(room.code, hal_cookies)
        await first_message(gus_ws)
        await first_message(hal_ws)
        await database_sync_to_async(add)(room, gus, "Gus's song")
        pushed = {}
        for name, ws in (("gus", gus_ws), ("hal", hal_ws)):
            pushed[name] = await ws.receive_from(timeout=5)
            await ws.receive_from(timeout=5)  # player.state
            await ws.disconnect()
        return pushed

    pushed = asyncio.run(scenario())
    gus_mine, hal_mine = (fragment(pushed[name], f"my-songs-{room.code}") for name in ("gus", "hal"))
    assert "Gus&#x27;s song" in gus_mine and "Gus&#x27;s song" not in hal_mine and "None yet" in hal_mine
    assert fragment(pushed["gus"], f"queue-{room.code}") == fragment(pushed["hal"], f"queue-{room.code}")


def test_it_renders_from_the_events_payload_not_the_database(room, carol):
    """200 phones may watch a room: a push must not cost each of them a query."""
    cookies = session_cookies(carol)
    entry = {
        "id": 999, "position": 0, "singer": {"id": 1, "name": "Only In The Event"},
        "song": {"id": "0", "title": "Not In The Database", "artist": "", "duration": 60, "status": "ready",
                 "ready": True, "cover_thumb_url": None},
        "status": "waiting", "key_shift": 0, "pinned_position": None, "added_at": "", "started_at": None,
        "finished_at": None, "estimated_start": "", "wait_seconds": 0, "wait_minutes": 0,
    }

    async def scenario():
        ws = communicator(room.code, cookies, "?view=host")
        await first_message(ws)
        await get_channel_layer().group_send(room_group(room.code), {
            "type": "queue.changed", "room": room.code, "version": 4242, "queue": [entry],
        })
        html = await ws.receive_from(timeout=5)
        await ws.disconnect()
        return html

    html = asyncio.run(scenario())
    queue = fragment(html, f"host-queue-{room.code}")
    assert "Not In The Database" in queue and "Only In The Event" in queue and 'data-version="4242"' in queue


def test_it_resends_the_whole_state_on_reconnect(room):
    cookies, gus = guest(room, "Gus")

    async def state():
        ws = communicator(room.code, cookies)
        html = await first_message(ws)
        await ws.disconnect()
        return html

    before = asyncio.run(state())
    add(room, gus, "Missed")
    after = asyncio.run(state())
    assert "Missed" not in before and "Missed" in fragment(after, f"queue-{room.code}")
    assert "Missed" in fragment(after, f"my-songs-{room.code}")


def test_it_renders_a_shared_fragment_once_for_many_watchers(room, monkeypatch):
    """The queue is the same for every phone: one render per event, not one per watcher;
    only "My songs" is drawn per singer."""
    watchers = [guest(room, f"Singer {n}") for n in range(5)]
    rendered = []
    real_render = fragments.render

    def counting_render(template, *args, **kwargs):
        rendered.append(template)
        return real_render(template, *args, **kwargs)

    monkeypatch.setattr(fragments, "render", counting_render)

    async def scenario():
        sockets = [communicator(room.code, cookies) for cookies, _ in watchers]
        for ws in sockets:
            await first_message(ws)
        rendered.clear()
        await database_sync_to_async(add)(room, watchers[0][1], "Shared")
        for ws in sockets:
            await ws.receive_from(timeout=5)  # queue.changed
            await ws.receive_from(timeout=5)  # player.state
            await ws.disconnect()

    asyncio.run(scenario())
    assert rendered.count("_queue.html") == 1 and rendered.count("_now_playing.html") == 1
    assert rendered.count("_my_songs.html") == 5


def test_it_shows_a_singer_their_song_in_my_songs_while_it_plays(room, carol):
    gus_cookies, gus = guest(room, "Gus")
    hal_cookies, hal = guest(room, "Hal")
    add(room, gus, "Gus sings")
    add(room, hal, "Hal sings")
    host = actor_for(room, user=carol)

    def play():
        services.player_play(room=room, actor=host)

    def pause_then_next():
        services.player_pause(room=room, actor=host)
        services.player_next(room=room, actor=host)

    async def scenario():
        gus_ws, hal_ws = communicator(room.code, gus_cookies), communicator(room.code, hal_cookies)
        await first_message(gus_ws)
        await first_message(hal_ws)
        await database_sync_to_async(play)()
        gus_play = [await gus_ws.receive_from(timeout=5) for _ in range(2)]
        hal_play = [await hal_ws.receive_from(timeout=5) for _ in range(2)]
        await gus_ws.disconnect()
        # Connecting while it plays: the whole state says so too.
        gus_ws = communicator(room.code, gus_cookies)
        gus_state = await first_message(gus_ws)
        await database_sync_to_async(pause_then_next)()
        gus_after = [await gus_ws.receive_from(timeout=5) for _ in range(3)]
        assert await gus_ws.receive_nothing(timeout=0.3)
        await gus_ws.disconnect()
        await hal_ws.disconnect()
        return gus_play, hal_play, gus_state, gus_after

    gus_play, hal_play, gus_state, gus_after = asyncio.run(scenario())
    code = room.code
    # play: queue.changed (Gus's song leaves the waiting list), then player.state with "singing now".
    assert "Gus sings" not in fragment(gus_play[0], f"my-songs-{code}")
    mine = fragment(gus_play[1], f"my-songs-{code}")
    assert "Gus sings" in mine and "singing now" in mine and "Remove" not in mine
    # Hal's song did not start: his player.state is only "Now playing".
    assert roots(hal_play[1]) == [f"now-playing-{code}"]
    assert "singing now" in fragment(gus_state, f"my-songs-{code}")
    # pause: nothing of his changes; next: Hal sings, Gus's song is done and leaves "My songs".
    assert [roots(m) for m in gus_after] == [
        [f"now-playing-{code}"], [f"queue-{code}", f"my-songs-{code}"], [f"now-playing-{code}", f"my-songs-{code}"],
    ]
    assert "Gus sings" not in fragment(gus_after[2], f"my-songs-{code}")
    assert "None yet" in fragment(gus_after[2], f"my-songs-{code}")
