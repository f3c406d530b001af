"""Songs on demand through the party's pages: the singer searches YouTube from their phone
(as they type, or from the library's "No song matches"), requests a video, follows it in
"My requests" and cancels it; the host answers from the console's Requests card.

The real yt-dlp searches the local stand-in for YouTube (tests/youtube.py). Personas as
in test_party_pages.py: Carol hosts, Gus and Hal are guests on their phones, Erin hosts
other rooms, Alice is staff.
"""

import re
import time
import uuid

import pytest
from django.core.cache import cache
from django.test import Client

from queue_app import services
from queue_app.models import QueueEntry, Room, SongRequest
from queue_app.templatetags.party import request_step
from songs.models import Song
from songs.selectors import youtube_search_cache_key
from tests.factories import SongFactory, UserFactory
from tests.internet import LocalInternet, closed_port
from tests.youtube import Video, point_ytdlp_at, serve_search

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
QUEEN = Video("xFrGuyw1V8s", "ABBA - Dancing Queen (Official Lyric Video)", "ABBA", "3:51",
              "https://i.ytimg.com/vi/xFrGuyw1V8s/hqdefault.jpg")
KARAOKE = Video("Nt6Vc5rqmO8", "Dancing Queen (Karaoke Version)", "Sing King", "3:52")
SNEAKY = Video("aaaaaaaaaaa", "Waterloo <script>", "Other", "2:50", "https://images.example/x.jpg")
EPIC = Video("bbbbbbbbbbb", "The Whole Opera (Live)", "Someone", "1:02:05")


@pytest.fixture
def youtube(monkeypatch):
    with LocalInternet(tls=True) as net:
        serve_search(net, [QUEEN, KARAOKE, SNEAKY, EPIC])
        point_ytdlp_at(monkeypatch, net.host)
        yield net


@pytest.fixture
def q():
    """A search the cache has never seen (the cache is shared with other runs)."""
    query = f"dancing queen {uuid.uuid4().hex[:8]}"
    yield query
    cache.delete_many([youtube_search_cache_key(query, limit) for limit in range(1, 21)])
    cache.delete_many([f"youtube-video:{video.id}" for video in (QUEEN, KARAOKE, SNEAKY, EPIC)])


@pytest.fixture
def room(carol):
    return services.room_create(owner=carol, name="Friday", max_waiting_per_singer=None)


