"""The whole party in real browsers at once: a guest's phone, the host's console and the
TV, each in its own browser context on the live site, none of them reloaded.

- a guest adds a ready song (real m4a stems) on their phone: the host's page and the
  TV's "up next" show it; the host presses Play on the console: the TV plays it (its
  audio moves) and the phone says it is now playing, and singing now in "My songs";
- the TV goes back to the song before (← and the Previous button);
- another host's settings reach the console's form, but not while this host edits it;
- a server restarted under an open singer's page: the page shows what changed while it
  was down once the htmx WebSocket extension has reconnected by itself.

Rows are made before the pages open, or changed through the live site's API: once the
module's browser runs, services called from this thread cannot publish their events
(see test_tv_browser.py).
"""

import re

import pytest
import requests
from django.conf import settings
from playwright.sync_api import expect
from rest_framework.authtoken.models import Token

from queue_app import services
from queue_app.access import actor_for
from queue_app.models import QueueEntry, Room
from songs.models import Song
from tests.factories import SongFactory
from tests.helpers import COUNT_PUSHES, make_audio, open_live, sign_in, start_site

pytestmark = [pytest.mark.slow, pytest.mark.browser]

SONG_SECONDS = 20.0
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 3}


@pytest.fixture(scope="module")
def stems() -> dict[str, bytes]:
    return {
        "instrumental.m4a": make_audio(SONG_SECONDS, fmt="m4a", frequency=440),
        "vocals.m4a": make_audio(SONG_SECONDS, fmt="m4a", frequency=660),
    }


@pytest.fixture
def songs_with_stems(live_site, stems):
    """Ready songs whose browser stems are real files where the live site serves them."""
    made = []

    def make(title: str) -> Song:
        song = SongFactory(
            title=title, artist="The Testers", with_stems=True, contents=stems,
            duration=SONG_SECONDS, lyrics_plain=f"Words of {title}", lyrics_status=Song.LookupStatus.FOUND,
        )
        assert str(song.folder).startswith(str(settings.MEDIA_ROOT))
        made.append(song)
        return song

    yield make
    for song in made:
        for path in song.folder.glob("*"):
            path.unlink()
        song.folder.rmdir()


def new_page(browser, **options):
    page = browser.new_context(bypass_csp=True, **options).new_page()  # see the `page` fixture
    page.set_default_timeout(15_000)
    return page


def open_tv(page, site, room, user):
    sign_in(page, site, user)
    page.goto(f"{site.url}/rooms/{room.code}/tv/")
    page.get_by_role("button", name="Start the TV").click()
    expect(page.locator("#tv-start")).to_be_hidden()
    page.evaluate("window.stillTheSamePage = true")
    return page


def tv_playing(tv, entry_id: int, beyond: float = 0.5):
    tv.wait_for_function(
        "([id, beyond]) => window.encoreTv.entry === id && !window.encoreTv.snapshot().paused"
        " && window.encoreTv.snapshot().position > beyond",
        arg=[entry_id, beyond], timeout=20_000,
    )


def api(site, token: str, method: str, path: str, **body):
    response = requests.request(method, f"{site.url}/api{path}", json=body, timeout=10,
                                headers={"Authorization": f"Token {token}"})
    assert response.ok, response.text
    return response.json()


