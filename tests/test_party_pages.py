"""The party's pages: /rooms/ (join with a code, a host's rooms, open one), the singer's
page (join, search, add, my songs, leave) and the host's console (reorder, remove, unpin,
player, settings, the QR code), and who may do what through them.

Personas: Carol hosts the room (a host, not staff), Alice is staff, Bob is a signed-in
singer in the room, Gus a guest singer (his browser session), Dave is signed in but has
not joined, Erin is a host of other rooms, and an anonymous visitor.
"""

import re

import pytest
from django.test import Client

from common import procs
from queue_app import services, views
from queue_app.access import actor_for
from queue_app.models import QueueEntry, Room
from songs.models import Song
from tests.factories import SongFactory, UserFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
ROLES = ("anonymous", "stranger", "guest", "singer", "host", "staff", "other host")


def join(client: Client, room: Room, name: str = "") -> None:
    response = client.post(f"/rooms/{room.code}/join", {"display_name": name})
    assert response.status_code == 302, response.content.decode()[:500]


@pytest.fixture
def room(carol):
    return services.room_create(owner=carol, name="Friday", max_waiting_per_singer=None)


@pytest.fixture
def party(room, carol, staff_user, singer_user):
    """Every role's browser; Bob and Gus joined and queued one song each."""
    dave = UserFactory(username="dave", display_name="Dave")
    erin = UserFactory(username="erin", display_name="Erin", host=True)
    clients = {role: Client() for role in ROLES}
    for role, user in (("stranger", dave), ("singer", singer_user), ("host", carol), ("staff", staff_user),
                       ("other host", erin)):
        clients[role].force_login(user)
    join(clients["singer"], room)
    join(clients["guest"], room, "Gus")
    song = SongFactory(title="Dancing Queen", artist="ABBA", ready=True)
    for role in ("singer", "guest"):
        assert clients[role].post(f"/rooms/{room.code}/queue/add", {"song": str(song.pk)}, **HTMX).status_code == 201
    bobs, guss = QueueEntry.objects.order_by("pk")
    return {"room": room, "clients": clients, "song": song, "bobs": bobs.pk, "guss": guss.pk}


def _do(party, role: str, action: str):
    client, code = party["clients"][role], party["room"].code
    requests = {
        "view singer page": ("get", f"/rooms/{code}/", {}),
        "join": ("post", f"/rooms/{code}/join", {"display_name": "Someone"}),
        "search": ("get", f"/rooms/{code}/search", {"q": "queen"}),
        "add": ("post", f"/rooms/{code}/queue/add", {"song": str(party["song"].pk)}),
        "remove Bob's entry (singer page)": ("post", f"/rooms/{code}/queue/{party['bobs']}/remove", {}),
        "remove Gus's entry (singer page)": ("post", f"/rooms/{code}/queue/{party['guss']}/remove", {}),
        "view host page": ("get", f"/rooms/{code}/host/", {}),
        "reorder": ("post", f"/rooms/{code}/host/move", {"entry": party["guss"], "position": 0}),
        "remove on the host page": ("post", f"/rooms/{code}/host/{party['bobs']}/remove", {}),
        "next": ("post", f"/rooms/{code}/host/player", {"action": "next"}),
        "skip": ("post", f"/rooms/{code}/host/player", {"action": "skip"}),
        "settings": ("post", f"/rooms/{code}/host/settings", {"name": "Saturday", "is_open": "on",
                                                             "rotation_mode": "fair"}),
        "unpin": ("post", f"/rooms/{code}/host/{party['guss']}/unpin", {}),
        "play": ("post", f"/rooms/{code}/host/player", {"action": "play"}),
        "pause": ("post", f"/rooms/{code}/host/player", {"action": "pause"}),
        "previous": ("post", f"/rooms/{code}/host/player", {"action": "previous"}),
        "leave": ("post", f"/rooms/{code}/leave", {}),
        "view TV page": ("get", f"/rooms/{code}/tv/", {}),
    }
    method, url, data = requests[action]
    # Page loads as a browser does; actions as the page's HTMX does.
    extra = {} if action in ("view singer page", "join", "view host page", "leave", "view TV page") else HTMX
    return getattr(client, method)(url, data, **extra)


