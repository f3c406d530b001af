"""The jobs API: list, detail with its log, retry, cancel, statistics."""

import pytest
from rest_framework.test import APIClient

from jobs.models import Job, JobLog
from songs.models import Song

pytestmark = pytest.mark.django_db


def make_job(status="failed", **fields) -> Job:
    song = Song.objects.create(source="url", source_id=f"http://x/{Song.objects.count()}", source_url="http://x/y")
    return Job.objects.create(song=song, status=status, stage="download", **fields)


def test_jobs_are_listed_and_filtered(staff_api):
    make_job("failed", error_code="not_found", error_message="The server said 404.")
    make_job("completed")
    assert staff_api.get("/api/jobs/").json()["count"] == 2
    failed = staff_api.get("/api/jobs/?status=failed").json()["results"]
    assert [(j["status"], j["error_code"]) for j in failed] == [("failed", "not_found")]
    assert staff_api.get("/api/jobs/?status=nope").status_code == 400
    assert staff_api.get("/api/jobs/?song=nope").status_code == 400


def test_a_job_shows_its_log(staff_api):
    job = make_job()
    JobLog.objects.create(job=job, event="failed", stage="download", message="not_found: 404")
    body = staff_api.get(f"/api/jobs/{job.pk}").json()
    assert body["log"] == [{"at": body["log"][0]["at"], "event": "failed", "stage": "download", "message": "not_found: 404"}]


def test_a_failed_job_is_retried_and_a_completed_one_is_refused(staff_api):
    failed, completed = make_job("failed"), make_job("completed")
    response = staff_api.post(f"/api/jobs/{failed.pk}/retry")
    assert response.status_code == 202 and response.json()["status"] == "pending"
    assert response.json()["manual_retries"] == 1
    refused = staff_api.post(f"/api/jobs/{completed.pk}/retry")
    assert refused.status_code == 409
    assert refused.json() == {
        "message": "Only a failed or cancelled job can be retried; this one is completed.",
        "extra": {"job": str(completed.pk), "status": "completed"},
    }


def test_a_queued_job_is_cancelled_at_once(staff_api):
    job = make_job("queued")
    assert staff_api.post(f"/api/jobs/{job.pk}/cancel").json()["status"] == "cancelled"
    assert Song.objects.get(pk=job.song_id).status == "cancelled"  # not an error: reprocess imports it


def test_a_running_job_is_asked_to_stop(staff_api):
    job = make_job("running")
    body = staff_api.post(f"/api/jobs/{job.pk}/cancel").json()
    assert body["status"] == "running" and body["cancel_requested"] is True


def test_statistics_count_statuses_and_time_stages(staff_api):
    for seconds in (1, 2, 3, 4, 100):
        make_job("completed", stage_seconds={"download": seconds, "transcode": 0.5})
    make_job("failed")
    stats = staff_api.get("/api/jobs/stats").json()
    assert stats["by_status"]["completed"] == 5 and stats["by_status"]["failed"] == 1
    assert stats["success_rate"] == pytest.approx(5 / 6, abs=1e-3)
    assert stats["stages"]["download"] == {"count": 5, "mean_seconds": 22.0, "p95_seconds": 100.0}


def test_singers_cannot_see_jobs(singer_user):
    client = APIClient()
    client.force_authenticate(singer_user)
    assert client.get("/api/jobs/").status_code == 403
