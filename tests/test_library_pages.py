"""The Library page: who may see it, search as you type, add by link or upload, row actions."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from jobs.models import Job
from songs import imports
from songs.models import Song
from tests.factories import SongFactory

# Transactional: jobs are enqueued on commit (recorded below) and one test runs
# the pipeline in this process, whose watcher thread has its own connection.
pytestmark = pytest.mark.django_db(transaction=True)

HTMX = {"HTTP_HX_REQUEST": "true"}


def make_song(title="", artist="", *, status=Song.Status.READY, source=Song.Source.URL, deleted=False, **fields):
    n = Song.objects.count()
    return SongFactory(  # indexed for the search, as the services do
        title=title, artist=artist, status=status, source=source,
        source_id=fields.pop("source_id", f"https://songs.example/{n}.mp3"),
        source_url=fields.pop("source_url", f"https://songs.example/{n}.mp3"),
        deleted_at=timezone.now() if deleted else None, **fields,
    )


def row_ids(response) -> list[str]:
    return re.findall(r'<li id="song-([0-9a-f-]{36})"', response.content.decode())


# --- who may see it -------------------------------------------------------------------


def test_it_shows_the_library_page_to_staff(staff_client):
    song = make_song("Take On Me", "a-ha", duration=225.4)
    response = staff_client.get("/library/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html and 'id="song-list"' in html
    assert f'id="song-{song.pk}"' in html
    assert "Take On Me" in html and "a-ha" in html and "3:45" in html
    assert 'hx-trigger="input changed delay:250ms, search"' in html


def test_it_refuses_singers_with_a_friendly_403(singer_user):
    client = Client()
    client.force_login(singer_user)
    for url in ("/library/", "/jobs/"):
        response = client.get(url)
        assert response.status_code == 403
        assert "Hosts only" in response.content.decode()
    response = client.post("/library/add", {"url": "https://example.com/a.mp3"})
    assert response.status_code == 403 and Song.objects.count() == 0


def test_it_sends_anonymous_visitors_to_sign_in():
    response = Client().get("/library/?q=abba")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/library/%3Fq%3Dabba"
    # An HTMX request is told to navigate (a redirect would be swapped into the page).
    response = Client().post("/library/add", {"url": "x"}, **HTMX, HTTP_HX_CURRENT_URL="http://testserver/library/")
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/accounts/login/?next=/library/"


# --- search ----------------------------------------------------------------------------


def test_it_searches_by_title_artist_and_every_word(staff_client):
    take = make_song("Take On Me", "a-ha")
    dancing = make_song("Dancing Queen", "ABBA")
    waterloo = make_song("Waterloo", "ABBA")

    assert set(row_ids(staff_client.get("/library/?q=take"))) == {str(take.pk)}
    assert set(row_ids(staff_client.get("/library/?q=abba"))) == {str(dancing.pk), str(waterloo.pk)}
    assert set(row_ids(staff_client.get("/library/?q=abba queen"))) == {str(dancing.pk)}
    assert row_ids(staff_client.get("/library/?q=nothing-like-it")) == []
    assert "No songs match" in staff_client.get("/library/?q=nothing-like-it").content.decode()


def test_it_filters_by_status_and_source_and_hides_deleted_songs_unless_asked(staff_client):
    ready = make_song("Ready one")
    broken = make_song("Broken one", status=Song.Status.ERROR)
    uploaded = make_song("Uploaded one", source=Song.Source.UPLOAD, source_id="", source_url="")
    hidden = make_song("Hidden one", deleted=True)

    assert set(row_ids(staff_client.get("/library/?status=error"))) == {str(broken.pk)}
    assert set(row_ids(staff_client.get("/library/?source=upload"))) == {str(uploaded.pk)}
    assert set(row_ids(staff_client.get("/library/?status=ready&q=one"))) == {str(ready.pk), str(uploaded.pk)}
    assert str(hidden.pk) not in row_ids(staff_client.get("/library/"))
    assert str(hidden.pk) in row_ids(staff_client.get("/library/?deleted=on"))
    # A hand-edited, invalid filter is ignored, not a 500.
    assert staff_client.get("/library/?status=bogus").status_code == 200


def test_it_answers_htmx_searches_with_the_list_only(staff_client):
    song = make_song("Take On Me", "a-ha")
    response = staff_client.get("/library/?q=take", **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and "<nav" not in html
    assert html.lstrip().startswith('<section id="song-list-panel">')
    assert f'id="song-{song.pk}"' in html
    # Back/forward after hx-push-url asks for the whole page.
    restore = staff_client.get("/library/?q=take", **HTMX, HTTP_HX_HISTORY_RESTORE_REQUEST="true")
    assert "<html" in restore.content.decode()


# --- adding ----------------------------------------------------------------------------


def test_it_adds_a_song_by_link_and_answers_with_its_row(staff_client, queued):
    response = staff_client.post("/library/add", {"url": "https://youtu.be/dQw4w9WgXcQ"}, **HTMX)
    assert response.status_code == 201
    song = Song.objects.get()
    job = Job.objects.get(song=song)
    assert song.source == Song.Source.YOUTUBE and song.added_by.username == "alice"
    assert job.status == Job.Status.QUEUED and queued[0][1][0] == str(job.pk)
    html = response.content.decode()
    assert "<html" not in html
    assert "Added; it is being downloaded." in html
    # The row goes on top of the list at once, with its progress bar (pushed on by the socket).
    assert 'hx-swap-oob="afterbegin:#song-list"' in html
    assert f'<li id="song-{song.pk}"' in html and f'<div id="song-{song.pk}-progress"' in html
    assert "hx-trigger" not in html
    assert "https://www.youtube.com/watch?v=dQw4w9WgXcQ" in html  # no title yet: the link


def test_it_says_when_a_link_is_already_in_the_library(staff_client):
    first = staff_client.post("/library/add", {"url": "https://www.youtube.com/watch?v=dQw4w9WgXcQ"}, **HTMX)
    assert first.status_code == 201
    again = staff_client.post("/library/add", {"url": "https://youtu.be/dQw4w9WgXcQ"}, **HTMX)
    assert again.status_code == 200
    html = again.content.decode()
    assert "Already in the library" in html
    # Not inserted twice: the existing row is refreshed by id if the page shows it.
    assert "afterbegin" not in html and 'hx-swap-oob="true"' in html
    assert Song.objects.count() == 1 and Job.objects.count() == 1


def test_it_shows_a_bad_link_inline_with_400(staff_client):
    response = staff_client.post("/library/add", {"url": "ftp://example.com/song.mp3"}, **HTMX)
    assert response.status_code == 400
    html = response.content.decode()
    assert 'class="error"' in html and "<html" not in html
    assert Song.objects.count() == 0
    empty = staff_client.post("/library/add", {"url": "  "}, **HTMX)
    assert empty.status_code == 400 and "Paste a link" in empty.content.decode()


def test_it_shows_a_bad_link_on_the_page_without_htmx(staff_client):
    response = staff_client.post("/library/add", {"url": "ftp://example.com/song.mp3"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "<html" in html and 'role="alert"' in html


def test_it_refuses_a_text_file_upload_with_400_and_stores_nothing(staff_client):
    text = SimpleUploadedFile("song.mp3", b"these are not the sounds you are looking for\n" * 50, "audio/mpeg")
    response = staff_client.post("/library/upload", {"file": text}, **HTMX)
    assert response.status_code == 400
    assert 'class="error"' in response.content.decode()
    assert Song.objects.count() == 0 and Job.objects.count() == 0
    media = Path(settings.MEDIA_ROOT)
    assert not any((media / "songs").glob("*")) and not any((media / "incoming").glob("*"))
    missing = staff_client.post("/library/upload", {}, **HTMX)
    assert missing.status_code == 400 and "Choose an audio file" in missing.content.decode()


def test_it_adds_an_uploaded_audio_file(staff_client, song_mp3):
    response = staff_client.post(
        "/library/upload", {"file": SimpleUploadedFile("tone.mp3", song_mp3, "audio/mpeg"), "artist": "Sine"}, **HTMX
    )
    assert response.status_code == 201
    song = Song.objects.get()
    assert (song.title, song.artist, song.source) == ("tone", "Sine", Song.Source.UPLOAD)
    assert song.has_file("original")
    assert f'<li id="song-{song.pk}"' in response.content.decode()


# --- row actions -----------------------------------------------------------------------


def test_it_soft_deletes_and_restores_a_song_from_its_row(staff_client):
    song = make_song("Take On Me")
    response = staff_client.post(f"/library/{song.pk}/delete", **HTMX)
    assert response.status_code == 200
    song.refresh_from_db()
    assert song.is_deleted
    html = response.content.decode()
    assert html.lstrip().startswith(f'<li id="song-{song.pk}"') and "Restore" in html

    response = staff_client.post(f"/library/{song.pk}/restore", **HTMX)
    song.refresh_from_db()
    assert response.status_code == 200 and not song.is_deleted


def test_it_shows_a_refused_restore_on_the_row_with_409(staff_client):
    old = make_song("Old copy", source_id="https://songs.example/same.mp3", deleted=True)
    make_song("New copy", source_id="https://songs.example/same.mp3")
    response = staff_client.post(f"/library/{old.pk}/restore", **HTMX)
    assert response.status_code == 409
    html = response.content.decode()
    assert f'<li id="song-{old.pk}"' in html and "Another live song has the same source" in html
    old.refresh_from_db()
    assert old.is_deleted


def test_it_reprocesses_from_the_chosen_stage(staff_client, queued):
    song = make_song("Take On Me")
    response = staff_client.post(f"/library/{song.pk}/reprocess", {"stage": "transcode"}, **HTMX)
    assert response.status_code == 200
    job = Job.objects.get(song=song)
    assert (job.kind, job.start_stage, job.status) == (Job.Kind.REPROCESS, "transcode", Job.Status.QUEUED)
    assert "<progress" in response.content.decode()

    busy = staff_client.post(f"/library/{song.pk}/reprocess", {"stage": "transcode"}, **HTMX)
    assert busy.status_code == 409 and "already working" in busy.content.decode()
    unknown = make_song("Other")
    bad = staff_client.post(f"/library/{unknown.pk}/reprocess", {"stage": "karaoke-magic"}, **HTMX)
    assert bad.status_code == 400 and "Unknown stage" in bad.content.decode()


def test_it_deletes_a_song_for_good_and_refuses_while_a_job_runs(staff_client):
    song = make_song("Take On Me")
    job = imports.song_reprocess(song=song, stage="transcode")
    Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING)

    refused = staff_client.post(f"/library/{song.pk}/destroy", **HTMX)
    assert refused.status_code == 409
    assert "cancel it first" in refused.content.decode()
    assert Song.objects.filter(pk=song.pk).exists()

    Job.objects.filter(pk=job.pk).update(status=Job.Status.FAILED)
    response = staff_client.post(f"/library/{song.pk}/destroy", **HTMX)
    assert response.status_code == 200 and response.content == b""
    assert not Song.objects.filter(pk=song.pk).exists() and not Job.objects.filter(pk=job.pk).exists()
    # Its row, polled or clicked again, disappears instead of showing an error page.
    assert staff_client.get(f"/library/{song.pk}/", **HTMX).status_code == 404
    assert staff_client.post(f"/library/{song.pk}/delete", **HTMX).content == b""


def test_rows_do_not_poll_and_a_finished_row_has_no_progress(staff_client, internet, song_mp3, broker):
    internet.add_file("/take-on-me.mp3", song_mp3, "audio/mpeg")
    added = staff_client.post("/library/add", {"url": internet.url("/take-on-me.mp3")}, **HTMX)
    song = Song.objects.get()
    assert "hx-trigger" not in added.content.decode()
    page = staff_client.get("/library/").content.decode()
    assert "every 2s" not in page
    live = re.search(r'<div id="library-live"([^>]*)>', page).group(1)
    assert 'hx-ext="ws,encore-push"' in live and 'ws-connect="/ws/library/html/?since=' in live
    # New rows go on top only while the list is unfiltered (the list says so, not the socket).
    assert 'data-new-rows-from="#song-list-panel"' in live
    assert 'id="song-list-panel" data-new-rows="afterbegin:#song-list"' in page
    searched = staff_client.get("/library/", {"q": "take"}).content.decode()
    assert 'id="song-list-panel" data-new-rows' not in searched

    broker.run(Job.objects.get(song=song))

    row = staff_client.get(f"/library/{song.pk}/", **HTMX)
    html = row.content.decode()
    assert row.status_code == 200
    assert "<progress" not in html and "-progress" not in html
    assert "badge-ready" in html and "0:03" in html


def test_the_nav_links_to_the_library_and_jobs(staff_client):
    html = staff_client.get("/").content.decode()
    assert 'href="/library/"' in html and 'href="/jobs/"' in html


def test_it_serves_the_htmx_helpers():
    response = Client().get("/static/js/encore.js")
    assert response.status_code == 200
    assert b"htmx:beforeSwap" in b"".join(response.streaming_content)


# --- editing a song in its row ----------------------------------------------------------


def test_staff_edit_title_artist_album_and_lyrics_in_the_row_and_the_edits_are_locked(staff_client):
    song = make_song("track03_FINAL(2) copy", "", lyrics_plain="old words")
    form = staff_client.get(f"/library/{song.pk}/edit", **HTMX)
    html = form.content.decode()
    assert form.status_code == 200 and f'<li id="song-{song.pk}" class="song row-item editing">' in html
    assert 'value="track03_FINAL(2) copy"' in html and "old words</textarea>" in html

    response = staff_client.post(f"/library/{song.pk}/edit", {
        "title": " Harbor Song ", "artist": "Sally Brine", "album": "Tides",
        "lyrics": "[00:01.00]First line\n[00:04.50]Second line",
    }, **HTMX)
    assert response.status_code == 200
    row = response.content.decode()
    assert "Harbor Song" in row and "Sally Brine" in row and "editing" not in row and ">Edit</a>" in row
    song.refresh_from_db()
    assert (song.title, song.artist, song.album) == ("Harbor Song", "Sally Brine", "Tides")
    assert song.lyrics_synced.startswith("[00:01.00]First line") and song.lyrics_plain == "First line\nSecond line"
    assert {"title", "artist", "album", "lyrics"} <= set(song.locked_fields)


def test_an_edit_that_leaves_the_lyrics_as_they_were_does_not_lock_them(staff_client):
    song = make_song("Waterloo", "ABBA", lyrics_plain="My my")
    staff_client.post(f"/library/{song.pk}/edit", {"title": "Waterloo!", "artist": "ABBA", "album": "",
                                                   "lyrics": "My my\r\n"}, **HTMX)
    song.refresh_from_db()
    assert song.title == "Waterloo!" and song.locked_fields == ["title"]


@pytest.mark.parametrize(("data", "message"), [
    ({"title": "x" * 301}, "Title"),
    ({"lyrics": "[00:01.00]one\n[99:xx]broken"}, "not valid LRC"),
])
def test_a_bad_edit_is_refused_in_the_form_with_400_and_nothing_is_saved(staff_client, data, message):
    song = make_song("Waterloo", "ABBA")
    response = staff_client.post(f"/library/{song.pk}/edit", {"title": "Waterloo", "artist": "ABBA", **data}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 400 and message in html and 'class="error" role="alert"' in html
    assert "editing" in html  # the form stays, with what was typed
    song.refresh_from_db()
    assert (song.title, song.lyrics_synced, song.locked_fields) == ("Waterloo", "", [])


def test_staff_set_the_key_in_the_row_as_the_library_writes_it_and_it_is_locked(staff_client):
    song = make_song("Waterloo", "ABBA", key="A minor", key_confidence=0.8)
    form = staff_client.get(f"/library/{song.pk}/edit", **HTMX).content.decode()
    assert f'id="edit-key-{song.pk}"' in form and 'value="A minor"' in form

    response = staff_client.post(f"/library/{song.pk}/edit", {
        "title": "Waterloo", "artist": "ABBA", "album": "", "key": " f# min ", "lyrics": "",
    }, **HTMX)
    assert response.status_code == 200 and "F♯ minor" in response.content.decode()
    song.refresh_from_db()
    # The host's word replaces the detector's, with no confidence, and enrichment keeps off it.
    assert (song.key, song.key_confidence, song.locked_fields) == ("F♯ minor", None, ["key"])


def test_a_key_that_is_not_one_is_refused_in_the_form_and_nothing_is_saved(staff_client):
    song = make_song("Waterloo", "ABBA", key="A minor", key_confidence=0.8)
    response = staff_client.post(f"/library/{song.pk}/edit", {
        "title": "Waterloo (live)", "artist": "ABBA", "key": "H dur", "lyrics": "",
    }, **HTMX)
    html = response.content.decode()
    assert response.status_code == 400 and "is not a key" in html and "editing" in html
    song.refresh_from_db()
    assert (song.title, song.key, song.key_confidence, song.locked_fields) == ("Waterloo", "A minor", 0.8, [])


def test_an_edit_without_the_key_field_leaves_the_key_alone(staff_client):
    # A Library page drawn before the key field existed posts no "key".
    song = make_song("Waterloo", "ABBA", key="A minor", key_confidence=0.8)
    staff_client.post(f"/library/{song.pk}/edit", {"title": "Waterloo!", "artist": "ABBA", "album": ""}, **HTMX)
    song.refresh_from_db()
    assert (song.title, song.key, song.locked_fields) == ("Waterloo!", "A minor", ["title"])


def test_only_staff_edit_songs(singer_user):
    song = make_song("Waterloo", "ABBA")
    client = Client()
    client.force_login(singer_user)
    assert client.post(f"/library/{song.pk}/edit", {"title": "Mine"}).status_code == 403
    assert Client().get(f"/library/{song.pk}/edit").status_code == 302
    song.refresh_from_db()
    assert song.title == "Waterloo"


def test_the_edit_works_without_javascript(staff_client):
    song = make_song("Waterloo", "ABBA")
    page = staff_client.get(f"/library/{song.pk}/edit")
    assert page.status_code == 200 and "<h1>Edit" in page.content.decode()
    response = staff_client.post(f"/library/{song.pk}/edit", {"title": "Fernando", "artist": "ABBA"})
    assert response.status_code == 302 and response["Location"] == "/library/"
    song.refresh_from_db()
    assert song.title == "Fernando"


def test_several_files_uploaded_together_are_each_imported_or_refused_on_their_own(staff_client, song_mp3):
    files = [SimpleUploadedFile("one.mp3", song_mp3, "audio/mpeg"),
             SimpleUploadedFile("notes.mp3", b"not audio at all\n" * 50, "audio/mpeg"),
             SimpleUploadedFile("two.mp3", song_mp3[:-10] + b"\x00" * 10, "audio/mpeg")]
    response = staff_client.post("/library/upload", {"file": files}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "one.mp3: <span class=\"notice\">" in html and "notes.mp3: <span class=\"error\">" in html
    assert "two.mp3: " in html
    assert Song.objects.filter(title="one").exists()
    # Without JavaScript: back to the Library, one message per file.
    again = staff_client.post("/library/upload", {"file": [SimpleUploadedFile("three.mp3", song_mp3, "audio/mpeg"),
                                                           SimpleUploadedFile("bad.mp3", b"x" * 100, "audio/mpeg")]})
    assert again.status_code == 302 and again["Location"] == "/library/"


def test_the_upload_form_takes_several_files_and_drops(staff_client):
    html = staff_client.get("/library/").content.decode()
    assert 'type="file" name="file" accept="audio/*,video/*" multiple required' in html
    assert 'data-multi-upload="#upload-files"' in html and 'id="upload-files"' in html
