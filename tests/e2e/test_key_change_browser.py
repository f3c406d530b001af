"""A key change on the TV, in a real browser on the live site with its real task workers.

An entry whose key change is rendered plays its shifted stems from the start; an entry
whose key the host changes while it plays goes on in the original key ("not ready yet"),
then, once the site's worker has rendered it (Rubber Band, real ffmpeg), both stems switch
to the new key where the song is, without a restart. The corner says "Key +2 · B minor".
"""

import time

import pytest
import requests
from django.conf import settings
from playwright.sync_api import expect
from rest_framework.authtoken.models import Token

from queue_app import services
from queue_app.access import actor_for
from queue_app.models import Room
from songs import services as song_services
from songs.audio import ffmpeg
from songs.models import Song
from tests.factories import SongFactory
from tests.helpers import make_audio, session_cookies

pytestmark = [pytest.mark.slow, pytest.mark.browser]

SONG_SECONDS = 30.0


@pytest.fixture(scope="module")
def stems() -> dict[str, bytes]:
    return {
        "instrumental.m4a": make_audio(SONG_SECONDS, fmt="m4a", frequency=440),
        "vocals.m4a": make_audio(SONG_SECONDS, fmt="m4a", frequency=660),
    }


def song_with_stems(stems, title: str) -> Song:
    song = SongFactory(title=title, artist="The Testers", with_stems=True, contents=stems, duration=SONG_SECONDS,
                       key="A minor", key_confidence=0.9)
    assert str(song.folder).startswith(str(settings.MEDIA_ROOT))  # where the live site serves from
    return song


def render_here(song: Song, semitones: int) -> None:
    """The render stage's work, done in this process before the TV opens."""
    stems = [("instrumental_web", "instrumental"), ("vocals_web", "vocals")]
    pairs = [(song.file_path(stem), song.folder / Song.key_file_name(stem, semitones)) for stem, _ in stems]
    sources = song_services.song_stem_stats(song=song, kinds=Song.KEY_STEMS)
    ffmpeg.pitch_shift(pairs, semitones=semitones, duration=song.duration)
    song_services.song_key_render_install(song=song, semitones=semitones, sources=sources)


@pytest.fixture
def party(live_site, django_user_model, stems):
    """Carol's room, Bob's songs; made before the TV opens (events cannot leave this process
    once Playwright's loop runs in it: later changes go through the API)."""
    carol = django_user_model.objects.create_user(username="carol", password="x" * 12, display_name="Carol", is_host=True)
    bob = django_user_model.objects.create_user(username="bob", password="x" * 12, display_name="Bob")
    room = services.room_create(owner=carol, name="Friday", max_waiting_per_singer=None)
    services.singer_join(room=room, user=bob)
    songs = []
    yield {"room": room, "carol": carol, "bob": bob, "songs": songs, "site": live_site,
           "token": Token.objects.create(user=carol).key, "stems": stems}
    for song in songs:
        for path in song.folder.glob("*"):
            path.unlink()
        song.folder.rmdir()


def queue(party, title: str, key_shift: int, *, rendered: bool = False) -> int:
    """Bob queues a new song at `key_shift`; `rendered`: its key change is made first (here,
    so that no job of the site's workers renders it meanwhile)."""
    song = song_with_stems(party["stems"], title)
    party["songs"].append(song)
    if rendered:
        render_here(song, key_shift)
    return services.queue_add(room=party["room"], actor=actor_for(party["room"], user=party["bob"]),
                              song=song, key_shift=key_shift).pk


def open_tv(page, party):
    site, room = party["site"], party["room"]
    page.context.add_cookies(
        [{"name": name, "value": value, "url": site.url} for name, value in session_cookies(party["carol"]).items()]
    )
    page.goto(f"{site.url}/rooms/{room.code}/tv/")
    page.get_by_role("button", name="Start the TV").click()
    expect(page.locator("#tv-start")).to_be_hidden()
    return page


def wait_playing(page, beyond: float):
    page.wait_for_function(
        "(beyond) => window.encoreTv && window.encoreTv.position > beyond && !window.encoreTv.snapshot().paused",
        arg=beyond, timeout=30_000,
    )


