"""Every change of a queued song reaches the rooms where it waits or plays: a host's title,
cover or lyrics edit and a re-run of `manage.py enrich` redraw the TV and the phones at
once, on both WebSocket flavours, as one change of the room (one version bump)."""

import asyncio
import io
import json
import uuid

import pytest
from asgiref.sync import sync_to_async
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client

from queue_app import services
from queue_app.access import actor_for
from queue_app.models import Room
from songs.models import Song
from tests.helpers import JPEG, session_cookies, ws_communicator

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_channel_layer")]

NEW_TITLE = "Dancing Queen"


@pytest.fixture
def party(django_user_model):
    """A room whose host watches it, with a queued song by a guest and another room without it."""
    carol = django_user_model.objects.create_user(username="carol", password="x" * 12, is_host=True)
    room = services.room_create(owner=carol, name="Friday")
    services.room_create(owner=carol, name="Elsewhere")
    song = Song.objects.create(
        title="dancing queen (lyrics video)", artist="ABBA", duration=231.0, status=Song.Status.READY,
        source=Song.Source.URL, source_id=f"https://songs.example/{uuid.uuid4().hex}.mp3",
    )
    singer, _ = services.singer_join(room=room, display_name="Ann")
    services.queue_add(room=room, actor=actor_for(room, token=singer.token), song=song)
    return room, song, session_cookies(carol)


def edit_title(song, staff):
    response = staff.patch(f"/api/songs/{song.pk}/", {"title": NEW_TITLE}, content_type="application/json")
    assert response.status_code == 200, response.content


def edit_lyrics(song, staff):
    lyrics = "[00:01.00] You can dance\n[00:03.00] You can jive\n"
    response = staff.patch(f"/api/songs/{song.pk}/", {"lyrics": lyrics}, content_type="application/json")
    assert response.status_code == 200, response.content


def upload_cover(song, staff):
    response = staff.post(f"/admin/songs/song/{song.pk}/change/", {
        "title": song.title, "artist": song.artist, "album": "", "year": "", "lyrics": "",
        "cover_upload": SimpleUploadedFile("front.jpg", JPEG, "image/jpeg"),
        "jobs-TOTAL_FORMS": "0", "jobs-INITIAL_FORMS": "0",
    })
    assert response.status_code == 302, response.content[:2000]


def rerun_enrich(song, staff):
    call_command("enrich", "--song", str(song.pk), stdout=io.StringIO())


CHANGES = {"title": edit_title, "lyrics": edit_lyrics, "cover": upload_cover, "enrich": rerun_enrich}


def shown(song: Song, change: str, flavour: str, version: int) -> str:
    """What the room's pages and clients show once the change arrived."""
    song.refresh_from_db()
    if flavour == "html" and change != "title":
        return f'data-version="{version}"'  # the phones show no cover or lyrics: the redraw alone
    if change == "cover":
        return song.files["cover_thumb"]
    if change == "lyrics":
        # The TV fetches the words again when the song's lyrics_url changes.
        return f"?v={int(song.lyrics_checked_at.timestamp() * 1000)}"
    return song.title


async def messages_until(ws, needle: str, limit: int = 6) -> list[str]:
    got = []
    for _ in range(limit):
        got.append(await ws.receive_from(timeout=5))
        if needle in got[-1]:
            return got
    raise AssertionError(f"{needle!r} never arrived in {got}")


@pytest.mark.parametrize("flavour", ["json", "html"])
@pytest.mark.parametrize("change", list(CHANGES))
def test_a_song_change_redraws_every_room_where_it_waits(party, flavour, change, django_user_model, recorded_providers):
    room, song, cookies = party
    staff = Client()
    staff.force_login(django_user_model.objects.create_superuser(username="admin", password="x" * 12))
    asyncio.run(_watch_and_change(room, song, cookies, staff, flavour, change))


async def _watch_and_change(room, song, cookies, staff, flavour, change):
    suffix = "html/" if flavour == "html" else ""
    ws = ws_communicator(f"/ws/rooms/{room.code}/{suffix}", cookies)
    connected, _ = await ws.connect()
    assert connected
    await ws.receive_from(timeout=5)  # the whole room
    version = (await Room.objects.aget(pk=room.pk)).version

    await sync_to_async(CHANGES[change])(song, staff)

    needle = await sync_to_async(shown)(song, change, flavour, version + 1)
    got = await messages_until(ws, needle)
    while not await ws.receive_nothing(timeout=0.3):
        got.append(await ws.receive_from())
    assert (await Room.objects.aget(pk=room.pk)).version == version + 1
    if flavour == "json":
        assert {json.loads(text)["version"] for text in got} == {version + 1}
    await ws.disconnect()


def test_a_song_change_reaches_the_room_where_it_plays_once_and_leaves_other_rooms_alone(party, django_user_model):
    room, song, cookies = party
    carol = room.owner
    services.player_next(room=room, actor=actor_for(room, user=carol))  # it plays in Friday now
    saturday = services.room_create(owner=carol, name="Saturday")
    bob, _ = services.singer_join(room=saturday, display_name="Bob")
    services.queue_add(room=saturday, actor=actor_for(saturday, token=bob.token), song=song)
    before = dict(Room.objects.values_list("name", "version"))
    staff = Client()
    staff.force_login(django_user_model.objects.create_superuser(username="admin", password="x" * 12))

    async def watch_the_tv():
        ws = ws_communicator(f"/ws/rooms/{room.code}/", cookies)
        assert (await ws.connect())[0]
        await ws.receive_from(timeout=5)  # the whole room
        await sync_to_async(edit_title)(song, staff)
        for _ in range(6):
            event = json.loads(await ws.receive_from(timeout=5))
            if event["type"] == "player.state":
                await ws.disconnect()
                return event
        raise AssertionError("no player.state after the edit")

    event = asyncio.run(watch_the_tv())
    # The TV of the room where it plays shows the new title at once.
    assert event["player"]["entry"]["song"]["title"] == NEW_TITLE
    after = dict(Room.objects.values_list("name", "version"))
    assert after == {**before, "Friday": before["Friday"] + 1, "Saturday": before["Saturday"] + 1}
