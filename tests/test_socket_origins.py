"""Every WebSocket address accepts only handshakes from pages of this site.

A page on another origin (or a sandboxed one, `Origin: null`) must not open a socket
with a visitor's session or a singer's token, whatever ALLOWED_HOSTS says: it is `*` by
default so that phones reach the laptop by its LAN address.
"""

import asyncio
import socket

import pytest
from channels.testing import WebsocketCommunicator

from karaoke_site.asgi import application
from queue_app import services
from songs import imports
from tests.helpers import session_cookies

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_channel_layer")]

FOREIGN_ORIGINS = ["http://evil.example", "null", "http://testserver:8001", "https://testserver.evil.example"]


@pytest.fixture
def everywhere(staff_user, django_user_model):
    """Each WebSocket address, with the credentials that open it: (path, cookies)."""
    room = services.room_create(owner=staff_user, name="Friday")
    job = imports.song_import_url(url="https://example.com/song.mp3", user=staff_user).job
    staff = session_cookies(staff_user)
    return room, [
        ("/ws/jobs/", staff),
        ("/ws/jobs/html/", staff),
        (f"/ws/jobs/{job.pk}/", staff),
        ("/ws/library/html/", staff),
        (f"/ws/rooms/{room.code}/", staff),
        (f"/ws/rooms/{room.code}/html/", staff),
    ]


