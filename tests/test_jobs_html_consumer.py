"""/ws/jobs/html/: the Jobs page's rows pushed as HTML for the htmx WebSocket extension.

Staff only; the first message is the rows of the active jobs (and of jobs changed since the
page was drawn); then each event is the fragment the page would render, with its id and
its out-of-band swap.
"""

import asyncio
import re
from datetime import timedelta
from urllib.parse import quote

import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.test import Client
from django.utils import timezone

from jobs import events, services
from jobs.models import Job
from songs import imports
from tests.helpers import page_cookies, roots, session_cookies, ws_communicator

pytestmark = pytest.mark.django_db(transaction=True)


def import_job(video_id: str) -> Job:
    return imports.song_import_url(url=f"https://www.youtube.com/watch?v={video_id}").job


def oob_of(html: str, element_id: str) -> str | None:
    match = re.search(rf'<\w+ id="{re.escape(element_id)}"[^>]*>', html)
    assert match, f"no element with id {element_id} in {html[:300]}"
    oob = re.search(r'hx-swap-oob="([^"]*)"', match.group(0))
    return oob.group(1) if oob else None


@pytest.mark.parametrize("who", ["anonymous", "singer"])
def test_it_turns_away_anyone_but_staff(who, singer_user):
    cookies = session_cookies(singer_user) if who == "singer" else None

    async def scenario():
        ws = ws_communicator("/ws/jobs/html/", cookies)
        connected, code = await ws.connect()
        await ws.disconnect()
        return connected, code

    assert asyncio.run(scenario()) == (False, 4403)


def test_it_sends_the_rows_of_the_active_jobs_first_oldest_first(staff_user):
    older = import_job("aaaaaaaaaaa")
    newer = import_job("bbbbbbbbbbb")
    finished = import_job("ccccccccccc")
    services.job_cancel(job=finished)
    cookies = page_cookies(staff_user)

    async def scenario():
        ws = ws_communicator("/ws/jobs/html/", cookies)
        connected, _ = await ws.connect()
        assert connected
        state = await ws.receive_from(timeout=5)
        await ws.disconnect()
        return state

    state = asyncio.run(scenario())
    # Pushed on top one by one, the newest ends up first, as the page draws them.
    ids = [element_id for tag, element_id, _ in roots(state) if tag == "li"]
    assert ids == [f"job-{older.pk}", f"job-{newer.pk}"]
    assert oob_of(state, f"job-{older.pk}") == "true"
    assert f'<div id="job-{older.pk}-progress" class="job-progress">' in state  # inside the row, not swapped alone
    assert "Cancel</button>" in state and "hx-trigger" not in state


def test_a_reconnect_also_gets_the_jobs_changed_since_the_page_was_drawn(staff_user):
    job = import_job("aaaaaaaaaaa")
    drawn = timezone.now() - timedelta(seconds=1)
    services.job_cancel(job=job)  # finished while the socket was down
    old = import_job("bbbbbbbbbbb")
    services.job_cancel(job=old)
    Job.objects.filter(pk=old.pk).update(updated_at=drawn - timedelta(hours=1))  # before the page was drawn
    cookies = page_cookies(staff_user)

    async def scenario():
        ws = ws_communicator(f"/ws/jobs/html/?since={quote(drawn.isoformat())}", cookies)
        await ws.connect()
        state = await ws.receive_from(timeout=5)
        await ws.disconnect()
        return state

    state = asyncio.run(scenario())
    assert [element_id for _, element_id, _ in roots(state)] == [f"job-{job.pk}"]
    assert "badge-cancelled" in state and "Retry</button>" in state


@pytest.mark.parametrize("since", ["nonsense", "2026-13-45T99:00:00", ""])
def test_a_bad_since_is_ignored(staff_user, since):
    job = import_job("aaaaaaaaaaa")
    cookies = page_cookies(staff_user)

    async def scenario():
        ws = ws_communicator(f"/ws/jobs/html/?since={quote(since)}", cookies)
        connected, _ = await ws.connect()
        state = await ws.receive_from(timeout=5)
        await ws.disconnect()
        return connected, state

    connected, state = asyncio.run(scenario())
    assert connected and [element_id for _, element_id, _ in roots(state)] == [f"job-{job.pk}"]


