"""Song and Job admin: pages load with data, edits and actions go through the services."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages

from common.errors import Conflict
from jobs.models import Job, JobLog
from songs import imports
from songs import services as song_services
from songs.models import Song

pytestmark = pytest.mark.django_db(transaction=True)




def ready_song(title="Take On Me", *, source_id="https://songs.example/take-on-me.mp3", **fields) -> Song:
    return Song.objects.create(
        title=title, artist="a-ha", album="Hunting High and Low", status=Song.Status.READY, source=Song.Source.URL,
        source_id=source_id, source_url="https://songs.example/take-on-me.mp3", duration=225.0,
        files={"original": "original.mp3", "audio": "audio.flac", "audio_web": "audio.m4a"}, **fields,
    )


def messages_of(response) -> list[tuple[str, str]]:
    return [(m.level_tag, m.message) for m in get_messages(response.wsgi_request)]


def act(client, model: str, action: str, objects, **extra):
    data = {"action": action, ACTION_CHECKBOX_NAME: [str(o.pk) for o in objects], **extra}
    return client.post(f"/admin/{model}/", data)


# --- pages ------------------------------------------------------------------------------


def test_it_lists_songs_with_filters_and_search(admin_client):
    song = ready_song()
    deleted = ready_song("Old take", source_id="https://songs.example/old.mp3", deleted_at="2024-01-01T00:00:00Z")
    for url in ("/admin/songs/song/", "/admin/songs/song/?status=ready", "/admin/songs/song/?source=url",
                "/admin/songs/song/?deleted=yes", "/admin/songs/song/?q=hunting"):
        response = admin_client.get(url)
        assert response.status_code == 200, url
    assert response.context["cl"].result_count == 2  # the album matched both
    live = admin_client.get("/admin/songs/song/?deleted=no").context["cl"].result_list
    assert list(live) == [song]
    only_deleted = admin_client.get("/admin/songs/song/?deleted=yes").context["cl"].result_list
    assert list(only_deleted) == [deleted]
    assert "3:45" in admin_client.get("/admin/songs/song/").content.decode()


def test_it_shows_a_song_with_its_jobs_and_an_audio_preview(admin_client):
    song = ready_song()
    job = imports.song_reprocess(song=song, stage="transcode")
    response = admin_client.get(f"/admin/songs/song/{song.pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'<audio controls preload="none" src="/media/songs/{song.pk}/audio.m4a"></audio>' in html
    assert "Reprocess" in html and f"/admin/jobs/job/{job.pk}/change/" in html


def test_it_edits_a_song_through_the_service(admin_client, listen):
    song = ready_song()
    recorder = listen("library")
    response = admin_client.post(
        f"/admin/songs/song/{song.pk}/change/", {"title": "Take on Me (1985)", "artist": "a-ha", "album": "",
                                                  "jobs-TOTAL_FORMS": "0", "jobs-INITIAL_FORMS": "0"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    song.refresh_from_db()
    assert (song.title, song.album, song.status) == ("Take on Me (1985)", "", Song.Status.READY)
    # song_update published the change, as every other edit does.
    assert "song.changed" in recorder.types()


def test_it_lists_and_shows_jobs_with_their_log(admin_client):
    song = ready_song()
    job = imports.song_reprocess(song=song, stage="transcode")
    Job.objects.filter(pk=job.pk).update(status=Job.Status.FAILED, error_code="not_audio",
                                         error_message="ffmpeg found no audio stream")
    for url in ("/admin/jobs/job/", "/admin/jobs/job/?status=failed", "/admin/jobs/job/?kind=reprocess",
                "/admin/jobs/job/?stage=transcode", "/admin/jobs/job/?q=no+audio+stream", "/admin/jobs/job/?q=take"):
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert response.context["cl"].result_count == 1, url
    detail = admin_client.get(f"/admin/jobs/job/{job.pk}/change/")
    assert detail.status_code == 200
    assert JobLog.objects.filter(job=job).exists()
    assert "Reprocess requested" in detail.content.decode()  # the log inline
    assert admin_client.get("/admin/jobs/workerheartbeat/").status_code == 200


# --- song actions -----------------------------------------------------------------------


def test_it_soft_deletes_and_restores_songs_and_reports_refusals(admin_client):
    song = ready_song()
    response = act(admin_client, "songs/song", "soft_delete", [song])
    assert response.status_code == 302
    song.refresh_from_db()
    assert song.is_deleted
    assert ("success", "Hid 1 song from singers.") in messages_of(response)

    ready_song("Another take", source_id=song.source_id)
    response = act(admin_client, "songs/song", "restore", [song])
    assert response.status_code == 302
    song.refresh_from_db()
    assert song.is_deleted
    assert ("error", f"{song}: Another live song has the same source; delete it first.") in messages_of(response)


def test_it_reprocesses_songs_from_a_chosen_stage_and_reports_refusals(admin_client, queued):
    free = ready_song()
    busy = ready_song("Busy", source_id="https://songs.example/busy.mp3")
    imports.song_reprocess(song=busy, stage="transcode")

    # First an intermediate page to choose the stage.
    page = act(admin_client, "songs/song", "reprocess", [free, busy])
    assert page.status_code == 200
    html = page.content.decode()
    assert '<option value="download">' in html and '<option value="transcode" selected>' in html

    response = act(admin_client, "songs/song", "reprocess", [free, busy], apply="1", stage="transcode")
    assert response.status_code == 302
    job = Job.objects.get(song=free)
    assert (job.kind, job.start_stage) == (Job.Kind.REPROCESS, "transcode")
    got = messages_of(response)
    assert ("success", "Reprocessing 1 song from transcode.") in got
    assert ("error", f"{busy}: A job is already working on this song.") in got


def test_it_refuses_to_delete_a_song_while_its_job_runs(admin_client):
    song = ready_song()
    job = imports.song_reprocess(song=song, stage="transcode")
    Job.objects.filter(pk=job.pk).update(status=Job.Status.FAILED)
    other = ready_song("Other", source_id="https://songs.example/other.mp3")
    running = imports.song_reprocess(song=other, stage="transcode")
    Job.objects.filter(pk=running.pk).update(status=Job.Status.RUNNING)

    # A song whose job is over goes, rows and files.
    confirm = admin_client.get(f"/admin/songs/song/{song.pk}/delete/")
    assert confirm.status_code == 200
    response = admin_client.post(f"/admin/songs/song/{song.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Song.objects.filter(pk=song.pk).exists()

    # A running job keeps its song: the confirmation page says so, and posting anyway is refused.
    confirm = admin_client.get(f"/admin/songs/song/{other.pk}/delete/")
    assert confirm.status_code == 200
    assert "would require deleting the following protected" in confirm.content.decode() or \
        "permission to delete the following" in confirm.content.decode()
    response = admin_client.post(f"/admin/songs/song/{other.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert Song.objects.filter(pk=other.pk).exists()


def test_it_reports_a_refused_hard_delete_as_a_message(admin_client, monkeypatch):
    song = ready_song()

    def refuse(*, song):
        raise Conflict("A job is working on this song; cancel it first.")

    monkeypatch.setattr(song_services, "song_hard_delete", refuse)
    response = admin_client.post(f"/admin/songs/song/{song.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302 and response["Location"] == f"/admin/songs/song/{song.pk}/change/"
    assert ("error", "A job is working on this song; cancel it first.") in messages_of(response)
    assert Song.objects.filter(pk=song.pk).exists()


def test_songs_are_not_added_in_the_admin(admin_client):
    assert admin_client.get("/admin/songs/song/add/").status_code == 403


# --- job actions ------------------------------------------------------------------------


def test_it_retries_and_cancels_jobs_and_reports_refusals(admin_client, queued):
    failed_song = ready_song()
    failed = imports.song_reprocess(song=failed_song, stage="transcode")
    Job.objects.filter(pk=failed.pk).update(status=Job.Status.FAILED)
    queued_song = ready_song("Queued", source_id="https://songs.example/queued.mp3")
    waiting = imports.song_reprocess(song=queued_song, stage="transcode")

    response = act(admin_client, "jobs/job", "retry", [failed, waiting])
    failed.refresh_from_db()
    assert failed.status == Job.Status.QUEUED and failed.manual_retries == 1
    got = messages_of(response)
    assert ("success", "1 job will run again.") in got
    assert any(level == "error" and "Only a failed or cancelled job can be retried" in text for level, text in got)

    Job.objects.filter(pk=failed.pk).update(status=Job.Status.COMPLETED)
    response = act(admin_client, "jobs/job", "cancel", [failed, waiting])
    waiting.refresh_from_db()
    assert waiting.status == Job.Status.CANCELLED
    got = messages_of(response)
    assert any(level == "success" and text.startswith("Cancelled 1 job") for level, text in got)
    assert any(level == "error" and "A completed job cannot be cancelled." in text for level, text in got)
