"""/ws/rooms/<code>/: members only; the first message is the whole room, then every change."""

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from queue_app import services
from queue_app.access import actor_for
from queue_app.models import Room
from tests.factories import SongFactory
from tests.helpers import session_cookies, ws_communicator

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_channel_layer")]


def communicator(code: str, cookies: dict[str, str] | None = None, query: str = "") -> WebsocketCommunicator:
    return ws_communicator(f"/ws/rooms/{code}/{query}", cookies)


@pytest.fixture
def host(carol):
    """The room's host: Carol."""
    return carol


@pytest.fixture
def room(host):
    return services.room_create(owner=host, name="Friday")


def guest_cookies(room, name="Gus") -> dict[str, str]:
    """A guest who joined from a browser: the session cookie is all they have."""
    client = Client()
    response = client.post(f"/api/rooms/{room.code}/join", {"display_name": name}, content_type="application/json")
    assert response.status_code == 201
    return {settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value}


async def connect(ws) -> tuple[bool, int | None]:
    connected, code = await ws.connect()
    if not connected:
        await ws.disconnect()
    return connected, code


@pytest.mark.parametrize("who", ["anonymous", "stranger"])
def test_a_non_member_is_turned_away(room, django_user_model, who):
    cookies = None
    if who == "stranger":
        cookies = session_cookies(django_user_model.objects.create_user(username="dave", password="x" * 12))

    async def scenario():
        return await connect(communicator(room.code, cookies))

    assert asyncio.run(scenario()) == (False, 4403)


def test_an_unknown_room_is_4404(host):
    cookies = session_cookies(host)

    async def scenario():
        return await connect(communicator("ZZZZZ", cookies))

    assert asyncio.run(scenario()) == (False, 4404)


def test_the_host_gets_the_whole_room_first(room, host):
    gus = services.singer_join(room=room, display_name="Gus")[0]
    services.queue_add(room=room, actor=actor_for(room, token=gus.token), song=SongFactory(title="First", ready=True))
    cookies = session_cookies(host)

    async def scenario():
        ws = communicator(room.code, cookies)
        connected, _ = await ws.connect()
        assert connected
        message = await ws.receive_json_from(timeout=5)
        await ws.disconnect()
        return message

    state = asyncio.run(scenario())
    assert state["type"] == "state" and state["room"]["code"] == room.code
    assert [item["song"]["title"] for item in state["queue"]] == ["First"]
    assert state["player"]["entry"] is None and state["player"]["up_next"]["song"]["title"] == "First"
    assert state["version"] == Room.objects.get(pk=room.pk).version


def test_a_guest_watches_with_their_session_and_sees_every_event(room, host):
    cookies = guest_cookies(room)
    song = SongFactory(title="Hello", ready=True)

    def add_and_play():
        singer = room.singers.get(display_name="Gus")
        services.queue_add(room=room, actor=actor_for(room, token=singer.token), song=song)
        host_actor = actor_for(room, user=host)
        services.player_play(room=room, actor=host_actor)
        services.player_pause(room=room, actor=host_actor)
        services.room_update(room=room, actor=host_actor, name="Saturday")

    async def scenario():
        ws = communicator(room.code, cookies)
        connected, _ = await ws.connect()
        assert connected
        received = [await ws.receive_json_from(timeout=5)]
        await database_sync_to_async(add_and_play)()
        for _ in range(6):
            received.append(await ws.receive_json_from(timeout=5))
        assert await ws.receive_nothing(timeout=0.3)
        await ws.disconnect()
        return received

    messages = asyncio.run(scenario())
    assert [m["type"] for m in messages] == [
        "state", "queue.changed", "player.state", "queue.changed", "player.state", "player.state", "room.changed",
    ]
    assert messages[1]["queue"][0]["song"]["title"] == "Hello"
    assert messages[4]["player"]["entry"]["song"]["title"] == "Hello" and messages[4]["player"]["paused"] is False
    assert messages[5]["player"]["paused"] is True
    assert messages[6]["settings"]["name"] == "Saturday"
    versions = [m["version"] for m in messages]
    assert versions == sorted(versions)


def test_an_api_client_watches_with_its_token(room):
    singer = services.singer_join(room=room, display_name="Bot")[0]

    async def scenario():
        return await connect(communicator(room.code, query=f"?token={singer.token}"))

    assert asyncio.run(scenario())[0] is True


def test_a_reconnect_gets_the_state_it_missed(room, host):
    cookies = session_cookies(host)
    gus = services.singer_join(room=room, display_name="Gus")[0]

    async def first_state():
        ws = communicator(room.code, cookies)
        await ws.connect()
        message = await ws.receive_json_from(timeout=5)
        await ws.disconnect()
        return message

    before = asyncio.run(first_state())
    services.queue_add(room=room, actor=actor_for(room, token=gus.token), song=SongFactory(title="Missed", ready=True))
    after = asyncio.run(first_state())
    assert before["queue"] == [] and [item["song"]["title"] for item in after["queue"]] == ["Missed"]


