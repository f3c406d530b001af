"""The party API's shapes and its refusals, in the one error format."""

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from queue_app.models import QueueEntry, Room
from songs.models import Song
from tests.factories import SongFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def host_api(carol):
    """An API client signed in as Carol, who hosts the room."""
    client = APIClient()
    client.force_authenticate(carol)
    return client


@pytest.fixture
def code(host_api):
    response = host_api.post("/api/rooms/", {"name": "Friday", "max_waiting_per_singer": 2}, format="json")
    assert response.status_code == 201
    return response.json()["code"]


def join(code, name) -> APIClient:
    client = APIClient()
    assert client.post(f"/api/rooms/{code}/join", {"display_name": name}, format="json").status_code == 201
    return client


def test_it_creates_a_room_and_returns_its_code(host_api):
    body = host_api.post("/api/rooms/", {"name": "Friday", "password": "disco"}, format="json").json()
    assert len(body["code"]) == 5 and body["has_password"] is True and body["rotation_mode"] == "fair"
    assert body["owner"] == "Carol" and "password" not in body


def test_the_code_is_case_insensitive(code):
    assert APIClient().get(f"/api/rooms/{code.lower()}").json()["code"] == code


def test_the_queue_lists_waiting_songs_in_play_order_with_estimates(code, host_api):
    ann, ben = join(code, "Ann"), join(code, "Ben")
    for client, title in ((ann, "A1"), (ann, "A2"), (ben, "B1")):
        client.post(f"/api/rooms/{code}/queue", {"song": str(SongFactory(title=title, ready=True).pk)}, format="json")
    queue = host_api.get(f"/api/rooms/{code}/queue").json()
    assert [(item["position"], item["singer"]["name"], item["song"]["title"], item["wait_seconds"]) for item in queue] == [
        (0, "Ann", "A1", 0), (1, "Ben", "B1", 180), (2, "Ann", "A2", 360),
    ]
    assert queue[2]["wait_minutes"] == 6 and queue[0]["estimated_start"]


def test_adding_answers_the_entry_with_its_place(code):
    body = join(code, "Ann").post(f"/api/rooms/{code}/queue", {"song": str(SongFactory(ready=True).pk), "key_shift": -3}, format="json")
    assert body.status_code == 201
    assert body.json()["position"] == 0 and body.json()["key_shift"] == -3 and body.json()["status"] == "waiting"


@pytest.mark.parametrize(
    ("status", "deleted", "expected"),
    [("ready", False, 201), ("processing", False, 201), ("pending", False, 201), ("error", False, 400), ("ready", True, 400)],
)
def test_which_songs_may_be_queued(code, status, deleted, expected):
    track = SongFactory(status=status, duration=180.0)
    if deleted:
        Song.objects.filter(pk=track.pk).update(deleted_at=timezone.now())
    response = join(code, "Ann").post(f"/api/rooms/{code}/queue", {"song": str(track.pk)}, format="json")
    assert response.status_code == expected
    if expected == 400:
        assert set(response.json()) == {"message", "extra"}


def test_an_unknown_song_is_a_400(code):
    response = join(code, "Ann").post(f"/api/rooms/{code}/queue", {"song": "8d3c1f1e-0000-4000-8000-000000000000"}, format="json")
    assert response.status_code == 400 and response.json()["message"] == "There is no such song in the library."


def test_the_limit_is_a_409_with_the_limit(code):
    ann = join(code, "Ann")
    for _ in range(2):
        assert ann.post(f"/api/rooms/{code}/queue", {"song": str(SongFactory(ready=True).pk)}, format="json").status_code == 201
    refused = ann.post(f"/api/rooms/{code}/queue", {"song": str(SongFactory(ready=True).pk)}, format="json")
    assert refused.status_code == 409
    assert refused.json() == {"message": "You already have 2 songs waiting, the most this room allows.", "extra": {"limit": 2}}


def test_a_wrong_password_is_refused(host_api):
    code = host_api.post("/api/rooms/", {"name": "Secret", "password": "disco"}, format="json").json()["code"]
    wrong = APIClient().post(f"/api/rooms/{code}/join", {"display_name": "Eve", "password": "polka"}, format="json")
    assert wrong.status_code == 403 and wrong.json()["message"] == "Wrong room password."
    right = APIClient().post(f"/api/rooms/{code}/join", {"display_name": "Eve", "password": "disco"}, format="json")
    assert right.status_code == 201 and right.json()["token"]


