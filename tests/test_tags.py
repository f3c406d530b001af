"""Uploads and links keep the file's own tags: title, artist and album from ID3, MP4 and
Vorbis comments come before any guess from the file's name, and a host's edit still wins."""

import subprocess
import tempfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from imageio_ffmpeg import get_ffmpeg_exe

from jobs.models import Job
from songs import imports, services
from songs.models import Song

pytestmark = pytest.mark.django_db(transaction=True)

HARBOR = {"title": "Harbor Song", "artist": "Sally Brine", "album": "Tides"}
CODECS = {"mp3": ["-c:a", "libmp3lame"], "m4a": ["-c:a", "aac"], "ogg": ["-c:a", "libvorbis"], "flac": ["-c:a", "flac"]}


def tagged_audio(fmt: str, tags: dict[str, str] | None = None, *, frequency: int = 440) -> bytes:
    """Three seconds of tone, tagged by ffmpeg as `fmt` writes tags (ID3, MP4 atoms, Vorbis comments)."""
    metadata = [arg for name, value in (tags or {}).items() for arg in ("-metadata", f"{name}={value}")]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"audio.{fmt}"
        subprocess.run([get_ffmpeg_exe(), "-nostdin", "-v", "error", "-f", "lavfi",
                        "-i", f"sine=frequency={frequency}:duration=3", "-ac", "2", *CODECS[fmt], *metadata, str(path)],
                       check=True, capture_output=True)
        return path.read_bytes()


@pytest.mark.parametrize("fmt", ["mp3", "m4a", "ogg", "flac"])
def test_an_upload_keeps_its_tags(staff_api, fmt):
    upload = SimpleUploadedFile(f"harbor.{fmt}", tagged_audio(fmt, HARBOR))
    response = staff_api.post("/api/songs/upload", {"file": upload}, format="multipart")
    assert response.status_code == 202, response.content
    song = Song.objects.get(pk=response.json()["song"]["id"])
    assert (song.title, song.artist, song.album) == (HARBOR["title"], HARBOR["artist"], HARBOR["album"])


def test_an_untagged_upload_is_named_after_the_users_file(staff_api):
    upload = SimpleUploadedFile("ABBA - Waterloo.mp3", tagged_audio("mp3"))
    response = staff_api.post("/api/songs/upload", {"file": upload}, format="multipart")
    song = Song.objects.get(pk=response.json()["song"]["id"])
    assert (song.title, song.artist) == ("Waterloo", "ABBA")


def test_a_refused_upload_names_the_users_file(staff_api):
    upload = SimpleUploadedFile("notes.lrc", b"[00:01.00] not audio at all\n" * 20)
    response = staff_api.post("/api/songs/upload", {"file": upload}, format="multipart")
    assert response.status_code == 400
    message = response.json()["message"]
    assert "notes.lrc" in message and ".part" not in message and "incoming" not in message


def test_a_link_keeps_its_tags_and_a_hosts_edit_wins(broker, internet):
    internet.add_file("/track03_FINAL(2).mp3", tagged_audio("mp3", HARBOR, frequency=523), "audio/mpeg")
    result = imports.song_import_url(url=internet.url("/track03_FINAL(2).mp3"))
    job = broker.run(result.job)
    assert job.status == Job.Status.COMPLETED, job.error_message
    song = Song.objects.get(pk=result.song.pk)
    assert (song.title, song.artist, song.album) == (HARBOR["title"], HARBOR["artist"], HARBOR["album"])

    services.song_update(song=song, data={"title": "Harbour Song"})
    broker.run(imports.song_reprocess(song=song, stage="download"))
    song.refresh_from_db()
    assert (song.title, song.artist) == ("Harbour Song", HARBOR["artist"])
