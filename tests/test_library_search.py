"""Search that forgives, and the whole library for singers.

One search (songs.selectors.song_find) serves the singer's page, the Library page and
`GET /api/songs/?search=`: case, accents and typos do not matter. Its texts are kept by the
services (songs/search_index.py) on every write of a title, artist, album or lyrics.
Without a query the singer's page lists the whole library, a page at a time, A–Z or by
artist, with the count. Runs on SQLite and on PostgreSQL (the suite's two configurations):
the indexes differ (FTS5, pg_trgm), the answers must not.
"""

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client

from queue_app import services as queue_services
from songs import imports, search, search_index, services
from songs.models import SearchWord, Song
from tests.factories import SongFactory

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def room(carol):
    return queue_services.room_create(owner=carol, name="Friday", max_waiting_per_singer=None)


@pytest.fixture
def gus(room) -> Client:
    """A guest who joined the room from his phone."""
    client = Client()
    assert client.post(f"/rooms/{room.code}/join", {"display_name": "Gus"}).status_code == 302
    return client


@pytest.fixture
def library(db):
    """A small library with accents, look-alikes and a song found only by its lyrics."""
    return {
        "cafe": SongFactory(title="Café Lunaire", artist="Les Étoiles", ready=True),
        "halo": SongFactory(title="Halo", artist="Beyoncé", ready=True),
        "queen": SongFactory(title="Dancing Queen", artist="ABBA", album="Arrival", ready=True),
        "dark": SongFactory(title="Dancing in the Dark", artist="Bruce Springsteen", ready=True),
        "monkey": SongFactory(title="Dance Monkey", artist="Tones and I", ready=True),
        "tiny": SongFactory(title="Tiny Dancer", artist="Elton John", ready=True),
        "hearts": SongFactory(title="Queen of Hearts", artist="Juice Newton", ready=True),
        "waterloo": SongFactory(title="Waterloo", artist="ABBA", ready=True,
                                lyrics_plain="My my\nAt Waterloo Napoleon did surrender\nOh yeah"),
    }


def singer_hits(client: Client, room, q: str) -> list[str]:
    response = client.get(f"/rooms/{room.code}/search", {"q": q}, **HTMX)
    assert response.status_code == 200
    return re.findall(r'<li id="hit-([0-9a-f-]{36})"', response.content.decode())


def titles(ids: list[str]) -> list[str]:
    by_id = {str(song.pk): song.title for song in Song.objects.filter(pk__in=ids)}
    return [by_id[song_id] for song_id in ids]


# --- folding --------------------------------------------------------------------------------


def test_it_folds_case_accents_and_punctuation_the_same_way_for_songs_and_queries():
    assert search.fold("Café Lunaire") == search.fold("CAFE lunaire") == "cafe lunaire"
    assert search.fold("BEYONCÉ") == "beyonce"
    assert search.fold("Don’t Stop Me Now!") == "dont stop me now"
    assert search.fold("Sigur Rós — Hoppípolla") == "sigur ros hoppipolla"
    assert search.fold("Motörhead, Øresund, Straße, Łódź, Æther") == "motorhead oresund strasse lodz aether"
    # Written with punctuation inside, a name is found typed either way.
    assert search.metadata_text(title="Take On Me", artist="a-ha", album="") == "take on me a ha aha"
    assert search.metadata_text(title="Thunderstruck", artist="AC/DC", album="") == "thunderstruck ac dc acdc"


# --- the singer's search ----------------------------------------------------------------------


@pytest.mark.parametrize("q", ["cafe", "CAFÉ", "Cafe", "café lunaire", "CAFE LUNAIRE", "etoiles"])
def test_it_finds_a_song_whatever_the_case_and_accents(room, gus, library, q):
    assert titles(singer_hits(gus, room, q)) == ["Café Lunaire"]


def test_it_finds_an_accented_artist_typed_without_accents(room, gus, library):
    assert titles(singer_hits(gus, room, "beyonce")) == ["Halo"]
    assert titles(singer_hits(gus, room, "Beyoncé halo")) == ["Halo"]


@pytest.mark.parametrize("q", ["dancng", "dancin queen", "dancing quen", "DANCING QUEEN", "abba dancing", "danicng"])
def test_it_ranks_dancing_queen_first_despite_typos(room, gus, library, q):
    assert titles(singer_hits(gus, room, q))[0] == "Dancing Queen"


def test_a_typo_still_finds_the_look_alikes_after_the_best_one(room, gus, library):
    found = titles(singer_hits(gus, room, "dancng"))
    assert found[:2] == ["Dancing Queen", "Dancing in the Dark"]
    assert "Queen of Hearts" not in found and "Halo" not in found


