"""Guessing is throttled: each limit answers 429 (saying when to try again, with
Retry-After) after its count, forgets after its window, and is shared by processes.

The rates are small here ("3 per 2 s"); every test starts at the beginning of a window
(the windows are aligned on the clock), so its attempts all fall in one.
"""

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from channels.testing import WebsocketCommunicator
from django.test import Client

from karaoke_site.asgi import application
from queue_app import services
from queue_app.models import Singer
from tests.helpers import database_url

BASE_DIR = Path(__file__).resolve().parent.parent
WINDOW = 2

pytestmark = pytest.mark.django_db


def fresh_window(seconds: int = WINDOW) -> None:
    """Sleep to just after the start of the next window."""
    time.sleep(seconds - time.time() % seconds + 0.02)


def after_window(response) -> None:
    time.sleep(int(response["Retry-After"]) + 0.05)


def assert_429(response, *, says: str):
    assert response.status_code == 429, response.content[:300]
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= WINDOW + 1
    body = response.json() if response["Content-Type"].startswith("application/json") else None
    if body is not None:
        assert set(body) == {"message", "extra"} and body["extra"]["retry_after"] == retry_after
        text = body["message"]
    else:
        text = response.content.decode()
    assert says in text and "Try again in" in text and "second" in text


@pytest.fixture
def room(staff_user):
    return services.room_create(owner=staff_user, name="Friday", password="1234")


def client_at(address: str) -> Client:
    return Client(REMOTE_ADDR=address)


# --- sign-in ---------------------------------------------------------------------------------


def sign_in(client: Client, username: str, password: str):
    return client.post("/accounts/login/", {"username": username, "password": password})


def test_failed_sign_ins_lock_the_account_even_with_the_right_password_until_the_window_ends(settings, singer_user):
    settings.THROTTLE_SIGNIN_PER_ACCOUNT = (3, WINDOW)
    fresh_window()
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):  # spread over addresses: still one account
        assert sign_in(client_at(address), "bob", "wrong").status_code == 400
    refused = sign_in(client_at("10.0.0.4"), "BOB", "bobs-long-password")
    assert_429(refused, says="Too many failed sign-ins for this account.")
    assert b'role="alert"' in refused.content  # on the sign-in form
    after_window(refused)
    assert sign_in(client_at("10.0.0.4"), "bob", "bobs-long-password").status_code == 302


def test_failed_sign_ins_lock_the_address_for_every_account(settings, singer_user, staff_user):
    settings.THROTTLE_SIGNIN_PER_ADDRESS = (3, WINDOW)
    fresh_window()
    guesser = client_at("10.0.0.9")
    for username in ("alice", "bob", "nobody"):
        assert sign_in(guesser, username, "wrong").status_code == 400
    refused = sign_in(guesser, "bob", "bobs-long-password")
    assert_429(refused, says="Too many failed sign-ins from this device.")
    assert sign_in(client_at("10.0.0.10"), "bob", "bobs-long-password").status_code == 302
    after_window(refused)
    assert sign_in(guesser, "bob", "bobs-long-password").status_code == 302


def test_the_admin_sign_in_counts_and_is_refused_too(settings, staff_user):
    settings.THROTTLE_SIGNIN_PER_ACCOUNT = (2, WINDOW)
    fresh_window()
    admin = client_at("10.0.0.11")
    for _ in range(2):
        assert admin.post("/admin/login/", {"username": "alice", "password": "wrong"}).status_code == 200
    assert_429(sign_in(client_at("10.0.0.12"), "alice", "a-long-party-password"), says="this account")
    # The admin's own form: the right password is refused like a wrong one while locked.
    locked = admin.post("/admin/login/?next=/admin/", {"username": "alice", "password": "a-long-party-password"})
    assert locked.status_code == 200 and b"correct username and password" in locked.content


def test_a_successful_sign_in_clears_the_accounts_failures(settings, singer_user):
    settings.THROTTLE_SIGNIN_PER_ACCOUNT = (3, WINDOW)
    fresh_window()
    bob = client_at("10.0.0.13")
    for _ in range(2):
        sign_in(bob, "bob", "wrong")
    assert sign_in(bob, "bob", "bobs-long-password").status_code == 302
    bob.logout()
    for _ in range(2):
        assert sign_in(bob, "bob", "wrong").status_code == 400
    assert sign_in(bob, "bob", "bobs-long-password").status_code == 302


# --- room passwords, lookups and joins ---------------------------------------------------------


def join(client: Client, code: str, password: str, name: str = "Gus"):
    return client.post(f"/api/rooms/{code}/join", {"display_name": name, "password": password},
                       content_type="application/json")


def test_wrong_room_passwords_are_limited_per_room_and_client(settings, room):
    settings.THROTTLE_ROOM_PASSWORD_PER_CLIENT = (2, WINDOW)
    fresh_window()
    guesser = client_at("10.1.0.1")
    for pin in ("0000", "0001"):
        assert join(guesser, room.code, pin).status_code == 403
    assert_429(join(guesser, room.code, "1234"), says="Too many wrong passwords for this room from this device.")
    assert not Singer.objects.exists()
    # Another phone is not held back, and an empty password is no guess.
    assert join(client_at("10.1.0.2"), room.code, "").status_code == 403
    assert join(client_at("10.1.0.2"), room.code, "1234", name="Ann").status_code == 201
    # The join page says it on its form.
    page = guesser.post(f"/rooms/{room.code}/join", {"display_name": "Gus", "password": "1234"})
    assert_429(page, says="wrong passwords")
    assert b'id="join-form"' in page.content
    after_window(page)
    assert join(guesser, room.code, "1234").status_code == 201


