"""Deleting songs: soft delete hides and keeps, restore brings back, hard delete removes everything."""

import pytest
from django.db import transaction

from common.errors import Conflict
from jobs.models import Job, JobLog
from songs import services
from songs.models import Song
from songs.pipeline import runner

# Transactional: a hard delete removes the files only once its transaction commits.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def media_root(settings):
    # conftest gives every test its own MEDIA_ROOT.
    return settings.MEDIA_ROOT


def make_song(**fields) -> Song:
    fields = {"source": Song.Source.UPLOAD, "title": "Take On Me", "artist": "a-ha", **fields}
    song = Song.objects.create(files={"original": "original.mp3", "audio_web": "audio.m4a"},
                               status=Song.Status.READY, **fields)
    song.folder.mkdir(parents=True)
    (song.folder / "original.mp3").write_bytes(b"original")
    (song.folder / "audio.m4a").write_bytes(b"web audio")
    return song


@pytest.fixture
def song():
    return make_song(content_hash="a" * 64)


def sees(client, song) -> dict[str, int | bool]:
    """What a signed-in user sees of `song`: the detail page, the list, the audio."""
    listed = client.get("/api/songs/").json()
    return {
        "detail": client.get(f"/api/songs/{song.pk}").status_code,
        "listed": str(song.pk) in {item["id"] for item in listed.get("results", listed)},
        "audio": client.get(f"/media/songs/{song.pk}/audio.m4a").status_code,
    }


def test_it_hides_a_soft_deleted_song_from_singers_and_keeps_its_files(client, singer_user, song, settings):
    settings.SONG_AUDIO_ACCESS = "accounts"  # so that the audio's answer shows the hiding
    client.force_login(singer_user)
    assert sees(client, song) == {"detail": 200, "listed": True, "audio": 200}

    services.song_soft_delete(song=song)

    assert Song.objects.get(pk=song.pk).is_deleted
    assert sees(client, song) == {"detail": 404, "listed": False, "audio": 404}
    assert song.has_file("original") and song.has_file("audio_web")


def test_it_lets_staff_still_play_a_soft_deleted_song(client, staff_user, song):
    services.song_soft_delete(song=song)
    client.force_login(staff_user)
    assert client.get(f"/media/songs/{song.pk}/audio.m4a").status_code == 200


def test_it_brings_a_restored_song_back(client, singer_user, staff_user, song, settings):
    settings.SONG_AUDIO_ACCESS = "accounts"
    services.song_soft_delete(song=song)
    client.force_login(staff_user)
    response = client.post(f"/api/songs/{song.pk}/restore")
    assert response.status_code == 200

    client.force_login(singer_user)
    assert not Song.objects.get(pk=song.pk).is_deleted
    assert sees(client, song) == {"detail": 200, "listed": True, "audio": 200}


def test_it_refuses_to_restore_a_song_whose_audio_another_live_song_has_now(client, staff_user, song):
    services.song_soft_delete(song=song)
    make_song(content_hash=song.content_hash, title="Take On Me (again)")

    with pytest.raises(Conflict, match="same audio") as refused:
        services.song_restore(song=song)
    assert refused.value.status_code == 409

    client.force_login(staff_user)
    response = client.post(f"/api/songs/{song.pk}/restore")
    assert response.status_code == 409
    assert response.json()["message"] == "Another live song has the same audio; delete it first."
    assert Song.objects.get(pk=song.pk).is_deleted


def test_it_refuses_to_restore_a_song_whose_source_another_live_song_has_now():
    first = make_song(source=Song.Source.YOUTUBE, source_id="dQw4w9WgXcQ")
    services.song_soft_delete(song=first)
    make_song(source=Song.Source.YOUTUBE, source_id="dQw4w9WgXcQ")

    with pytest.raises(Conflict, match="same source") as refused:
        services.song_restore(song=first)
    assert refused.value.status_code == 409
    assert Song.objects.get(pk=first.pk).is_deleted


def test_it_hard_deletes_the_song_its_jobs_and_its_files(song):
    done = Job.objects.create(song=song, status=Job.Status.COMPLETED)
    failed = Job.objects.create(song=song, status=Job.Status.FAILED, kind=Job.Kind.REPROCESS)
    JobLog.objects.create(job=done, event="completed")
    JobLog.objects.create(job=failed, event="failed")
    other = make_song(content_hash="b" * 64)
    Job.objects.create(song=other, status=Job.Status.COMPLETED)
    pk, folder = song.pk, song.folder  # Django clears the pk of a deleted instance

    services.song_hard_delete(song=song)

    assert not Song.objects.filter(pk=pk).exists()
    assert not Job.objects.filter(song_id=pk).exists()
    assert not JobLog.objects.filter(job_id__in=[done.pk, failed.pk]).exists()
    assert not folder.exists()
    # Nothing of the other song is touched.
    assert other.has_file("original") and other.jobs.count() == 1


def test_it_removes_the_files_only_once_the_delete_is_committed(song):
    pk, folder = song.pk, song.folder
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            services.song_hard_delete(song=song)
            assert folder.exists()
            raise RuntimeError("the caller's transaction fails")
    song = Song.objects.get(pk=pk)
    assert song.has_file("original") and song.has_file("audio_web")

    with transaction.atomic():
        services.song_hard_delete(song=song)
        assert folder.exists()
    assert not folder.exists()


def test_it_refuses_to_hard_delete_a_song_a_job_is_working_on(song):
    Job.objects.create(song=song, status=Job.Status.RUNNING)
    with pytest.raises(Conflict, match="cancel it first") as refused:
        services.song_hard_delete(song=song)
    assert refused.value.status_code == 409
    assert Song.objects.filter(pk=song.pk).exists() and song.has_file("original")


def test_it_hard_deletes_through_the_api_for_staff_only(client, singer_user, staff_user, song):
    client.force_login(singer_user)
    assert client.delete(f"/api/songs/{song.pk}?hard=true").status_code == 403
    assert song.folder.exists()

    client.force_login(staff_user)
    assert client.delete(f"/api/songs/{song.pk}?hard=true").status_code == 204
    assert not Song.objects.filter(pk=song.pk).exists()
    assert not song.folder.exists()


def test_it_leaves_nothing_for_the_task_of_a_queued_job_to_do(song):
    job = Job.objects.create(song=song, status=Job.Status.QUEUED)
    folder = song.folder
    services.song_hard_delete(song=song)
    assert not folder.exists()

    runner.run_job(job_id=job.pk, cluster="encore")  # the broker still delivers its task

    assert not Job.objects.filter(pk=job.pk).exists()
    assert not folder.exists()
