"""Songs on demand in real browsers: a guest on a phone finds nothing in the library,
searches the local stand-in for YouTube, requests two videos; the host's console shows
them live, denies one (the guest reads why) and approves the other; the guest sees it
getting ready and in their queue, follows its preparation and sees it ready; the TV
plays it.

The site is the real one (`manage.py serve`, a subprocess: uvicorn and both qclusters,
on the test database): its yt-dlp, pointed at the stand-in by YTDLP_OPTIONS, searches
there from the web server and downloads there from the encore cluster; ffmpeg and the
small real Demucs model prepare the song on the clusters.
"""

import re
import uuid

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from jobs.models import Job
from queue_app import services
from queue_app.models import QueueEntry, SongRequest
from songs.models import Song
from songs.selectors import youtube_search_cache_key
from tests.factories import SongFactory
from tests.helpers import (
    COUNT_PUSHES,
    assert_accessible,
    assert_touch_targets,
    make_audio,
    open_live,
    provider_environment,
    session_cookies,
    start_site,
)
from tests.internet import LocalInternet
from tests.youtube import MEDIA_PATH, Video, searched_queries, serve_search, serve_video, ytdlp_environment

pytestmark = [pytest.mark.slow, pytest.mark.browser]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
# As long as the audio the stand-in serves: YouTube says a video's length before the download.
QUEEN = Video("xFrGuyw1V8s", "ABBA - Dancing Queen (Official Lyric Video)", "ABBA", "0:04")
KARAOKE = Video("Nt6Vc5rqmO8", "Dancing Queen (Karaoke Version)", "Sing King", "3:52")

# Every step the guest's "My requests" showed, as the pushes came (runs before the page's scripts).
RECORD_STEPS = """
window.steps = [];
document.addEventListener('htmx:wsAfterMessage', () => {
  for (const step of document.querySelectorAll('.my-requests .step')) window.steps.push(step.textContent.trim());
});
"""


@pytest.fixture
def youtube():
    with LocalInternet(tls=True) as net:
        yield net


@pytest.fixture
def site(own_site, youtube, recorded_providers):
    """The real site, its searches and downloads sent to the stand-in for YouTube, its
    metadata lookups to the recorded providers."""
    live = start_site(extra_env={**ytdlp_environment(youtube.host), **provider_environment(recorded_providers)})
    yield live
    live.stop()


@pytest.fixture
def query():
    words = f"dancing queen {uuid.uuid4().hex[:6]}"  # a search the cache has never seen
    yield words
    cache.delete_many([youtube_search_cache_key(words, limit) for limit in range(1, 21)])
    cache.delete_many([f"youtube-video:{video.id}" for video in (QUEEN, KARAOKE)])


