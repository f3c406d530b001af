"""`manage.py import_folder`: a music folder into the library, with real files made by ffmpeg."""

import io
import shutil
import subprocess
import sys

import mutagen
import pytest
from django.core.management import CommandError, call_command

from jobs.models import Job
from songs.models import Song
from tests.helpers import BASE_DIR, make_audio

# Transactional: songs are enqueued when their transaction commits.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT




def tag(path, **tags):
    audio = mutagen.File(path, easy=True)
    if audio.tags is None:
        audio.add_tags()
    for key, value in tags.items():
        audio[key] = value
    audio.save()


@pytest.fixture
def music(tmp_path):
    """A host's music folder: tagged, untagged, nested, a duplicate, a fake and some noise."""
    root = tmp_path / "Music"
    album = root / "a-ha" / "Hunting High and Low"
    album.mkdir(parents=True)
    mp3 = album / "01 Take On Me.mp3"
    mp3.write_bytes(make_audio(1.0, frequency=440))
    tag(mp3, title="Take On Me", artist="a-ha", album="Hunting High and Low")

    (root / "abba").mkdir()
    ogg = root / "abba" / "track.ogg"
    ogg.write_bytes(make_audio(1.0, fmt="ogg", frequency=550))
    tag(ogg, title="Dancing Queen", artist="ABBA", album="Arrival")

    (root / "Queen - Bohemian Rhapsody.wav").write_bytes(make_audio(1.0, fmt="wav", frequency=660))

    (root / "copies").mkdir()
    shutil.copyfile(mp3, root / "copies" / "take on me (copy).mp3")

    (root / "notes.mp3").write_text("This is not a song, just a text file with a song's name.\n")
    (root / "readme.txt").write_text("not a media file")
    (root / "._Take On Me.mp3").write_bytes(b"\x00\x05\x16\x07 macOS resource fork")
    return root


def import_folder(*args, stderr=None) -> str:
    out = io.StringIO()
    call_command("import_folder", *map(str, args), stdout=out, stderr=stderr or io.StringIO())
    return out.getvalue()


def test_it_imports_every_song_of_a_folder_with_its_tags(music, queued):
    output = import_folder(music)

    songs = {song.title: song for song in Song.objects.all()}
    assert set(songs) == {"Take On Me", "Dancing Queen", "Bohemian Rhapsody"}
    assert (songs["Take On Me"].artist, songs["Take On Me"].album) == ("a-ha", "Hunting High and Low")
    assert (songs["Dancing Queen"].artist, songs["Dancing Queen"].album) == ("ABBA", "Arrival")
    # No tags: the file name says "Artist - Title".
    assert songs["Bohemian Rhapsody"].artist == "Queen"
    for song in songs.values():
        assert song.source == Song.Source.FOLDER and song.status == Song.Status.PENDING
        assert song.has_file("original")
    assert songs["Dancing Queen"].source_id == str(music / "abba" / "track.ogg")
    # The host's files are still there, untouched.
    assert (music / "abba" / "track.ogg").is_file()
    # Each song has its job, enqueued for the pipeline.
    assert Job.objects.filter(status=Job.Status.QUEUED).count() == 3
    assert len(queued) == 3

    assert "Added 3, skipped 1, failed 1 (5 files under " in output
    take_on_me = songs["Take On Me"]
    assert (
        f"  copies/take on me (copy).mp3: The same audio is already in the library: {take_on_me} (song {take_on_me.pk}).\n"
        in output
    )
    assert "  notes.mp3: notes.mp3 is not an audio or video file ffmpeg can read." in output


def test_it_stores_nothing_for_a_file_that_is_not_audio(tmp_path, media_root):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "fake.mp3").write_text("hello")
    output = import_folder(tmp_path / "in")
    assert "Added 0, skipped 0, failed 1" in output
    assert Song.objects.count() == 0 and Job.objects.count() == 0
    assert not (media_root / "songs").exists() or not any((media_root / "songs").iterdir())


def test_it_skips_everything_the_second_time(music, queued):
    import_folder(music)
    output = import_folder(music)
    assert "Added 0, skipped 4, failed 1" in output
    assert Song.objects.count() == 3 and len(queued) == 3


def test_it_skips_a_file_retagged_since_its_import(music):
    mp3 = music / "a-ha" / "Hunting High and Low" / "01 Take On Me.mp3"
    import_folder(music)
    # The host fixes a tag in place: same path, other bytes, other hash.
    shutil.copyfile(mp3, music / "tmp.bin")
    (music / "tmp.bin").replace(mp3)  # a new inode, as tag editors that rewrite do
    tag(mp3, title="Take On Me (Remastered)")

    output = import_folder(music)

    assert "Added 0, skipped 4, failed 1" in output
    assert "  a-ha/Hunting High and Low/01 Take On Me.mp3: This file was imported before (it has changed since)" in output
    assert Song.objects.count() == 3


def test_it_only_reports_on_a_dry_run(music, queued):
    output = import_folder(music, "--dry-run")
    assert "Dry run: would add 3, skip 1, fail 1 (5 files under " in output
    assert "Nothing was stored." in output
    assert "  a-ha/Hunting High and Low/01 Take On Me.mp3: a-ha – Take On Me" in output
    assert "  copies/take on me (copy).mp3: The same audio as 01 Take On Me.mp3, which would be added." in output
    assert Song.objects.count() == 0 and queued == []


def test_it_says_so_when_there_is_nothing_to_import(tmp_path):
    assert "No audio or video files under" in import_folder(tmp_path)


def test_it_refuses_a_missing_path_or_a_file(tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        import_folder(tmp_path / "nowhere")
    (tmp_path / "song.mp3").write_bytes(b"x")
    with pytest.raises(CommandError, match="is not a folder"):
        import_folder(tmp_path / "song.mp3")


def test_it_exits_non_zero_for_a_bad_path(tmp_path):
    done = subprocess.run(
        [sys.executable, str(BASE_DIR / "manage.py"), "import_folder", str(tmp_path / "nowhere")],
        capture_output=True, text=True, cwd=BASE_DIR, timeout=120,
    )
    assert done.returncode == 1
    assert f"{tmp_path / 'nowhere'} does not exist." in done.stderr


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_it_shows_a_progress_bar_only_on_a_terminal(music):
    terminal = Terminal()
    import_folder(music, "--dry-run", stderr=terminal)
    assert "5/5" in terminal.getvalue()

    not_a_terminal = io.StringIO()
    import_folder(music, "--dry-run", stderr=not_a_terminal)
    assert not_a_terminal.getvalue() == ""

    silenced = Terminal()
    import_folder(music, "--dry-run", "--no-progress", stderr=silenced)
    assert silenced.getvalue() == ""
