"""`manage.py cleanup_media`: orphan files are listed, and removed only with --delete."""

import io
import os
import time
import uuid

import pytest
from django.core.management import call_command
from django.utils import timezone

from jobs.models import Job
from songs.models import Song

pytestmark = pytest.mark.django_db

TWO_HOURS_AGO = time.time() - 2 * 3600


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def write(path, content: bytes, *, old: bool = True):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    if old:
        os.utime(path, (TWO_HOURS_AGO, TWO_HOURS_AGO))
    return path


def age_folder(path):
    for folder, _dirs, names in os.walk(path):
        for name in names:
            os.utime(os.path.join(folder, name), (TWO_HOURS_AGO, TWO_HOURS_AGO))
        os.utime(folder, (TWO_HOURS_AGO, TWO_HOURS_AGO))


def song_with(files: dict[str, bytes], **fields) -> Song:
    song = Song.objects.create(source=Song.Source.UPLOAD, title="A song",
                               files={name.split(".")[0]: name for name in files}, **fields)
    for name, content in files.items():
        write(song.folder / name, content)
    return song


@pytest.fixture
def media(media_root):
    """A media folder with every kind of orphan, and everything that must stay."""
    ready = song_with({"original.mp3": b"o" * 1000, "audio.flac": b"a" * 2000, "audio_web.m4a": b"w" * 500})
    Job.objects.create(song=ready, status=Job.Status.COMPLETED)
    deleted = song_with({"original.mp3": b"d" * 300}, deleted_at=timezone.now())
    busy = song_with({"original.mp3": b"b" * 100})
    Job.objects.create(song=busy, status=Job.Status.RUNNING)
    gone = media_root / "songs" / str(uuid.uuid4())
    write(gone / "original.mp3", b"g" * 4000)
    write(gone / "audio.flac", b"g" * 6000)
    age_folder(gone)
    importing = media_root / "songs" / str(uuid.uuid4())  # an import not committed yet
    write(importing / "original.mp3", b"i" * 10, old=False)

    return {
        "ready": ready, "deleted": deleted, "busy": busy, "gone": gone, "importing": importing,
        "orphans": {
            write(ready.folder / "original.webm", b"x" * 700): "not one of the song's files",
            write(ready.folder / ".audio.flac.1a2b3c4d.part", b"p" * 50): "a temporary left by an interrupted stage",
            write(deleted.folder / "cover.jpg", b"c" * 20): "not one of the song's files",
            gone: "no song has this id",
            write(media_root / "songs" / "stray.txt", b"s" * 5): "not a song folder",
            write(media_root / "incoming" / "0f1e2d.mp3", b"u" * 1234): "an upload left behind",
        },
        "kept": [
            *(ready.folder / name for name in ready.files.values()),
            deleted.folder / "original.mp3",  # restorable
            busy.folder / "original.mp3",
            write(busy.folder / ".audio.flac.9f8e7d6c.part", b"p" * 50),  # its job is writing
            write(busy.folder / "audio.flac", b"a" * 50),  # renamed into place, not registered yet
            write(ready.folder / ".audio.flac.00aa11bb.part", b"p" * 50, old=False),  # a job just starting
            importing / "original.mp3",
            write(media_root / "incoming" / "just-uploaded.mp3", b"u" * 10, old=False),
        ],
    }


def cleanup(*args) -> str:
    out = io.StringIO()
    call_command("cleanup_media", *args, stdout=out)
    return out.getvalue()


def shown(media_root, path) -> str:
    return path.relative_to(media_root).as_posix() + ("/" if path.is_dir() else "")


def test_it_lists_orphans_with_their_sizes_and_deletes_nothing(media, media_root):
    output = cleanup()

    assert output.startswith(f"Orphan files under {media_root}:\n")
    assert f"  {shown(media_root, media['gone'])}  9.8 KB  (no song has this id)\n" in output
    assert "  incoming/0f1e2d.mp3  1.2 KB  (an upload left behind)\n" in output
    assert "  songs/stray.txt  5 B  (not a song folder)\n" in output
    for path, reason in media["orphans"].items():
        assert f"  {shown(media_root, path)}  " in output and f"({reason})" in output
    listed = [line for line in output.splitlines() if line.startswith("  ")]
    assert len(listed) == len(media["orphans"])
    assert "6 orphans, 11.7 KB in all. Nothing was deleted; run with --delete to remove them." in output
    for path in [*media["orphans"], *media["kept"]]:
        assert path.exists(), path


def test_it_deletes_orphans_and_only_them(media, media_root):
    output = cleanup("--delete")

    assert "Deleted 6 of 6 orphans; freed 11.7 KB." in output
    for path in media["orphans"]:
        assert not path.exists(), path
    for path in media["kept"]:
        assert path.exists(), path
    assert cleanup() == f"No orphan files under {media_root}.\n"


def test_it_leaves_every_file_of_a_song_with_an_active_job_alone(media_root):
    for status in Job.ACTIVE:
        song = song_with({"original.mp3": b"1"})
        Job.objects.create(song=song, status=status)
        write(song.folder / "audio.flac", b"stage output")
        write(song.folder / ".audio.m4a.12345678.part", b"half written")
    cleanup("--delete")
    assert sum(1 for song in Song.objects.all() for _ in song.folder.iterdir()) == 3 * len(Job.ACTIVE)


def test_it_never_follows_a_symlink_out_of_the_media_folder(media_root, tmp_path):
    outside = tmp_path / "my-music"
    write(outside / "precious.mp3", b"keep me")
    song = song_with({"original.mp3": b"1"})
    (song.folder / "link").symlink_to(outside)
    (media_root / "songs").joinpath(str(uuid.uuid4())).symlink_to(outside)
    os.utime(song.folder / "link", (TWO_HOURS_AGO, TWO_HOURS_AGO), follow_symlinks=False)
    for link in (media_root / "songs").iterdir():
        os.utime(link, (TWO_HOURS_AGO, TWO_HOURS_AGO), follow_symlinks=False)

    output = cleanup("--delete")

    assert "Deleted 2 of 2 orphans" in output
    assert (outside / "precious.mp3").read_bytes() == b"keep me"
    assert song.has_file("original")


def test_it_says_so_when_there_is_nothing_to_clean(media_root):
    assert cleanup() == f"No orphan files under {media_root}.\n"
    song_with({"original.mp3": b"1"})
    assert cleanup("--delete") == f"No orphan files under {media_root}.\n"


def test_a_live_stream_an_hour_old_goes_and_a_fresh_one_stays(media_root):
    played = song_with({"instrumental_web.m4a": b"i" * 100})
    write(played.folder / "stream" / "0a1b2c3d" / "instrumental.m3u8", b"#EXTM3U\n")
    write(played.folder / "stream" / "0a1b2c3d" / "instrumental-00000.m4s", b"s" * 100)
    age_folder(played.folder / "stream")
    playing = song_with({"instrumental_web.m4a": b"i" * 100})
    write(playing.folder / "stream" / "feedbeef" / "instrumental.m3u8", b"#EXTM3U\n", old=False)

    output = cleanup("--delete")

    assert "(the live stream of a finished separation)" in output
    assert not (played.folder / "stream").exists() and (played.folder / "instrumental_web.m4a").exists()
    assert (playing.folder / "stream" / "feedbeef" / "instrumental.m3u8").exists()
