"""The separate stage in the pipeline: stems, cancel, a missing model, the commands."""

import threading
import time
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from jobs import services
from jobs.models import Job
from songs import imports
from songs.audio import separation
from songs.audio.ffmpeg import probe
from songs.models import Song
from songs.pipeline import runner
from songs.pipeline.plan import cluster_for, progress_span
from tests.demucs_model import SMALL_NAME
from tests.helpers import make_audio

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def quick(settings):
    settings.JOB_HEARTBEAT_INTERVAL = 0.2


def imported_up_to_separation(internet, broker, seconds: float) -> Job:
    internet.add_file("/mix.wav", make_audio(seconds, fmt="wav"), "audio/wav")
    result = imports.song_import_url(url=internet.url("/mix.wav"))
    # Deliver only the first task: download and transcode, then the hand-over.
    task = broker.tasks.pop(0)
    runner.run_job(job_id=task[1][0], cluster=task[1][1])
    job = Job.objects.get(pk=result.job.pk)
    assert job.status == Job.Status.QUEUED and job.stage == "separate", job.error_message
    return job


def test_the_stems_have_the_songs_length_and_sample_rate(internet, broker):
    job = broker.run(imported_up_to_separation(internet, broker, 6.0))
    assert job.status == Job.Status.COMPLETED, job.error_message
    song = job.song
    original = probe(song.file_path("audio"))
    for kind in ("vocals", "instrumental", "vocals_web", "instrumental_web"):
        info = probe(song.file_path(kind))
        assert info.sample_rate == original.sample_rate == 44100, kind
        assert info.duration == pytest.approx(original.duration, abs=0.05), kind


def test_cancelling_during_separation_stops_it_and_leaves_no_stems(internet, broker):
    job = imported_up_to_separation(internet, broker, 90.0)
    task = broker.tasks.pop(0)
    assert task[1][1] == "separation"
    worker = threading.Thread(target=runner.run_job, kwargs={"job_id": task[1][0], "cluster": "separation"})
    worker.start()
    # Wait until a few segments are done, so the cancel lands mid-separation.
    threshold = progress_span("separate")[0] + 3
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        current = Job.objects.get(pk=job.pk)
        if current.stage == "separate" and current.progress > threshold:
            break
        time.sleep(0.05)
    services.job_cancel(job=job)
    worker.join(60)
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED
    names = sorted(p.name for p in job.song.folder.iterdir())
    assert names == sorted(["audio.flac", "audio.m4a", job.song.files["original"]])
    # Cancelled, not failed: singers cannot queue it, and a reprocess imports it.
    assert job.song.status == Song.Status.CANCELLED and job.song.stream == ""


def test_a_missing_model_fails_the_job_with_model_unavailable(internet, broker, settings, tmp_path):
    settings.DEMUCS_MODEL_DIR = tmp_path / "no-models-here"
    job = broker.run(imported_up_to_separation(internet, broker, 3.0))
    assert job.status == Job.Status.FAILED
    assert job.error_code == "model_unavailable"
    assert "install_model" in job.error_message and "DEMUCS_MODEL_DIR" in job.error_message
    assert job.song.status == Song.Status.ERROR


def test_an_encode_failure_is_retried_then_fails_with_encode_failed(
    internet, broker, settings, monkeypatch
):
    settings.JOB_RETRY_DELAYS = [0.05, 0.1]
    monkeypatch.setattr(separation, "AAC_BITRATE", "not-a-bitrate")  # ffmpeg refuses it
    job = broker.run(imported_up_to_separation(internet, broker, 3.0))
    assert job.status == Job.Status.FAILED
    assert job.error_code == "encode_failed"  # not internal_error: it was retried
    assert job.attempts == 2 and "Gave up after 2 retries." in job.error_message
    assert not any(name.startswith(("vocals", "instrumental", ".")) for name in
                   (p.name for p in job.song.folder.iterdir()))


def test_install_model_copies_a_model_folder_and_checks_it_loads(tmp_path, settings):
    target = tmp_path / "models"
    out = StringIO()
    call_command("install_model", "--name", SMALL_NAME, "--from", str(settings.DEMUCS_MODEL_DIR),
                 "--dir", str(target), stdout=out)
    assert f"Model '{SMALL_NAME}' is ready in {target}." in out.getvalue()
    assert (target / f"{SMALL_NAME}.yaml").exists() and list(target.glob("*.th"))


def test_install_model_refuses_a_missing_source(tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        call_command("install_model", "--name", "htdemucs", "--from", str(tmp_path / "nope.th"),
                     "--dir", str(tmp_path / "models"))


def test_separation_info_loads_the_model_and_prints_the_settings():
    out = StringIO()
    call_command("separation_info", stdout=out)
    text = out.getvalue()
    assert f"model:      {SMALL_NAME}" in text and "device:     cpu" in text
    assert "load time:" in text


def test_separation_info_names_the_fix_when_the_model_is_missing(settings, tmp_path):
    settings.DEMUCS_MODEL_DIR = tmp_path / "empty"
    with pytest.raises(CommandError, match="install_model"):
        call_command("separation_info")


def test_the_pipeline_routes_separation_to_its_own_cluster():
    assert cluster_for("separate") == "separation"
    assert cluster_for("download") == cluster_for("transcode") == "encore"