# Expected status through the pages, in the order of ROLES. 302: a redirect (join → the
# room; the host page → sign in first). "skip" with Bob's song playing after "next".
MATRIX = {
    #                                   anon stranger guest singer host staff other-host
    "view singer page":                 (200, 200, 200, 200, 200, 200, 200),
    "join":                             (302, 302, 302, 302, 302, 302, 302),
    "search":                           (403, 403, 200, 200, 403, 403, 403),
    "add":                              (403, 403, 201, 201, 403, 403, 403),
    "remove Bob's entry (singer page)": (403, 403, 403, 200, 403, 403, 403),
    "remove Gus's entry (singer page)": (403, 403, 200, 403, 403, 403, 403),
    "view host page":                   (302, 403, 302, 403, 200, 200, 403),
    "reorder":                          (403, 403, 403, 403, 200, 200, 403),
    "remove on the host page":          (403, 403, 403, 403, 200, 200, 403),
    "next":                             (403, 403, 403, 403, 200, 200, 403),
    "skip":                             (403, 403, 403, 403, 409, 409, 403),
    "settings":                         (403, 403, 403, 403, 200, 200, 403),
    "unpin":                            (403, 403, 403, 403, 200, 200, 403),
    "play":                             (403, 403, 403, 403, 200, 200, 403),
    # With nothing playing, pause holds the room (nothing starts by itself).
    "pause":                            (403, 403, 403, 403, 200, 200, 403),
    # Nothing has played: the host is told why (409).
    "previous":                         (403, 403, 403, 403, 409, 409, 403),
    "leave":                            (403, 403, 302, 302, 403, 403, 403),
    "view TV page":                     (302, 403, 302, 403, 200, 200, 403),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", list(MATRIX))
def test_it_lets_each_role_do_what_the_matrix_says(party, role, action):
    response = _do(party, role, action)
    expected = MATRIX[action][ROLES.index(role)]
    assert response.status_code == expected, f"{role} / {action}: {response.status_code} {response.content[:300]}"
    if expected == 403:
        assert response.content  # a message, not an empty refusal


@pytest.mark.parametrize("role", ROLES)
def test_it_shows_the_room_only_to_its_singers_and_the_join_form_to_the_others(party, role):
    html = _do(party, role, "view singer page").content.decode()
    code = party["room"].code
    if role in ("guest", "singer"):
        assert f'id="queue-{code}"' in html and f'id="my-songs-{code}"' in html and "Dancing Queen" in html
    else:
        assert f'id="queue-{code}"' not in html and 'id="join-form"' in html and "Dancing Queen" not in html


def test_it_changes_nothing_for_the_refused(party):
    before = list(QueueEntry.objects.order_by("pk").values_list("pk", "status", "pinned_position"))
    room_before = Room.objects.values("name", "version").get(pk=party["room"].pk)
    for role in ("anonymous", "stranger", "guest", "singer", "other host"):
        for action in ("reorder", "remove on the host page", "next", "settings"):
            _do(party, role, action)
    for role in ("anonymous", "stranger", "other host", "host", "staff"):
        _do(party, role, "add")
    assert list(QueueEntry.objects.order_by("pk").values_list("pk", "status", "pinned_position")) == before
    assert Room.objects.values("name", "version").get(pk=party["room"].pk) == room_before


def test_it_skips_the_song_playing_for_the_host(party):
    clients, code = party["clients"], party["room"].code
    assert clients["host"].post(f"/rooms/{code}/host/player", {"action": "play"}, **HTMX).status_code == 200
    response = clients["staff"].post(f"/rooms/{code}/host/player", {"action": "skip"}, **HTMX)
    assert response.status_code == 200 and "Skipped." in response.content.decode()
    assert QueueEntry.objects.get(pk=party["bobs"]).status == QueueEntry.Status.SKIPPED


# --- /rooms/ ----------------------------------------------------------------------------


def test_it_sends_a_code_typed_in_any_case_to_the_room(room):
    response = Client().get("/rooms/", {"code": f"  {room.code.lower()} "})
    assert response.status_code == 302 and response["Location"] == f"/rooms/{room.code}/"


def test_it_answers_an_unknown_code_with_the_form_and_a_404(room):
    response = Client().get("/rooms/", {"code": "zzzzz"})
    assert response.status_code == 404
    html = response.content.decode()
    assert 'id="join-code"' in html and "There is no room with the code ZZZZZ" in html
    assert Client().get("/rooms/", {"code": "x" * 500}).status_code == 404
    assert Client().get("/rooms/", {"code": ""}).status_code == 400
    assert Client().get("/rooms/ZZZZZ/").status_code == 404


def test_it_lists_a_hosts_own_rooms_and_every_room_for_staff(room, carol, django_user_model, staff_client):
    erin = django_user_model.objects.create_user(username="erin", password="x" * 12, is_host=True)
    erins = services.room_create(owner=erin, name="Erin's")
    client = Client()
    client.force_login(carol)
    html = client.get("/rooms/").content.decode()
    assert f"/rooms/{room.code}/host/" in html and f"/rooms/{room.code}/tv/" in html and f"/rooms/{room.code}/" in html
    assert erins.code not in html and 'id="room-create"' in html
    staff_html = staff_client.get("/rooms/").content.decode()
    assert room.code in staff_html and erins.code in staff_html


def test_it_shows_singers_only_the_join_form_on_the_rooms_page(room, singer_user):
    client = Client()
    client.force_login(singer_user)
    html = client.get("/rooms/").content.decode()
    assert 'id="join-code"' in html and 'id="room-create"' not in html and room.code not in html
    assert client.post("/rooms/", {"name": "Mine", "rotation_mode": "fair"}).status_code == 403
    assert Client().post("/rooms/", {"name": "Mine", "rotation_mode": "fair"}).status_code == 302  # sign in
    assert Room.objects.count() == 1


def test_it_opens_a_room_for_a_host(carol):
    client = Client()
    client.force_login(carol)
    response = client.post("/rooms/", {"name": "Karaoke", "password": "sing", "rotation_mode": "fifo",
                                       "max_waiting_per_singer": "2"})
    made = Room.objects.get(name="Karaoke")
    assert response.status_code == 302 and response["Location"] == f"/rooms/{made.code}/host/"
    assert made.owner == carol and made.has_password and made.rotation_mode == "fifo"
    assert made.max_waiting_per_singer == 2


@pytest.mark.parametrize("data, message", [
    ({"name": "x" * 101, "rotation_mode": "fair"}, "at most 100"),
    ({"name": "A", "rotation_mode": "random"}, "Select a valid choice"),
    ({"name": "A", "rotation_mode": "fair", "max_waiting_per_singer": "0"}, "greater than or equal to 1"),
    ({"name": "A", "rotation_mode": "fair", "max_waiting_per_singer": "lots"}, "whole number"),
])
def test_it_refuses_a_bad_new_room_with_a_message(carol, data, message):
    client = Client()
    client.force_login(carol)
    response = client.post("/rooms/", data)
    assert response.status_code == 400 and message in response.content.decode()
    assert not Room.objects.exists()


def test_it_links_to_the_rooms_from_the_nav_and_the_home_page(room):
    html = Client().get("/").content.decode()
    assert '<a href="/rooms/">Rooms</a>' in html and "Join a party" in html and 'action="/rooms/"' in html


# --- the singer's page ------------------------------------------------------------------


def test_it_lets_a_guest_join_with_a_name_and_remembers_them(room):
    client = Client()
    page = client.get(f"/rooms/{room.code.lower()}/")
    assert page.status_code == 302 and page["Location"] == f"/rooms/{room.code}/"
    page = client.get(f"/rooms/{room.code}/")
    assert 'name="display_name"' in page.content.decode() and 'name="password"' not in page.content.decode()
    join(client, room, "Gus")
    html = client.get(f"/rooms/{room.code}/").content.decode()
    assert "Singing as <strong>Gus</strong>" in html
    assert f'ws-connect="/ws/rooms/{room.code}/html/"' in html and 'hx-ext="ws"' in html
    # Joining again from the same browser is the same singer.
    join(client, room, "Gus again")
    assert room.singers.count() == 1


def test_it_lets_a_signed_in_user_join_with_one_click_under_their_name(room, singer_user):
    client = Client()
    client.force_login(singer_user)
    html = client.get(f"/rooms/{room.code}/").content.decode()
    assert "Join as Bob" in html and 'name="display_name"' not in html
    join(client, room)
    assert room.singers.get().display_name == "Bob" and room.singers.get().user == singer_user


def test_it_refuses_a_guest_without_a_name(room):
    response = Client().post(f"/rooms/{room.code}/join", {"display_name": "  "})
    assert response.status_code == 400 and "Tell us your name" in response.content.decode()
    response = Client().post(f"/rooms/{room.code}/join", {"display_name": "x" * 81})
    assert response.status_code == 400 and "at most 80" in response.content.decode()


def test_it_refuses_a_wrong_password_and_a_closed_room_with_a_403(room, carol):
    services.room_update(room=room, actor=actor_for(room, user=carol), password="secret")
    page = Client().get(f"/rooms/{room.code}/").content.decode()
    assert 'name="password"' in page
    response = Client().post(f"/rooms/{room.code}/join", {"display_name": "Gus", "password": "guess"})
    assert response.status_code == 403 and "Wrong room password" in response.content.decode()
    join_client = Client()
    assert join_client.post(f"/rooms/{room.code}/join", {"display_name": "Gus", "password": "secret"}).status_code == 302
    services.room_update(room=room, actor=actor_for(room, user=carol), is_open=False)
    response = Client().post(f"/rooms/{room.code}/join", {"display_name": "Hal", "password": "secret"})
    assert response.status_code == 403 and "closed" in response.content.decode()
    # Gus is known by his session: back in even when closed.
    assert join_client.get(f"/rooms/{room.code}/").content.decode().count("Singing as") == 1


def test_it_searches_title_artist_album_and_lyrics_with_a_snippet(room):
    client = Client()
    join(client, room, "Gus")
    queen = SongFactory(title="Dancing Queen", artist="ABBA", ready=True, album="Arrival",
                        lyrics_plain="You can dance\nYou can jive\nHaving the time of your life")
    later = SongFactory(title="Waterloo", artist="ABBA", status=Song.Status.PROCESSING, duration=180.0)
    SongFactory(title="Broken", artist="ABBA", status=Song.Status.ERROR, duration=180.0)
    SongFactory(title="Gone", artist="ABBA", ready=True, deleted_at="2026-01-01T00:00:00Z")
    synced = SongFactory(title="Take On Me", artist="a-ha", ready=True,
                         lyrics_synced="[00:10.00]Talking away\n[00:14.00]I don't know what I'm to say")

    def hits(q):
        response = client.get(f"/rooms/{room.code}/search", {"q": q}, **HTMX)
        assert response.status_code == 200
        html = response.content.decode()
        return re.findall(r'<li id="hit-([0-9a-f-]{36})"', html), html

    ids, html = hits("abba")
    assert ids == [str(queen.pk), str(later.pk)]  # ready first; no failed or deleted song
    assert "processing" in html.split(f'id="hit-{later.pk}"')[1]
    ids, html = hits("time LIFE")
    assert ids == [str(queen.pk)] and "Having the time of your life" in html
    ids, html = hits("talking")
    assert ids == [str(synced.pk)] and "Talking away" in html and "[00:10" not in html
    ids, html = hits("arrival queen")
    assert ids == [str(queen.pk)] and 'class="snippet' not in html  # the metadata matched: no lyrics line
    assert hits("nothing-like-this")[0] == []


def test_it_adds_a_song_and_shows_it_in_my_songs_and_the_queue_at_once(room):
    client = Client()
    join(client, room, "Gus")
    song = SongFactory(title="Dancing Queen", artist="ABBA", ready=True)
    response = client.post(f"/rooms/{room.code}/queue/add", {"song": str(song.pk)}, **HTMX)
    assert response.status_code == 201
    html = response.content.decode()
    assert "Added “Dancing Queen" in html and "up in about 0 min" in html
    assert f'id="my-songs-{room.code}"' in html and f'id="queue-{room.code}"' in html
    assert html.count('hx-swap-oob="true"') == 2
    assert QueueEntry.objects.get().song == song


def test_it_queues_a_song_still_processing_and_says_so(room):
    client = Client()
    join(client, room, "Gus")
    song = SongFactory(title="Waterloo", artist="ABBA", status=Song.Status.PROCESSING, duration=180.0)
    response = client.post(f"/rooms/{room.code}/queue/add", {"song": str(song.pk)}, **HTMX)
    assert response.status_code == 201 and "still being prepared" in response.content.decode()
    html = client.get(f"/rooms/{room.code}/").content.decode()
    my_songs = html.split(f'id="my-songs-{room.code}"')[1].split("</section>")[0]
    assert "Waterloo" in my_songs and "processing" in my_songs


@pytest.mark.parametrize("song, status, message", [
    ("not-a-uuid", 400, "no such song"),
    ("00000000-0000-0000-0000-000000000000", 400, "no such song"),
    ("", 400, "no such song"),
    ("deleted", 400, "deleted from the library"),
    ("error", 400, "could not be prepared"),
])
def test_it_refuses_a_bad_song_inline_with_a_4xx(room, song, status, message):
    client = Client()
    join(client, room, "Gus")
    if song == "deleted":
        song = str(SongFactory(title="Gone", ready=True, deleted_at="2026-01-01T00:00:00Z").pk)
    elif song == "error":
        song = str(SongFactory(title="Broken", status=Song.Status.ERROR, duration=180.0).pk)
    response = client.post(f"/rooms/{room.code}/queue/add", {"song": song}, **HTMX)
    assert response.status_code == status and message in response.content.decode()
    assert 'class="error"' in response.content.decode() and not QueueEntry.objects.exists()


def test_it_refuses_a_song_over_the_limit_with_a_409(room, carol):
    services.room_update(room=room, actor=actor_for(room, user=carol), max_waiting_per_singer=1)
    client = Client()
    join(client, room, "Gus")
    song = SongFactory(ready=True)
    assert client.post(f"/rooms/{room.code}/queue/add", {"song": str(song.pk)}, **HTMX).status_code == 201
    response = client.post(f"/rooms/{room.code}/queue/add", {"song": str(song.pk)}, **HTMX)
    assert response.status_code == 409 and "1 song waiting" in response.content.decode()
    # Without JavaScript: the page again, with the message and the status.
    response = client.post(f"/rooms/{room.code}/queue/add", {"song": str(song.pk)})
    assert response.status_code == 409 and "1 song waiting" in response.content.decode()


def test_it_shows_my_songs_with_the_wait_and_removes_one(room):
    gus, hal = Client(), Client()
    join(gus, room, "Gus")
    join(hal, room, "Hal")
    first = SongFactory(title="First", ready=True, duration=240)
    second = SongFactory(title="Second", ready=True, duration=200)
    gus.post(f"/rooms/{room.code}/queue/add", {"song": str(first.pk)}, **HTMX)
    hal.post(f"/rooms/{room.code}/queue/add", {"song": str(second.pk)}, **HTMX)
    hal_html = hal.get(f"/rooms/{room.code}/").content.decode()
    my_songs = hal_html.split(f'id="my-songs-{room.code}"')[1].split("</section>")[0]
    assert "Second" in my_songs and "First" not in my_songs and "up in about 4 min" in my_songs
    queue = hal_html.split(f'id="queue-{room.code}"')[1].split("</section>")[0]
    assert queue.index("First") < queue.index("Second") and "Gus" in queue and "Hal" in queue

    entry = QueueEntry.objects.get(song=second)
    response = hal.post(f"/rooms/{room.code}/queue/{entry.pk}/remove", **HTMX)
    assert response.status_code == 200 and not QueueEntry.objects.filter(pk=entry.pk).exists()
    assert "None yet" in response.content.decode()
    # Someone else's, or one that is gone: refused where the user acted.
    gus_entry = QueueEntry.objects.get(song=first)
    response = hal.post(f"/rooms/{room.code}/queue/{gus_entry.pk}/remove", **HTMX)
    assert response.status_code == 403 and "your own songs" in response.content.decode()
    assert hal.post(f"/rooms/{room.code}/queue/{entry.pk}/remove", **HTMX).status_code == 404
    assert hal.post(f"/rooms/{room.code}/queue/{2**70}/remove", **HTMX).status_code == 404


def test_it_refuses_to_remove_a_song_already_playing_with_a_409(room, carol):
    client = Client()
    join(client, room, "Gus")
    client.post(f"/rooms/{room.code}/queue/add", {"song": str(SongFactory(ready=True).pk)}, **HTMX)
    services.player_play(room=room, actor=actor_for(room, user=carol))
    entry = QueueEntry.objects.get()
    response = client.post(f"/rooms/{room.code}/queue/{entry.pk}/remove", **HTMX)
    assert response.status_code == 409 and "Only a waiting song" in response.content.decode()


def test_it_shows_the_singers_song_playing_now_in_my_songs(room, carol):
    gus, hal = Client(), Client()
    join(gus, room, "Gus")
    join(hal, room, "Hal")
    for client, title in ((gus, "Gus sings"), (hal, "Hal sings"), (gus, "Gus again")):
        client.post(f"/rooms/{room.code}/queue/add", {"song": str(SongFactory(title=title, ready=True).pk)}, **HTMX)
    services.player_play(room=room, actor=actor_for(room, user=carol))

    def my_songs(client) -> str:
        return client.get(f"/rooms/{room.code}/").content.decode().split(f'id="my-songs-{room.code}"')[1].split("</section>")[0]

    mine = my_songs(gus)
    assert "singing now" in mine and mine.index("Gus sings") < mine.index("Gus again")
    assert mine.count("Remove") == 1  # only the waiting one can be taken out
    assert "singing now" not in my_songs(hal) and "Gus sings" not in my_songs(hal)
    # The answer to an add says so as well.
    response = gus.post(f"/rooms/{room.code}/queue/add", {"song": str(SongFactory(title="Gus thrice", ready=True).pk)}, **HTMX)
    assert "singing now" in response.content.decode()


def test_it_lets_a_singer_leave_and_takes_their_songs(room):
    client = Client()
    join(client, room, "Gus")
    client.post(f"/rooms/{room.code}/queue/add", {"song": str(SongFactory(ready=True).pk)}, **HTMX)
    response = client.post(f"/rooms/{room.code}/leave")
    assert response.status_code == 302 and not QueueEntry.objects.exists()
    html = client.get(f"/rooms/{room.code}/").content.decode()
    assert 'id="join-form"' in html and "You left Friday" in html
    assert Client().post(f"/rooms/{room.code}/leave").status_code == 403


# --- the host's page --------------------------------------------------------------------


@pytest.fixture
def carols(carol) -> Client:
    client = Client()
    client.force_login(carol)
    return client


def queued(room, *names) -> list[int]:
    """One guest per name, each with one song queued; the entries' ids in play order."""
    for name in names:
        services.queue_add(room=room, actor=actor_for(room, token=services.singer_join(room=room, display_name=name)[0].token),
                           song=SongFactory(title=f"{name}'s song", ready=True))
    return list(QueueEntry.objects.order_by("pk").values_list("pk", flat=True))


def host_order(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'<li id="host-entry-(\d+)"', html)]


