"""Search YouTube from the Library page: results, Add, "In the library", and what goes wrong.

The real yt-dlp searches a local stand-in for YouTube's API (tests/youtube.py) over
HTTPS; nothing leaves 127.0.0.1.
"""

import html
import re
import uuid

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from songs.models import Song
from songs.selectors import youtube_search_cache_key
from tests.internet import LocalInternet, closed_port
from tests.youtube import Video, point_ytdlp_at, searched_queries, serve_search

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
QUEEN = Video("xFrGuyw1V8s", "ABBA - Dancing Queen (Official Lyric Video)", "ABBA", "3:51",
              "https://i.ytimg.com/vi/xFrGuyw1V8s/hqdefault.jpg")
KARAOKE = Video("Nt6Vc5rqmO8", "Dancing Queen (Karaoke Version)", "Sing King", "1:02:05")
ELSEWHERE = Video("aaaaaaaaaaa", "Dancing Queen <live>", "Someone", "4:10", "https://images.example/x.jpg")


@pytest.fixture
def q():
    """A search of this test's own: the cache (Redis, maybe shared with another run) has
    never seen it, and only its keys are removed afterwards."""
    query = f"dancing queen {uuid.uuid4().hex[:8]}"
    yield query
    cache.delete_many([youtube_search_cache_key(query, limit) for limit in range(1, 21)])


@pytest.fixture
def youtube(monkeypatch):
    """The stand-in for YouTube, answering every search with QUEEN, KARAOKE and ELSEWHERE."""
    with LocalInternet(tls=True) as net:
        serve_search(net, [QUEEN, KARAOKE, ELSEWHERE])
        point_ytdlp_at(monkeypatch, net.host)
        yield net


def search(client, q, **headers):
    return client.get("/library/youtube", {"q": q}, **headers)


def add_urls(response) -> list[str]:
    return [html.unescape(url) for url in re.findall(r'name="url" value="([^"]+)"', response.content.decode())]


def test_it_shows_the_results_with_channel_duration_and_thumbnail(staff_client, youtube, q):
    response = search(staff_client, q, **HTMX)

    assert response.status_code == 200
    page = response.content.decode()
    assert searched_queries(youtube) == [q]
    assert page.lstrip().startswith("<div id=\"youtube-results\"") and "<html" not in page
    assert "ABBA - Dancing Queen (Official Lyric Video)" in page and "3:51" in page and "Sing King" in page
    assert "1:02:05" in page
    assert "Dancing Queen &lt;live&gt;" in page
    # Thumbnails only from YouTube's image host; the others get none.
    assert re.findall(r'<img class="thumb" src="([^"]+)"', page) == ["https://i.ytimg.com/vi/xFrGuyw1V8s/hqdefault.jpg"]
    assert add_urls(response) == [f"https://www.youtube.com/watch?v={v.id}" for v in (QUEEN, KARAOKE, ELSEWHERE)]


def test_it_shows_the_results_on_the_whole_page_without_htmx(staff_client, youtube, q):
    song = Song.objects.create(title="Take On Me", source=Song.Source.URL, source_id="https://songs.example/1.mp3",
                               source_url="https://songs.example/1.mp3")

    response = search(staff_client, q)

    assert response.status_code == 200
    page = response.content.decode()
    assert "<html" in page and "ABBA - Dancing Queen" in page
    assert f'value="{q}"' in page
    # `q` is the YouTube search here, not a filter of the library list.
    assert f'id="song-{song.pk}"' in page