def server_position(room: Room, at_ms: float) -> float:
    room.refresh_from_db()
    return room.position if room.paused else room.position + (at_ms / 1000 - room.position_at.timestamp())


def test_an_entry_with_its_key_ready_plays_the_shifted_stems_from_the_start(party, page):
    queue(party, "Waterloo", 2, rendered=True)
    services.player_play(room=party["room"], actor=actor_for(party["room"], user=party["carol"]))

    tv = open_tv(page, party)
    wait_playing(tv, beyond=1.0)

    assert tv.evaluate("window.encoreTv.instrumentalSrc").endswith("/instrumental_web.key+2.m4a")
    assert tv.evaluate("window.encoreTv.vocalsSrc").endswith("/vocals_web.key+2.m4a")  # the guide too
    expect(tv.locator("#tv-key")).to_have_text("Key +2 · B minor")
    expect(tv.locator("#tv-key-note")).to_have_text("")
    assert tv.evaluate("window.encoreTv.keySwitches") == 0


def test_a_late_key_change_switches_where_the_song_is_without_a_restart(party, page):
    entry = queue(party, "Fernando", 0)
    services.player_play(room=party["room"], actor=actor_for(party["room"], user=party["carol"]))
    tv = open_tv(page, party)
    wait_playing(tv, beyond=4.0)
    expect(tv.locator("#tv-key")).to_have_text("Key: A minor")
    original = tv.evaluate("window.encoreTv.instrumentalSrc")
    # What the TV plays and says, every 50 ms, from before the change to after it.
    tv.evaluate("""() => {
        window.keyLog = [];
        setInterval(() => window.keyLog.push({
            at: Date.now(), position: window.encoreTv.position, paused: window.encoreTv.snapshot().paused,
            src: window.encoreTv.instrumentalSrc, note: document.getElementById('tv-key-note').textContent,
        }), 50);
    }""")

    # The host changes the key of the song playing (the site asks its worker for the render).
    changed = requests.patch(
        f"{party['site'].url}/api/rooms/{party['room'].code}/queue/{entry}", json={"key_shift": 2},
        headers={"Authorization": f"Token {party['token']}"}, timeout=10,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["key_status"] in ("preparing", "ready")

    tv.wait_for_function("window.encoreTv.instrumentalSrc.endsWith('/instrumental_web.key+2.m4a')", timeout=60_000)
    # The log samples every 50 ms: wait for its first sample of the new stems.
    tv.wait_for_function("window.keyLog.some((s) => s.src.endsWith('key+2.m4a'))", timeout=5_000)
    switched_at = tv.evaluate("window.keyLog.find((s) => s.src.endsWith('key+2.m4a')).at")
    wait_playing(tv, beyond=0.0)
    time.sleep(1.5)  # let it settle
    log = tv.evaluate("window.keyLog")
    now = tv.evaluate("window.encoreTv.snapshot()")

    before = [s for s in log if s["src"] == original]
    after = [s for s in log if s["src"] != original and not s["paused"]]
    # Until the render was ready: the original key, with the note for the host.
    assert "Key change not ready yet: original key" in {s["note"] for s in before}
    assert before[-1]["position"] > 4.0
    # After: the new stems, on from where the song was (never back to the start).
    assert after and min(s["position"] for s in after) >= before[-1]["position"] - 0.3
    assert after[0]["at"] - switched_at < 3000
    assert now["position"] == pytest.approx(server_position(party["room"], now["at"]), abs=0.4)
    assert tv.evaluate("window.encoreTv.vocalsSrc").endswith("/vocals_web.key+2.m4a")
    assert abs(tv.evaluate("window.encoreTv.vocalsPosition - window.encoreTv.position")) < 0.2
    assert tv.evaluate("window.encoreTv.keySwitches") == 1
    expect(tv.locator("#tv-key")).to_have_text("Key +2 · B minor")
    expect(tv.locator("#tv-key-note")).to_have_text("")
