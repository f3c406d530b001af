"""A host edits a song (API and admin): edits lock fields; cover upload; likely duplicates and merging."""

import uuid
from pathlib import Path

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from jobs import services as job_services
from songs import imports, services, signals
from songs.models import Song

pytestmark = pytest.mark.django_db(transaction=True)

RECORDED = Path(__file__).parent / "recorded" / "coverart"
JPEG = (RECORDED / "front.jpg").read_bytes()
STUDIO = "8a1e3ec3-93d4-4b54-a2c0-ecfc1e1b2d83"
FORMSETS = {"jobs-TOTAL_FORMS": "0", "jobs-INITIAL_FORMS": "0"}


@pytest.fixture(autouse=True)
def queued(monkeypatch):
    monkeypatch.setattr(job_services, "async_task", lambda *args, **kwargs: "task")


def make_song(title="Dancing Queen", **fields) -> Song:
    fields.setdefault("status", Song.Status.READY)
    return Song.objects.create(
        title=title, artist="ABBA", source=Song.Source.URL,
        source_id=f"https://songs.example/{uuid.uuid4().hex}.mp3", **fields,
    )


def with_files(song: Song, **files: bytes) -> Song:
    song.folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (song.folder / name.replace("_", ".", 1)).write_bytes(content)
    kinds = {"audio_flac": "audio", "audio_m4a": "audio_web", "vocals_flac": "vocals", "instrumental_flac": "instrumental"}
    song.files = {kinds[name]: name.replace("_", ".", 1) for name in files}
    song.save()
    return song


def messages_of(response):
    return [m.message for m in get_messages(response.wsgi_request)]


# --- API ---------------------------------------------------------------------------------


def test_the_song_shows_its_musicbrainz_ids_cover_and_statuses(staff_api):
    song = make_song(
        recording_mbid=STUDIO, release_mbid="0b0b1cc5-2a1a-4d0e-8c6b-3a4f0d5e7a90", year=1976, isrc="SEAYD7601020",
        genres=["pop"], metadata_status="found", lyrics_status="not_found",
        files={"cover": "cover.jpg", "cover_thumb": "cover-250.jpg"},
    )
    body = staff_api.get(f"/api/songs/{song.pk}/").json()
    assert body["recording_mbid"] == STUDIO and body["release_mbid"].startswith("0b0b1cc5")
    assert (body["year"], body["isrc"], body["genres"]) == (1976, "SEAYD7601020", ["pop"])
    assert (body["metadata_status"], body["lyrics_status"]) == ("found", "not_found")
    assert body["cover_url"] == reverse("song-file", args=[song.pk, "cover.jpg"])
    assert body["cover_thumb_url"] == reverse("song-file", args=[song.pk, "cover-250.jpg"])


def test_edited_fields_are_locked_and_unchanged_ones_are_not(staff_api):
    song = make_song(album="Arrival", year=1976)
    response = staff_api.patch(f"/api/songs/{song.pk}", {"title": "Dancing Queen!", "album": "Arrival", "year": 1977},
                         format="json")
    assert response.status_code == 200
    assert response.json()["locked_fields"] == ["title", "year"]
    assert (response.json()["title"], response.json()["year"]) == ("Dancing Queen!", 1977)


def test_a_year_out_of_range_is_a_400(staff_api):
    song = make_song()
    response = staff_api.patch(f"/api/songs/{song.pk}", {"year": 12}, format="json")
    assert response.status_code == 400 and "year" in response.json()["message"]


# --- admin -------------------------------------------------------------------------------


def test_the_change_page_previews_timed_lyrics_and_lists_likely_duplicates(admin_client):
    song = make_song(recording_mbid=STUDIO, lyrics_synced="[00:16.12] You can dance\n[01:02.50] Dig it\n")
    other = make_song("Dancing Queen (HD)", recording_mbid=STUDIO)
    page = admin_client.get(f"/admin/songs/song/{song.pk}/change/").content.decode()
    assert 'id="lyrics-preview"' in page
    assert "0:16.12" in page and "You can dance" in page and "1:02.50" in page
    assert reverse("admin:songs_song_change", args=[other.pk]) in page
    listed = admin_client.get("/admin/songs/song/?duplicates=yes").context["cl"].result_list
    assert set(listed) == {song, other}