def test_it_adds_a_result_and_answers_with_its_row_on_top_of_the_list(staff_client, youtube, q, queued,
                                                                      django_capture_on_commit_callbacks):
    url = add_urls(search(staff_client, q, **HTMX))[0]

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post("/library/add", {"url": url}, **HTMX)

    assert response.status_code == 201
    song = Song.objects.get()
    assert (song.source, song.source_id, song.status) == ("youtube", QUEEN.id, "pending")
    page = response.content.decode()
    assert "Added; it is being downloaded." in page
    assert '<div hx-swap-oob="afterbegin:#song-list" data-new-row>' in page and f'id="song-{song.pk}"' in page
    assert [task[0] for task in queued] == ["songs.tasks.run_job"]

    # Searching again, it is in the library (from the cache: YouTube is not asked twice).
    again = search(staff_client, q.replace(" ", "  ").title(), **HTMX).content.decode()
    assert again.count("In the library") == 1
    assert len(searched_queries(youtube)) == 1


def test_it_says_which_results_are_already_in_the_library(staff_client, youtube, q):
    Song.objects.create(title="Dancing Queen", artist="ABBA", source=Song.Source.YOUTUBE, source_id=QUEEN.id,
                        source_url=f"https://www.youtube.com/watch?v={QUEEN.id}")
    # A deleted song does not count: adding it again makes a new one.
    Song.objects.create(title="Old", source=Song.Source.YOUTUBE, source_id=KARAOKE.id, deleted_at=timezone.now(),
                        source_url=f"https://www.youtube.com/watch?v={KARAOKE.id}")

    response = search(staff_client, q, **HTMX)

    page = response.content.decode()
    queen = page[page.index(f'id="youtube-{QUEEN.id}"'):page.index(f'id="youtube-{KARAOKE.id}"')]
    assert "In the library: ABBA – Dancing Queen" in queen and "<button" not in queen
    assert add_urls(response) == [f"https://www.youtube.com/watch?v={v.id}" for v in (KARAOKE, ELSEWHERE)]


def test_it_shows_youtube_unreachable_inline_with_503(staff_client, monkeypatch, q):
    point_ytdlp_at(monkeypatch, f"127.0.0.1:{closed_port()}")

    response = search(staff_client, q, **HTMX)

    assert response.status_code == 503
    assert "YouTube could not be reached" in response.content.decode()
    assert 'role="alert"' in response.content.decode()
    # Without htmx: the page, with the message where the results would be.
    response = search(staff_client, q)
    assert response.status_code == 503
    assert "<html" in response.content.decode() and "YouTube could not be reached" in response.content.decode()


@pytest.mark.parametrize(("query", "message"), [("", "Type what to look for"), ("   ", "Type what to look for"),
                                                 ("x" * 201, "at most 200 characters")])
def test_it_refuses_a_blank_or_too_long_search_with_400(staff_client, youtube, query, message):
    response = search(staff_client, query, **HTMX)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert searched_queries(youtube) == []


def test_it_refuses_singers_and_anonymous_visitors_like_the_rest_of_the_page(singer_user, youtube, q):
    singer = Client()
    singer.force_login(singer_user)
    response = search(singer, q)
    assert response.status_code == 403 and "Hosts only" in response.content.decode()
    assert search(singer, q, **HTMX)["HX-Refresh"] == "true"
    response = search(Client(), q)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert searched_queries(youtube) == []


def test_it_answers_a_second_search_from_the_cache_without_asking_youtube(staff_client, youtube, q):
    first = search(staff_client, q, **HTMX)
    second = search(staff_client, f"  {q.upper()} ", **HTMX)

    assert first.status_code == second.status_code == 200
    assert add_urls(second) == add_urls(first)
    assert len(youtube.requests_to("/youtubei/v1/search")) == 1


def test_it_answers_the_api_from_the_same_search(staff_api, youtube, q):
    response = staff_api.get("/api/youtube/search", {"q": q, "limit": 2})

    assert response.status_code == 200
    assert response.json()[0] == {
        "id": QUEEN.id, "title": QUEEN.title, "duration": 231.0, "channel": "ABBA",
        "url": f"https://www.youtube.com/watch?v={QUEEN.id}", "thumbnail": QUEEN.thumbnail,
    }
    assert searched_queries(youtube) == [q]
