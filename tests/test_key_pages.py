"""Choosing the key on the pages: the ♭ / ♯ stepper of "My songs", of the Add flow and of the
host's console (any entry, and the song playing), the remembered key as the Add's default,
the song's key shown, and the key in the profile's history.

Carol hosts; Bob sings with an account; Gus and Hal are guests.
"""

import re

import pytest
from django.test import Client

from queue_app import fragments, selectors, services
from queue_app.access import actor_for
from queue_app.models import QueueEntry, Room
from tests.factories import SongFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def room(carol):
    return services.room_create(owner=carol, name="Friday", max_waiting_per_singer=None)


@pytest.fixture
def song():
    return SongFactory(title="Jolene", artist="Dolly Parton", with_stems=True, key="C♯ minor", key_confidence=0.7)


def joined(room, name="", user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    assert client.post(f"/rooms/{room.code}/join", {"display_name": name}).status_code == 302
    return client


@pytest.fixture
def carols(carol) -> Client:
    client = Client()
    client.force_login(carol)
    return client


def section(html: str, element_id: str) -> str:
    return html.split(f'id="{element_id}"')[1].split("</section>")[0]


def stepper(html: str) -> dict:
    """The first stepper of `html`: the shift it shows and its buttons (value or step, disabled)."""
    shown = re.search(r'<output class="key-shift"[^>]*>([^<]*)</output>', html)[1]
    buttons = re.findall(r'<button type="(?:submit|button)" class="touch key-step"([^>]*)>([♭♯])</button>', html)
    return {"shown": shown, **{symbol: attrs for attrs, symbol in buttons}}


def test_my_songs_has_a_stepper_that_changes_my_key(room, song):
    gus = joined(room, "Gus")
    gus.post(f"/rooms/{room.code}/queue/add", {"song": str(song.pk)}, **HTMX)
    entry = QueueEntry.objects.get()
    my_songs = section(gus.get(f"/rooms/{room.code}/").content.decode(), f"my-songs-{room.code}")
    found = stepper(my_songs)
    assert found["shown"] == "0"
    assert 'value="-1"' in found["♭"] and 'value="1"' in found["♯"]
    assert f'hx-post="/rooms/{room.code}/queue/{entry.pk}/key"' in my_songs

    response = gus.post(f"/rooms/{room.code}/queue/{entry.pk}/key", {"key_shift": "2"}, **HTMX)

    html = response.content.decode()
    assert response.status_code == 200 and QueueEntry.objects.get().key_shift == 2
    assert stepper(section(html, f"my-songs-{room.code}"))["shown"] == "+2"
    assert "→ E♭ minor" in html and "key change not ready yet" in html
    assert f'id="queue-{room.code}"' in html and "key +2" in section(html, f"queue-{room.code}")


def test_the_stepper_stops_at_six_either_way(room, song):
    gus = joined(room, "Gus")
    gus.post(f"/rooms/{room.code}/queue/add", {"song": str(song.pk), "key_shift": "6"}, **HTMX)
    entry = QueueEntry.objects.get()
    found = stepper(section(gus.get(f"/rooms/{room.code}/").content.decode(), f"my-songs-{room.code}"))
    assert found["shown"] == "+6" and "disabled" in found["♯"] and "disabled" not in found["♭"]

    html = gus.post(f"/rooms/{room.code}/queue/{entry.pk}/key", {"key_shift": "-6"}, **HTMX).content.decode()
    found = stepper(section(html, f"my-songs-{room.code}"))
    assert found["shown"] == "−6" and "disabled" in found["♭"] and "disabled" not in found["♯"]


@pytest.mark.parametrize(("value", "status", "message"), [
    ("13", 400, "key_shift must be between -12 and 12"),
    ("-13", 400, "key_shift must be between -12 and 12"),
    ("two", 400, "key_shift must be a whole number"),
    ("", 400, "key_shift must be a whole number"),
])
def test_a_bad_key_is_refused_where_the_singer_tapped(room, song, value, status, message):
    gus = joined(room, "Gus")
    gus.post(f"/rooms/{room.code}/queue/add", {"song": str(song.pk)}, **HTMX)
    entry = QueueEntry.objects.get()
    response = gus.post(f"/rooms/{room.code}/queue/{entry.pk}/key", {"key_shift": value}, **HTMX)
    assert response.status_code == status and message in response.content.decode()
    assert QueueEntry.objects.get().key_shift == 0


def test_a_singer_changes_only_their_own_keys_on_the_page(room, song):
    gus, hal = joined(room, "Gus"), joined(room, "Hal")
    gus.post(f"/rooms/{room.code}/queue/add", {"song": str(song.pk)}, **HTMX)
    entry = QueueEntry.objects.get()
    response = hal.post(f"/rooms/{room.code}/queue/{entry.pk}/key", {"key_shift": "1"}, **HTMX)
    assert response.status_code == 403 and "your own songs" in response.content.decode()
    assert QueueEntry.objects.get().key_shift == 0


def test_the_add_flow_offers_the_key_the_singer_sang_the_song_in(room, song, singer_user, carol):
    bob = joined(room, user=singer_user)
    assert bob.post(f"/rooms/{room.code}/queue/add", {"song": str(song.pk), "key_shift": "-2"}, **HTMX).status_code == 201
    QueueEntry.objects.update(status=QueueEntry.Status.DONE)

    # In another room, Bob's stepper for the song starts at −2 (search results and the library list).
    other = services.room_create(owner=carol, name="Saturday", max_waiting_per_singer=None)
    bob.post(f"/rooms/{other.code}/join", {})
    for url in (f"/rooms/{other.code}/search?q=jolene", f"/rooms/{other.code}/search"):
        html = bob.get(url, **HTMX).content.decode()
        row = html.split(f'-{song.pk}"', 1)[1].split("</li>")[0]
        assert '<input type="hidden" name="key_shift" value="-2">' in row, url
        assert stepper(row)["shown"] == "−2" and 'data-key-step="-1"' in stepper(row)["♭"]
        assert "C♯ minor" in row  # the song's own key
    # Added with what the stepper says; with nothing (no JavaScript), the remembered key.
    response = bob.post(f"/rooms/{other.code}/queue/add", {"song": str(song.pk), "key_shift": "3"}, **HTMX)
    assert response.status_code == 201 and "Key +3." in response.content.decode()
    bob.post(f"/rooms/{other.code}/queue/add", {"song": str(song.pk)}, **HTMX)
    keys = list(QueueEntry.objects.filter(room=other).order_by("pk").values_list("key_shift", flat=True))
    assert keys == [3, 3]  # the last chosen (+3) is the default now


def test_a_new_singer_starts_at_zero(room, song):
    html = joined(room, "Gus").get(f"/rooms/{room.code}/search?q=jolene", **HTMX).content.decode()
    assert '<input type="hidden" name="key_shift" value="0">' in html and stepper(html)["shown"] == "0"


def test_the_host_changes_the_key_of_any_entry_and_of_the_song_playing(room, song, carol, carols):
    gus = joined(room, "Gus")
    for _ in range(2):
        gus.post(f"/rooms/{room.code}/queue/add", {"song": str(song.pk)}, **HTMX)
    playing, waiting = QueueEntry.objects.order_by("pk")
    services.player_play(room=room, actor=actor_for(room, user=carol))
    html = carols.get(f"/rooms/{room.code}/host/").content.decode()
    assert f'hx-post="/rooms/{room.code}/host/{waiting.pk}/key"' in section(html, f"host-queue-{room.code}")
    assert f'hx-post="/rooms/{room.code}/host/{playing.pk}/key"' in section(html, f"now-playing-{room.code}")

    response = carols.post(f"/rooms/{room.code}/host/{waiting.pk}/key", {"key_shift": "-1"}, **HTMX)
    assert response.status_code == 200 and stepper(section(response.content.decode(), f"host-queue-{room.code}"))["shown"] == "−1"

    # From Now playing (its stepper's hx-target): answered with Now playing.
    response = carols.post(f"/rooms/{room.code}/host/{playing.pk}/key", {"key_shift": "2"}, **HTMX,
                           HTTP_HX_TARGET=f"now-playing-{room.code}")
    html = response.content.decode()
    assert response.status_code == 200 and f'id="now-playing-{room.code}"' in html
    assert stepper(html)["shown"] == "+2" and "key change not ready yet" in html
    assert dict(QueueEntry.objects.values_list("pk", "key_shift")) == {playing.pk: 2, waiting.pk: -1}
    # The singer cannot change the key of their song once it plays (the host can).
    response = gus.post(f"/rooms/{room.code}/queue/{playing.pk}/key", {"key_shift": "0"}, **HTMX)
    assert response.status_code == 403 and "Only the host" in response.content.decode()


def test_only_the_hosts_pushed_now_playing_has_the_stepper(room, song, carol):
    services.queue_add(room=room, actor=actor_for(room, token=services.singer_join(room=room, display_name="Gus")[0].token),
                       song=song, key_shift=1)
    services.player_play(room=room, actor=actor_for(room, user=carol))
    snapshot = selectors.RoomSnapshot(Room.objects.get(pk=room.pk))
    event = {"room": room.code, "version": 7, "player": selectors.player_payload(snapshot)}

    host_html = fragments.player_state_html(event, host=True)
    singer_html = fragments.player_state_html(event)

    assert "/host/" in host_html and stepper(host_html)["shown"] == "+1"
    assert "key-stepper" not in singer_html and "Key +1 · D minor" in singer_html


def test_the_profile_shows_the_key_each_song_was_sung_in(room, song, singer_user):
    bob = joined(room, user=singer_user)
    bob.post(f"/rooms/{room.code}/queue/add", {"song": str(song.pk), "key_shift": "-2"}, **HTMX)
    QueueEntry.objects.update(status=QueueEntry.Status.DONE)
    html = bob.get("/accounts/profile/").content.decode()
    history = html.split('id="sung-history"')[1]
    assert "Jolene" in history and "key −2" in history


def test_the_library_shows_the_songs_key(song, staff_client):
    html = staff_client.get("/library/").content.decode()
    assert "C♯ minor" in html