def test_the_admin_refuses_malformed_lrc_with_its_line(admin_client):
    song = make_song()
    response = admin_client.post(f"/admin/songs/song/{song.pk}/change/", {
        "title": "Dancing Queen", "artist": "ABBA", "album": "", "year": "",
        "lyrics": "[00:01.00] ok\nno time tag here\n", **FORMSETS,
    })
    assert response.status_code == 200  # the form again, with the error
    assert "line 2" in response.content.decode()
    song.refresh_from_db()
    assert song.lyrics_plain == "" and song.locked_fields == []


def test_the_admin_saves_lyrics_and_a_cover_and_locks_them(admin_client):
    song = make_song()
    response = admin_client.post(f"/admin/songs/song/{song.pk}/change/", {
        "title": "Dancing Queen", "artist": "ABBA", "album": "Arrival", "year": "1976",
        "lyrics": "[00:01.00] One\n[00:02.00] Two\n",
        "cover_upload": SimpleUploadedFile("front.jpg", JPEG, "image/jpeg"), **FORMSETS,
    })
    assert response.status_code == 302, response.content.decode()[:3000]
    song.refresh_from_db()
    assert song.locked_fields == ["album", "cover", "lyrics", "year"]
    assert song.lyrics_synced == "[00:01.00] One\n[00:02.00] Two\n" and song.lyrics_plain == "One\nTwo"
    assert song.files == {"cover": "cover.jpg", "cover_thumb": "cover-250.jpg"}
    assert song.file_path("cover").read_bytes() == JPEG
    assert song.file_path("cover_thumb").read_bytes()[:3] == b"\xff\xd8\xff"


def test_the_admin_refuses_a_cover_that_is_not_an_image(admin_client):
    song = make_song()
    response = admin_client.post(f"/admin/songs/song/{song.pk}/change/", {
        "title": "Dancing Queen", "artist": "ABBA", "album": "", "year": "",
        "cover_upload": SimpleUploadedFile("cover.jpg", b"<html>nope</html>", "image/jpeg"), **FORMSETS,
    })
    assert response.status_code == 200 and "JPEG, PNG, GIF or WebP" in response.content.decode()
    song.refresh_from_db()
    assert song.files == {} and song.locked_fields == []


def test_merging_keeps_the_song_with_the_better_files(admin_client):
    # The stems make the newer import the better one.
    plain = with_files(make_song(recording_mbid=STUDIO, lyrics_plain="words"), audio_flac=b"a")
    separated = with_files(make_song("Dancing Queen (Official)", recording_mbid=STUDIO),
                           audio_flac=b"a", vocals_flac=b"v", instrumental_flac=b"i")
    unrelated = make_song("Waterloo")

    response = admin_client.post("/admin/songs/song/", {
        "action": "merge_duplicates", ACTION_CHECKBOX_NAME: [str(s.pk) for s in (plain, separated, unrelated)],
    })

    assert response.status_code == 302
    for song in (plain, separated, unrelated):
        song.refresh_from_db()
    assert plain.is_deleted and plain.merged_into_id == separated.pk
    assert plain.folder.exists()  # restorable: its files stay
    assert not separated.is_deleted and not unrelated.is_deleted
    assert separated.lyrics_plain == "words"  # the kept song had none
    assert any("Kept “ABBA – Dancing Queen (Official)”; merged 1 duplicate" in m for m in messages_of(response))
    assert any("without a MusicBrainz recording" in m for m in messages_of(response))


def test_a_song_being_processed_is_not_merged(admin_client):
    first = make_song(recording_mbid=STUDIO)
    second = make_song("Dancing Queen (HD)", recording_mbid=STUDIO, status=Song.Status.PROCESSING)
    imports.song_reprocess(song=second, stage="enrich")
    response = admin_client.post("/admin/songs/song/", {
        "action": "merge_duplicates", ACTION_CHECKBOX_NAME: [str(first.pk), str(second.pk)],
    })
    assert any("A job is working on" in m for m in messages_of(response))
    assert Song.objects.filter(deleted_at__isnull=True).count() == 2


def test_a_merge_tells_the_layers_above_through_song_merged():
    moved = []

    def receiver(sender, *, song, into, **kwargs):
        moved.append((song.pk, into.pk))

    signals.song_merged.connect(receiver, dispatch_uid="test-song-merged")
    try:
        _merge_two(moved)
    finally:
        signals.song_merged.disconnect(dispatch_uid="test-song-merged")


def _merge_two(moved):
    keep = make_song(recording_mbid=STUDIO)
    other = make_song("Dancing Queen (HD)", recording_mbid=STUDIO, status=Song.Status.ERROR)
    kept, merged = services.song_merge_duplicates(songs=[other, keep])
    assert kept == keep and merged == [other]
    assert moved == [(other.pk, keep.pk)]
