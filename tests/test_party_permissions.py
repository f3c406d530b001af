"""Who may do what in a room, through the API: every role against every action.

Roles: the host (the room's owner, Carol, not staff), staff (Alice, any room), a singer
in the room (Bob, signed in), a guest singer (no account; their session), a signed-in
user who has not joined (Dave), and an anonymous visitor. "Bob's entry" is a waiting
song of Bob's. Statuses: 403 for "not allowed" (also for the anonymous: the API's
session authentication answers 403, not 401), 404 only for an unknown room.
"""

import pytest
from rest_framework.test import APIClient

from queue_app import services
from queue_app.access import actor_for
from queue_app.models import QueueEntry, Room, Singer, SongRequest
from tests.factories import SongFactory, UserFactory

pytestmark = pytest.mark.django_db

ROLES = ("host", "staff", "singer", "guest", "other", "anonymous")


@pytest.fixture
def party(staff_user, singer_user, carol):
    dave = UserFactory(username="dave", display_name="Dave")
    room = services.room_create(owner=carol, name="Friday", max_waiting_per_singer=None)
    clients = {}
    for role, user in (("host", carol), ("staff", staff_user), ("singer", singer_user), ("other", dave)):
        clients[role] = APIClient()
        clients[role].force_authenticate(user)
    clients["guest"], clients["anonymous"] = APIClient(), APIClient()
    assert clients["singer"].post(f"/api/rooms/{room.code}/join", {}, format="json").status_code == 201
    assert clients["guest"].post(f"/api/rooms/{room.code}/join", {"display_name": "Gus"}, format="json").status_code == 201
    song = SongFactory(ready=True)
    bobs = clients["singer"].post(f"/api/rooms/{room.code}/queue", {"song": str(song.pk)}, format="json")
    gus = clients["guest"].post(f"/api/rooms/{room.code}/queue", {"song": str(song.pk)}, format="json")
    assert bobs.status_code == gus.status_code == 201
    # A request of Bob's waiting for the host (made as request_create would, without YouTube).
    bobs_request = SongRequest.objects.create(
        room=room, singer=Singer.objects.get(room=room, user=singer_user), video_id="xFrGuyw1V8s",
        title="Dancing Queen", channel="ABBA", duration=231,
    )
    return {"room": room, "clients": clients, "bobs_entry": bobs.json()["id"], "song": song,
            "bobs_request": bobs_request.pk}


def _request(party, action):
    code, entry, request = party["room"].code, party["bobs_entry"], party["bobs_request"]
    song = str(party["song"].pk)
    return {
        "create room": ("post", "/api/rooms/", {"name": "Mine"}),
        "view room": ("get", f"/api/rooms/{code}", None),
        "change settings": ("patch", f"/api/rooms/{code}", {"name": "Saturday"}),
        "join": ("post", f"/api/rooms/{code}/join", {"display_name": "Someone"}),
        "leave": ("post", f"/api/rooms/{code}/leave", None),
        "see the queue": ("get", f"/api/rooms/{code}/queue", None),
        "see the history": ("get", f"/api/rooms/{code}/history", None),
        "add a song": ("post", f"/api/rooms/{code}/queue", {"song": song}),
        "change Bob's key": ("patch", f"/api/rooms/{code}/queue/{entry}", {"key_shift": 2}),
        "move Bob's entry": ("patch", f"/api/rooms/{code}/queue/{entry}", {"position": 0}),
        "remove Bob's entry": ("delete", f"/api/rooms/{code}/queue/{entry}", None),
        "reorder": ("post", f"/api/rooms/{code}/queue/reorder", {"entry": entry, "position": 1}),
        "see the player": ("get", f"/api/rooms/{code}/player", None),
        "play": ("post", f"/api/rooms/{code}/player", {"action": "play"}),
        "skip": ("post", f"/api/rooms/{code}/player", {"action": "skip"}),
        "next": ("post", f"/api/rooms/{code}/player", {"action": "next"}),
        "previous": ("post", f"/api/rooms/{code}/player", {"action": "previous"}),
        "pause": ("post", f"/api/rooms/{code}/player", {"action": "pause"}),
        "seek": ("post", f"/api/rooms/{code}/player", {"action": "seek", "position": 10}),
        "see the requests": ("get", f"/api/rooms/{code}/requests", None),
        # Refused before anything is fetched: only YouTube videos can be requested.
        "request a file: URL": ("post", f"/api/rooms/{code}/requests", {"video": "file:///etc/passwd"}),
        "request a local port": ("post", f"/api/rooms/{code}/requests", {"video": "http://127.0.0.1:6379/"}),
        "request a short link": ("post", f"/api/rooms/{code}/requests", {"video": "https://bit.ly/3abcdef"}),
        "deny Bob's request": ("patch", f"/api/rooms/{code}/requests/{request}", {"action": "deny"}),
        "cancel Bob's request": ("delete", f"/api/rooms/{code}/requests/{request}", None),
    }[action]


