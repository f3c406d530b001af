"""The Jobs page: the list, its filter, worker health, its live socket, Retry and Cancel."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from jobs.models import Job, WorkerHeartbeat
from songs import imports

# Transactional: Retry enqueues on commit, and the recorder below must see it.
pytestmark = pytest.mark.django_db(transaction=True)

HTMX = {"HTTP_HX_REQUEST": "true"}


def import_job(video_id: str) -> Job:
    return imports.song_import_url(url=f"https://www.youtube.com/watch?v={video_id}").job


def failed_job(video_id: str = "aaaaaaaaaaa") -> Job:
    job = import_job(video_id)
    Job.objects.filter(pk=job.pk).update(
        status=Job.Status.FAILED, error_code="not_found", error_message="The server says this file does not exist.",
        finished_at=timezone.now(),
    )
    job.refresh_from_db()
    return job


def job_ids(response) -> list[str]:
    return re.findall(r'<li id="job-([0-9a-f-]{36})"', response.content.decode())


def test_it_lists_jobs_newest_first_with_worker_health(staff_client):
    WorkerHeartbeat.objects.create(cluster="encore", host="box", pid=1, beat_at=timezone.now())
    first = import_job("aaaaaaaaaaa")
    second = failed_job("bbbbbbbbbbb")
    response = staff_client.get("/jobs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html
    assert job_ids(response) == [str(second.pk), str(first.pk)]
    assert "not_found" in html and "does not exist" in html
    # The encore cluster beat just now; the separation cluster was never seen.
    assert re.search(r'class="cluster alive">.*?<strong>encore</strong>', html, re.S)
    assert re.search(r'class="cluster dead">.*?<strong>separation</strong>\s*never seen', html, re.S)


def test_it_needs_a_host():
    response = Client().get("/jobs/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_it_filters_by_status_and_answers_htmx_with_the_list_only(staff_client):
    queued_one = import_job("aaaaaaaaaaa")
    failed = failed_job("bbbbbbbbbbb")
    assert job_ids(staff_client.get("/jobs/?status=failed")) == [str(failed.pk)]
    response = staff_client.get("/jobs/?status=queued", **HTMX)
    html = response.content.decode()
    assert "<html" not in html and html.lstrip().startswith('<section id="job-list-panel"')
    assert job_ids(response) == [str(queued_one.pk)]


def test_rows_do_not_poll_the_page_listens_instead(staff_client):
    active = import_job("aaaaaaaaaaa")
    done = failed_job("bbbbbbbbbbb")
    page = staff_client.get("/jobs/").content.decode()
    assert "hx-trigger" not in page.split('<section id="job-list-panel"')[1] and "every " not in page
    assert "?after=" not in page
    # The rows are pushed by /ws/jobs/html/; jobs the page does not show yet go on top.
    panel = re.search(r'<section id="job-list-panel"([^>]*)>', page).group(1)
    assert 'hx-ext="ws,encore-push"' in panel and 'ws-connect="/ws/jobs/html/?since=' in panel
    assert 'data-new-rows="afterbegin:#job-list"' in panel
    active_row = staff_client.get(f"/jobs/{active.pk}/", **HTMX).content.decode()
    assert f'<div id="job-{active.pk}-progress" class="job-progress">' in active_row and "<progress" in active_row
    assert "hx-swap-oob" not in active_row
    assert "hx-trigger" not in staff_client.get(f"/jobs/{done.pk}/", **HTMX).content.decode()


def test_a_filtered_list_takes_no_new_rows_from_the_socket(staff_client):
    panel = staff_client.get("/jobs/?status=failed", **HTMX).content.decode()
    assert 'ws-connect="/ws/jobs/html/?since=' in panel and "data-new-rows" not in panel


def test_it_retries_a_failed_job_from_its_button(staff_client, queued):
    job = failed_job()
    row = staff_client.get("/jobs/").content.decode()
    assert f'hx-post="/jobs/{job.pk}/retry"' in row and f"/jobs/{job.pk}/cancel" not in row

    response = staff_client.post(f"/jobs/{job.pk}/retry", **HTMX)
    assert response.status_code == 200
    job.refresh_from_db()
    assert job.status == Job.Status.QUEUED and job.manual_retries == 1
    assert queued[-1][1][0] == str(job.pk)
    html = response.content.decode()
    assert html.lstrip().startswith(f'<li id="job-{job.pk}"') and "<progress" in html
    assert "Cancel" in html and "Retry</button>" not in html


def test_it_cancels_a_queued_job_from_its_button(staff_client):
    job = import_job("aaaaaaaaaaa")
    response = staff_client.post(f"/jobs/{job.pk}/cancel", **HTMX)
    assert response.status_code == 200
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED
    assert "Retry</button>" in response.content.decode()


def test_it_shows_illegal_retry_and_cancel_on_the_row_with_409(staff_client):
    job = import_job("aaaaaaaaaaa")
    Job.objects.filter(pk=job.pk).update(status=Job.Status.COMPLETED, progress=100)

    retry = staff_client.post(f"/jobs/{job.pk}/retry", **HTMX)
    assert retry.status_code == 409
    assert f'<li id="job-{job.pk}"' in retry.content.decode()
    assert "Only a failed or cancelled job can be retried" in retry.content.decode()

    cancel = staff_client.post(f"/jobs/{job.pk}/cancel", **HTMX)
    assert cancel.status_code == 409 and "cannot be cancelled" in cancel.content.decode()
    job.refresh_from_db()
    assert job.status == Job.Status.COMPLETED and job.manual_retries == 0


def test_it_refuses_retries_beyond_the_limit_with_409(staff_client, settings):
    settings.JOB_MAX_MANUAL_RETRIES = 1
    job = failed_job()
    Job.objects.filter(pk=job.pk).update(manual_retries=1)
    response = staff_client.post(f"/jobs/{job.pk}/retry", **HTMX)
    assert response.status_code == 409 and "the limit is 1" in response.content.decode()


def test_without_htmx_the_buttons_redirect_with_a_message(staff_client):
    job = import_job("aaaaaaaaaaa")
    Job.objects.filter(pk=job.pk).update(status=Job.Status.COMPLETED)
    response = staff_client.post(f"/jobs/{job.pk}/cancel", follow=True)
    assert response.redirect_chain == [("/jobs/", 302)]
    assert "cannot be cancelled" in response.content.decode()


def test_a_job_that_is_gone_disappears_from_the_page(staff_client):
    job = import_job("aaaaaaaaaaa")
    job.song.delete()
    assert staff_client.get(f"/jobs/{job.pk}/", **HTMX).status_code == 404
    assert staff_client.post(f"/jobs/{job.pk}/retry", **HTMX).content == b""
    assert staff_client.post(f"/jobs/{job.pk}/retry").status_code == 404


def test_old_heartbeats_show_a_silent_cluster(staff_client):
    WorkerHeartbeat.objects.create(cluster="encore", host="box", pid=1, beat_at=timezone.now() - timedelta(hours=1))
    html = staff_client.get("/jobs/").content.decode()
    assert re.search(r'class="cluster dead">.*?<strong>encore</strong>\s*silent for 3600 s', html, re.S)