def test_a_guest_requests_a_youtube_song_the_host_approves_and_it_gets_ready(
    site, page, browser, youtube, query, carol
):
    serve_search(youtube, [QUEEN, KARAOKE])
    serve_video(youtube, QUEEN, make_audio(4.0, fmt="m4a"))
    room = services.room_create(owner=carol, name="Friday")
    SongFactory(title="Take On Me", artist="a-ha", source=Song.Source.UPLOAD, status=Song.Status.READY,
                duration=200)
    code = room.code

    # The host's console, on a laptop.
    page.set_viewport_size(DESKTOP)
    page.context.add_cookies([{"name": name, "value": value, "url": site.url}
                              for name, value in session_cookies(carol).items()])
    open_live(page, f"{site.url}/rooms/{code}/host/")
    card = page.locator(f"#host-requests-{code}")
    expect(card).to_contain_text("No requests waiting")

    # The guest: a phone of their own, no account.
    phone_context = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True, bypass_csp=True)
    phone = phone_context.new_page()
    phone.set_default_timeout(15_000)
    phone.add_init_script(COUNT_PUSHES)
    phone.add_init_script(RECORD_STEPS)
    try:
        phone.goto(f"{site.url}/rooms/{code}/")
        phone.get_by_label("Your name").fill("Gus")
        phone.get_by_role("button", name="Join").click()
        expect(phone.locator(f"#my-songs-{code}")).to_be_visible()
        phone.wait_for_function("window.pushes > 0")  # the room's state arrived: the WebSocket is up
        phone.evaluate("window.stillTheSamePage = true")

        # Nothing in the library: the page offers YouTube with the same words.
        phone.get_by_label("Search songs").press_sequentially(query, delay=20)
        results = phone.locator(f"#search-results-{code}")
        expect(results).to_contain_text(f"No song matches “{query}”")
        phone.get_by_role("link", name=f"Search YouTube for “{query}”").click()
        hit = phone.locator(f"#youtube-{QUEEN.id}")
        expect(hit).to_contain_text(QUEEN.title)
        expect(hit).to_contain_text("0:04")
        expect(hit).to_contain_text("ABBA")
        expect(phone.get_by_role("searchbox", name="Search YouTube")).to_have_value(query)
        assert searched_queries(youtube) == [query]
        assert_touch_targets(phone, "#search-youtube")
        assert_accessible(phone)

        phone.get_by_role("button", name=f"Request {QUEEN.title}").click()
        expect(phone.locator(f"#youtube-answer-{QUEEN.id}")).to_contain_text("Requested: the host will answer soon.")
        mine = phone.locator(f"#my-requests-{code}")
        expect(mine).to_contain_text(QUEEN.title)
        expect(mine).to_contain_text("Waiting for the host")
        assert_touch_targets(phone, f"#my-requests-{code}")

        # The host's console, without a reload.
        expect(card).to_contain_text(QUEEN.title)
        expect(card).to_contain_text("Gus")
        expect(card).to_contain_text("1 waiting")
        assert_touch_targets(page, f"#host-requests-{code}")
        assert_accessible(page)

        # A second request arrives while the host types a reason: the card waits for them
        # to leave it, rather than throw away what they typed.
        queen_reason = card.locator(".status-pending", has_text=QUEEN.title).get_by_label("Reason, if you deny it")
        queen_reason.fill("Let me think")
        pushes = page.evaluate("window.pushes")
        phone.get_by_role("button", name=f"Request {KARAOKE.title}").click()
        expect(phone.locator(f"#youtube-answer-{KARAOKE.id}")).to_contain_text("Requested")
        expect(mine).to_contain_text(KARAOKE.title)
        page.wait_for_function(f"window.pushes > {pushes}")  # the push arrived, and waits
        expect(queen_reason).to_have_value("Let me think")
        expect(card).not_to_contain_text(KARAOKE.title)
        page.locator("h1").click()
        expect(card).to_contain_text(KARAOKE.title)
        expect(card).to_contain_text("2 waiting")

        # The host denies one, with a reason the guest reads, and approves the other.
        karaoke = card.locator(".status-pending", has_text=KARAOKE.title)
        karaoke.get_by_label("Reason, if you deny it").fill("The original, please!")
        karaoke.get_by_role("button", name=f"Deny {KARAOKE.title}").click()
        expect(card).to_contain_text("1 waiting")
        expect(mine.locator(".status-denied")).to_contain_text("The original, please!")
        page.get_by_role("button", name=f"Approve {QUEEN.title}").click()
        expect(card.locator(".status-approved")).to_contain_text("Getting ready")
        expect(page.locator(f"#host-queue-{code}")).to_contain_text(QUEEN.title)

        # The guest: getting ready, and in their songs and the queue, "processing".
        expect(mine).to_contain_text("Getting ready")
        expect(mine).to_contain_text(re.compile(r"ready in about \d+ min"))
        expect(phone.locator(f"#my-songs-{code}")).to_contain_text(QUEEN.title)
        expect(phone.locator(f"#my-songs-{code} .badge-processing")).to_be_visible()
        expect(phone.locator(f"#queue-{code}")).to_contain_text(QUEEN.title)
        assert_accessible(phone)

        # The clusters prepare the song: the guest follows it step by step, to ready.
        expect(mine).to_contain_text("Ready: it is in your songs.", timeout=180_000)
        job = Job.objects.get(song__source_id=QUEEN.id)
        assert job.status == "completed", (job.status, job.message, site.log())
        assert any(seen.path.startswith(MEDIA_PATH) for seen in youtube.requests)  # downloaded from the stand-in
        expect(phone.locator(f"#my-songs-{code} .badge-processing")).to_have_count(0)
        expect(card).to_contain_text("No requests waiting")
        steps = phone.evaluate("window.steps")
        assert any(re.fullmatch(r"(Downloading|Converting|Separating|Finding the lyrics|Looking it up) \d+ %", step)
                   for step in steps), steps
        assert SongRequest.objects.get(video_id=QUEEN.id).status == "ready"

        # The TV plays it: nothing else was playing, so it started by itself once it could
        # be sung (after the room's "Up next" interlude); the host's Play starts it now.
        tv = page.context.new_page()
        tv.set_default_timeout(15_000)
        tv.goto(f"{site.url}/rooms/{code}/tv/")
        tv.get_by_role("button", name="Start the TV").click()
        assert QueueEntry.objects.get(room__code=code).status == "playing"
        page.get_by_role("button", name="Play", exact=True).click()
        tv.wait_for_function(
            "window.encoreTv && window.encoreTv.snapshot().position > 0.5 && !window.encoreTv.snapshot().paused",
            timeout=20_000,
        )
        expect(tv.locator("#tv-now")).to_contain_text("Gus")
        tv.close()

        assert page.evaluate("window.stillTheSamePage") is True
        assert phone.evaluate("window.stillTheSamePage") is True
    finally:
        phone_context.close()
