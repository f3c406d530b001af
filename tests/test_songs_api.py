"""The songs API: adding songs answers at once, errors are 4xx with a message."""

import socket

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile

from jobs.models import Job
from songs.models import Song
from songs.selectors import youtube_search_cache_key
from tests.factories import SongFactory
from tests.helpers import make_audio

pytestmark = pytest.mark.django_db


def test_import_answers_202_with_the_song_and_its_job(staff_api):
    response = staff_api.post("/api/songs/import", {"url": "https://youtu.be/dQw4w9WgXcQ"}, format="json")
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["created"] is True
    assert body["song"]["status"] == "pending" and body["song"]["source"] == "youtube"
    assert body["job"]["status"] == "pending" and body["job"]["stage"] == "download"
    assert Job.objects.get(pk=body["job"]["id"]).song_id.hex == body["song"]["id"].replace("-", "")


def test_importing_the_same_video_again_says_so(staff_api):
    first = staff_api.post("/api/songs/import", {"url": "https://www.youtube.com/watch?v=dQw4w9WgXcQ"}, format="json").json()
    again = staff_api.post("/api/songs/import", {"url": "https://youtu.be/dQw4w9WgXcQ"}, format="json")
    assert again.status_code == 200
    assert again.json()["created"] is False and again.json()["song"]["id"] == first["song"]["id"]
    assert "Already in the library" in again.json()["message"]


@pytest.mark.parametrize("body", [{}, {"url": ""}, {"url": "not a url"}, {"url": "ftp://x/y.mp3"}, {"url": "x" * 3000}])
def test_a_bad_link_gets_a_400_with_a_message(staff_api, body):
    response = staff_api.post("/api/songs/import", body, format="json")
    assert response.status_code == 400
    assert response.json()["message"]
    assert Song.objects.count() == 0


def test_only_staff_may_add_songs(singer_api):
    response = singer_api.post("/api/songs/import", {"url": "https://youtu.be/dQw4w9WgXcQ"}, format="json")
    assert response.status_code == 403
    assert set(response.json()) == {"message", "extra"}


def test_an_audio_upload_is_accepted(staff_api):
    audio = SimpleUploadedFile("Dancing Queen.mp3", make_audio(2.0), content_type="audio/mpeg")
    response = staff_api.post("/api/songs/upload", {"file": audio}, format="multipart")
    assert response.status_code == 202, response.json()
    song = Song.objects.get(pk=response.json()["song"]["id"])
    assert song.source == "upload" and song.title == "Dancing Queen"
    assert song.has_file("original") and len(song.content_hash) == 64


@pytest.mark.parametrize(
    "name,content",
    [("notes.mp3", b"this is not audio at all\n" * 20), ("empty.mp3", b""), ("broken.mp3", b"ID3\x03\x00" + b"\x00" * 4000)],
)
def test_a_bad_upload_gets_a_400_and_nothing_is_stored(staff_api, settings, name, content):
    response = staff_api.post("/api/songs/upload", {"file": SimpleUploadedFile(name, content)}, format="multipart")
    assert response.status_code == 400, response.json()
    assert response.json()["message"]
    assert Song.objects.count() == 0
    songs_dir = settings.MEDIA_ROOT / "songs"
    incoming = settings.MEDIA_ROOT / "incoming"
    assert not any(songs_dir.glob("*/*")) and not any(incoming.glob("*"))


def test_an_upload_over_the_limit_gets_a_413(staff_api, settings):
    settings.UPLOAD_MAX_MB = 1
    big = SimpleUploadedFile("big.wav", make_audio(15.0, fmt="wav"))
    response = staff_api.post("/api/songs/upload", {"file": big}, format="multipart")
    assert response.status_code == 413
    assert "the limit is 1 MB" in response.json()["message"]
    assert Song.objects.count() == 0


def test_the_same_upload_twice_returns_the_existing_song(staff_api):
    audio = make_audio(2.0)
    first = staff_api.post("/api/songs/upload", {"file": SimpleUploadedFile("a.mp3", audio)}, format="multipart").json()
    again = staff_api.post("/api/songs/upload", {"file": SimpleUploadedFile("b.mp3", audio)}, format="multipart")
    assert again.status_code == 200 and again.json()["song"]["id"] == first["song"]["id"]


