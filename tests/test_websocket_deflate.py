"""The web server's WebSocket protocol (karaoke_site/websocket.py): a real uvicorn with it,
real WebSocket clients negotiating permessage-deflate as browsers do. Every client reads
exactly what was sent; a large text sent to several sockets is compressed once, and so is
a large beginning they share."""

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
    """Accepts, then says what it is told to: "big", "other", "big+" and a name (the big
    text, then a part of that socket's own), or anything else back."""
    assert scope["type"] == "websocket"
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text.startswith("big+"):
            text = f"{BIG}\n<p>{text[4:]}'s own</p>"
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
    websocket._whole.clear()
    websocket._beginnings.clear()
    calls = []

    def counting(data, bits, settings):
        calls.append(len(data))
        return compress(data, bits, settings)

    compress = websocket.compress
    monkeypatch.setattr(websocket, "compress", counting)
    yield calls
    websocket._whole.clear()
    websocket._beginnings.clear()


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


def test_a_shared_beginning_is_compressed_once_and_each_end_on_its_own(server, compressions):
    """The queue for everyone, then a singer's own songs: each socket reads its whole text."""
    names = ["Ann", "Bob", "Cat", "Dee"]
    with contextlib.ExitStack() as stack:
        for name in names:
            client = stack.enter_context(connect(server, compression="deflate"))
            client.send(f"big+{name}")
            assert client.recv(timeout=5) == f"{BIG}\n<p>{name}'s own</p>"
    size = len(BIG.encode())
    # Ann's whole text; at Bob's the beginning they share, then his end; Cat's and Dee's end.
    assert compressions[0] > size and compressions[1] >= size
    assert all(length < 100 for length in compressions[2:]) and len(compressions) == 5
    assert sum(compressions) < 2.1 * size  # four texts, each longer than BIG


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


@pytest.mark.slow
@pytest.mark.browser
def test_chromium_reads_shared_texts_and_shared_beginnings(server, compressions, page):
    """The decoder that matters: a browser's. Four sockets, the same text, then each its own end."""
    received = page.evaluate(
        """async (url) => {
            const read = (name) => new Promise((resolve, reject) => {
                const socket = new WebSocket(url);
                const got = [];
                socket.onopen = () => socket.send('big');
                socket.onmessage = (event) => {
                    got.push(event.data);
                    if (got.length === 1) socket.send('big+' + name);
                    else { socket.close(); resolve([socket.extensions, got]); }
                };
                socket.onerror = () => reject(new Error('socket error'));
            });
            const all = [];
            for (const name of ['Ann', 'Bob', 'Cat', 'Dee']) all.push(await read(name));
            return all;
        }""",
        server,
    )
    for (extensions, got), name in zip(received, ["Ann", "Bob", "Cat", "Dee"], strict=True):
        assert "permessage-deflate" in extensions and "server_no_context_takeover" in extensions
        assert got == [BIG, f"{BIG}\n<p>{name}'s own</p>"]
    size = len(BIG.encode())
    assert sum(compressions) < 3.2 * size  # eight texts, each at least BIG