def test_joining_again_from_the_same_browser_is_the_same_singer(code):
    client = join(code, "Ann")
    again = client.post(f"/api/rooms/{code}/join", {"display_name": "Ann"}, format="json")
    assert again.status_code == 200
    assert Room.objects.get(code=code).singers.count() == 1


def test_the_player_runs_through_the_queue(code, host_api):
    ann = join(code, "Ann")
    entry = ann.post(f"/api/rooms/{code}/queue", {"song": str(SongFactory(title="A1", ready=True).pk)}, format="json").json()
    player = host_api.post(f"/api/rooms/{code}/player", {"action": "play"}, format="json").json()
    assert player["entry"]["id"] == entry["id"] and player["paused"] is False and player["up_next"] is None
    seek = host_api.post(f"/api/rooms/{code}/player", {"action": "seek", "position": 61.5}, format="json").json()
    assert 61.5 <= seek["position"] < 62.5
    paused = host_api.post(f"/api/rooms/{code}/player", {"action": "pause"}, format="json").json()
    assert paused["paused"] is True
    assert ann.get(f"/api/rooms/{code}/player").json()["position"] == paused["position"]
    done = host_api.post(f"/api/rooms/{code}/player", {"action": "next", "entry": entry["id"]}, format="json").json()
    assert done["entry"] is None and QueueEntry.objects.get(pk=entry["id"]).status == "done"


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"action": "skip"}, 409, "Nothing is playing to skip."),
        ({"action": "play"}, 409, "There is no song in the queue that can play yet."),
        ({"action": "seek"}, 400, "seek needs a position in seconds."),
        ({"action": "dance"}, 400, None),
        ({"action": "seek", "position": -1}, 400, None),
    ],
)
def test_the_player_refuses_clearly(code, host_api, body, status, message):
    response = host_api.post(f"/api/rooms/{code}/player", body, format="json")
    assert response.status_code == status
    assert response.json()["message"] == message if message else response.json()["message"]


def test_reorder_moves_an_entry_and_answers_the_new_queue(code, host_api):
    ann, ben = join(code, "Ann"), join(code, "Ben")
    ann.post(f"/api/rooms/{code}/queue", {"song": str(SongFactory(title="A1", ready=True).pk)}, format="json")
    b1 = ben.post(f"/api/rooms/{code}/queue", {"song": str(SongFactory(title="B1", ready=True).pk)}, format="json").json()
    queue = host_api.post(f"/api/rooms/{code}/queue/reorder", {"entry": b1["id"], "position": 0}, format="json").json()
    assert [item["song"]["title"] for item in queue] == ["B1", "A1"]
    assert queue[0]["pinned_position"] == 0
    unpinned = host_api.patch(f"/api/rooms/{code}/queue/{b1['id']}", {"position": None}, format="json").json()
    assert unpinned["pinned_position"] is None


def test_an_entry_of_another_room_is_a_404(code, host_api):
    other = host_api.post("/api/rooms/", {"name": "Other"}, format="json").json()["code"]
    entry = join(other, "Ann").post(f"/api/rooms/{other}/queue", {"song": str(SongFactory(ready=True).pk)}, format="json").json()
    assert host_api.delete(f"/api/rooms/{code}/queue/{entry['id']}").status_code == 404


def test_a_song_done_cannot_be_removed(code, host_api):
    ann = join(code, "Ann")
    entry = ann.post(f"/api/rooms/{code}/queue", {"song": str(SongFactory(ready=True).pk)}, format="json").json()
    host_api.post(f"/api/rooms/{code}/player", {"action": "play"}, format="json")
    response = ann.delete(f"/api/rooms/{code}/queue/{entry['id']}")
    assert response.status_code == 409 and response.json()["extra"] == {"status": "playing"}


def test_leaving_takes_my_waiting_songs(code, host_api):
    ann = join(code, "Ann")
    ann.post(f"/api/rooms/{code}/queue", {"song": str(SongFactory(ready=True).pk)}, format="json")
    assert ann.post(f"/api/rooms/{code}/leave").status_code == 204
    assert host_api.get(f"/api/rooms/{code}/queue").json() == []
    assert ann.get(f"/api/rooms/{code}/queue").status_code == 403