def test_a_word_as_typed_so_far_finds_the_songs_it_begins(room, gus, library):
    assert set(titles(singer_hits(gus, room, "danc"))) == {"Dancing Queen", "Dancing in the Dark", "Dance Monkey",
                                                             "Tiny Dancer"}
    assert titles(singer_hits(gus, room, "waterl")) == ["Waterloo"]


def test_the_lyrics_are_searched_after_the_titles_with_the_line_shown(room, gus, library):
    response = gus.get(f"/rooms/{room.code}/search", {"q": "napoleon surrender"}, **HTMX)
    html = response.content.decode()
    assert titles(re.findall(r'<li id="hit-([0-9a-f-]{36})"', html)) == ["Waterloo"]
    assert "At Waterloo Napoleon did surrender" in html


def test_nothing_found_is_said_and_nonsense_finds_nothing(room, gus, library):
    assert singer_hits(gus, room, "zzyzx qqq") == []
    html = gus.get(f"/rooms/{room.code}/search", {"q": "zzyzx"}, **HTMX).content.decode()
    assert "No song matches “zzyzx”" in html


def test_a_ready_song_comes_before_one_still_being_prepared_that_matches_as_well(room, gus, db):
    later = SongFactory(title="Fernando", artist="ABBA", status=Song.Status.PROCESSING)
    ready = SongFactory(title="Waterloo", artist="ABBA", ready=True)
    SongFactory(title="Broken", artist="ABBA", status=Song.Status.ERROR)
    assert singer_hits(gus, room, "abba") == [str(ready.pk), str(later.pk)]


# --- one search: the Library page and the API -----------------------------------------------------


def test_the_library_page_searches_the_same_way(staff_client, library):
    html = staff_client.get("/library/", {"q": "CAFE"}).content.decode()
    assert re.findall(r'<li id="song-([0-9a-f-]{36})"', html) == [str(library["cafe"].pk)]
    html = staff_client.get("/library/", {"q": "dancng"}, **HTMX).content.decode()
    assert re.findall(r'<li id="song-([0-9a-f-]{36})"', html)[0] == str(library["queen"].pk)


def test_the_api_searches_the_same_way_best_first_unless_ordered(singer_api, library):
    def found(**params):
        response = singer_api.get("/api/songs/", params)
        assert response.status_code == 200
        return response.json()

    assert [song["title"] for song in found(search="beyonce")["results"]] == ["Halo"]
    assert [song["title"] for song in found(search="cafe")["results"]] == ["Café Lunaire"]
    best = found(search="dancin queen")
    assert best["results"][0]["title"] == "Dancing Queen" and best["count"] == len(best["results"])
    ordered = found(search="danc", ordering="title")["results"]
    assert [song["title"] for song in ordered] == ["Dance Monkey", "Dancing Queen", "Dancing in the Dark",
                                                   "Tiny Dancer"]
    assert found(search="zzyzx")["count"] == 0


def test_the_api_documents_the_search_parameter(staff_api):
    schema = staff_api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    parameters = schema["paths"]["/api/songs/"]["get"]["parameters"]
    (search_parameter,) = [parameter for parameter in parameters if parameter["name"] == "search"]
    assert "accents" in search_parameter["description"]


# --- the index follows every write ------------------------------------------------------------


def test_an_edit_a_lyrics_paste_and_a_stage_reindex_the_song(room, gus, db):
    song = SongFactory(title="Harbor", ready=True)
    services.song_update(song=song, data={"title": "Crème Brûlée", "artist": "Sally Brine"})
    assert titles(singer_hits(gus, room, "creme brulee")) == ["Crème Brûlée"]
    assert singer_hits(gus, room, "harbor") == []
    services.song_set_lyrics(song=song, text="[00:01.00]Salt on the wind\n[00:04.00]Gulls over the pier\n")
    assert singer_hits(gus, room, "gulls pier") == [str(song.pk)]
    services.song_save_found(song=song, fields={"album": "Tidewater"})  # a stage: album not locked
    assert singer_hits(gus, room, "tidewatr") == [str(song.pk)]
    services.song_set_fields(song=song, title="Harbour Lights")
    assert singer_hits(gus, room, "harbour") == [str(song.pk)]


def test_an_import_is_found_at_once_and_a_hard_delete_is_gone_from_the_index(room, gus, db, queued):
    result = imports.song_import_url(url="https://songs.example/x.mp3", title="Señorita", artist="Shawn Mendes")
    assert singer_hits(gus, room, "senorita") == [str(result.song.pk)]
    services.song_hard_delete(song=result.song)
    assert singer_hits(gus, room, "senorita") == []
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {search_index.FTS_TABLE}")
            assert cursor.fetchone()[0] == 0
            cursor.execute(f"SELECT count(*) FROM {search_index.FTS_META_TABLE}")
            assert cursor.fetchone()[0] == 0