def forget_searches(singer) -> None:
    """The singer's count of YouTube searches this minute (singer ids repeat between tests)."""
    minute = int(time.time() // 60)
    cache.delete_many([f"youtube-searches:singer-{singer.pk}:{window}" for window in (minute - 1, minute, minute + 1)])


@pytest.fixture
def phone(room):
    """A guest's phone that joined through the singer's page."""
    made = []

    def join(name: str) -> Client:
        client = Client()
        assert client.post(f"/rooms/{room.code}/join", {"display_name": name}).status_code == 302
        client.singer = room.singers.get(display_name=name)
        forget_searches(client.singer)
        made.append(client.singer)
        return client

    yield join
    for singer in made:
        forget_searches(singer)


@pytest.fixture
def gus(phone) -> Client:
    return phone("Gus")


@pytest.fixture
def carols(carol) -> Client:
    client = Client()
    client.force_login(carol)
    return client


def search(client: Client, room: Room, query: str, **extra):
    return client.get(f"/rooms/{room.code}/youtube", {"q": query}, **{**HTMX, **extra})


def ask(client: Client, room: Room, video: str, **extra):
    return client.post(f"/rooms/{room.code}/requests", {"video": video}, **{**HTMX, **extra})


def decide(client: Client, room: Room, request_id: int, action: str, reason: str = ""):
    return client.post(f"/rooms/{room.code}/host/requests/{request_id}", {"action": action, "reason": reason}, **HTMX)


def section(html: str, element_id: str) -> str:
    match = re.search(rf'<(\w+) id="{re.escape(element_id)}".*?</\1>', html, flags=re.DOTALL)
    assert match, f"no #{element_id} in {html[:500]}"
    return match.group(0)


def hit(html: str, video: Video) -> str:
    return section(html, f"youtube-{video.id}")


# --- the singer's page ------------------------------------------------------------------------


def test_it_shows_a_search_youtube_section_that_searches_as_the_singer_types(room, gus):
    page = gus.get(f"/rooms/{room.code}/").content.decode()
    youtube = section(page, "search-youtube")
    assert "<h2" in youtube and "Search YouTube" in youtube
    assert f'hx-get="/rooms/{room.code}/youtube"' in youtube and 'data-min-length="3"' in youtube
    assert re.search(r'hx-trigger="input changed delay:\d+ms"', youtube)
    assert 'href="#search-youtube"' in page  # the way there from the library's search
    assert f'id="my-requests-{room.code}"' in page


def test_it_shows_no_youtube_search_when_the_room_takes_no_requests(room, gus):
    Room.objects.filter(pk=room.pk).update(requests=Room.Requests.OFF)
    page = gus.get(f"/rooms/{room.code}/").content.decode()
    assert 'id="search-youtube"' not in page and "/youtube" not in page
    nothing = gus.get(f"/rooms/{room.code}/search", {"q": "waterloo"}, **HTMX).content.decode()
    assert "No song matches" in nothing and "Search YouTube" not in nothing


def test_it_offers_youtube_with_the_same_words_when_the_library_finds_nothing(room, gus):
    SongFactory(title="Take On Me", ready=True)
    nothing = gus.get(f"/rooms/{room.code}/search", {"q": "waterloo abba"}, **HTMX).content.decode()
    assert "No song matches “waterloo abba”" in nothing
    assert f'href="/rooms/{room.code}/youtube?q=waterloo%20abba"' in nothing
    assert 'data-youtube-search="waterloo abba"' in nothing and "Search YouTube for “waterloo abba”" in nothing


def test_it_shows_youtube_results_with_thumbnail_title_channel_and_length(room, gus, youtube, q):
    answer = search(gus, room, q)
    assert answer.status_code == 200
    html = answer.content.decode()
    queen = hit(html, QUEEN)
    assert f'src="{QUEEN.thumbnail}"' in queen and QUEEN.title in queen
    assert "ABBA" in queen and "3:51" in queen
    assert f'action="/rooms/{room.code}/requests"' in queen and f'name="video" value="{QUEEN.id}"' in queen
    assert ">Request</button>" in queen
    # Only YouTube's own image hosts; titles are text.
    sneaky = hit(html, SNEAKY)
    assert "images.example" not in sneaky and "<img" not in sneaky and "Waterloo &lt;script&gt;" in sneaky


def test_it_offers_add_for_a_result_the_library_has(room, gus, youtube, q):
    song = SongFactory(title="Dancing Queen", artist="Sing King", ready=True, source=Song.Source.YOUTUBE,
                       source_id=KARAOKE.id, source_url=f"https://www.youtube.com/watch?v={KARAOKE.id}")
    karaoke = hit(search(gus, room, q).content.decode(), KARAOKE)
    assert "In the library" in karaoke and "Request</button>" not in karaoke
    assert f'action="/rooms/{room.code}/queue/add"' in karaoke and f'value="{song.pk}"' in karaoke

    added = gus.post(f"/rooms/{room.code}/queue/add", {"song": str(song.pk)}, **HTMX)
    assert added.status_code == 201 and "Added “Dancing Queen”" in added.content.decode()
    assert QueueEntry.objects.get().song == song and SongRequest.objects.count() == 0


def test_it_searches_for_a_pasted_youtube_link_as_its_one_video(room, gus, youtube, q):
    search(gus, room, q)  # what YouTube said of the video is remembered a while
    html = search(gus, room, f"https://youtu.be/{QUEEN.id}").content.decode()
    assert re.findall(r'<li id="youtube-([\w-]+)"', html) == [QUEEN.id]


@pytest.mark.parametrize("query, status, message", [
    ("ab", 400, "Type at least 3 characters"),
    ("https://songs.example/track.mp3", 400, "Only YouTube videos can be requested"),
])
def test_it_refuses_a_bad_search_inline_with_its_status(room, gus, youtube, query, status, message):
    answer = search(gus, room, query)
    assert answer.status_code == status and message in answer.content.decode()
    assert f'id="youtube-results-{room.code}"' in answer.content.decode()


def test_it_refuses_a_search_when_the_room_takes_no_requests(room, gus, youtube, q):
    Room.objects.filter(pk=room.pk).update(requests=Room.Requests.OFF)
    answer = search(gus, room, q)
    assert answer.status_code == 403 and "takes no requests" in answer.content.decode()
    assert 'role="alert"' in answer.content.decode()


def test_it_limits_a_singers_searches_with_a_429_and_says_when_to_try_again(room, gus, phone, youtube, q, settings):
    settings.YOUTUBE_SEARCHES_PER_MINUTE = 2
    assert [search(gus, room, q).status_code for _ in range(2)] == [200, 200]
    refused = search(gus, room, q)
    assert refused.status_code == 429 and "try again in a minute" in refused.content.decode()
    assert search(phone("Hal"), room, q).status_code == 200  # per singer


def test_it_says_so_when_youtube_cannot_be_reached_with_a_503(room, gus, q, monkeypatch):
    point_ytdlp_at(monkeypatch, f"127.0.0.1:{closed_port()}")
    answer = search(gus, room, q)
    assert answer.status_code == 503 and "YouTube could not be reached" in answer.content.decode()


def test_it_shows_the_results_on_the_whole_page_without_javascript(room, gus, youtube, q):
    page = gus.get(f"/rooms/{room.code}/youtube", {"q": q})
    assert page.status_code == 200
    html = page.content.decode()
    assert "<html" in html and QUEEN.title in hit(html, QUEEN) and f'value="{q}"' in html


# --- requesting, and "My requests" -----------------------------------------------------------


def test_it_requests_a_video_and_shows_it_in_my_requests(room, gus, youtube, q):
    search(gus, room, q)
    answer = ask(gus, room, QUEEN.id)
    assert answer.status_code == 201, answer.content
    html = answer.content.decode()
    assert "Requested: the host will answer soon." in html
    mine = section(html, f"my-requests-{room.code}")
    assert 'hx-swap-oob="true"' in mine and "hidden" not in mine.split(">", 1)[0]
    assert QUEEN.title in mine and "Waiting for the host" in mine and "3:51" in mine and ">Cancel</button>" in mine
    request = SongRequest.objects.get()
    assert (request.singer, request.video_id, request.status) == (gus.singer, QUEEN.id, "pending")

    page = section(gus.get(f"/rooms/{room.code}/").content.decode(), f"my-requests-{room.code}")
    assert QUEEN.title in page and "Waiting for the host" in page


def test_it_hides_my_requests_until_there_is_one(room, gus):
    mine = section(gus.get(f"/rooms/{room.code}/").content.decode(), f"my-requests-{room.code}")
    assert "hidden" in mine.split(">", 1)[0]


def test_it_queues_a_request_at_once_in_a_room_that_approves_by_itself(room, gus, youtube, q):
    Room.objects.filter(pk=room.pk).update(requests=Room.Requests.AUTO)
    search(gus, room, q)
    html = ask(gus, room, QUEEN.id).content.decode()
    assert "Requested and queued" in html
    assert QUEEN.title in section(html, f"my-songs-{room.code}")  # queued, "processing"
    mine = section(html, f"my-requests-{room.code}")
    assert "Getting ready" in mine and "Waiting to download" in mine and "ready in about" in mine


@pytest.mark.parametrize("video, status, message", [
    ("https://songs.example/track.mp3", 400, "Only YouTube videos can be requested"),
    ("file:///etc/passwd", 400, "Only YouTube videos can be requested"),
    (EPIC.id, 400, "at most 10 min"),
])
def test_it_refuses_a_bad_request_inline_and_stores_nothing(room, gus, youtube, q, video, status, message):
    search(gus, room, q)
    answer = ask(gus, room, video)
    assert answer.status_code == status and message in answer.content.decode()
    assert 'role="alert"' in answer.content.decode()
    assert SongRequest.objects.count() == 0


def test_it_refuses_more_requests_than_the_room_allows_with_a_409(room, gus, youtube, q):
    Room.objects.filter(pk=room.pk).update(max_pending_requests=1)
    search(gus, room, q)
    assert ask(gus, room, QUEEN.id).status_code == 201
    refused = ask(gus, room, SNEAKY.id)
    assert refused.status_code == 409 and "waiting for the host" in refused.content.decode()


def test_it_cancels_a_pending_request(room, gus, youtube, q):
    search(gus, room, q)
    ask(gus, room, QUEEN.id)
    request = SongRequest.objects.get()
    cancelled = gus.post(f"/rooms/{room.code}/requests/{request.pk}/cancel", **HTMX)
    assert cancelled.status_code == 200
    mine = section(cancelled.content.decode(), f"my-requests-{room.code}")
    assert "Cancelled" in mine and ">Cancel</button>" not in mine
    assert SongRequest.objects.get().status == "cancelled"
    again = gus.post(f"/rooms/{room.code}/requests/{request.pk}/cancel", **HTMX)
    assert again.status_code == 409 and "can no longer be cancelled" in again.content.decode()


def test_a_singer_cannot_cancel_anothers_request(room, gus, phone, youtube, q):
    search(gus, room, q)
    ask(gus, room, QUEEN.id)
    request = SongRequest.objects.get()
    refused = phone("Hal").post(f"/rooms/{room.code}/requests/{request.pk}/cancel", **HTMX)
    assert refused.status_code == 403 and "only cancel your own" in refused.content.decode()
    assert Client().post(f"/rooms/{room.code}/requests/{request.pk}/cancel", **HTMX).status_code == 403
    assert gus.post(f"/rooms/{room.code}/requests/{2**63}/cancel", **HTMX).status_code == 404
    assert SongRequest.objects.get().status == "pending"


def test_it_works_without_javascript_through_redirects(room, gus, youtube, q):
    search(gus, room, q)
    asked = gus.post(f"/rooms/{room.code}/requests", {"video": QUEEN.id})
    assert asked.status_code == 302
    page = gus.get(asked.url).content.decode()
    assert "Requested: the host will answer soon." in page and QUEEN.title in section(page, f"my-requests-{room.code}")


# --- the host's Requests card -------------------------------------------------------------------


@pytest.fixture
def asked(room, gus, youtube, q) -> SongRequest:
    """Gus asked for Dancing Queen; the host has not answered."""
    search(gus, room, q)
    assert ask(gus, room, QUEEN.id).status_code == 201
    return SongRequest.objects.get()


def test_it_shows_the_host_pending_requests_with_who_title_length_and_thumbnail(room, carols, asked):
    card = section(carols.get(f"/rooms/{room.code}/host/").content.decode(), f"host-requests-{room.code}")
    row = section(card, f"host-request-{asked.pk}")
    assert QUEEN.title in row and "Gus" in row and "3:51" in row and "ABBA" in row
    assert f'src="{QUEEN.thumbnail}"' in row
    assert 'value="approve"' in row and 'value="deny"' in row and 'name="reason"' in row
    assert "1 waiting" in card


def test_the_host_approves_a_request_and_it_is_queued_for_the_singer(room, carols, gus, asked):
    answer = decide(carols, room, asked.pk, "approve")
    assert answer.status_code == 200, answer.content
    html = answer.content.decode()
    card = section(html, f"host-requests-{room.code}")
    row = section(card, f"host-request-{asked.pk}")
    assert "Getting ready" in row and "Waiting to download" in row and "ready in about" in row
    assert 'value="approve"' not in card
    queue = section(html, f"host-queue-{room.code}")
    assert 'hx-swap-oob="true"' in queue and QUEEN.title in queue and "Gus" in queue

    asked.refresh_from_db()
    assert asked.status == "approved" and asked.entry.singer == gus.singer
    page = gus.get(f"/rooms/{room.code}/").content.decode()
    assert QUEEN.title in section(page, f"my-songs-{room.code}")
    mine = section(page, f"my-requests-{room.code}")
    assert "Getting ready" in mine and "ready in about" in mine and ">Cancel</button>" not in mine


def test_the_host_denies_a_request_with_a_reason_the_singer_reads(room, carols, gus, asked):
    answer = decide(carols, room, asked.pk, "deny", "Not tonight, sorry")
    assert answer.status_code == 200
    assert f"host-request-{asked.pk}" not in answer.content.decode()
    mine = section(gus.get(f"/rooms/{room.code}/").content.decode(), f"my-requests-{room.code}")
    assert "Denied" in mine and "Not tonight, sorry" in mine
    again = decide(carols, room, asked.pk, "approve")
    assert again.status_code == 409 and "already denied" in again.content.decode()
    assert Song.objects.count() == 0


def test_it_refuses_a_decision_that_is_neither_approve_nor_deny(room, carols, asked):
    answer = decide(carols, room, asked.pk, "maybe")
    assert answer.status_code == 400 and "approve or deny" in answer.content.decode()
    assert SongRequest.objects.get().status == "pending"


@pytest.mark.parametrize("who, status", [
    ("anonymous", 403), ("the singer", 403), ("another singer", 403), ("another host", 403), ("staff", 200),
])
def test_only_the_rooms_host_answers_requests(room, asked, gus, phone, staff_user, who, status):
    clients = {"anonymous": Client, "the singer": lambda: gus, "another singer": lambda: phone("Hal")}
    client = clients.get(who, Client)()
    if who == "another host":
        client.force_login(UserFactory(username="erin", host=True))
    if who == "staff":
        client.force_login(staff_user)
    answer = decide(client, room, asked.pk, "approve")
    assert answer.status_code == status, answer.content
    if status == 403:
        assert "Only the room&#x27;s host" in answer.content.decode()
        assert SongRequest.objects.get().status == "pending"


def test_it_names_each_step_of_a_song_being_prepared():
    assert request_step({"stage": "download", "status": "running", "percent": 40}) == "Downloading 40 %"
    assert request_step({"stage": "separate", "status": "running", "percent": 70}) == "Separating 70 %"
    assert request_step({"stage": "separate", "status": "queued", "percent": 40}) == "Waiting to separate (40 %)"
    assert request_step({"stage": "download", "status": "pending", "percent": 0}) == "Waiting to download"
    assert request_step({"stage": "download", "status": "retrying", "percent": 5}) == "Downloading: trying again"
    assert request_step(None) == ""