def test_wrong_room_passwords_are_limited_per_room_from_everywhere(settings, room):
    settings.THROTTLE_ROOM_PASSWORD_PER_ROOM = (3, WINDOW)
    fresh_window()
    for number in range(3):
        assert join(client_at(f"10.2.0.{number}"), room.code, f"000{number}").status_code == 403
    refused = join(client_at("10.2.0.9"), room.code, "1234")
    assert_429(refused, says="the host can tell you the right one")
    # The host needs no password, and is not held back.
    staff = Client(REMOTE_ADDR="10.2.0.10")
    staff.force_login(room.owner)
    assert staff.post(f"/api/rooms/{room.code}/join", {}, content_type="application/json").status_code == 201
    after_window(refused)
    assert join(client_at("10.2.0.9"), room.code, "1234").status_code == 201


def test_unknown_room_codes_are_limited_per_client_everywhere(settings, room):
    settings.THROTTLE_ROOM_LOOKUPS = (3, WINDOW)
    fresh_window()
    prober = client_at("10.3.0.1")
    assert prober.get("/api/rooms/ZZZZ1").status_code == 404
    assert prober.get("/rooms/ZZZZ2/").status_code == 404
    assert prober.get("/rooms/?code=ZZZZ3").status_code == 404
    # Over the limit, even a real code is refused: on the API, a page, the code form, a socket.
    assert_429(prober.get(f"/api/rooms/{room.code}"), says="Too many room codes that match no room")
    assert_429(prober.get(f"/rooms/{room.code}/"), says="Too many room codes")
    form = prober.get(f"/rooms/?code={room.code}")
    assert_429(form, says="Too many room codes")
    assert b'id="join-code"' in form.content  # shown under the code form

    async def handshake():
        ws = WebsocketCommunicator(application, f"/ws/rooms/{room.code}/",
                                   headers=[(b"host", b"testserver"), (b"origin", b"http://testserver")])
        ws.scope["client"] = ("10.3.0.1", 5000)
        connected, code = await ws.connect(timeout=5)
        await ws.disconnect()
        return connected, code

    assert asyncio.run(handshake()) == (False, 4429)
    assert client_at("10.3.0.2").get(f"/api/rooms/{room.code}").status_code == 200
    after_window(form)
    assert prober.get(f"/api/rooms/{room.code}").status_code == 200


def test_joins_are_limited_per_client(settings, staff_user):
    settings.THROTTLE_JOINS = (2, WINDOW)
    open_room = services.room_create(owner=staff_user, name="Open")
    fresh_window()
    phone = client_at("10.4.0.1")
    for name in ("Gus", "Ann"):
        assert join(Client(REMOTE_ADDR="10.4.0.1"), open_room.code, "", name=name).status_code == 201
    refused = join(phone, open_room.code, "", name="Mallory")
    assert_429(refused, says="Too many joins from this device.")
    assert join(client_at("10.4.0.2"), open_room.code, "", name="Zoe").status_code == 201
    after_window(refused)
    assert join(phone, open_room.code, "", name="Mallory").status_code == 201


# --- imports -----------------------------------------------------------------------------------


def test_imports_are_limited_per_user(settings, staff_api, staff_client):
    settings.THROTTLE_IMPORTS = (2, WINDOW)
    fresh_window()
    for number in range(2):
        assert staff_api.post("/api/songs/import", {"url": f"https://example.com/{number}.mp3"},
                              format="json").status_code == 202
    refused = staff_api.post("/api/songs/import", {"url": "https://example.com/2.mp3"}, format="json")
    assert_429(refused, says="Too many songs added in a short time.")
    # The Library page: shown in the add form's result.
    page = staff_client.post("/library/add", {"url": "https://example.com/3.mp3"}, HTTP_HX_REQUEST="true")
    assert_429(page, says="Too many songs added")
    after_window(refused)
    assert staff_api.post("/api/songs/import", {"url": "https://example.com/2.mp3"}, format="json").status_code == 202


# --- shared by processes -------------------------------------------------------------------


PROBE = """
import json, sys
import django
django.setup()
from django.conf import settings
from django.test import Client
settings.THROTTLE_KEY_PREFIX = sys.argv[1]
settings.THROTTLE_ROOM_LOOKUPS = (3, 3600)
settings.ALLOWED_HOSTS = ["testserver"]
client = Client(REMOTE_ADDR="10.5.0.1")
print(json.dumps([client.get(f"/api/rooms/{code}").status_code for code in sys.argv[2:]]))
"""


@pytest.mark.django_db(transaction=True)
def test_the_counts_hold_across_two_processes(settings, room):
    """Another Django process answers requests from the same client on the same Redis."""
    # Windows are fixed (aligned on the clock): an hour, so that the other process's start-up
    # (seconds on a loaded machine) does not straddle a window's end and start a new count.
    settings.THROTTLE_ROOM_LOOKUPS = (3, 3600)
    env = {**os.environ, "DATABASE_URL": database_url(), "DJANGO_SETTINGS_MODULE": "karaoke_site.settings"}

    def other_process(*codes) -> list[int]:
        done = subprocess.run([sys.executable, "-c", PROBE, settings.THROTTLE_KEY_PREFIX, *codes], cwd=BASE_DIR,
                              env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    prober = client_at("10.5.0.1")
    assert prober.get("/api/rooms/ZZZZ1").status_code == 404  # 1, here
    assert other_process("ZZZZ2", "ZZZZ3", room.code) == [404, 404, 429]  # 2 and 3 there, then refused
    assert prober.get(f"/api/rooms/{room.code}").status_code == 429  # here too