def test_it_shows_the_host_the_queue_player_settings_qr_and_tv_link(room, carols):
    ids = queued(room, "Gus", "Hal")
    response = carols.get(f"/rooms/{room.code.lower()}/host/")
    assert response.status_code == 302
    html = carols.get(f"/rooms/{room.code}/host/").content.decode()
    assert host_order(html) == ids and 'class="drag-handle"' in html and "Sortable-1.15.7.min.js" in html
    assert f'ws-connect="/ws/rooms/{room.code}/html/?view=host"' in html
    for action in ("play", "pause", "next", "skip", "previous"):
        assert f'name="action" value="{action}"' in html
    assert f'id="settings-{room.code}"' in html and f'href="/rooms/{room.code}/tv/"' in html
    assert "<svg" in html and f'class="big-code">{room.code}<' in html


def test_it_puts_the_lan_address_in_the_qr_code_when_the_host_is_on_loopback(room, carols, monkeypatch):
    monkeypatch.setattr(views, "lan_addresses", lambda: ["192.168.1.20"])
    html = carols.get(f"/rooms/{room.code}/host/", HTTP_HOST="127.0.0.1:8000").content.decode()
    assert f"http://192.168.1.20:8000/rooms/{room.code}/" in html
    html = carols.get(f"/rooms/{room.code}/host/", HTTP_HOST="localhost").content.decode()
    assert f"http://192.168.1.20/rooms/{room.code}/" in html
    html = carols.get(f"/rooms/{room.code}/host/", HTTP_HOST="karaoke.example:8000").content.decode()
    assert f"http://karaoke.example:8000/rooms/{room.code}/" in html and "192.168.1.20" not in html
    assert procs.lan_addresses() == [a for a in procs.lan_addresses() if not a.startswith("127.")]


