"""Behind an HTTPS proxy: the documented variables pass `check --deploy` and do what they
say; every page carries a Content-Security-Policy that no inline script of ours breaks;
links keep no credentials."""

import importlib
import os
import re
import secrets
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings as django_settings

from queue_app import services
from songs import imports
from songs.models import Song

BASE_DIR = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.django_db


def production_env() -> dict[str, str]:
    """The variables docs/deploy.md lists under `# production.env`, with a real key."""
    text = (BASE_DIR / "docs" / "deploy.md").read_text()
    block = text.split("# production.env\n", 1)[1].split("```", 1)[0]
    env = dict(line.split("=", 1) for line in block.splitlines() if line and not line.startswith("#"))
    assert env["SECRET_KEY"].startswith("<")  # a placeholder in the docs
    env["SECRET_KEY"] = secrets.token_urlsafe(50)
    return env


def check_deploy(tmp_path, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SECURE_", "SESSION_", "CSRF_", "DEBUG"))}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR, env={**clean, "DATA_DIR": str(tmp_path), **env}, capture_output=True, text=True, timeout=120,
    )


def test_check_deploy_passes_with_the_documented_production_variables(tmp_path):
    env = production_env()
    assert {"SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_HSTS_SECONDS",
            "SECURE_PROXY_SSL_HEADER"} <= set(env)
    passed = check_deploy(tmp_path, env)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "no issues" in passed.stdout
    # ... and each of them is needed.
    warned = check_deploy(tmp_path, {"DEBUG": "false", "SECRET_KEY": env["SECRET_KEY"]})
    assert warned.returncode != 0
    for code in ("W004", "W008", "W012", "W016"):
        assert f"security.{code}" in warned.stdout + warned.stderr


def test_a_bad_proxy_header_stops_the_site_with_a_message(tmp_path):
    refused = check_deploy(tmp_path, {"SECURE_PROXY_SSL_HEADER": "X Forwarded: https"})
    assert refused.returncode != 0
    assert "SECURE_PROXY_SSL_HEADER='X Forwarded: https' should be a header name" in refused.stderr


@pytest.fixture
def behind_the_proxy(settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = settings.SECURE_HSTS_PRELOAD = True
    settings.ALLOWED_HOSTS = ["karaoke.example.com"]


def test_behind_the_proxy_http_is_redirected_and_https_gets_hsts_and_secure_cookies(client, behind_the_proxy):
    plain = client.get("/accounts/login/", HTTP_HOST="karaoke.example.com")
    assert plain.status_code == 301 and plain["Location"] == "https://karaoke.example.com/accounts/login/"
    assert client.get("/healthz", HTTP_HOST="karaoke.example.com").status_code != 301
    secure = client.get("/accounts/login/", HTTP_HOST="karaoke.example.com", HTTP_X_FORWARDED_PROTO="https")
    assert secure.status_code == 200
    assert secure["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert secure.cookies[django_settings.CSRF_COOKIE_NAME]["secure"]


# --- the Content-Security-Policy --------------------------------------------------------


class InlineCode(HTMLParser):
    """Finds what a script-src 'self' policy would block: inline scripts, on* handlers,
    javascript: links."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "script" and not attributes.get("src"):
            self.found.append("<script> without src")
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}=...>")
            if name in ("href", "src", "action") and (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f"<{tag} {name}=javascript:...>")
            if name.startswith("hx-") and "js:" in (value or ""):
                self.found.append(f"<{tag} {name}=js:...>")
            if name == "hx-trigger" and re.search(r"\[[^\]]*\]", value or ""):
                self.found.append(f"<{tag} hx-trigger with a [filter] (eval)>")


def test_every_page_has_the_policy_and_none_has_inline_code(client, staff_user):
    room = services.room_create(owner=staff_user, name="Friday")
    client.force_login(staff_user)
    singer = services.singer_join(room=room, user=staff_user)[0]
    assert singer
    pages = ["/", "/rooms/", f"/rooms/{room.code}/", f"/rooms/{room.code}/host/", f"/rooms/{room.code}/tv/",
             "/library/", "/jobs/", "/accounts/profile/", "/api/docs/", "/no/such/page/"]
    for address in pages:
        response = client.get(address)
        assert response.status_code in (200, 404), address
        policy = response["Content-Security-Policy"]
        directives = dict((part.strip().split(" ", 1) + [""])[:2] for part in policy.split(";"))
        assert directives["script-src"] == "'self'", policy
        assert directives["default-src"] == "'self'" and directives["frame-ancestors"] == "'none'"
        parser = InlineCode()
        parser.feed(response.content.decode())
        assert parser.found == [], (address, parser.found)
    client.logout()
    for address in ("/accounts/login/", "/accounts/signup/", f"/rooms/{room.code}/"):
        parser = InlineCode()
        parser.feed(client.get(address).content.decode())
        assert parser.found == [], (address, parser.found)


def test_the_api_docs_script_is_served_from_the_site(client):
    page = client.get("/api/docs/").content.decode()
    script = re.search(r'<script src="(/api/docs/\?[^"]*script[^"]*)"', page)
    assert script, page
    answer = client.get(script.group(1).replace("&amp;", "&"))
    assert answer.status_code == 200 and answer["Content-Type"].startswith("application/javascript")


# --- links keep no credentials -----------------------------------------------------------


def test_a_link_with_credentials_stores_none(staff_api):
    response = staff_api.post("/api/songs/import", {"url": "https://user:hunter2@Files.Example.com/x.mp3"},
                              format="json")
    assert response.status_code == 202
    song = Song.objects.get()
    assert song.source_url == song.source_id == "https://files.example.com/x.mp3"
    assert b"hunter2" not in response.content and b"user@" not in response.content
    # The same file with other credentials is the same song.
    again = imports.song_import_url(url="https://other:secret@files.example.com/x.mp3")
    assert again.created is False and again.song == song


def test_songs_imported_with_credentials_before_lose_them():
    kept = Song.objects.create(source=Song.Source.URL, source_id="https://a:b@host.example/x.mp3",
                               source_url="https://a:b@host.example/x.mp3")
    plain = Song.objects.create(source=Song.Source.URL, source_id="https://host.example/y.mp3",
                                source_url="https://host.example/y.mp3")
    twin = Song.objects.create(source=Song.Source.URL, source_id="https://c:d@host.example/y.mp3",
                               source_url="https://c:d@host.example/y.mp3")
    migration = importlib.import_module("songs.migrations.0003_strip_link_credentials")
    migration.strip_credentials(apps, None)
    for song in (kept, plain, twin):
        song.refresh_from_db()
        assert "@" not in song.source_url and "@" not in song.source_id
    assert kept.source_url == kept.source_id == "https://host.example/x.mp3"
    assert plain.source_id == "https://host.example/y.mp3"
    assert twin.source_url == "https://host.example/y.mp3" and twin.source_id == f"https://host.example/y.mp3#{twin.pk}"
