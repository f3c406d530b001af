"""/rooms/<code>/tv/: the host's TV page, and what the player payload gives it to play.

Personas: Carol hosts the room (a host, not staff), Alice is staff (may run any room),
Bob sings in Carol's room, Dave is signed in but has nothing to do with it.
"""

import re

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from karaoke_site.supervisor import network_urls
from queue_app import selectors, services
from queue_app.access import actor_for
from songs.models import Song
from tests.factories import RoomFactory, SongFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def room(carol):
    return RoomFactory(owner=carol, name="Friday")


def client_for(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def tv_url(room) -> str:
    return reverse("rooms:tv", args=[room.code])


def test_it_shows_the_tv_to_the_rooms_host(room, carol):
    response = client_for(carol).get(tv_url(room))
    assert response.status_code == 200
    assert "queue_app/tv.html" in [t.name for t in response.templates]


def test_it_shows_the_tv_to_staff(room, staff_user):
    assert client_for(staff_user).get(tv_url(room)).status_code == 200


def test_it_finds_the_room_whatever_the_case_of_its_code(room, carol):
    assert client_for(carol).get(reverse("rooms:tv", args=[room.code.lower()])).status_code == 200


def test_it_refuses_a_singer_in_the_room(room, singer_user):
    services.singer_join(room=room, user=singer_user)
    response = client_for(singer_user).get(tv_url(room))
    assert response.status_code == 403
    assert "does not run this room" in response.content.decode()
    assert "data-ws-path" not in response.content.decode()


@pytest.mark.parametrize("is_host", [False, True], ids=["a stranger", "the host of other rooms"])
def test_it_refuses_someone_who_does_not_run_the_room(room, django_user_model, is_host):
    dave = django_user_model.objects.create_user(username="dave", password="x" * 12, is_host=is_host)
    assert client_for(dave).get(tv_url(room)).status_code == 403


def test_it_sends_the_anonymous_to_sign_in(room):
    response = client_for(None).get(tv_url(room))
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('accounts:login')}?next={tv_url(room)}"


def test_it_answers_404_for_an_unknown_room(carol):
    assert client_for(carol).get(reverse("rooms:tv", args=["ZZZZZ"])).status_code == 404


def test_it_gives_the_script_what_it_needs(room, carol):
    page = client_for(carol).get(tv_url(room)).content.decode()
    assert f'data-room="{room.code}"' in page
    assert f'data-ws-path="/ws/rooms/{room.code}/"' in page
    assert f'data-player-url="/api/rooms/{room.code}/player"' in page
    assert re.search(r'data-csrf="[^"]{32,}"', page)
    assert "js/tv.js" in page and "css/tv.css" in page
    assert 'id="tv-instrumental"' in page and 'id="tv-vocals"' in page
    assert "Start the TV" in page
    assert 'id="tv-guide"' in page


def test_it_shows_the_room_code_and_where_to_join(room, carol):
    page = client_for(carol).get(tv_url(room), HTTP_HOST="karaoke.lan:8000").content.decode()
    assert f'<strong id="tv-code">{room.code}</strong>' in page
    assert f"http://karaoke.lan:8000/rooms/{room.code}/" in page


def test_it_does_not_show_phones_a_loopback_join_address(room, carol):
    page = client_for(carol).get(tv_url(room), HTTP_HOST="127.0.0.1:8000").content.decode()
    join_url = re.search(r'data-join-url="([^"]+)"', page).group(1)
    assert join_url.endswith(f":8000/rooms/{room.code}/")
    # This machine's network address when it has one (not guaranteed in a container).
    if network_urls("0.0.0.0", 8000)[1:]:
        assert "127.0.0.1" not in join_url


def test_it_carries_the_stem_and_lyrics_urls_in_the_player(room, carol, singer_user):
    song = SongFactory(
        title="Dancing Queen", artist="ABBA", ready=True,
        files={"audio_web": "audio.m4a", "instrumental_web": "instrumental.m4a", "vocals_web": "vocals.m4a",
               "instrumental": "instrumental.flac", "vocals": "vocals.flac"},
    )
    bob = services.singer_join(room=room, user=singer_user)[0]
    services.queue_add(room=room, actor=actor_for(room, user=singer_user), song=song)
    services.player_play(room=room, actor=actor_for(room, user=carol))

    api = APIClient()
    api.force_authenticate(carol)
    player = api.get(f"/api/rooms/{room.code}/player").json()
    assert player["entry"]["singer"] == {"id": bob.pk, "name": bob.display_name}
    played = player["entry"]["song"]
    assert played["instrumental_url"] == f"/media/songs/{song.pk}/instrumental.m4a"
    assert played["vocals_url"] == f"/media/songs/{song.pk}/vocals.m4a"
    assert played["lyrics_url"] == f"/api/songs/{song.pk}/lyrics"
    # The URLs answer what they promise: the lyrics API, for the signed-in host.
    assert api.get(played["lyrics_url"]).status_code == 200


def test_it_gives_null_stems_for_a_song_not_separated_yet(room):
    song = SongFactory(title="Fresh", status=Song.Status.PROCESSING, files={"audio_web": "audio.m4a"})
    payload = selectors.song_payload(song)
    assert payload["instrumental_url"] is None and payload["vocals_url"] is None
    assert payload["lyrics_url"] == f"/api/songs/{song.pk}/lyrics"


def test_it_documents_the_new_fields_in_the_schema(carol):
    api = APIClient()
    api.force_authenticate(carol)
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    song = schema["components"]["schemas"]["PartySong"]
    for field in ("instrumental_url", "vocals_url", "lyrics_url"):
        assert field in song["properties"] and field in song["required"]
    assert song["properties"]["instrumental_url"]["nullable"] is True
    # null only in the history entry of a song deleted since (the history outlives it).
    assert song["properties"]["lyrics_url"].get("nullable") is True