def test_it_shows_a_phones_song_on_the_host_page_and_the_tv_and_plays_it_from_the_console(
    live_site, page, browser, carol, songs_with_stems
):
    room = services.room_create(owner=carol, name="Friday", max_waiting_per_singer=None)
    songs_with_stems("Waterloo")
    Song.objects.create(title="Fernando", source=Song.Source.UPLOAD, status=Song.Status.READY, duration=200)
    code = room.code

    sign_in(page, live_site, carol)
    open_live(page, f"{live_site.url}/rooms/{code}/host/")
    tv = open_tv(new_page(browser), live_site, room, carol)
    expect(tv.locator("#tv-card-state")).to_have_text("Nobody is queued yet")
    phone = new_page(browser, **PHONE)
    try:
        phone.add_init_script(COUNT_PUSHES)
        phone.goto(f"{live_site.url}/rooms/{code}/")
        phone.get_by_label("Your name").fill("Gus")
        phone.get_by_role("button", name="Join").click()
        phone.wait_for_function("window.pushes > 0")
        phone.evaluate("window.stillTheSamePage = true")

        # One search (fill: one input event), and its answer in place (two songs before it),
        # so no later answer replaces the list and the Add's message in it.
        phone.get_by_label("Search songs").fill("water")
        expect(phone.locator(".hit")).to_have_count(1)
        phone.locator(".hit").get_by_role("button", name="Add").click()
        expect(phone.locator(".hit .notice")).to_contain_text("Added “Waterloo”")
        entry = QueueEntry.objects.get(room=room)

        # The host's queue and the TV's "up next", without a reload.
        expect(page.locator(f"#host-entry-{entry.pk}")).to_contain_text("Waterloo")
        expect(page.locator(f"#host-entry-{entry.pk}")).to_contain_text("Gus")
        expect(tv.locator("#tv-next")).to_have_text("Up next: Gus — Waterloo (The Testers)")
        expect(tv.locator("#tv-card-state")).to_have_text("Next up")
        expect(tv.locator("#tv-card-now")).to_have_text("Gus — Waterloo (The Testers)")

        # The host presses Play on the console: the TV plays the song, its audio moves on.
        page.get_by_role("button", name="Play", exact=True).click()
        tv_playing(tv, entry.pk, beyond=1.0)
        before = tv.evaluate("window.encoreTv.snapshot()")
        tv.wait_for_function("(p) => window.encoreTv.snapshot().position > p + 1", arg=before["position"])
        expect(tv.locator("#tv-now")).to_have_text("Gus — Waterloo (The Testers)")
        expect(tv.locator("#tv-plain")).to_have_text("Words of Waterloo")

        # The phone: now playing, and singing now in "My songs"; the host's queue is empty.
        now_playing = phone.locator(f"#now-playing-{code}")
        expect(now_playing).to_contain_text("Waterloo")
        expect(now_playing).to_contain_text("Playing")
        expect(phone.locator(f"#my-songs-{code} .singing-now")).to_contain_text("You're singing now!")
        expect(page.locator(f"#host-queue-{code}")).to_contain_text("The queue is empty")
        expect(page.locator(f"#now-playing-{code}")).to_contain_text("Playing")

        for each in (page, tv, phone):
            assert each.evaluate("window.stillTheSamePage") is True
    finally:
        phone.context.close()
        tv.context.close()


def test_it_goes_back_to_the_song_before_with_the_tvs_key_and_button(
    live_site, page, carol, songs_with_stems, django_user_model
):
    bob = django_user_model.objects.create_user(username="bob", password="x" * 12, display_name="Bob")
    room = services.room_create(owner=carol, name="Friday", max_waiting_per_singer=None)
    services.singer_join(room=room, user=bob)
    bob_actor, host = actor_for(room, user=bob), actor_for(room, user=carol)
    first, second = (services.queue_add(room=room, actor=bob_actor, song=songs_with_stems(title))
                     for title in ("Waterloo", "Fernando"))
    services.player_play(room=room, actor=host)
    services.player_next(room=room, actor=host)  # Waterloo is done, Fernando plays
    token = Token.objects.create(user=carol).key

    tv = open_tv(page, live_site, room, carol)
    tv_playing(tv, second.pk)

    tv.keyboard.press("ArrowLeft")
    tv_playing(tv, first.pk)
    expect(tv.locator("#tv-now")).to_have_text("Bob — Waterloo (The Testers)")
    expect(tv.locator("#tv-next")).to_have_text("Up next: Bob — Fernando (The Testers)")
    statuses = dict(QueueEntry.objects.filter(room=room).values_list("pk", "status"))
    assert statuses == {first.pk: "playing", second.pk: "waiting"}

    # With nothing before it, the button starts this song again from its beginning.
    api(live_site, token, "POST", f"/rooms/{room.code}/player", action="seek", position=12)
    tv_playing(tv, first.pk, beyond=12)
    tv.mouse.move(200, 200)  # the controls show while the mouse moves
    tv.locator("#tv-previous").click()
    tv.wait_for_function("window.encoreTv.snapshot().position < 5")
    tv_playing(tv, first.pk, beyond=0.5)
    assert tv.evaluate("window.stillTheSamePage") is True
    assert QueueEntry.objects.get(pk=first.pk).status == "playing"