# Who may watch, on both flavours: (role, JSON path, HTML path for the host's view).
WATCHERS = {
    "host": True, "staff": True, "signed-in singer": True, "guest (session)": True, "api client (token)": True,
    "singer who left": False, "stranger": False, "other host": False, "anonymous": False,
}


@pytest.mark.parametrize("flavour", ["json", "html", "html host view"])
@pytest.mark.parametrize("who", list(WATCHERS))
def test_it_admits_the_rooms_people_on_both_flavours_and_closes_4403_for_the_rest(
    room, host, staff_user, singer_user, django_user_model, who, flavour
):
    cookies, query = None, ""
    if who == "host":
        cookies = session_cookies(host)
    elif who == "staff":
        cookies = session_cookies(staff_user)
    elif who == "signed-in singer":
        services.singer_join(room=room, user=singer_user)
        cookies = session_cookies(singer_user)
    elif who == "guest (session)":
        cookies = guest_cookies(room)
    elif who == "api client (token)":
        query = f"?token={services.singer_join(room=room, display_name='Bot')[0].token}"
    elif who == "singer who left":
        singer = services.singer_join(room=room, display_name="Gone")[0]
        services.singer_leave(singer=singer)
        query = f"?token={singer.token}"
    elif who == "stranger":
        cookies = session_cookies(django_user_model.objects.create_user(username="dave", password="x" * 12))
    elif who == "other host":
        cookies = session_cookies(django_user_model.objects.create_user(username="erin", password="x" * 12,
                                                                        is_host=True))
    path = {"json": "", "html": "html/", "html host view": "html/"}[flavour]
    if flavour == "html host view":
        query = f"{query}&view=host" if query else "?view=host"

    async def scenario():
        ws = communicator(room.code, cookies, f"{path}{query}")
        connected, code = await ws.connect()
        first = await ws.receive_from(timeout=5) if connected else None
        await ws.disconnect()
        return connected, code, first

    connected, code, first = asyncio.run(scenario())
    if WATCHERS[who]:
        assert connected, code
        assert '"type": "state"' in first if flavour == "json" else f'id="room-{room.code}"' in first
        # Only a host gets the host's view (handles, buttons, settings), whatever they ask for.
        if flavour == "html host view":
            assert (f'id="host-queue-{room.code}"' in first) is (who in ("host", "staff"))
            assert (f'id="settings-{room.code}"' in first) is (who in ("host", "staff"))
    else:
        assert (connected, code) == (False, 4403)


@pytest.mark.parametrize("path", ["", "html/"])
def test_a_singer_who_leaves_stops_watching_and_everyone_else_carries_on(room, host, path):
    gus = services.singer_join(room=room, display_name="Gus")[0]
    hal = services.singer_join(room=room, display_name="Hal")[0]
    # The host also sings in the room; leaving as a singer does not stop them watching as host.
    carol = services.singer_join(room=room, user=host)[0]

    def leave(singer):
        services.singer_leave(singer=singer)

    def add_for_hal():
        services.queue_add(room=room, actor=actor_for(room, token=hal.token), song=SongFactory(title="Still here", ready=True))

    host_cookies = session_cookies(host)

    async def scenario():
        gus_ws = communicator(room.code, query=f"{path}?token={gus.token}")
        hal_ws = communicator(room.code, query=f"{path}?token={hal.token}")
        host_ws = communicator(room.code, host_cookies, path)
        for ws in (gus_ws, hal_ws, host_ws):
            assert (await ws.connect())[0]
            await ws.receive_from(timeout=5)  # the state
        await database_sync_to_async(leave)(gus)
        gus_got = [await gus_ws.receive_output(timeout=5) for _ in range(3)]
        for ws in (hal_ws, host_ws):
            [await ws.receive_from(timeout=5) for _ in range(2)]  # queue.changed, player.state
        await database_sync_to_async(leave)(carol)
        for ws in (hal_ws, host_ws):
            [await ws.receive_from(timeout=5) for _ in range(2)]
        await database_sync_to_async(add_for_hal)()
        hal_next = await hal_ws.receive_from(timeout=5)
        host_next = await host_ws.receive_from(timeout=5)
        for ws in (hal_ws, host_ws):
            await ws.disconnect()
        await gus_ws.wait()
        return gus_got, hal_next, host_next

    gus_got, hal_next, host_next = asyncio.run(scenario())
    # Gus gets the changes his leaving made, then his socket closes as a stranger's would.
    assert [m["type"] for m in gus_got] == ["websocket.send", "websocket.send", "websocket.close"]
    assert gus_got[2]["code"] == 4403
    assert "Still here" in hal_next and "Still here" in host_next