def handshake(path: str, *, origin: str | None, host: str = "testserver", cookies=None) -> tuple[bool, object]:
    headers = [(b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    if cookies:
        headers.append((b"cookie", "; ".join(f"{k}={v}" for k, v in cookies.items()).encode()))

    async def scenario():
        ws = WebsocketCommunicator(application, path, headers=headers)
        connected, detail = await ws.connect(timeout=5)
        await ws.disconnect()
        return connected, detail

    return asyncio.run(scenario())


@pytest.mark.parametrize("origin", FOREIGN_ORIGINS)
def test_it_refuses_another_origin_on_every_address_with_a_session(everywhere, origin):
    _, addresses = everywhere
    for path, cookies in addresses:
        connected, _ = handshake(path, origin=origin, cookies=cookies)
        assert not connected, f"{path} accepted Origin: {origin}"


@pytest.mark.parametrize("origin", ["http://evil.example", "null"])
def test_it_refuses_another_origin_with_a_singer_token(everywhere, origin):
    room, _ = everywhere
    gus, _ = services.singer_join(room=room, display_name="Gus")
    for path in (f"/ws/rooms/{room.code}/?token={gus.token}", f"/ws/rooms/{room.code}/html/?token={gus.token}"):
        assert handshake(path, origin=origin)[0] is False
        assert handshake(path, origin="http://testserver")[0] is True


def test_it_refuses_a_guest_session_from_another_origin(everywhere, client):
    room, _ = everywhere
    response = client.post(f"/api/rooms/{room.code}/join", {"display_name": "Gus"}, content_type="application/json")
    assert response.status_code == 201
    cookies = {name: morsel.value for name, morsel in client.cookies.items()}
    assert handshake(f"/ws/rooms/{room.code}/", origin="http://evil.example", cookies=cookies)[0] is False
    assert handshake(f"/ws/rooms/{room.code}/", origin="http://testserver", cookies=cookies)[0] is True


def test_it_accepts_the_same_origin_on_every_address(everywhere):
    _, addresses = everywhere
    for path, cookies in addresses:
        connected, _ = handshake(path, origin="http://testserver", cookies=cookies)
        assert connected, path


def test_it_accepts_a_phone_on_the_lan_address_with_any_host_allowed(everywhere, settings):
    settings.ALLOWED_HOSTS = ["*"]
    room, addresses = everywhere
    staff = addresses[0][1]
    lan = "192.168.1.23:8000"
    assert handshake(f"/ws/rooms/{room.code}/", origin=f"http://{lan}", host=lan, cookies=staff)[0] is True
    # The same address on another port is another origin.
    assert handshake(f"/ws/rooms/{room.code}/", origin="http://192.168.1.23:9000", host=lan, cookies=staff)[0] is False
    # Default ports are the same origin whether or not they are written.
    assert handshake("/ws/jobs/", origin="https://karaoke.lan", host="karaoke.lan:443", cookies=staff)[0] is True


def test_it_accepts_a_trusted_origin_behind_a_proxy_that_rewrites_the_host(everywhere, settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://karaoke.example.com", "https://*.party.example"]
    _, addresses = everywhere
    staff = addresses[0][1]
    assert handshake("/ws/jobs/", origin="https://karaoke.example.com", host="127.0.0.1:8000", cookies=staff)[0]
    assert handshake("/ws/jobs/", origin="https://tv.party.example", host="127.0.0.1:8000", cookies=staff)[0]
    assert not handshake("/ws/jobs/", origin="http://karaoke.example.com", host="127.0.0.1:8000", cookies=staff)[0]


def test_it_refuses_a_host_outside_allowed_hosts(everywhere, settings):
    settings.ALLOWED_HOSTS = ["karaoke.lan"]
    _, addresses = everywhere
    staff = addresses[0][1]
    assert handshake("/ws/jobs/", origin="http://evil.example", host="evil.example", cookies=staff)[0] is False
    assert handshake("/ws/jobs/", origin="http://karaoke.lan", host="karaoke.lan", cookies=staff)[0] is True


def test_a_program_without_an_origin_still_needs_its_credentials(everywhere):
    room, _ = everywhere
    gus, _ = services.singer_join(room=room, display_name="Gus")
    assert handshake(f"/ws/rooms/{room.code}/?token={gus.token}", origin=None)[0] is True
    assert handshake(f"/ws/rooms/{room.code}/", origin=None) == (False, 4403)


def test_unknown_addresses_and_nul_bytes_are_refused_not_crashed(everywhere):
    room, addresses = everywhere
    staff = addresses[0][1]
    for path in ("/ws/nothing/", "/ws/jobs/not-a-uuid/", f"/ws/rooms/{room.code[:2]}\x00{room.code[2:]}/",
                 f"/ws/rooms/{room.code}/html/?view=host\x00"):
        assert handshake(path, origin="http://testserver", cookies=staff)[0] is False, path


# --- on a real server: the refusals are HTTP answers ---------------------------------------


def raw_handshake(port: int, path: str, *, host: str, origin: str | None, cookie: str = "") -> int:
    """The HTTP status of a WebSocket handshake, sent by hand so every header is ours."""
    lines = [
        f"GET {path} HTTP/1.1", f"Host: {host}", "Upgrade: websocket", "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13",
    ]
    if origin is not None:
        lines.append(f"Origin: {origin}")
    if cookie:
        lines.append(f"Cookie: {cookie}")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin1"))
        status_line = conn.recv(4096).split(b"\r\n", 1)[0]
    return int(status_line.split()[1])


@pytest.mark.slow
def test_a_real_server_answers_403_to_another_origin_and_101_to_the_lan_address(live_site, staff_user):
    room = services.room_create(owner=staff_user, name="Friday")
    cookie = "; ".join(f"{k}={v}" for k, v in session_cookies(staff_user).items())
    port = live_site.port
    path = f"/ws/rooms/{room.code}/"
    lan = f"192.168.1.23:{port}"
    assert raw_handshake(port, path, host=lan, origin="http://evil.example", cookie=cookie) == 403
    assert raw_handshake(port, path, host=lan, origin="null", cookie=cookie) == 403
    assert raw_handshake(port, path, host=lan, origin=f"http://{lan}", cookie=cookie) == 101
    assert raw_handshake(port, f"/ws/rooms/{room.code}%00/", host=lan, origin=f"http://{lan}", cookie=cookie) == 400
    assert raw_handshake(port, "/ws/nothing/", host=lan, origin=f"http://{lan}", cookie=cookie) == 404
