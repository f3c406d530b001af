"""Events cross processes: a task in a real qcluster reaches a real WebSocket.

The site runs as subprocesses (uvicorn and both qclusters, through `manage.py
serve`); this test process enqueues through the configured broker and listens
like a browser would. It runs on the embedded default and on PostgreSQL + Redis.
"""

import asyncio
import json
import os

import pytest
import websockets
from asgiref.sync import sync_to_async
from django.db import connection

from jobs import services
from tests.helpers import session_cookies

pytestmark = [pytest.mark.slow]


def ping(cluster: str) -> str:
    try:
        return services.worker_ping_enqueue(cluster=cluster)
    finally:
        # This runs in sync_to_async's thread: leave no connection open there,
        # or PostgreSQL refuses to drop the test database at the end.
        connection.close()


async def listen(site, cookies, *, idle_seconds: float, clusters: tuple[str, ...]) -> dict[str, dict]:
    headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()), "Origin": site.url}
    async with websockets.connect(f"{site.ws_url}/ws/jobs/", additional_headers=headers) as ws:
        first = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert first["type"] == "state"
        # Nothing at all crosses the socket meanwhile: this is the silence that
        # used to drop idle receivers when redis-py timed out after 5 s.
        await asyncio.sleep(idle_seconds)
        tokens = {}
        for cluster in clusters:
            tokens[await sync_to_async(ping)(cluster)] = cluster
        received: dict[str, dict] = {}
        while len(received) < len(tokens):
            event = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if event.get("type") == "worker.heartbeat" and event.get("token") in tokens:
                received[tokens[event["token"]]] = event
        return received


def test_a_task_in_each_cluster_reaches_a_websocket_client(live_site, staff_user):
    received = asyncio.run(
        listen(live_site, session_cookies(staff_user), idle_seconds=0, clusters=("encore", "separation"))
    )
    assert received["encore"]["cluster"] == "encore"
    assert received["separation"]["cluster"] == "separation"
    # The worker that answered is not this process.
    assert {event["pid"] for event in received.values()}.isdisjoint({os.getpid()})


def test_an_idle_socket_still_gets_a_message_after_seven_silent_seconds(live_site, staff_user):
    received = asyncio.run(listen(live_site, session_cookies(staff_user), idle_seconds=7, clusters=("encore",)))
    assert received["encore"]["type"] == "worker.heartbeat"