def test_it_moves_an_entry_to_the_top_and_unpins_it(room, carols):
    first, second, third = queued(room, "Gus", "Hal", "Ivy")
    response = carols.post(f"/rooms/{room.code}/host/move", {"entry": third, "position": 0}, **HTMX)
    assert response.status_code == 200 and host_order(response.content.decode()) == [third, first, second]
    assert "moved" in response.content.decode() and QueueEntry.objects.get(pk=third).pinned_position == 0
    response = carols.post(f"/rooms/{room.code}/host/{third}/unpin", **HTMX)
    assert response.status_code == 200 and host_order(response.content.decode()) == [first, second, third]


@pytest.mark.parametrize("data, status, message", [
    ({"entry": "abc", "position": 0}, 400, "entry must be a whole number"),
    ({"entry": 1, "position": -1}, 400, "position must be between"),
    ({"entry": 1, "position": "top"}, 400, "position must be a whole number"),
    ({"position": 0}, 400, "entry must be a whole number"),
    ({"entry": 2**70, "position": 0}, 400, "entry must be between"),
    ({"entry": 999_999, "position": 0}, 404, "no such entry"),
])
def test_it_refuses_a_bad_move_with_a_message(room, carols, data, status, message):
    queued(room, "Gus")
    response = carols.post(f"/rooms/{room.code}/host/move", data, **HTMX)
    assert response.status_code == status and message in response.content.decode()
    assert f'id="host-queue-{room.code}"' in response.content.decode()