def test_each_event_is_the_fragment_the_page_renders_swapped_by_id(staff_user):
    job = import_job("aaaaaaaaaaa")
    cookies = page_cookies(staff_user)

    def progress():
        job.status, job.stage, job.progress, job.message = Job.Status.RUNNING, "download", 42.4, "Downloading 1.2 MB"
        events.job_progress(job)

    def cancel():
        services.job_cancel(job=job)

    def retry():
        services.job_retry(job=job)

    def heartbeat():
        services.worker_heartbeat_record(cluster="encore", token="t")

    async def scenario():
        ws = ws_communicator("/ws/jobs/html/", cookies)
        await ws.connect()
        await ws.receive_from(timeout=5)  # the state
        received = {}
        for action, count in ((progress, 1), (cancel, 1), (retry, 2), (heartbeat, 1)):
            await database_sync_to_async(action)()
            received[action.__name__] = [await ws.receive_from(timeout=5) for _ in range(count)]
        assert await ws.receive_nothing(timeout=0.3)
        await ws.disconnect()
        return received

    received = asyncio.run(scenario())
    [progressed], [cancelled], [retried, requeued], [beat] = (received[name] for name in ("progress", "cancel", "retry", "heartbeat"))

    # job.progress: only the progress part, from the payload.
    assert roots(progressed) == [("div", f"job-{job.pk}-progress", "true")]
    assert 'value="42"' in progressed and "download · 42 % · Downloading 1.2 MB" in progressed
    # job.finished: the whole row, read again, with its new badge and buttons.
    assert roots(cancelled) == [("li", f"job-{job.pk}", "true")]
    assert "badge-cancelled" in cancelled and "Retry</button>" in cancelled and "Cancel</button>" not in cancelled
    # job.updated (pending, then queued once enqueued): the row again, read when the event
    # is handled, so it shows the newest state.
    assert roots(retried) == roots(requeued) == [("li", f"job-{job.pk}", "true")]
    assert "manual retries 1" in retried and "badge-queued" in requeued
    # worker.heartbeat: the clusters list.
    assert roots(beat) == [("ul", "clusters", "true")]
    assert re.search(r'class="cluster alive">.*?<strong>encore</strong>', beat, re.S)


def test_a_job_that_is_gone_pushes_nothing(staff_user):
    job = import_job("aaaaaaaaaaa")
    cookies = page_cookies(staff_user)

    def vanish():
        payload_job = Job.objects.get(pk=job.pk)
        payload_job.song.delete()
        events.job_updated(payload_job)

    async def scenario():
        ws = ws_communicator("/ws/jobs/html/", cookies)
        await ws.connect()
        await ws.receive_from(timeout=5)
        await database_sync_to_async(vanish)()
        nothing = await ws.receive_nothing(timeout=0.5)
        await ws.disconnect()
        return nothing

    assert asyncio.run(scenario()) is True


def test_a_pushed_row_carries_a_working_csrf_token(staff_user):
    job = import_job("aaaaaaaaaaa")
    services.job_cancel(job=job)
    cookies = page_cookies(staff_user)

    async def scenario():
        ws = ws_communicator(f"/ws/jobs/html/?since={quote((timezone.now() - timedelta(minutes=1)).isoformat())}", cookies)
        await ws.connect()
        state = await ws.receive_from(timeout=5)
        await ws.disconnect()
        return state

    state = asyncio.run(scenario())
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', state).group(1)
    assert token != cookies[settings.CSRF_COOKIE_NAME]  # masked, as Django renders it
    # The Retry form of the pushed row, posted as a plain form (no htmx, no header).
    browser = Client(enforce_csrf_checks=True)
    browser.cookies.load(cookies)
    response = browser.post(f"/jobs/{job.pk}/retry", {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.manual_retries == 1


# Django 5.2's own {% csrf_token %} warns for the "NOTPROVIDED" sentinel that its csrf
# context processor hands out; nothing to do with us.
@pytest.mark.filterwarnings("ignore:Calling format_html:DeprecationWarning")
def test_without_a_csrf_cookie_pushed_forms_leave_the_token_to_htmx(staff_user):
    import_job("aaaaaaaaaaa")
    cookies = session_cookies(staff_user)

    async def scenario():
        ws = ws_communicator("/ws/jobs/html/", cookies)
        await ws.connect()
        state = await ws.receive_from(timeout=5)
        await ws.disconnect()
        return state

    state = asyncio.run(scenario())
    assert "Cancel</button>" in state and "csrfmiddlewaretoken" not in state
