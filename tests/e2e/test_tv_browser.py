"""The TV page in a real browser, on the live site: it plays the instrumental with the
vocal guide mixed in, follows the server's position (after a reload, on a second TV,
after a host's seek), highlights the lyrics, and moves on to the next song once.

The songs are real audio files (tones made by ffmpeg) written where the site serves
them from. Headless Chromium has no sound card here; it plays into a fake output,
so `currentTime` moves as it would on a TV (checked, not assumed).
"""

import io
import time

import pytest
import requests
import zxingcpp
from django.conf import settings
from PIL import Image
from playwright.sync_api import expect
from rest_framework.authtoken.models import Token

from common.procs import lan_addresses
from queue_app import services
from queue_app.access import actor_for
from queue_app.models import QueueEntry, Room
from songs.models import Song
from tests.factories import SongFactory
from tests.helpers import make_audio, session_cookies

pytestmark = [pytest.mark.slow, pytest.mark.browser]

SONG_SECONDS = 24.0
LINE_EVERY = 3  # seconds between lyrics lines


def lrc(title: str) -> str:
    return "\n".join(
        f"[00:{second:02d}.00]{title} line {index}" for index, second in enumerate(range(0, int(SONG_SECONDS), LINE_EVERY))
    )


@pytest.fixture(scope="module")
def stems() -> dict[str, bytes]:
    # Made once per module: ffmpeg on a shared 2-core machine is not free.
    return {
        "instrumental.m4a": make_audio(SONG_SECONDS, fmt="m4a", frequency=440),
        "vocals.m4a": make_audio(SONG_SECONDS, fmt="m4a", frequency=660),
    }


def song_with_stems(stems: dict[str, bytes], title: str) -> Song:
    song = SongFactory(
        title=title, artist="The Testers", with_stems=True, contents=stems,
        duration=SONG_SECONDS, lyrics_synced=lrc(title), lyrics_status=Song.LookupStatus.FOUND,
    )
    # song.folder is under the live site's MEDIA_ROOT (live tests share its DATA_DIR).
    assert str(song.folder).startswith(str(settings.MEDIA_ROOT))
    return song


@pytest.fixture
def party(live_site, django_user_model, stems):
    """Carol's room; Bob queued two songs; Carol pressed play (through the service).

    Made before any TV opens: once the module's browser runs, Playwright's event loop
    lives in this thread and the services' events cannot leave it (they log a warning);
    the TVs get the whole room when they connect, and later changes go through the API.
    """
    carol = django_user_model.objects.create_user(username="carol", password="x" * 12, display_name="Carol", is_host=True)
    bob = django_user_model.objects.create_user(username="bob", password="x" * 12, display_name="Bob")
    room = services.room_create(owner=carol, name="Friday", max_waiting_per_singer=None)
    services.singer_join(room=room, user=bob)
    first, second = song_with_stems(stems, "Waterloo"), song_with_stems(stems, "Fernando")
    bob_actor = actor_for(room, user=bob)
    entries = [services.queue_add(room=room, actor=bob_actor, song=song) for song in (first, second)]
    services.player_play(room=room, actor=actor_for(room, user=carol))
    yield {"room": room, "carol": carol, "entries": entries, "songs": (first, second),
           "token": Token.objects.create(user=carol).key, "site": live_site}
    for song in (first, second):
        for path in song.folder.glob("*"):
            path.unlink()
        song.folder.rmdir()


def open_tv(page, party, *, start: bool = True):
    site, room = party["site"], party["room"]
    page.context.add_cookies(
        [{"name": name, "value": value, "url": site.url} for name, value in session_cookies(party["carol"]).items()]
    )
    page.goto(f"{site.url}/rooms/{room.code}/tv/")
    if start:
        start_tv(page)
    return page


def start_tv(page):
    page.get_by_role("button", name="Start the TV").click()
    expect(page.locator("#tv-start")).to_be_hidden()


def second_page(browser):
    page = browser.new_context(bypass_csp=True).new_page()  # see the `page` fixture
    page.set_default_timeout(15_000)
    return page


def wait_playing(page, beyond: float = 0.5, timeout: float = 20_000):
    page.wait_for_function(
        "(beyond) => window.encoreTv && window.encoreTv.snapshot().position > beyond && !window.encoreTv.snapshot().paused",
        arg=beyond, timeout=timeout,
    )


def snapshot(page) -> dict:
    return page.evaluate("window.encoreTv.snapshot()")


def server_position(room: Room, at_ms: float) -> float:
    """Where the server says the song is at `at_ms` (the browser's Date.now(); one machine, one clock)."""
    room.refresh_from_db()
    if room.paused:
        return room.position
    return room.position + (at_ms / 1000 - room.position_at.timestamp())


