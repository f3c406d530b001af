"""The song file endpoint: byte ranges, content types, permissions, and no way out of the song's folder."""

import os
import random

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient
from django.utils import timezone

from songs import files
from songs.models import Song

pytestmark = pytest.mark.django_db

SIZE = 200_003  # not a multiple of the chunk size
DATA = random.Random(3).randbytes(SIZE)


@pytest.fixture
def media_root(settings):
    # conftest gives every test its own MEDIA_ROOT.
    return settings.MEDIA_ROOT


def make_song(files_: dict[str, bytes], **fields) -> Song:
    song = Song.objects.create(source=Song.Source.UPLOAD, title="Take On Me", artist="a-ha",
                               files={name.split(".")[0]: name for name in files_}, **fields)
    song.folder.mkdir(parents=True)
    for name, content in files_.items():
        (song.folder / name).write_bytes(content)
    return song


@pytest.fixture
def song():
    return make_song({"audio_web.m4a": DATA})


def url(song, name="audio_web.m4a") -> str:
    return f"/media/songs/{song.pk}/{name}"


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.fixture
def singer(client, singer_user, settings):
    # A site that lets every account play the audio (SONG_AUDIO_ACCESS): these tests are
    # about serving the bytes; who may read them is tested below.
    settings.SONG_AUDIO_ACCESS = "accounts"
    client.force_login(singer_user)
    return client


@pytest.fixture
def staff(client, staff_user):
    client.force_login(staff_user)
    return client


# --- whole files and ranges --------------------------------------------------


def test_it_serves_the_whole_file_in_chunks(singer, song):
    response = singer.get(url(song))
    assert response.status_code == 200
    assert response["Accept-Ranges"] == "bytes"
    assert response["Content-Length"] == str(SIZE)
    assert response["Content-Type"] == "audio/mp4"
    assert "Content-Range" not in response
    chunks = list(response.streaming_content)
    assert b"".join(chunks) == DATA
    assert len(chunks) > 1 and max(map(len, chunks)) <= files.CHUNK_SIZE


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=1000-1999", 1000, 1999),
        ("bytes=65530-65545", 65530, 65545),  # across a chunk boundary
        (f"bytes={SIZE - 1}-{SIZE - 1}", SIZE - 1, SIZE - 1),  # the last byte
        ("bytes=0-0", 0, 0),
        ("bytes=150000-", 150000, SIZE - 1),  # open-ended, as <audio> seeks
        ("bytes=0-", 0, SIZE - 1),
        ("bytes=-500", SIZE - 500, SIZE - 1),  # suffix: the last 500 bytes
        (f"bytes=-{SIZE * 2}", 0, SIZE - 1),  # a suffix longer than the file is the file
        (f"bytes=100-{SIZE * 10}", 100, SIZE - 1),  # an end past the file is cut to it
        ("Bytes = 10-19", 10, 19),
    ],
)
def test_it_returns_exactly_the_requested_bytes(singer, song, header, start, end):
    response = singer.get(url(song), HTTP_RANGE=header)
    assert response.status_code == 206
    assert body(response) == DATA[start:end + 1]
    assert response["Content-Range"] == f"bytes {start}-{end}/{SIZE}"
    assert response["Content-Length"] == str(end - start + 1)
    assert response["Accept-Ranges"] == "bytes"
    assert response["Content-Type"] == "audio/mp4"


@pytest.mark.parametrize("header", [f"bytes={SIZE}-", f"bytes={SIZE + 10}-{SIZE + 20}", "bytes=-0"])
def test_it_answers_416_to_a_range_outside_the_file(singer, song, header):
    response = singer.get(url(song), HTTP_RANGE=header)
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{SIZE}"
    assert DATA[:100] not in response.content


@pytest.mark.parametrize(
    "header", ["bytes=abc", "bytes=5-2", "items=0-10", "bytes=", "bytes=-", "0-10", "bytes=1-2-3", "bytes=٣-٤", "bytes=" + "9" * 5000 + "-"]
)
def test_it_ignores_a_malformed_range_and_serves_the_whole_file(singer, song, header):
    response = singer.get(url(song), HTTP_RANGE=header)
    assert response.status_code == 200
    assert body(response) == DATA
    assert "Content-Range" not in response


