"""GET /api/songs/{id}/lyrics, and lyrics edited through PATCH /api/songs/{id}."""

import uuid

import pytest
from rest_framework.test import APIClient

from songs.models import Song

pytestmark = pytest.mark.django_db

LRC = "[ar:ABBA]\n[ti:Dancing Queen]\n[00:16.12] You can dance\n[00:18.04] You can jive\n"


def make_song(**fields) -> Song:
    return Song.objects.create(
        title="Dancing Queen", artist="ABBA", source=Song.Source.URL, status=Song.Status.READY,
        source_id=f"https://songs.example/{uuid.uuid4().hex}.mp3", **fields,
    )


def test_a_singer_gets_the_timed_lines_the_lrc_and_the_plain_words(singer_api):
    song = make_song(lyrics_synced=LRC, lyrics_plain="You can dance\nYou can jive", lyrics_status="found")
    response = singer_api.get(f"/api/songs/{song.pk}/lyrics")
    assert response.status_code == 200
    assert response.json() == {
        "lines": [{"t": 16.12, "text": "You can dance"}, {"t": 18.04, "text": "You can jive"}],
        "lrc": LRC,
        "plain": "You can dance\nYou can jive",
        "status": "found",
    }


def test_the_offset_tag_moves_the_lines(singer_api):
    song = make_song(lyrics_synced="[offset:+500]\n[00:10.00] Earlier\n")
    assert singer_api.get(f"/api/songs/{song.pk}/lyrics").json()["lines"] == [{"t": 9.5, "text": "Earlier"}]


def test_plain_lyrics_only_have_no_lines(singer_api):
    song = make_song(lyrics_plain="Words without times", lyrics_status="found")
    body = singer_api.get(f"/api/songs/{song.pk}/lyrics").json()
    assert body == {"lines": [], "lrc": None, "plain": "Words without times", "status": "found"}


def test_unknown_and_hidden_songs_are_404s(singer_api, staff_api):
    hidden = make_song(lyrics_plain="gone", deleted_at="2024-01-01T00:00:00Z")
    assert singer_api.get(f"/api/songs/{uuid.uuid4()}/lyrics").status_code == 404
    assert singer_api.get(f"/api/songs/{hidden.pk}/lyrics").status_code == 404
    assert staff_api.get(f"/api/songs/{hidden.pk}/lyrics").status_code == 200  # staff may look before restoring


def test_signing_in_is_required():
    song = make_song(lyrics_plain="la")
    assert APIClient().get(f"/api/songs/{song.pk}/lyrics").status_code in (401, 403)


def test_a_host_pastes_lrc_and_it_is_locked(staff_api):
    song = make_song()
    response = staff_api.patch(f"/api/songs/{song.pk}", {"lyrics": "[00:01.00] One\r\n[00:02.50] Two"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["locked_fields"] == ["lyrics"]
    assert response.json()["lyrics_status"] == "found"
    body = staff_api.get(f"/api/songs/{song.pk}/lyrics").json()
    assert body["lines"] == [{"t": 1.0, "text": "One"}, {"t": 2.5, "text": "Two"}]
    assert body["plain"] == "One\nTwo"


def test_malformed_lrc_is_a_400_that_names_the_line_and_nothing_changes(staff_api):
    song = make_song(lyrics_plain="old words", lyrics_status="found")
    bad = "[00:01.00] One\n[00:02.00] Two\n[00:3x.00] Three\n"
    response = staff_api.patch(f"/api/songs/{song.pk}", {"lyrics": bad, "title": "New title"}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert "line 3" in body["message"] and "[00:3x.00]" in body["message"]
    assert body["extra"]["line"] == 3
    song.refresh_from_db()
    assert (song.title, song.lyrics_plain, song.locked_fields) == ("Dancing Queen", "old words", [])


def test_lines_going_back_in_time_are_refused(staff_api):
    song = make_song()
    response = staff_api.patch(f"/api/songs/{song.pk}", {"lyrics": "[00:05.00] B\n[00:01.00] A\n"}, format="json")
    assert response.status_code == 400 and "line 2" in response.json()["message"]


def test_plain_text_with_section_labels_is_plain_lyrics(staff_api):
    song = make_song()
    response = staff_api.patch(f"/api/songs/{song.pk}", {"lyrics": "[Chorus]\nYou can dance"}, format="json")
    assert response.status_code == 200
    body = staff_api.get(f"/api/songs/{song.pk}/lyrics").json()
    assert body == {"lines": [], "lrc": None, "plain": "[Chorus]\nYou can dance", "status": "found"}


def test_empty_lyrics_remove_them(staff_api):
    song = make_song(lyrics_synced=LRC, lyrics_plain="x", lyrics_status="found")
    assert staff_api.patch(f"/api/songs/{song.pk}", {"lyrics": ""}, format="json").status_code == 200
    song.refresh_from_db()
    assert (song.lyrics_synced, song.lyrics_plain, song.lyrics_status) == ("", "", "not_found")
    assert song.locked_fields == ["lyrics"]


def test_singers_cannot_edit_lyrics(singer_api):
    song = make_song()
    assert singer_api.patch(f"/api/songs/{song.pk}", {"lyrics": "mine"}, format="json").status_code == 403
