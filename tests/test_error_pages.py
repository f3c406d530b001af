"""Errors answer without details: friendly pages, the JSON shape under /api/, a log line
with the traceback for the host; bad characters are the client's 4xx on both databases."""

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from django.test import Client

from queue_app import selectors, services

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET = "hunter2-not-for-your-eyes"

pytestmark = pytest.mark.django_db


@pytest.fixture
def room(staff_user):
    return services.room_create(owner=staff_user, name="Friday")


@pytest.fixture
def broken_rooms(monkeypatch):
    def boom(**_):
        raise RuntimeError(f"the database said {SECRET}")

    monkeypatch.setattr(selectors, "room_get", boom)


def test_make_run_serves_with_debug_off_and_a_kept_key(tmp_path):
    # `make run` is `manage.py serve` with nothing set: these are the settings it reads.
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY", "DATABASE_URL")}
    script = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=BASE_DIR, capture_output=True, text=True, timeout=120,
        env={**env, "DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "karaoke_site.settings"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
    assert len((tmp_path / "secret_key").read_text()) >= 50


def test_a_missing_page_is_friendly_and_an_api_address_answers_json(client):
    page = client.get("/no/such/page/")
    assert page.status_code == 404
    assert b"Nothing here" in page.content and b"Traceback" not in page.content
    api = client.get("/api/no/such/thing")
    assert api.status_code == 404
    assert api.json() == {"message": "There is nothing at this address.", "extra": {}}


def test_a_server_error_says_nothing_and_is_logged_with_its_traceback(room, broken_rooms, caplog):
    client = Client(raise_request_exception=False)
    with caplog.at_level(logging.ERROR, logger="django.request"):
        page = client.get(f"/rooms/{room.code}/")
        api = client.get(f"/api/rooms/{room.code}")
        fragment = client.get(f"/rooms/{room.code}/search?q=x", HTTP_HX_REQUEST="true")
    assert page.status_code == 500 and b"Something went wrong" in page.content
    assert api.status_code == 500 and set(api.json()) == {"message", "extra"}
    assert fragment.status_code == 500 and fragment.content.startswith(b'<p class="error"')
    for response in (page, api, fragment):
        assert SECRET.encode() not in response.content and b"RuntimeError" not in response.content
    logged = [record for record in caplog.records if record.exc_info]
    assert len(logged) == 3
    assert all(SECRET in str(record.exc_info[1]) for record in logged)


def test_the_debug_page_masks_the_passwords_in_urls(room, broken_rooms, settings):
    settings.DEBUG = True
    settings.DATABASE_URL = f"postgres://encore:{SECRET}@db.lan:5432/encore"
    settings.REDIS_URL = f"redis://:{SECRET}@redis.lan:6379/0"
    settings.CACHES = {**settings.CACHES, "other": {"LOCATION": settings.REDIS_URL}}
    page = Client(raise_request_exception=False).get(f"/rooms/{room.code}/")
    assert page.status_code == 500
    assert b"DATABASE_URL" in page.content and b"db.lan" in page.content  # the debug page it is
    # The exception's own message is the developer's business; the settings are not.
    assert page.content.count(SECRET.encode()) == page.content.count(b"the database said " + SECRET.encode())


@pytest.mark.parametrize("address", [
    "/rooms/AB%00CD/", "/rooms/?code=AB%00C", "/rooms/AB%00CD/join", "/rooms/AB CD/", "/rooms/AB%20CD/",
    "/api/rooms/AB%00CD", "/api/rooms/AB%20CD", "/rooms/%00/tv/", "/media/songs/%00/x",
])
def test_bad_characters_in_an_address_are_a_4xx(client, room, address):
    response = client.get(address)
    assert 400 <= response.status_code < 500, (address, response.status_code)


def test_a_singer_searching_for_a_nul_gets_a_400(room):
    singer = Client()
    assert singer.post(f"/rooms/{room.code}/join", {"display_name": "Gus"}).status_code == 302
    for address in (f"/rooms/{room.code}/?q=%00", f"/rooms/{room.code}/search?q=a%00b"):
        response = singer.get(address, HTTP_HX_REQUEST="true")
        assert response.status_code == 400, address
        assert b"invalid characters" in response.content
    assert singer.get(f"/rooms/{room.code}/?q=hello").status_code == 200


def test_nul_bytes_in_the_api_are_a_json_400(client, room, staff_client):
    response = client.get(f"/api/rooms/{room.code}/queue?x=%00")
    assert response.status_code == 400
    assert response.json() == {"message": "The address holds invalid characters.", "extra": {}}
    assert staff_client.get("/library/?q=%00").status_code == 400


@pytest.mark.slow
def test_the_real_server_started_as_make_run_does_shows_no_debug_page(live_site):
    missing = requests.get(f"{live_site.url}/no/such/page/", timeout=10)
    assert missing.status_code == 404 and "Nothing here" in missing.text
    assert "Traceback" not in missing.text and "DEBUG" not in missing.text
    assert requests.get(f"{live_site.url}/rooms/AB%00CD/", timeout=10).status_code == 400
    assert requests.get(f"{live_site.url}/rooms/AB%20CD/", timeout=10).status_code == 404