def test_it_serves_the_whole_file_when_several_ranges_are_asked(singer, song):
    response = singer.get(url(song), HTTP_RANGE="bytes=0-9, 20-29")
    assert response.status_code == 200
    assert body(response) == DATA


def test_it_answers_head_with_the_headers_and_no_body(singer, song):
    response = singer.head(url(song))
    assert response.status_code == 200
    assert response["Content-Length"] == str(SIZE) and response["Content-Type"] == "audio/mp4"
    assert body(response) == b""

    ranged = singer.head(url(song), HTTP_RANGE="bytes=10-19")
    assert ranged.status_code == 206
    assert ranged["Content-Range"] == f"bytes 10-19/{SIZE}" and ranged["Content-Length"] == "10"
    assert body(ranged) == b""


def test_it_refuses_other_methods(singer, song):
    assert singer.post(url(song)).status_code == 405


def test_it_answers_304_when_the_client_copy_is_current(singer, song):
    first = singer.get(url(song))
    etag, last_modified = first["ETag"], first["Last-Modified"]
    again = singer.get(url(song), HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again["ETag"] == etag
    assert singer.get(url(song), HTTP_IF_MODIFIED_SINCE=last_modified).status_code == 304


def test_it_serves_the_whole_file_when_if_range_is_stale(singer, song):
    etag = singer.get(url(song))["ETag"]
    current = singer.get(url(song), HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE=etag)
    assert current.status_code == 206 and body(current) == DATA[:10]

    # The file is replaced (as a reprocess renames a new one into place).
    new = DATA[::-1]
    (song.folder / "audio_web.m4a").write_bytes(new)
    os.utime(song.folder / "audio_web.m4a", ns=(1, 1))
    stale = singer.get(url(song), HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE=etag)
    assert stale.status_code == 200 and body(stale) == new


def test_it_streams_ranges_through_an_async_iterator_under_asgi(song, singer_user, settings):
    settings.SONG_AUDIO_ACCESS = "accounts"
    client = AsyncClient()
    client.force_login(singer_user)
    response = async_to_sync(client.get)(url(song), headers={"Range": "bytes=100-70000"})
    assert response.status_code == 206
    assert response.is_async

    async def read():
        return b"".join([chunk async for chunk in response.streaming_content])

    assert async_to_sync(read)() == DATA[100:70001]


def test_it_serves_an_empty_file_whole_and_refuses_ranges_of_it(singer):
    song = make_song({"lyrics.lrc": b""})
    assert singer.get(url(song, "lyrics.lrc")).status_code == 200
    assert singer.get(url(song, "lyrics.lrc"), HTTP_RANGE="bytes=0-").status_code == 416


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("audio.m4a", "audio/mp4"),
        ("audio.flac", "audio/flac"),
        ("original.mp3", "audio/mpeg"),
        ("original.ogg", "audio/ogg"),
        ("original.wav", "audio/wav"),
        ("original.webm", "video/webm"),
        ("cover.jpg", "image/jpeg"),
        ("cover.png", "image/png"),
        ("original.bin", "application/octet-stream"),
    ],
)
def test_it_sends_the_content_type_of_the_extension(singer, name, content_type):
    song = make_song({name: b"0123456789"})
    response = singer.get(url(song, name))
    assert response.status_code == 200
    assert response["Content-Type"] == content_type


# --- no way out of the song's folder -------------------------------------------


@pytest.fixture
def secret(settings):
    # A file next to the media folder, as DATA_DIR/secret_key is in real life.
    path = settings.MEDIA_ROOT.parent / "secret_key"
    path.write_text("the secret")
    return path


@pytest.mark.parametrize(
    "name",
    [
        "..%2F..%2F..%2Fsecret_key",
        "..%2f..%2f..%2fsecret_key",
        "%2E%2E%2F%2E%2E%2F%2E%2E%2Fsecret_key",
        "..%5C..%5C..%5Csecret_key",
        "../../../secret_key",
        "..",
        ".",
        "%2Fetc%2Fpasswd",
        "/etc/passwd",
        "%00",
        "audio_web.m4a%00.jpg",
        "AUDIO_WEB.M4A",
        "audio_web.m4a%2F",
    ],
)
def test_it_answers_404_to_path_traversal(staff, song, secret, name):
    response = staff.get(f"/media/songs/{song.pk}/{name}")
    # A NUL byte is refused before any view (common/middleware.py): invalid, not missing.
    assert response.status_code == (400 if "%00" in name else 404)
    assert b"the secret" not in body(response)