def test_it_lets_the_host_remove_any_entry(room, carols):
    first, second = queued(room, "Gus", "Hal")
    response = carols.post(f"/rooms/{room.code}/host/{first}/remove", **HTMX)
    assert response.status_code == 200 and host_order(response.content.decode()) == [second]
    response = carols.post(f"/rooms/{room.code}/host/{first}/remove", **HTMX)
    assert response.status_code == 404 and "no such entry" in response.content.decode()


def test_it_runs_the_player_from_the_buttons(room, carols):
    first, second = queued(room, "Gus", "Hal")
    url = f"/rooms/{room.code}/host/player"
    response = carols.post(url, {"action": "play"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and "Playing." in html
    assert f'id="now-playing-{room.code}"' in html and host_order(html) == [second]
    assert carols.post(url, {"action": "pause"}, **HTMX).status_code == 200 and Room.objects.get(pk=room.pk).paused
    assert carols.post(url, {"action": "next"}, **HTMX).status_code == 200
    assert QueueEntry.objects.get(pk=second).status == "playing"
    assert carols.post(url, {"action": "previous"}, **HTMX).status_code == 200
    assert QueueEntry.objects.get(pk=first).status == "playing"
    response = carols.post(url, {"action": "dance"}, **HTMX)
    assert response.status_code == 400 and "action must be one of" in response.content.decode()
    # Without JavaScript the buttons still work: back to the page with a message.
    assert carols.post(url, {"action": "pause"})["Location"] == f"/rooms/{room.code}/host/"


def test_it_answers_a_player_button_that_cannot_work_with_a_409(room, carols):
    response = carols.post(f"/rooms/{room.code}/host/player", {"action": "skip"}, **HTMX)
    assert response.status_code == 409 and "Nothing is playing" in response.content.decode()


def test_it_saves_the_settings_and_refreshes_the_header(room, carols):
    url = f"/rooms/{room.code}/host/settings"
    response = carols.post(url, {"name": "Saturday", "new_password": "sing", "rotation_mode": "fifo",
                                 "max_waiting_per_singer": "2"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and "Settings saved." in html
    assert f'id="room-{room.code}"' in html and "Saturday" in html
    room.refresh_from_db()
    assert (room.name, room.is_open, room.has_password, room.rotation_mode, room.max_waiting_per_singer) == (
        "Saturday", False, True, "fifo", 2)
    # Keeping the password: an empty new one changes nothing; removing it is explicit.
    carols.post(url, {"name": "Saturday", "is_open": "on", "rotation_mode": "fifo"}, **HTMX)
    room.refresh_from_db()
    assert room.has_password and room.is_open and room.max_waiting_per_singer is None
    carols.post(url, {"name": "Saturday", "remove_password": "on", "rotation_mode": "fifo"}, **HTMX)
    room.refresh_from_db()
    assert not room.has_password


@pytest.mark.parametrize("data, message", [
    ({"name": "", "rotation_mode": "fair"}, "This field is required"),
    ({"name": "A", "rotation_mode": "random"}, "Select a valid choice"),
    ({"name": "A", "rotation_mode": "fair", "max_waiting_per_singer": "-3"}, "greater than or equal to 1"),
])
def test_it_refuses_bad_settings_with_a_message(room, carols, data, message):
    version = room.version
    response = carols.post(f"/rooms/{room.code}/host/settings", data, **HTMX)
    assert response.status_code == 400 and message in response.content.decode()
    assert Room.objects.get(pk=room.pk).version == version


def test_it_shows_a_friendly_403_to_a_signed_in_non_host(room, singer_user):
    client = Client()
    client.force_login(singer_user)
    response = client.get(f"/rooms/{room.code}/host/")
    assert response.status_code == 403 and "Hosts only" in response.content.decode()
    assert f"/rooms/{room.code}/" in response.content.decode()


def test_it_sends_the_anonymous_to_sign_in_for_the_host_page(room):
    response = Client().get(f"/rooms/{room.code}/host/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/?next=")
