"""The enrich and lyrics stages with the real clients against recorded answers on a local server.

musicbrainzngs and requests talk to `internet` (tests/internet.py), which
serves MusicBrainz XML, Cover Art Archive JSON and images, and LRCLIB JSON as
the services answer; Redis (limiter, breakers) and the cache are the real ones.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
from django.core.cache import cache

from jobs.models import Job
from songs import imports
from songs import services as song_services
from songs.audio.ffmpeg import ffmpeg_exe
from songs.models import Song
from songs.pipeline import metadata
from tests.helpers import (
    ARRIVAL,
    JPEG,
    JSON,
    PNG,
    RECORDED,
    SEARCH,
    STUDIO,
    make_audio,
    serve_coverart,
    serve_lrclib,
    serve_musicbrainz,
)

pytestmark = pytest.mark.django_db(transaction=True)


class Ctx:
    """What the runner hands a stage."""

    def __init__(self, song):
        self.song = song
        self.messages = []

    def progress(self, percent, message=""):
        self.messages.append(message)

    def is_cancelled(self):
        return False


def make_song(title="ABBA - Dancing Queen (Official Music Video) [HD]", artist="ABBAVEVO", duration=231.0, **fields):
    return Song.objects.create(
        title=title, artist=artist, duration=duration, status=Song.Status.READY, source=Song.Source.URL,
        source_id=f"https://songs.example/{uuid.uuid4().hex}.mp3", **fields,
    )


def enrich(song):
    message = metadata.enrich(Ctx(song))
    song.refresh_from_db()
    return message


def find_lyrics(song):
    message = metadata.lyrics(Ctx(song))
    song.refresh_from_db()
    return message


def image_size(path: Path) -> str:
    probe = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    return next(part.strip().split()[0] for part in probe.stderr.split(",") if "x" in part and part.strip()[:1].isdigit())


# --- metadata ---------------------------------------------------------------------------


def test_it_cleans_the_title_and_picks_the_studio_recording_over_the_decoys(providers):
    serve_musicbrainz(providers)
    serve_coverart(providers)
    song = make_song()

    message = enrich(song)

    # The recorded answer ranks a 2:22 edit and a karaoke version (both score 100) above it.
    assert song.recording_mbid == STUDIO, message
    assert (song.title, song.artist, song.album, song.year) == ("Dancing Queen", "ABBA", "Arrival", 1976)
    assert (song.release_mbid, song.artist_mbid) == (ARRIVAL, "d87e52c5-bb8d-4da8-b941-9f4928627dc8")
    assert song.isrc == "SEAYD7601020" and song.genres[:2] == ["pop", "disco"]
    assert song.metadata_status == Song.LookupStatus.FOUND and song.metadata_checked_at is not None
    assert metadata.enrich_done(song)
    assert song.file_path("cover").read_bytes() == JPEG
    assert song.file_path("cover_thumb").read_bytes() == PNG
    assert "Matched “ABBA – Dancing Queen”" in message and "cover saved" in message
    (request,) = providers.requests_to(SEARCH)
    # The noise never reached MusicBrainz; our User-Agent with the contact did.
    assert "recording%3A%28dancing+queen%29+artist%3A%28abba%29" in request.path
    assert request.headers["User-Agent"].startswith("Encore/1.0 python-musicbrainzngs/0.7.1 ( host@example.org )")
    assert {r.headers["User-Agent"] for r in providers.requests if r.path.startswith("/release/")} == {
        "Encore/1.0 ( host@example.org )"
    }


def test_a_wrong_duration_decides_against_the_short_edit(providers):
    serve_musicbrainz(providers)
    serve_coverart(providers)
    song = make_song(title="Dancing Queen", artist="ABBA", duration=142.0)
    enrich(song)
    assert song.recording_mbid == "0c8d2f36-5b1e-4a36-9f0e-2a7b5d1c4e01"  # the 2:22 take, when that is what we have


def test_it_makes_the_thumbnail_with_ffmpeg_when_the_archive_has_none(providers):
    serve_musicbrainz(providers)
    serve_coverart(providers, thumbnails=False)  # neither the listed thumbnail nor /front-250 answers
    song = make_song()

    enrich(song)

    thumb = song.file_path("cover_thumb")
    assert thumb.name == "cover-250.jpg" and thumb.read_bytes()[:3] == b"\xff\xd8\xff"
    assert max(int(n) for n in image_size(thumb).split("x")) == 250
    assert sorted(p.name for p in song.folder.iterdir()) == ["cover-250.jpg", "cover.jpg"]  # nothing staged left


def test_no_match_is_final_and_keeps_the_cleaned_title(providers):
    serve_musicbrainz(providers, "recording-empty.xml")
    song = make_song(title="Obscure Band - Garage Demo (Official Audio)", artist="someone")

    message = enrich(song)

    assert song.metadata_status == Song.LookupStatus.NOT_FOUND and metadata.enrich_done(song)
    assert (song.title, song.artist) == ("Garage Demo", "Obscure Band")
    assert "No MusicBrainz recording matches" in message
    assert song.recording_mbid == "" and not song.has_file("cover")


def test_a_slow_musicbrainz_times_out_and_the_song_is_marked_for_later(providers, settings):
    settings.PROVIDER_TIMEOUT = 0.5
    serve_musicbrainz(providers, chunk_size=200, chunk_delay=0.2)  # the whole answer would take ~8 s
    song = make_song()

    started = time.monotonic()
    message = enrich(song)

    assert time.monotonic() - started < 3
    assert song.metadata_status == Song.LookupStatus.FAILED and not metadata.enrich_done(song)
    assert "did not answer in time" in message and "enrich --missing" in message
    assert (song.title, song.artist) == ("Dancing Queen", "ABBA")  # the cleanup is kept all the same


def test_a_slow_lrclib_times_out_and_lyrics_are_marked_for_later(providers, settings):
    settings.PROVIDER_TIMEOUT = 0.5
    serve_lrclib(providers, chunk_size=50, chunk_delay=0.2)
    song = make_song(title="Dancing Queen", artist="ABBA")

    started = time.monotonic()
    message = find_lyrics(song)

    assert time.monotonic() - started < 3
    assert song.lyrics_status == Song.LookupStatus.FAILED and not metadata.lyrics_done(song)
    assert "lrclib did not answer within 0.5 s" in message


def test_the_cache_spares_a_second_request_for_the_same_query(providers):
    serve_musicbrainz(providers)
    serve_coverart(providers)
    serve_lrclib(providers)
    first, second = make_song(), make_song()

    for song in (first, second):
        enrich(song)
        find_lyrics(song)

    assert first.recording_mbid == second.recording_mbid == STUDIO
    assert second.lyrics_synced == first.lyrics_synced != ""
    assert len(providers.requests_to(SEARCH)) == 1
    assert len(providers.requests_to("/api/get")) == 1
    # The second song of the release copied the first one's cover: no request at all.
    assert len(providers.requests_to(f"/release/{ARRIVAL}")) == 1
    assert second.file_path("cover").read_bytes() == JPEG


def test_a_host_edited_field_survives_a_reprocess_from_enrich(providers, settings, broker):
    settings.JOB_HEARTBEAT_INTERVAL = 0.2
    serve_musicbrainz(providers)
    serve_coverart(providers)
    serve_lrclib(providers)
    song = make_song(title="Dancing Queen", artist="ABBA")
    enrich(song)
    find_lyrics(song)
    song_services.song_update(song=song, data={"album": "Party Hits", "year": 2024, "lyrics": "[00:01.00] la la"})

    job = broker.run(imports.song_reprocess(song=song, stage="enrich"))
    song.refresh_from_db()

    assert job.status == Job.Status.COMPLETED and {"enrich", "lyrics"} <= set(job.stage_seconds)
    assert len(providers.requests_to(SEARCH)) == 1  # forced, but the answer was cached
    assert song.locked_fields == ["album", "lyrics", "year"]
    assert (song.album, song.year) == ("Party Hits", 2024)
    assert song.title == "Dancing Queen" and song.recording_mbid == STUDIO
    assert song.lyrics_synced == "[00:01.00] la la\n" and song.lyrics_status == Song.LookupStatus.FOUND


def test_a_host_cover_is_never_replaced(providers):
    serve_musicbrainz(providers)
    serve_coverart(providers)
    song = make_song()
    song_services.song_update(song=song, data={"title": "Dancing Queen", "artist": "ABBA"})
    Song.objects.filter(pk=song.pk).update(locked_fields=["artist", "cover", "title"])
    song.refresh_from_db()

    message = enrich(song)

    assert "the host's cover is kept" in message
    assert providers.requests_to(f"/release/{ARRIVAL}") == []
    assert not song.has_file("cover")


# --- lyrics ------------------------------------------------------------------------------


def test_it_keeps_synced_and_plain_lyrics(providers):
    serve_lrclib(providers)
    song = make_song(title="Dancing Queen", artist="ABBA", album="Arrival")

    assert find_lyrics(song) == "Synced lyrics found."

    assert song.lyrics_status == Song.LookupStatus.FOUND
    assert song.lyrics_synced.startswith("[00:16.12] You can dance")
    assert song.lyrics_plain.startswith("You can dance\nYou can jive")


def test_it_falls_back_to_search_when_there_is_no_exact_match(providers):
    providers.add_route("/api/get", 404, (RECORDED / "lrclib" / "get-not-found.json").read_bytes(), JSON)
    serve_lrclib(providers, get=None)
    song = make_song(title="Dancing Queen", artist="ABBA", album="Arrival")

    find_lyrics(song)

    assert song.lyrics_status == Song.LookupStatus.FOUND and song.lyrics_synced.startswith("[00:16.12]")
    assert len(providers.requests_to("/api/search")) == 1


def test_an_instrumental_has_no_lyrics_and_that_is_final(providers):
    serve_lrclib(providers, get="get-instrumental.json", search=None)
    song = make_song(title="Dancing Queen", artist="ABBA")
    assert "instrumental" in find_lyrics(song)
    assert song.lyrics_status == Song.LookupStatus.NOT_FOUND and metadata.lyrics_done(song)


# --- the whole pipeline ------------------------------------------------------------------


def test_503s_trip_the_breaker_and_every_song_still_becomes_ready(providers, settings, broker):
    settings.JOB_HEARTBEAT_INTERVAL = 0.2
    serve_musicbrainz(providers, "error-503.xml", status=503)
    providers.add_route("/api/get", 503, b"<html>Service Unavailable</html>", {"Content-Type": "text/html"})
    providers.add_route("/api/search", 503, b"<html>Service Unavailable</html>", {"Content-Type": "text/html"})

    jobs = []
    for number, frequency in enumerate((330, 440, 550)):
        providers.add_file(f"/song-{number}.mp3", make_audio(1.5, frequency=frequency), "audio/mpeg")
        result = imports.song_import_url(url=providers.url(f"/song-{number}.mp3"))
        # A direct file has no artist; lyrics are looked up only with one.
        song_services.song_update(song=result.song, data={"artist": "ABBA"})
        broker.run(result.job)  # every stage, the separation on its own cluster included
        jobs.append(Job.objects.select_related("song").get(pk=result.job.pk))

    for job in jobs:
        assert job.status == Job.Status.COMPLETED, job.error_message
        assert job.song.status == Song.Status.READY
        assert (job.song.metadata_status, job.song.lyrics_status) == (Song.LookupStatus.FAILED, Song.LookupStatus.FAILED)
        assert {"enrich", "lyrics"} <= set(job.stage_seconds)
        # Each lookup gave up at once: no minute of musicbrainzngs retries inside the worker.
        assert job.stage_seconds["enrich"] < 5 and job.stage_seconds["lyrics"] < 5
    # Two failures opened each breaker: the third song spared both services.
    assert len(providers.requests_to(SEARCH)) == 2
    assert len(providers.requests_to("/api/get")) == 2


# --- one request per second, from two worker processes -----------------------------------


_WORKER = """
import sys
import django