# Expected status for each action, in the order of ROLES.
MATRIX = {
    #                     host staff singer guest other anonymous
    "create room":        (201, 201, 403, 403, 403, 403),
    "view room":          (200, 200, 200, 200, 200, 200),
    "change settings":    (200, 200, 403, 403, 403, 403),
    "join":               (201, 201, 200, 200, 201, 201),
    "leave":              (403, 403, 204, 204, 403, 403),
    "see the queue":      (200, 200, 200, 200, 403, 403),
    "see the history":    (200, 200, 200, 200, 403, 403),
    "add a song":         (403, 403, 201, 201, 403, 403),
    "change Bob's key":   (200, 200, 200, 403, 403, 403),
    "move Bob's entry":   (200, 200, 403, 403, 403, 403),
    "remove Bob's entry": (204, 204, 204, 403, 403, 403),
    "reorder":            (200, 200, 403, 403, 403, 403),
    "see the player":     (200, 200, 200, 200, 403, 403),
    "play":               (200, 200, 403, 403, 403, 403),
    "skip":               (200, 200, 403, 403, 403, 403),
    # Nothing has played yet: the host is let through and told why it cannot work (409).
    "next":               (200, 200, 403, 403, 403, 403),
    "previous":           (409, 409, 403, 403, 403, 403),
    # With nothing playing, pause holds the room (nothing starts by itself).
    "pause":              (200, 200, 403, 403, 403, 403),
    "seek":               (409, 409, 403, 403, 403, 403),
    # A singer sees their own requests, the host every one (tests/test_song_requests.py).
    "see the requests":   (200, 200, 200, 200, 403, 403),
    "request a file: URL":  (403, 403, 400, 400, 403, 403),
    "request a local port": (403, 403, 400, 400, 403, 403),
    "request a short link": (403, 403, 400, 400, 403, 403),
    "deny Bob's request": (200, 200, 403, 403, 403, 403),
    "cancel Bob's request": (403, 403, 204, 403, 403, 403),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", list(MATRIX))
def test_the_permission_matrix(party, action, role):
    if action == "skip":
        services.player_play(room=party["room"], actor=_host_actor(party["room"]))
    method, url, body = _request(party, action)
    client = party["clients"][role]
    response = getattr(client, method)(url, body, format="json") if body is not None else getattr(client, method)(url)
    expected = MATRIX[action][ROLES.index(role)]
    assert response.status_code == expected, response.content
    if expected == 403:
        assert response.json()["message"]  # the one error format, with a reason


def _host_actor(room):
    return actor_for(room, user=room.owner)


@pytest.mark.parametrize("role", ROLES)
def test_a_closed_room_accepts_no_new_singers(party, role):
    Room.objects.filter(pk=party["room"].pk).update(is_open=False)
    response = party["clients"][role].post(f"/api/rooms/{party['room'].code}/join", {"display_name": "Late"}, format="json")
    # Members come back as they were; the host and staff may always join; newcomers are refused.
    expected = {"host": 201, "staff": 201, "singer": 200, "guest": 200, "other": 403, "anonymous": 403}[role]
    assert response.status_code == expected
    if expected == 403:
        assert response.json()["message"] == "This room is closed to new singers."


def test_an_unknown_code_is_404_for_everyone(party):
    for role in ROLES:
        response = party["clients"][role].get("/api/rooms/ZZZZZ/queue")
        assert response.status_code == 404
        assert "ZZZZZ" in response.json()["message"]


def test_a_guest_can_use_the_token_instead_of_the_session(party):
    joined = APIClient().post(f"/api/rooms/{party['room'].code}/join", {"display_name": "Tok"}, format="json").json()
    client = APIClient(HTTP_X_SINGER_TOKEN=joined["token"])
    response = client.post(f"/api/rooms/{party['room'].code}/queue", {"song": str(party["song"].pk)}, format="json")
    assert response.status_code == 201 and response.json()["singer"]["name"] == "Tok"


def test_a_singer_removes_only_their_own_entries(party):
    gus_entry = QueueEntry.objects.get(singer__display_name="Gus")
    response = party["clients"]["singer"].delete(f"/api/rooms/{party['room'].code}/queue/{gus_entry.pk}")
    assert response.status_code == 403
    assert response.json()["message"] == "You can only remove your own songs."
    assert party["clients"]["guest"].delete(f"/api/rooms/{party['room'].code}/queue/{gus_entry.pk}").status_code == 204