def test_it_refreshes_the_settings_form_from_another_host_unless_it_is_being_edited(live_site, page, carol,
                                                                                    staff_user):
    room = services.room_create(owner=carol, name="Friday")
    staff_token = Token.objects.create(user=staff_user).key
    code = room.code
    sign_in(page, live_site, carol)
    open_live(page, f"{live_site.url}/rooms/{code}/host/")
    name = page.locator("#settings-name")
    expect(name).to_have_value("Friday")

    # Alice (staff) renames the room and closes it: Carol's form follows.
    api(live_site, staff_token, "PATCH", f"/rooms/{code}", name="Saturday", is_open=False)
    expect(name).to_have_value("Saturday")
    expect(page.locator(f"#settings-{code} input[name=is_open]")).not_to_be_checked()
    expect(page.locator(f"#room-{code}")).to_contain_text("Closed")

    # Carol is in the form (no change yet): the header follows, the form waits for her to leave it.
    name.focus()
    api(live_site, staff_token, "PATCH", f"/rooms/{code}", name="Sunday")
    expect(page.locator(f"#room-{code} h1")).to_have_text("Sunday")
    expect(name).to_have_value("Saturday")
    page.locator(f"#room-{code} h1").click()  # focus leaves the form
    expect(name).to_have_value("Sunday")

    # Carol types a new name: another save does not wipe it; hers wins when she saves.
    name.fill("Carol's night")
    page.locator(f"#room-{code} h1").click()
    api(live_site, staff_token, "PATCH", f"/rooms/{code}", rotation_mode="fifo")
    expect(page.locator(f"#room-{code}")).to_contain_text("first come, first served")
    expect(name).to_have_value("Carol's night")
    page.locator(f"#settings-{code}").get_by_role("button", name="Save").click()
    expect(page.locator(f"#settings-{code} .notice")).to_have_text("Settings saved.")
    expect(page.locator(f"#room-{code} h1")).to_have_text("Carol's night")
    room.refresh_from_db()
    assert room.name == "Carol's night"
    assert page.evaluate("window.stillTheSamePage") is True


@pytest.fixture
def own_site(django_db_setup, transactional_db):
    """A site of this test's own, to restart (the session's live site serves the others)."""
    holder = {"site": start_site(clusters="")}
    yield holder
    holder["site"].stop()


def test_it_shows_what_changed_while_the_server_was_down_once_the_page_reconnects(own_site, browser, carol):
    room = services.room_create(owner=carol, name="Friday", max_waiting_per_singer=None)
    for title in ("Before", "Missed"):
        Song.objects.create(title=title, source=Song.Source.UPLOAD, status=Song.Status.READY, duration=180)
    site = own_site["site"]
    phone = new_page(browser, **PHONE)
    try:
        phone.add_init_script(COUNT_PUSHES)
        phone.goto(f"{site.url}/rooms/{room.code}/")
        phone.get_by_label("Your name").fill("Gus")
        phone.get_by_role("button", name="Join").click()
        phone.wait_for_function("window.pushes > 0")
        phone.evaluate("window.stillTheSamePage = true")
        queue = phone.locator(f"#queue-{room.code}")
        expect(queue).to_contain_text("The queue is empty")

        site.stop()
        # While it is down, Gus's song is queued (by the API it would be; the database is
        # what the restarted server reads).
        gus = room.singers.get(display_name="Gus")
        services.queue_add(room=room, actor=actor_for(room, token=gus.token), song=Song.objects.get(title="Missed"))
        assert Room.objects.get(pk=room.pk).version > 0
        own_site["site"] = start_site(clusters="", port=site.port)

        # The extension's reconnect backs off with full jitter: after the five or so tries
        # made while the server was down, the next one may wait up to a minute.
        expect(queue).to_contain_text("Missed", timeout=180_000)
        expect(phone.locator(f"#my-songs-{room.code}")).to_contain_text("You're up next!")
        assert phone.evaluate("window.stillTheSamePage") is True
    finally:
        phone.context.close()


