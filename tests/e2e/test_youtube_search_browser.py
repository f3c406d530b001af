"""A host finds a song on YouTube from the Library page and adds it, in a real browser.

The site runs in this process (pytest-django's live_server), so the real yt-dlp can be
pointed at the local stand-in for YouTube (tests/youtube.py) the way the unit tests do;
the library's WebSocket is not served there, and is not needed: the new row comes
with the answer to Add.
"""

import uuid

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from songs.models import Song
from songs.selectors import youtube_search_cache_key
from tests.helpers import session_cookies
from tests.internet import LocalInternet, closed_port
from tests.youtube import Video, point_ytdlp_at, searched_queries, serve_search

pytestmark = [pytest.mark.slow, pytest.mark.browser]

QUEEN = Video("xFrGuyw1V8s", "ABBA - Dancing Queen (Official Lyric Video)", "ABBA", "3:51")
KARAOKE = Video("Nt6Vc5rqmO8", "Dancing Queen (Karaoke Version)", "Sing King", "3:52")


def test_it_searches_youtube_as_you_type_and_adds_a_result_on_top_of_the_list(
    live_server, page, staff_user, monkeypatch
):
    token = uuid.uuid4().hex[:6]  # a search the cache has never seen
    queries = [f"dancing queen {token}", f"waterloo {token}"]
    older = Song.objects.create(title="Take On Me", status=Song.Status.READY, source=Song.Source.URL,
                                source_id="https://songs.example/1.mp3", source_url="https://songs.example/1.mp3")
    page.context.add_cookies([{"name": name, "value": value, "url": live_server.url}
                              for name, value in session_cookies(staff_user).items()])
    try:
        with LocalInternet(tls=True) as youtube:
            serve_search(youtube, [QUEEN, KARAOKE])
            point_ytdlp_at(monkeypatch, youtube.host)
            asked = []  # what the page asked the site for
            page.on("request", lambda r: "/library/youtube?" in r.url and asked.append(r.url))
            page.goto(live_server.url + "/library/")
            expect(page.locator(f"#song-{older.pk}")).to_be_visible()
            box = page.get_by_label("Search YouTube")

            # Two characters are not searched; the rest, once the host pauses, is (once).
            box.press_sequentially(queries[0][:2], delay=30)
            page.wait_for_timeout(1200)
            assert asked == []
            box.press_sequentially(queries[0][2:], delay=30)
            expect(page.locator(f"#youtube-{QUEEN.id}")).to_contain_text("3:51")
            expect(page.locator(f"#youtube-{KARAOKE.id}")).to_contain_text("Sing King")
            assert len(asked) == 1 and searched_queries(youtube) == [queries[0]]

            page.get_by_role("button", name=f"Add {QUEEN.title}").click()
            expect(page.locator(f"#youtube-add-{QUEEN.id}")).to_contain_text("Added")
            song = Song.objects.get(source=Song.Source.YOUTUBE, source_id=QUEEN.id)
            expect(page.locator("#song-list > li.song").first).to_have_id(f"song-{song.pk}")
            expect(page.locator(f"#song-{older.pk}")).to_be_visible()

            # Enter searches again at once: from the cache, and the added one is in the library now.
            box.press("Enter")
            expect(page.locator(f"#youtube-add-{QUEEN.id}")).to_contain_text("In the library")
            assert len(searched_queries(youtube)) == 1

        # YouTube gone: the message, inline, in place of the results.
        point_ytdlp_at(monkeypatch, f"127.0.0.1:{closed_port()}")
        box.fill(queries[1])
        expect(page.locator("#youtube-results")).to_contain_text("YouTube could not be reached")
        expect(page.locator(f"#song-{song.pk}")).to_be_visible()
    finally:
        cache.delete_many([youtube_search_cache_key(query, n) for query in queries for n in range(1, 21)])
