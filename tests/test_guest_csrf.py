"""A guest singer's session writes need the page's CSRF token, like a signed-in user's.

DRF checks CSRF only for signed-in users; a guest is anonymous, known by the session
cookie, so without this a page on another origin of the same host could make them leave
the room. API clients that name their credentials in a header are not browsers, and no
page can add that header for them: they need no token.
"""

import pytest
from django.conf import settings
from django.test import Client
from rest_framework.authtoken.models import Token

from queue_app import services
from queue_app.models import QueueEntry, Singer
from songs.models import Song

pytestmark = pytest.mark.django_db


@pytest.fixture
def room(staff_user):
    return services.room_create(owner=staff_user, name="Friday")


@pytest.fixture
def song():
    return Song.objects.create(title="Hello", source=Song.Source.UPLOAD, status=Song.Status.READY, duration=180)


@pytest.fixture
def guest(room) -> Client:
    """Gus, who joined from his phone's browser: a session cookie and the page's CSRF cookie."""
    client = Client(enforce_csrf_checks=True)
    joined = client.post(f"/api/rooms/{room.code}/join", {"display_name": "Gus"}, content_type="application/json")
    assert joined.status_code == 201  # no cookie yet: nothing to forge
    assert client.get(f"/rooms/{room.code}/").status_code == 200
    assert settings.SESSION_COOKIE_NAME in client.cookies and settings.CSRF_COOKIE_NAME in client.cookies
    return client


def token_of(client: Client) -> dict[str, str]:
    return {"HTTP_X_CSRFTOKEN": client.cookies[settings.CSRF_COOKIE_NAME].value}


def assert_refused(response):
    assert response.status_code == 403
    body = response.json()
    assert set(body) == {"message", "extra"}
    assert "reload the page" in body["message"]
    assert "CSRF" in body["extra"]["reason"]


def test_it_refuses_a_guest_queue_add_in_json_without_the_token(guest, room, song):
    url = f"/api/rooms/{room.code}/queue"
    assert_refused(guest.post(url, {"song": str(song.pk)}, content_type="application/json"))
    assert not QueueEntry.objects.exists()
    added = guest.post(url, {"song": str(song.pk)}, content_type="application/json", **token_of(guest))
    assert added.status_code == 201, added.content


def test_it_refuses_a_guest_queue_add_as_a_form_without_the_token(guest, room, song):
    url = f"/api/rooms/{room.code}/queue"
    assert_refused(guest.post(url, {"song": str(song.pk)}))
    assert not QueueEntry.objects.exists()
    assert guest.post(url, {"song": str(song.pk)}, **token_of(guest)).status_code == 201


def test_it_refuses_a_guest_entry_delete_without_the_token(guest, room, song):
    added = guest.post(f"/api/rooms/{room.code}/queue", {"song": str(song.pk)}, content_type="application/json",
                       **token_of(guest))
    url = f"/api/rooms/{room.code}/queue/{added.json()['id']}"
    assert_refused(guest.delete(url))
    assert QueueEntry.objects.filter(status=QueueEntry.Status.WAITING).count() == 1
    assert guest.delete(url, **token_of(guest)).status_code == 204


def test_it_refuses_a_guest_leaving_without_the_token(guest, room):
    url = f"/api/rooms/{room.code}/leave"
    assert_refused(guest.post(url))
    assert Singer.objects.get(display_name="Gus").left_at is None
    assert guest.post(url, **token_of(guest)).status_code == 204
    assert Singer.objects.get(display_name="Gus").left_at is not None


def test_it_refuses_a_guest_joining_again_without_the_token(guest, room):
    url = f"/api/rooms/{room.code}/join"
    assert_refused(guest.post(url, {"display_name": "Mallory"}, content_type="application/json"))
    assert guest.post(url, {"display_name": "Gus"}, content_type="application/json", **token_of(guest)).status_code == 200


def test_the_pages_refuse_a_guest_write_without_the_token(guest, room, song):
    # The party pages' own forms were covered by Django's CSRF middleware all along.
    assert guest.post(f"/rooms/{room.code}/queue/add", {"song": str(song.pk)}).status_code == 403
    assert guest.post(f"/rooms/{room.code}/leave").status_code == 403
    assert guest.post(f"/rooms/{room.code}/leave", **token_of(guest)).status_code == 302


def test_a_singer_token_client_needs_no_csrf_token_even_with_cookies(guest, room, song):
    """A script that kept the join's cookies but sends its X-Singer-Token is not a browser page."""
    token = Singer.objects.get(display_name="Gus").token
    added = guest.post(f"/api/rooms/{room.code}/queue", {"song": str(song.pk)}, content_type="application/json",
                       HTTP_X_SINGER_TOKEN=token)
    assert added.status_code == 201, added.content
    assert guest.post(f"/api/rooms/{room.code}/leave", HTTP_X_SINGER_TOKEN=token).status_code == 204


def test_an_api_token_client_needs_no_csrf_token(room, song, staff_user):
    client = Client(enforce_csrf_checks=True)
    auth = {"HTTP_AUTHORIZATION": f"Token {Token.objects.create(user=staff_user).key}"}
    joined = client.post(f"/api/rooms/{room.code}/join", {}, content_type="application/json", **auth)
    assert joined.status_code == 201
    # The join gave this client a session cookie; its token header still speaks for it.
    assert settings.SESSION_COOKIE_NAME in client.cookies
    added = client.post(f"/api/rooms/{room.code}/queue", {"song": str(song.pk)}, content_type="application/json", **auth)
    assert added.status_code == 201, added.content


def test_a_signed_in_singer_session_needs_the_token_as_before(room, song, singer_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(singer_user)
    client.get(f"/rooms/{room.code}/")
    url = f"/api/rooms/{room.code}/join"
    assert_refused(client.post(url, {}, content_type="application/json"))
    assert client.post(url, {}, content_type="application/json", **token_of(client)).status_code == 201
