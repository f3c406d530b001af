"""/ws/jobs/: staff only; the first message is the whole current state."""

import asyncio
import uuid

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from jobs import services as job_services
from songs import imports
from tests.helpers import session_cookies, ws_communicator

pytestmark = pytest.mark.django_db(transaction=True)


def communicator(cookies: dict[str, str] | None = None) -> WebsocketCommunicator:
    return ws_communicator("/ws/jobs/", cookies)


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
    job_services.worker_heartbeat_record(cluster="encore")
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


# --- /ws/jobs/<id>/: one job --------------------------------------------------------------


def job_communicator(job_id, cookies: dict[str, str] | None = None) -> WebsocketCommunicator:
    return ws_communicator(f"/ws/jobs/{job_id}/", cookies)


def test_one_job_is_for_staff_and_an_unknown_one_is_4404(staff_user, singer_user):

    job = imports.song_import_url(url="https://www.youtube.com/watch?v=aaaaaaaaaaa").job
    singer, staff = session_cookies(singer_user), session_cookies(staff_user)

    async def attempt(job_id, cookies):
        ws = job_communicator(job_id, cookies)
        connected, code = await ws.connect()
        await ws.disconnect()
        return connected, code

    assert asyncio.run(attempt(job.pk, None)) == (False, 4403)
    assert asyncio.run(attempt(job.pk, singer)) == (False, 4403)
    assert asyncio.run(attempt(uuid.uuid4(), staff)) == (False, 4404)


def test_one_job_sends_its_state_first_then_only_its_own_events(staff_user):
    job = imports.song_import_url(url="https://www.youtube.com/watch?v=aaaaaaaaaaa").job
    other = imports.song_import_url(url="https://www.youtube.com/watch?v=bbbbbbbbbbb").job
    cookies = session_cookies(staff_user)

    def cancel_both():
        job_services.job_cancel(job=other)
        job_services.job_cancel(job=job)

    async def scenario():
        ws = job_communicator(job.pk, cookies)
        connected, _ = await ws.connect()
        assert connected
        received = [await ws.receive_json_from(timeout=5)]
        await database_sync_to_async(cancel_both)()
        received.append(await ws.receive_json_from(timeout=5))
        assert await ws.receive_nothing(timeout=0.3)
        await ws.disconnect()
        return received

    state, finished = asyncio.run(scenario())
    assert state == {"type": "state", "job": {**state["job"], "id": str(job.pk), "status": "queued"}}
    assert finished["type"] == "job.finished"
    assert finished["job"]["id"] == str(job.pk) and finished["job"]["status"] == "cancelled"