def player(party, action: str, **body):
    response = requests.post(
        f"{party['site'].url}/api/rooms/{party['room'].code}/player", json={"action": action, **body},
        headers={"Authorization": f"Token {party['token']}"}, timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_it_plays_the_song_and_highlights_the_line_being_sung(party, page):
    tv = open_tv(page, party)
    first = party["entries"][0]
    wait_playing(tv, beyond=1.0)
    assert tv.evaluate("window.encoreTv.entry") == first.pk
    assert tv.evaluate("window.encoreTv.audioState") == "running"

    # The audio moves on, and both stems play together.
    before = snapshot(tv)
    time.sleep(1.5)
    after = snapshot(tv)
    assert after["position"] - before["position"] == pytest.approx((after["at"] - before["at"]) / 1000, abs=0.4)
    apart = tv.evaluate("window.encoreTv.vocalsPosition - window.encoreTv.position")
    assert abs(apart) < 0.2

    # The line whose time has come is the highlighted one (away from a line change).
    tv.wait_for_function(f"window.encoreTv.position % {LINE_EVERY} > 0.5 && window.encoreTv.position % {LINE_EVERY} < 2.3")
    position, current = tv.evaluate(
        "[window.encoreTv.position, document.querySelector('#tv-lines li.current')?.textContent]"
    )
    assert current == f"Waterloo line {int(position // LINE_EVERY)}"
    assert tv.locator("#tv-lines li").count() == SONG_SECONDS // LINE_EVERY
    # The next lines are there to read ahead; the room code and who sings in the corners.
    expect(tv.locator("#tv-lines li.current + li")).to_have_text(f"Waterloo line {int(position // LINE_EVERY) + 1}")
    expect(tv.locator("#tv-code")).to_have_text(party["room"].code)
    expect(tv.locator("#tv-now")).to_contain_text("Bob — Waterloo")
    expect(tv.locator("#tv-next")).to_contain_text("Up next: Bob — Fernando")


def test_it_resumes_at_the_servers_position_after_a_reload(party, page):
    tv = open_tv(page, party)
    player(party, "seek", position=9.0)
    wait_playing(tv, beyond=9.0)
    time.sleep(1.0)

    tv.reload()
    start_tv(tv)
    wait_playing(tv, beyond=10.0)
    time.sleep(1.0)  # let it settle
    now = snapshot(tv)
    assert now["position"] == pytest.approx(server_position(party["room"], now["at"]), abs=1.0)


def test_it_keeps_two_tvs_in_step_also_after_the_host_seeks(party, page, browser):
    first = open_tv(page, party)
    second = open_tv(second_page(browser), party)
    wait_playing(first)
    wait_playing(second)
    time.sleep(1.5)

    def apart() -> float:
        one, two = snapshot(first), snapshot(second)
        # The two snapshots are a few ms apart: bring the first to the second's instant.
        return two["position"] - (one["position"] + (two["at"] - one["at"]) / 1000)

    assert abs(apart()) < 0.5
    player(party, "seek", position=14.0)
    wait_playing(first, beyond=14.0)
    wait_playing(second, beyond=14.0)
    time.sleep(1.0)
    assert abs(apart()) < 0.5
    now = snapshot(first)
    assert now["position"] == pytest.approx(server_position(party["room"], now["at"]), abs=0.5)

    # Pause from the host: both stop where the server did.
    player(party, "pause")
    for tv in (first, second):
        tv.wait_for_function("window.encoreTv.snapshot().paused")
        expect(tv.locator("#tv-card-state")).to_have_text("Paused")
    party["room"].refresh_from_db()
    for tv in (first, second):
        assert snapshot(tv)["position"] == pytest.approx(party["room"].position, abs=0.1)
    second.context.close()


def test_it_sets_the_vocal_guide_with_the_slider_and_remembers_it(party, page):
    tv = open_tv(page, party)
    wait_playing(tv)
    assert tv.evaluate("window.encoreTv.vocalGain") == pytest.approx(0.0)

    tv.locator("#tv-guide").fill("60")
    tv.wait_for_function("Math.abs(window.encoreTv.vocalGain - 0.6) < 0.01")
    expect(tv.locator("#tv-guide-value")).to_have_text("60 %")

    # The TV keeps it across a reload (it is the TV's setting, not the song's).
    tv.reload()
    start_tv(tv)
    expect(tv.locator("#tv-guide")).to_have_value("60")
    tv.wait_for_function("Math.abs(window.encoreTv.vocalGain - 0.6) < 0.01")

    # Keys of a remote: down lowers it.
    tv.keyboard.press("ArrowDown")
    tv.wait_for_function("Math.abs(window.encoreTv.vocalGain - 0.5) < 0.01")


def test_it_moves_on_to_the_next_song_once_when_two_tvs_end_together(party, page, browser):
    first_entry, second_entry = party["entries"]
    tvs = [open_tv(page, party), open_tv(second_page(browser), party)]
    for tv in tvs:
        wait_playing(tv)
    player(party, "seek", position=SONG_SECONDS - 2.5)

    # Both TVs reach the end; the next song starts on both.
    for tv in tvs:
        tv.wait_for_function("(id) => window.encoreTv.entry === id", arg=second_entry.pk, timeout=20_000)
        wait_playing(tv, beyond=0.5)
    first_entry.refresh_from_db()
    second_entry.refresh_from_db()
    assert first_entry.status == QueueEntry.Status.DONE
    assert second_entry.status == QueueEntry.Status.PLAYING
    # Once: the second song was not ended too by a late second request.
    time.sleep(1.5)
    second_entry.refresh_from_db()
    assert second_entry.status == QueueEntry.Status.PLAYING
    assert QueueEntry.objects.filter(room=party["room"], status=QueueEntry.Status.DONE).count() == 1
    assert not QueueEntry.objects.filter(room=party["room"], status=QueueEntry.Status.SKIPPED).exists()
    for tv in tvs:
        expect(tv.locator("#tv-now")).to_contain_text("Bob — Fernando")
        expect(tv.locator("#tv-lines li").first).to_have_text("Fernando line 0")
    tvs[1].context.close()


def test_it_answers_the_hosts_keys_and_resyncs_after_a_lost_connection(party, page):
    first_entry, second_entry = party["entries"]
    room = party["room"]
    # The second song has only plain words: they are shown instead of timed lines.
    Song.objects.filter(pk=party["songs"][1].pk).update(lyrics_synced="", lyrics_plain="Plain words\nfor Fernando")
    tv = open_tv(page, party)
    wait_playing(tv)

    tv.keyboard.press(" ")
    tv.wait_for_function("window.encoreTv.snapshot().paused")
    room.refresh_from_db()
    assert room.paused
    expect(tv.locator("#tv-card-now")).to_have_text("Bob — Waterloo (The Testers)")
    expect(tv.locator("#tv-card-next")).to_have_text("Up next: Bob — Fernando (The Testers)")
    tv.keyboard.press(" ")
    wait_playing(tv)

    # A connection lost while the host pauses elsewhere: the TV catches up when it is back.
    tv.evaluate("window.encoreTv.dropConnection()")
    player(party, "pause")
    tv.wait_for_function("window.encoreTv.snapshot().paused", timeout=20_000)
    player(party, "play")
    wait_playing(tv)

    tv.keyboard.press("ArrowRight")  # skip
    tv.wait_for_function("(id) => window.encoreTv.entry === id", arg=second_entry.pk)
    first_entry.refresh_from_db()
    assert first_entry.status == QueueEntry.Status.SKIPPED
    expect(tv.locator("#tv-plain")).to_have_text("Plain words\nfor Fernando")
    expect(tv.locator("#tv-lines")).to_be_hidden()

    tv.keyboard.press("ArrowRight")
    expect(tv.locator("#tv-card-state")).to_have_text("Nobody is queued yet")
    expect(tv.locator("#tv-card-next")).to_contain_text(f"/rooms/{room.code}/")
    assert tv.evaluate("window.encoreTv.entry") is None


def overlaps(a: dict, b: dict) -> bool:
    return a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"] and \
        a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]


@pytest.mark.parametrize("size", [(1920, 1080), (1280, 720)], ids=["1080p", "720p"])
def test_it_shows_a_qr_code_of_the_join_address_clear_of_the_lyrics(party, page, size):
    page.set_viewport_size({"width": size[0], "height": size[1]})
    open_tv(page, party)
    wait_playing(page)
    site, room = party["site"], party["room"]
    lan = lan_addresses()
    expected = f"http://{lan[0]}:{site.port}/rooms/{room.code}/" if lan else f"{site.url}/rooms/{room.code}/"
    shot = page.locator("#tv-qr svg").screenshot()
    decoded = [barcode.text for barcode in zxingcpp.read_barcodes(Image.open(io.BytesIO(shot)))]
    assert decoded == [expected]
    # The line being sung is never under the join corner, "up next", the "now" line or the controls.
    page.mouse.move(size[0] / 2, size[1] / 2)  # the controls show while the mouse moves
    page.wait_for_function("document.querySelector('#tv-lines li.current') !== null")
    line = page.locator("#tv-lines li.current").bounding_box()
    for overlay in ("#tv-join", "#tv-next", "#tv-controls", "#tv-now"):
        box = page.locator(overlay).bounding_box()
        assert box is None or not overlaps(line, box), (overlay, line, box)