def make_song(**fields) -> Song:
    defaults = {"source": "url", "source_url": "http://example.com/x", "status": "ready"}
    defaults.update(fields)
    defaults.setdefault("source_id", f"http://example.com/{defaults.get('title', 'x')}")
    return SongFactory(**defaults)  # indexed for the search, as the services do


def test_the_library_searches_filters_orders_and_pages(staff_api, settings):
    make_song(title="Dancing Queen", artist="ABBA")
    make_song(title="Waterloo", artist="ABBA", status="error")
    make_song(title="Take On Me", artist="a-ha")
    assert [s["title"] for s in staff_api.get("/api/songs/?search=abba&ordering=title").json()["results"]] == [
        "Dancing Queen", "Waterloo"]
    assert [s["title"] for s in staff_api.get("/api/songs/?status=error").json()["results"]] == ["Waterloo"]
    page = staff_api.get("/api/songs/?ordering=-title&page=1").json()
    assert page["count"] == 3 and page["results"][0]["title"] == "Waterloo"
    assert staff_api.get("/api/songs/?status=bogus").status_code == 400
    assert staff_api.get("/api/songs/?page=99").status_code == 404


def test_a_host_edits_and_soft_deletes_and_restores_a_song(staff_api):
    song = make_song(title="Dancing Quen")
    assert staff_api.patch(f"/api/songs/{song.pk}", {"title": "Dancing Queen"}, format="json").json()["title"] == "Dancing Queen"
    assert staff_api.delete(f"/api/songs/{song.pk}").status_code == 204
    assert staff_api.get("/api/songs/").json()["count"] == 0
    assert staff_api.get("/api/songs/?deleted=true").json()["count"] == 1
    assert staff_api.post(f"/api/songs/{song.pk}/restore").json()["deleted_at"] is None


def test_singers_do_not_see_deleted_songs_or_edit(singer_api):
    song = make_song(title="Hidden")
    song.deleted_at = song.created_at
    song.save()
    assert singer_api.get(f"/api/songs/{song.pk}").status_code == 404
    assert singer_api.patch(f"/api/songs/{song.pk}", {"title": "x"}, format="json").status_code == 403


def test_a_hard_delete_removes_the_song_for_good(staff_api):
    song = make_song(title="Gone")
    assert staff_api.delete(f"/api/songs/{song.pk}?hard=true").status_code == 204
    assert not Song.objects.filter(pk=song.pk).exists()


def test_reprocess_needs_a_known_stage_and_an_idle_song(staff_api):
    song = make_song(title="x")
    response = staff_api.post(f"/api/songs/{song.pk}/reprocess", {"stage": "mix"}, format="json")
    assert response.status_code == 400 and "Unknown stage" in response.json()["message"]
    response = staff_api.post(f"/api/songs/{song.pk}/reprocess", {"stage": "transcode"}, format="json")
    assert response.status_code == 202 and response.json()["kind"] == "reprocess"
    assert staff_api.post(f"/api/songs/{song.pk}/reprocess", {"stage": "transcode"}, format="json").status_code == 409


def test_unknown_song_ids_are_404s(staff_api):
    assert staff_api.get("/api/songs/00000000-0000-0000-0000-000000000000").status_code == 404
    assert staff_api.get("/api/songs/not-a-uuid").status_code == 404


def test_youtube_search_when_youtube_is_unreachable_is_a_503(staff_api, monkeypatch):
    # Only this query's answer: the Redis may be shared with another run.
    cache.delete(youtube_search_cache_key("dancing queen", 5))

    def offline(*args, **kwargs):
        raise socket.gaierror(-2, "Name or service not known")

    # This machine has no internet; on one that does, make it so.
    monkeypatch.setattr(socket, "getaddrinfo", offline)
    response = staff_api.get("/api/youtube/search?q=dancing+queen")
    assert response.status_code == 503
    assert "YouTube" in response.json()["message"]


def test_youtube_search_needs_a_query(staff_api):
    response = staff_api.get("/api/youtube/search")
    assert response.status_code == 400 and response.json()["message"].startswith("q:")


def test_youtube_search_results_are_cached(staff_api):
    cache.set(youtube_search_cache_key("dancing  queen", 5), [{"id": "x", "title": "Dancing Queen"}], 60)
    assert staff_api.get("/api/youtube/search?q=Dancing Queen").json() == [{"id": "x", "title": "Dancing Queen"}]
