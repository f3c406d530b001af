"""Names are unique in a room (case-insensitive, with a suggestion), and a singer can fix
theirs without leaving: themselves, or the host for anyone; the rooms see it at once."""

import pytest
from django.test import Client

from queue_app import services
from queue_app.access import actor_for
from queue_app.models import Singer
from tests.factories import SongFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def room(carol):
    return services.room_create(owner=carol, name="Friday")


def join(room, name):
    client = Client()
    answer = client.post(f"/api/rooms/{room.code}/join", {"display_name": name}, content_type="application/json")
    return client, answer


def rename(client, room, singer_id, name, **headers):
    return client.patch(f"/api/rooms/{room.code}/singers/{singer_id}", {"display_name": name},
                        content_type="application/json", **headers)


def test_a_second_maya_is_told_the_name_is_taken_and_offered_another(room):
    assert join(room, "Maya")[1].status_code == 201
    for name in ("Maya", "maya", " MAYA "):
        _, answer = join(room, name)
        assert answer.status_code == 409
        assert "already called" in answer.json()["message"] and answer.json()["extra"]["suggestion"].casefold() == "maya 2"
    assert join(room, "Maya 2")[1].status_code == 201
    assert Singer.objects.filter(room=room).count() == 2


def test_an_account_whose_name_is_taken_joins_as_the_next_free_one(room, django_user_model):
    join(room, "Dana")
    dana = django_user_model.objects.create_user(username="Dana", password="x" * 12)
    singer, created = services.singer_join(room=room, user=dana)
    assert created and singer.display_name == "Dana 2"


def test_a_name_is_free_again_once_its_singer_left(room):
    client, answer = join(room, "Maya")
    client.post(f"/api/rooms/{room.code}/leave", HTTP_X_SINGER_TOKEN=answer.json()["token"])
    assert join(room, "Maya")[1].status_code == 201


def test_a_singer_fixes_their_name_and_the_room_sees_it(room, listen, django_capture_on_commit_callbacks):
    client, answer = join(room, "Mya")
    me = answer.json()
    services.queue_add(room=room, actor=actor_for(room, token=me["token"]), song=SongFactory(ready=True))
    recorder = listen(f"room.{room.code}")
    with django_capture_on_commit_callbacks(execute=True):
        fixed = rename(client, room, me["id"], "Maya", HTTP_X_SINGER_TOKEN=me["token"])
    assert fixed.status_code == 200 and fixed.json()["name"] == "Maya"
    events = recorder.drain()
    queue = next(e for e in events if e["type"] == "queue.changed")["queue"]
    assert queue[0]["singer"]["name"] == "Maya"


def test_who_may_rename_whom(room, carol):
    ann_client, ann = join(room, "Ann")
    ben_client, ben = join(room, "Ben")
    ann, ben = ann.json(), ben.json()
    assert rename(ben_client, room, ann["id"], "Anna", HTTP_X_SINGER_TOKEN=ben["token"]).status_code == 403
    assert rename(ann_client, room, ann["id"], "ben", HTTP_X_SINGER_TOKEN=ann["token"]).status_code == 409
    assert rename(ann_client, room, ann["id"], "  ", HTTP_X_SINGER_TOKEN=ann["token"]).status_code == 400
    host = Client()
    host.force_login(carol)
    assert rename(host, room, ben["id"], "Benjamin").status_code == 200
    assert Singer.objects.get(pk=ben["id"]).display_name == "Benjamin"
    assert rename(Client(), room, ben["id"], "Ghost").status_code == 403