def test_a_rebuild_restores_an_index_that_was_lost(room, gus, library):
    Song.objects.update(search_text="", search_lyrics="")
    SearchWord.objects.all().delete()
    assert singer_hits(gus, room, "beyonce") == []
    assert search_index.rebuild() == len(library)
    assert titles(singer_hits(gus, room, "beyonse")) == ["Halo"]


# --- browsing the whole library ---------------------------------------------------------------


def browse_rows(html: str) -> list[str]:
    return re.findall(r'<li id="browse-([0-9a-f-]{36})"', html)


def more_link(html: str) -> str | None:
    match = re.search(r'<li class="load-more">\s*<a [^>]*hx-get="([^"]+)"', html)
    return match.group(1).replace("&amp;", "&") if match else None


def test_a_room_with_120_songs_shows_all_of_them_through_paging_with_the_count(room, gus, db):
    songs = [SongFactory(title=f"Song {n:03d}", artist=f"Band {n % 7}", ready=n % 10 != 0) for n in range(120)]
    SongFactory(title="Gone", ready=True, deleted_at="2026-01-01T00:00:00Z")
    SongFactory(title="Broken", status=Song.Status.ERROR)

    page = gus.get(f"/rooms/{room.code}/").content.decode()
    assert "<strong>120</strong> songs in the library" in page
    seen = browse_rows(page)
    assert len(seen) == 50 and "Show more (70 more)" in page
    link = more_link(page)
    while link:
        html = gus.get(link, **HTMX).content.decode()
        assert "<html" not in html and "songs in the library" not in html  # only the rows, appended
        seen += browse_rows(html)
        link = more_link(html)
    assert len(seen) == len(set(seen)) == 120
    assert set(seen) == {str(song.pk) for song in songs}
    # Ready songs first, each group A–Z.
    ready = [song for song in songs if song.status == Song.Status.READY]
    preparing = [song for song in songs if song.status != Song.Status.READY]
    assert seen == [str(song.pk) for song in ready + preparing]


def test_the_library_is_listed_by_artist_with_a_heading_each(room, gus, db):
    SongFactory(title="Waterloo", artist="ABBA", ready=True)
    SongFactory(title="Take On Me", artist="a-ha", ready=True)
    SongFactory(title="Fernando", artist="ABBA", ready=True)
    SongFactory(title="Untagged", ready=True)
    html = gus.get(f"/rooms/{room.code}/search", {"order": "artist"}, **HTMX).content.decode()
    assert html.lstrip().startswith(f'<div id="search-results-{room.code}"')
    assert titles(browse_rows(html)) == ["Take On Me", "Fernando", "Waterloo", "Untagged"]
    assert [h for h in re.findall(r"<h3>([^<]+)</h3>", html)] == ["a-ha", "ABBA", "Unknown artist"]
    assert 'aria-current="true">By artist</a>' in html


def test_paging_works_without_javascript_and_survives_a_bad_address(room, gus, db):
    for n in range(60):
        SongFactory(title=f"Song {n:02d}", ready=True)
    second = gus.get(f"/rooms/{room.code}/", {"page": "2"}).content.decode()
    assert titles(browse_rows(second)) == [f"Song {n:02d}" for n in range(50, 60)]
    assert "Previous songs" in second and "Show more" not in second
    assert len(browse_rows(gus.get(f"/rooms/{room.code}/", {"page": "x", "order": "bogus"}).content.decode())) == 50
    assert len(browse_rows(gus.get(f"/rooms/{room.code}/", {"page": "99"}).content.decode())) == 10
    # The search endpoint without htmx sends the browser to the page, keeping the paging.
    response = gus.get(f"/rooms/{room.code}/search", {"order": "artist", "page": "2"})
    assert response.status_code == 302 and response["Location"] == f"/rooms/{room.code}/?order=artist&page=2"


def test_clearing_the_search_brings_the_library_back(room, gus, library):
    html = gus.get(f"/rooms/{room.code}/search", {"q": ""}, **HTMX).content.decode()
    assert f"<strong>{len(library)}</strong> songs in the library" in html
    assert len(browse_rows(html)) == len(library)


def test_the_search_index_command_rebuilds_what_a_copy_by_hand_left_out(room, gus, library):
    # A database restored without the search texts (a copy made by hand, say).
    Song.objects.update(search_text="", search_lyrics="")
    if search_index.uses_fts():
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {search_index.FTS_TABLE}")
            cursor.execute(f"DELETE FROM {search_index.FTS_META_TABLE}")
    assert singer_hits(gus, room, "cafe") == []
    out = StringIO()
    call_command("search_index", stdout=out)
    assert out.getvalue().startswith(f"Indexed {Song.objects.count()} songs in ")
    assert titles(singer_hits(gus, room, "cafe")) == ["Café Lunaire"]
    assert titles(singer_hits(gus, room, "napoleon")) == ["Waterloo"]
