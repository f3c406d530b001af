"""Request bodies are capped before they are read (common/bodylimit.py).

The site is called as the ASGI server calls it, with a body that arrives in chunks on
demand, and the tests count the bytes the site pulled: a body over its address's limit
is answered 413 after at most the limit (nothing at all when its Content-Length says
so), with or without a Content-Length.
"""

import asyncio
import json
import socket

import pytest
import requests
from rest_framework.authtoken.models import Token
from urllib3.filepost import encode_multipart_formdata

from common.bodylimit import CHUNK
from karaoke_site.asgi import application
from queue_app import services
from songs.models import Song

pytestmark = pytest.mark.django_db(transaction=True)

GB = 1024 * 1024 * 1024
MB = 1024 * 1024


class Body:
    """A request body made on demand, `size` bytes in `chunk`-byte pieces, counting what is read."""

    def __init__(self, size: int | None = None, *, data: bytes | None = None, chunk: int = CHUNK):
        self.data = data
        self.size = len(data) if data is not None else size
        self.chunk = chunk
        self.read = 0
        self.finished = False

    async def receive(self):
        if self.finished:
            await asyncio.Event().wait()  # the client is still there: like a server, wait for a disconnect
        piece = min(self.chunk, self.size - self.read)
        body = self.data[self.read:self.read + piece] if self.data is not None else b"x" * piece
        self.read += piece
        self.finished = self.read >= self.size
        return {"type": "http.request", "body": body, "more_body": not self.finished}


def call(path: str, body: Body, *, headers: dict[str, str], method: str = "POST") -> tuple[int, dict, bytes]:
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", b"testserver"), *((k.lower().encode(), v.encode()) for k, v in headers.items())],
        "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
    }
    sent = []

    async def send(message):
        sent.append(message)

    async def scenario():
        await asyncio.wait_for(application(scope, body.receive, send), timeout=60)

    asyncio.run(scenario())
    start = next(m for m in sent if m["type"] == "http.response.start")
    response_headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], response_headers, content


@pytest.fixture
def room(staff_user):
    return services.room_create(owner=staff_user, name="Friday")


@pytest.fixture
def small_uploads(settings):
    settings.UPLOAD_MAX_MB = 2
    settings.BODY_LIMITS_BY_VIEW = {**settings.BODY_LIMITS_BY_VIEW, "api-song-upload": 3 * MB, "songs:upload": 3 * MB}


def assert_413(status, headers, content, limit):
    assert status == 413
    assert headers["content-type"] == "application/json"
    body = json.loads(content)
    assert set(body) == {"message", "extra"} and "too large" in body["message"]
    assert body["extra"] == {"limit_bytes": limit}


def test_a_1_gb_join_body_with_its_length_is_refused_unread(room, settings):
    body = Body(GB)
    answer = call(f"/api/rooms/{room.code}/join", body,
                  headers={"content-type": "application/json", "content-length": str(GB)})
    assert_413(*answer, settings.REQUEST_BODY_MAX_BYTES)
    assert body.read == 0


def test_a_1_gb_chunked_join_body_is_stopped_at_the_limit(room, settings):
    body = Body(GB)
    answer = call(f"/api/rooms/{room.code}/join", body,
                  headers={"content-type": "application/json", "transfer-encoding": "chunked"})
    assert_413(*answer, settings.REQUEST_BODY_MAX_BYTES)
    assert settings.REQUEST_BODY_MAX_BYTES < body.read <= settings.REQUEST_BODY_MAX_BYTES + CHUNK


def test_a_300_mb_upload_is_refused_unread_or_stopped_at_the_upload_limit(small_uploads, staff_user):
    auth = {"authorization": f"Token {Token.objects.create(user=staff_user).key}",
            "content-type": "multipart/form-data; boundary=x"}
    declared = Body(300 * MB)
    assert_413(*call("/api/songs/upload", declared, headers={**auth, "content-length": str(300 * MB)}), 3 * MB)
    assert declared.read == 0
    streamed = Body(300 * MB)
    assert_413(*call("/api/songs/upload", streamed, headers={**auth, "transfer-encoding": "chunked"}), 3 * MB)
    assert 3 * MB < streamed.read <= 3 * MB + CHUNK
    assert not Song.objects.exists()