def test_between_singers_the_tv_counts_down_who_is_next_even_after_a_reload_and_the_phone_says_get_ready(
    live_site, page, browser, carol, songs_with_stems, django_user_model
):
    bob = django_user_model.objects.create_user(username="bob", password="x" * 12, display_name="Bob")
    room = services.room_create(owner=carol, name="Friday", max_waiting_per_singer=None)
    services.room_update(room=room, actor=actor_for(room, user=carol), interlude_seconds=30)
    services.singer_join(room=room, user=bob)
    services.queue_add(room=room, actor=actor_for(room, user=bob), song=songs_with_stems("Waterloo"))
    songs_with_stems("Fernando")
    services.player_play(room=room, actor=actor_for(room, user=carol))  # the host's Play: at once
    token = Token.objects.create(user=carol).key
    code = room.code

    tv = open_tv(new_page(browser), live_site, room, carol)
    phone = new_page(browser, **PHONE)
    try:
        phone.add_init_script(COUNT_PUSHES)
        phone.goto(f"{live_site.url}/rooms/{code}/")
        phone.get_by_label("Your name").fill("Gus")
        phone.get_by_role("button", name="Join").click()
        # The room page is live (htmx bound the search box, the socket is up) before typing:
        # an input event fired before htmx has processed the page starts no search.
        phone.wait_for_function("window.pushes > 0")
        phone.get_by_label("Search songs").fill("fern")
        expect(phone.locator(".hit")).to_have_count(1)
        phone.locator(".hit").get_by_role("button", name="Add").click()
        expect(phone.locator(".hit .notice")).to_contain_text("Added “Fernando”")
        gus = QueueEntry.objects.get(room=room, song__title="Fernando")

        # Bob's song ends: Gus is up, after the room's 30 s, on the TV and on his phone.
        api(live_site, token, "POST", f"/rooms/{code}/player", action="next")
        expect(tv.locator("#tv-card-state")).to_have_text("Up next — get ready!", timeout=15_000)
        expect(tv.locator("#tv-card-now")).to_have_text("Gus — Fernando (The Testers)")
        expect(tv.locator("#tv-card-next")).to_have_text(re.compile(r"^Starts in \d+$"))
        expect(phone.locator(f"#my-songs-{code} .singing-now")).to_contain_text("You're up! Get ready", timeout=15_000)
        tv.wait_for_function("() => window.encoreTv.snapshot().paused && window.encoreTv.interludeLeft > 0")

        # A reloaded TV (or a second one) shows the same countdown, further on.
        tv.reload()
        tv.get_by_role("button", name="Start the TV").click()
        expect(tv.locator("#tv-card-state")).to_have_text("Up next — get ready!", timeout=15_000)
        expect(tv.locator("#tv-card-next")).to_have_text(re.compile(r"^Starts in \d+$"))
        left = int(re.search(r"\d+", tv.locator("#tv-card-next").inner_text()).group())
        assert 0 < left <= 30
        # ... and it counts down.
        tv.wait_for_function(
            "(left) => { const m = document.getElementById('tv-card-next').textContent.match(/Starts in (\\d+)/);"
            " return m && Number(m[1]) < left; }", arg=left,
        )

        # The host starts it at once.
        api(live_site, token, "POST", f"/rooms/{code}/player", action="play")
        tv_playing(tv, gus.pk, beyond=0.5)
        expect(tv.locator("#tv-now")).to_have_text("Gus — Fernando (The Testers)")
    finally:
        phone.context.close()
        tv.context.close()
