"""``manage.py enrich``: the lookups again, run here, for songs missing them or for one song."""

import io
import uuid

import pytest
from django.core.management import CommandError, call_command

from jobs import services as job_services
from songs import imports
from songs.models import Song
from tests.helpers import STUDIO, forget, point_providers_at

pytestmark = pytest.mark.django_db


def make_song(title="Dancing Queen", **fields) -> Song:
    return Song.objects.create(
        title=title, artist="ABBA", duration=231.0, source=Song.Source.URL, status=Song.Status.READY,
        source_id=f"https://songs.example/{uuid.uuid4().hex}.mp3", **fields,
    )


def enrich(*args) -> str:
    out = io.StringIO()
    call_command("enrich", *args, stdout=out)
    return out.getvalue()


def test_missing_looks_up_pending_and_failed_songs_only(recorded_providers, monkeypatch):
    monkeypatch.setattr(job_services, "async_task", lambda *args, **kwargs: "task")
    pending = make_song()
    failed_lyrics = make_song(metadata_status=Song.LookupStatus.FOUND, lyrics_status=Song.LookupStatus.FAILED, recording_mbid=STUDIO)
    done = make_song(metadata_status=Song.LookupStatus.NOT_FOUND, lyrics_status=Song.LookupStatus.NOT_FOUND)
    busy = make_song()
    imports.song_reprocess(song=busy, stage="enrich")  # the pipeline will see to it

    output = enrich("--missing")

    for song in (pending, failed_lyrics, done, busy):
        song.refresh_from_db()
    assert (pending.metadata_status, pending.lyrics_status) == (Song.LookupStatus.FOUND, Song.LookupStatus.FOUND)
    assert pending.recording_mbid == STUDIO and pending.has_file("cover")
    assert failed_lyrics.lyrics_status == Song.LookupStatus.FOUND
    assert failed_lyrics.metadata_checked_at is None  # its metadata was not looked up again
    assert (done.metadata_status, busy.metadata_status) == (Song.LookupStatus.NOT_FOUND, Song.LookupStatus.PENDING)
    assert "2 songs looked up. metadata: 1 found; lyrics: 2 found." in output
    assert len(recorded_providers.requests_to("/ws/2/recording/")) == 1


def test_song_redoes_one_song_even_when_found(recorded_providers):
    song = make_song(metadata_status=Song.LookupStatus.NOT_FOUND, lyrics_status=Song.LookupStatus.NOT_FOUND)
    output = enrich("--song", str(song.pk))
    song.refresh_from_db()
    assert (song.metadata_status, song.lyrics_status) == (Song.LookupStatus.FOUND, Song.LookupStatus.FOUND)
    assert "1 song looked up." in output and "Matched “ABBA – Dancing Queen”" in output


def test_nothing_missing_says_so(recorded_providers):
    make_song(metadata_status=Song.LookupStatus.FOUND, lyrics_status=Song.LookupStatus.FOUND)
    assert enrich("--missing").strip() == "Nothing to look up."


def test_an_unknown_song_is_an_error():
    with pytest.raises(CommandError, match="No song with id"):
        enrich("--song", "not-a-uuid")
    with pytest.raises(CommandError, match="No song with id"):
        enrich("--song", str(uuid.uuid4()))


def test_a_provider_outage_is_reported_not_raised(settings, internet):
    prefix = point_providers_at(settings, internet)
    internet.add_route("/ws/2/recording/", 503, b"busy")
    internet.add_route("/api/get", 503, b"busy")
    internet.add_route("/api/search", 503, b"busy")
    song = make_song()
    try:
        output = enrich("--missing")
    finally:
        forget(prefix)
    song.refresh_from_db()
    assert (song.metadata_status, song.lyrics_status) == (Song.LookupStatus.FAILED, Song.LookupStatus.FAILED)
    assert "metadata: 1 failed (will be retried); lyrics: 1 failed (will be retried)." in output