def test_the_pages_upload_is_capped_too_and_htmx_gets_a_fragment(small_uploads, staff_user):
    body = Body(300 * MB)
    status, headers, content = call("/library/upload", body, headers={
        "content-type": "multipart/form-data; boundary=x", "transfer-encoding": "chunked", "hx-request": "true"})
    assert status == 413 and headers["content-type"].startswith("text/html")
    assert b'role="alert"' in content and b"3 MB" in content
    assert body.read <= 3 * MB + CHUNK


def test_a_form_over_the_limit_on_a_page_is_refused(room, settings):
    body = Body(5 * MB)
    answer = call(f"/rooms/{room.code}/join", body,
                  headers={"content-type": "application/x-www-form-urlencoded", "transfer-encoding": "chunked"})
    assert_413(*answer, settings.REQUEST_BODY_MAX_BYTES)


def test_a_chunked_upload_within_the_limit_works(small_uploads, staff_user, song_mp3):
    data, content_type = encode_multipart_formdata({"file": ("song.mp3", song_mp3, "audio/mpeg"), "title": "Tone"})
    body = Body(data=data, chunk=4096)
    status, _, content = call("/api/songs/upload", body, headers={
        "authorization": f"Token {Token.objects.create(user=staff_user).key}",
        "content-type": content_type, "transfer-encoding": "chunked"})
    assert status == 202, content
    assert Song.objects.get().title == "Tone"
    assert body.read == len(data)


def test_a_chunked_json_join_within_the_limit_works(room):
    body = Body(data=b'{"display_name": "Gus"}', chunk=5)
    status, _, content = call(f"/api/rooms/{room.code}/join", body,
                              headers={"content-type": "application/json", "transfer-encoding": "chunked"})
    assert status == 201, content
    assert room.singers.get().display_name == "Gus"


def test_reads_and_small_bodies_pass_as_before(room):
    status, _, _ = call(f"/api/rooms/{room.code}", Body(0), headers={}, method="GET")
    assert status == 200
    data = b'{"display_name": "Ann"}'
    status, _, content = call(f"/api/rooms/{room.code}/join", Body(data=data),
                              headers={"content-type": "application/json", "content-length": str(len(data))})
    assert status == 201, content


# --- on the real server -----------------------------------------------------------------------


def send_headers_only(port: int, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    """Announce a huge body and send none of it: the answer must come anyway."""
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", *(f"{k}: {v}" for k, v in headers.items())]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        answer = b""
        while chunk := conn.recv(65536):  # the answer closes the connection
            answer += chunk
    head, _, rest = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), rest


@pytest.mark.slow
def test_the_real_server_refuses_at_once_and_takes_a_chunked_upload(live_site, staff_user, song_mp3):
    room = services.room_create(owner=staff_user, name="Friday")
    status, content = send_headers_only(live_site.port, f"/api/rooms/{room.code}/join",
                                        {"Content-Type": "application/json", "Content-Length": str(GB)})
    assert status == 413 and b'"limit_bytes"' in content
    status, _ = send_headers_only(live_site.port, "/api/songs/upload",
                                  {"Content-Type": "multipart/form-data; boundary=x", "Content-Length": str(300 * MB)})
    assert status == 413

    data, content_type = encode_multipart_formdata({"file": ("song.mp3", song_mp3, "audio/mpeg")})

    def chunks():  # a generator: requests sends it with Transfer-Encoding: chunked
        for start in range(0, len(data), 8192):
            yield data[start:start + 8192]

    token = Token.objects.create(user=staff_user).key
    response = requests.post(f"{live_site.url}/api/songs/upload", data=chunks(), timeout=60,
                             headers={"Content-Type": content_type, "Authorization": f"Token {token}"})
    assert response.status_code == 202, response.text
    assert response.json()["created"] is True