django.setup()
from django.conf import settings

settings.PROVIDER_KEY_PREFIX = sys.argv[1]
from songs.pipeline import metadata

print("ready", flush=True)
sys.stdin.readline()
for title in sys.argv[2:]:
    metadata.search_musicbrainz(title, "ABBA", 231.0)
"""


class TimedRequests(list):
    """LocalInternet's request list, also noting when each request arrived."""

    def __init__(self):
        super().__init__()
        self.arrivals = []

    def append(self, request):
        self.arrivals.append((time.monotonic(), request.path))
        super().append(request)


def test_two_worker_processes_keep_to_one_musicbrainz_request_per_second(providers, settings):
    serve_musicbrainz(providers)
    providers.requests = TimedRequests()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "karaoke_site.settings",
        "MUSICBRAINZ_HOST": f"127.0.0.1:{providers.port}",
        "MUSICBRAINZ_HTTPS": "false",
        "MUSICBRAINZ_MIN_INTERVAL": "1",
    }
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, settings.PROVIDER_KEY_PREFIX, f"Song {n}a", f"Song {n}b"],
            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parent.parent,
        )
        for n in range(2)
    ]
    try:
        for worker in workers:  # both have imported Django and wait at the start line
            assert worker.stdout.readline().strip() == "ready"
        for worker in workers:
            worker.stdin.write("go\n")
            worker.stdin.flush()
        for worker in workers:
            assert worker.wait(60) == 0
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()

    arrivals = sorted(at for at, path in providers.requests.arrivals if path.startswith(SEARCH))
    assert len(arrivals) == 4  # four different songs: no cache hit
    gaps = [later - earlier for earlier, later in zip(arrivals, arrivals[1:], strict=False)]
    # Redis keeps the slot's time in ms; allow that rounding, nothing more.
    assert min(gaps) >= 1.0 - 0.005, gaps


def test_cache_keys_are_by_normalised_query(providers):
    serve_musicbrainz(providers)
    metadata.search_musicbrainz("Dancing  Queen", "abba", 231.2)
    metadata.search_musicbrainz("dancing queen", "ABBA ", 230.9)
    assert len(providers.requests_to(SEARCH)) == 1
    assert cache.get(metadata._cache_key("musicbrainz", "DANCING QUEEN", "Abba", 231))["recording_mbid"] == STUDIO


def test_the_redis_client_is_one_per_process():
    assert isinstance(metadata.redis_client(), redis.Redis)
    assert metadata.redis_client() is metadata.redis_client()
