"""/ws/jobs/: staff only; the first message is the whole current state."""

import asyncio

import pytest
from channels.testing import WebsocketCommunicator

from karaoke_site.asgi import application
from tests.conftest import session_cookies

pytestmark = pytest.mark.django_db(transaction=True)


def communicator(cookies: dict[str, str] | None = None) -> WebsocketCommunicator:
    headers = [(b"host", b"testserver"), (b"origin", b"http://testserver")]
    if cookies:
        headers.append((b"cookie", "; ".join(f"{k}={v}" for k, v in cookies.items()).encode()))
    return WebsocketCommunicator(application, "/ws/jobs/", headers=headers)


def test_an_anonymous_visitor_is_turned_away():
    async def scenario():
        ws = communicator()
        connected, code = await ws.connect()
        await ws.disconnect()
        return connected, code

    assert asyncio.run(scenario()) == (False, 4403)


def test_a_singer_who_is_not_staff_is_turned_away(singer_user):
    cookies = session_cookies(singer_user)

    async def scenario():
        ws = communicator(cookies)
        connected, _ = await ws.connect()
        await ws.disconnect()
        return connected

    assert asyncio.run(scenario()) is False


def test_staff_get_the_workers_state_first(staff_user):
    from jobs import services

    services.worker_heartbeat_record(cluster="encore")
    cookies = session_cookies(staff_user)

    async def scenario():
        ws = communicator(cookies)
        connected, _ = await ws.connect()
        assert connected
        message = await ws.receive_json_from(timeout=5)
        await ws.disconnect()
        return message

    message = asyncio.run(scenario())
    assert message["type"] == "state" and message["jobs"] == []
    workers = {w["cluster"]: w["alive"] for w in message["workers"]}
    assert workers == {"encore": True, "separation": False}