def test_it_answers_404_to_a_file_of_the_folder_that_is_not_registered(staff, song):
    (song.folder / "notes.txt").write_text("private")
    assert staff.get(url(song, "notes.txt")).status_code == 404


def test_it_answers_404_to_another_songs_file_name(staff, song):
    other = make_song({"original.mp3": b"other song"})
    assert staff.get(url(other, "original.mp3")).status_code == 200
    assert staff.get(url(song, "original.mp3")).status_code == 404


def test_it_answers_404_to_a_registered_name_that_leads_outside_the_folder(staff, song, secret):
    (song.folder / "cover.jpg").symlink_to(secret)
    Song.objects.filter(pk=song.pk).update(files={**song.files, "cover": "cover.jpg", "lyrics": "../../../secret_key"})
    assert staff.get(url(song, "cover.jpg")).status_code == 404


def test_it_answers_404_when_a_registered_file_is_missing_on_disk(staff, song):
    (song.folder / "audio_web.m4a").unlink()
    assert staff.get(url(song)).status_code == 404


def test_it_answers_404_to_an_unknown_song(staff):
    assert staff.get("/media/songs/00000000-0000-4000-8000-000000000000/audio_web.m4a").status_code == 404
    assert staff.get("/media/songs/not-a-uuid/audio_web.m4a").status_code == 404


# --- who may read --------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "deleted", "status"),
    [
        ("anonymous", False, 403),
        ("anonymous", True, 403),
        ("singer", False, 403),  # any new account is a singer: the audio is for hosts (SONG_AUDIO_ACCESS)
        ("singer", True, 404),  # hidden from singers: as if it did not exist
        ("host", False, 200),
        ("host", True, 404),
        ("staff", False, 200),
        ("staff", True, 200),
    ],
)
def test_it_lets_only_the_right_people_read(client, singer_user, staff_user, who, deleted, status):
    song = make_song({"audio_web.m4a": DATA}, deleted_at=timezone.now() if deleted else None)
    if who == "host":
        singer_user.is_host = True
        singer_user.save()
    if who != "anonymous":
        client.force_login(staff_user if who == "staff" else singer_user)
    response = client.get(url(song))
    assert response.status_code == status
    if status == 200:
        assert body(response) == DATA
    else:
        assert response["Content-Type"].startswith("text/plain")
        assert DATA[:100] not in response.content


def test_every_account_sees_covers_and_may_play_audio_if_the_site_says_so(client, singer_user, settings):
    song = make_song({"audio_web.m4a": DATA, "cover_thumb.jpg": b"\xff\xd8\xff picture", "original.mp3": DATA})
    client.force_login(singer_user)
    assert client.get(url(song, "cover_thumb.jpg")).status_code == 200
    for name in ("audio_web.m4a", "original.mp3"):
        refused = client.get(url(song, name))
        assert refused.status_code == 403 and b"Only the hosts" in refused.content
    settings.SONG_AUDIO_ACCESS = "accounts"
    assert client.get(url(song, "original.mp3")).status_code == 200


def test_it_tells_an_anonymous_visitor_nothing_about_which_songs_exist(client, song):
    missing = client.get("/media/songs/00000000-0000-4000-8000-000000000000/audio_web.m4a")
    existing = client.get(url(song))
    assert missing.status_code == existing.status_code == 403
    assert missing.content == existing.content


# --- parse_range on its own ------------------------------------------------------


def test_it_parses_ranges_like_rfc_9110():
    assert files.parse_range(None, 100) is None
    assert files.parse_range("bytes=0-9", 100) == (0, 9)
    assert files.parse_range("bytes=90-", 100) == (90, 99)
    assert files.parse_range("bytes=-10", 100) == (90, 99)
    assert files.parse_range("bytes=50-500", 100) == (50, 99)
    assert files.parse_range("bytes=0-1,3-4", 100) is None
    assert files.parse_range("bytes=9-0", 100) is None
    assert files.parse_range("bytes=+1-2", 100) is None
    for unsatisfiable in ("bytes=100-", "bytes=-0", "bytes=100-200"):
        with pytest.raises(files.Unsatisfiable):
            files.parse_range(unsatisfiable, 100)
    with pytest.raises(files.Unsatisfiable):
        files.parse_range("bytes=0-", 0)
