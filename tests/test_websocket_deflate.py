"""The web server's WebSocket protocol (karaoke_site/websocket.py): a real uvicorn with it,
real WebSocket clients negotiating permessage-deflate as browsers do. Every client reads
exactly what was sent, and a large text sent to several sockets is compressed once."""

import contextlib
import json
import threading
import time

import pytest
import uvicorn
from websockets.sync.client import connect

from common.procs import free_port
from karaoke_site import websocket

BIG = json.dumps([{"id": n, "singer": {"name": f"Singer {n}"}, "song": {"title": f"Song {n}"}} for n in range(600)])
OTHER = BIG.replace("Singer", "Guest")


async def app(scope, receive, send):
    """Accepts, then says what it is told to: "big", "other", or anything else back."""
    assert scope["type"] == "websocket"
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        await send({"type": "websocket.send", "text": {"big": BIG, "other": OTHER}.get(text, text)})


@pytest.fixture
def server():
    config = uvicorn.Config(app, host="127.0.0.1", port=free_port(), ws=websocket.WebSocketProtocol,
                            lifespan="off", log_level="warning")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not running.started:
        assert thread.is_alive() and time.monotonic() < deadline
        time.sleep(0.02)
    yield f"ws://127.0.0.1:{config.port}/"
    running.should_exit = True
    thread.join(10)


@pytest.fixture
def compressions(monkeypatch):
    websocket._recent.clear()
    calls = []

    def counting(data, bits, settings):
        calls.append(len(data))
        return compress(data, bits, settings)

    compress = websocket.compress
    monkeypatch.setattr(websocket, "compress", counting)
    yield calls
    websocket._recent.clear()


def test_one_text_to_many_sockets_is_compressed_once_and_read_whole_by_each(server, compressions):
    with contextlib.ExitStack() as stack:
        clients = [stack.enter_context(connect(server, compression="deflate")) for _ in range(3)]
        for client in clients:
            # The server declined to keep its compression context: each message stands alone.
            assert "server_no_context_takeover" in client.response.headers["Sec-WebSocket-Extensions"]
            client.send("big")
            assert client.recv(timeout=5) == BIG
        assert compressions == [len(BIG.encode())]
        # Another text is compressed once too; the first is still known.
        for client in clients:
            client.send("other")
            assert client.recv(timeout=5) == OTHER
            client.send("big")
            assert client.recv(timeout=5) == BIG
        assert compressions == [len(BIG.encode()), len(OTHER.encode())]


def test_small_texts_and_what_clients_send_pass_as_they_are(server, compressions):
    with connect(server, compression="deflate") as client:
        for text in ("hello", "é" * 3000, "x" * 5000):  # the client compresses these too
            client.send(text)
            assert client.recv(timeout=5) == text
    assert compressions == [len(("é" * 3000).encode()), 5000]  # "hello" is below SHARE_FROM_BYTES


def test_a_client_without_compression_reads_plain_frames(server, compressions):
    with connect(server, compression=None) as client:
        assert client.response.headers.get("Sec-WebSocket-Extensions") is None
        client.send("big")
        assert client.recv(timeout=5) == BIG
    assert compressions == []
