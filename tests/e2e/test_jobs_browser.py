"""The Jobs page in a real browser: a job started elsewhere appears on top and runs to the
end by push (/ws/jobs/html/), without a reload and without polling."""

import pytest
from playwright.sync_api import expect

from jobs.models import Job
from songs import imports
from tests.helpers import make_audio, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_a_new_job_appears_on_top_and_finishes_live(live_site, page, staff_user, internet):
    errors = []
    page.on("console", lambda message: message.type == "error" and "htmx" in message.text and errors.append(message.text))
    page.add_init_script("document.addEventListener('htmx:wsOpen', () => { window.socketOpen = true })")
    sign_in(page, live_site, staff_user)
    page.goto(live_site.url + "/jobs/")
    page.wait_for_function("window.socketOpen === true")
    page.evaluate("window.stillTheSamePage = true")

    audio = make_audio(6.0)
    internet.add_file("/live-job.mp3", audio, "audio/mpeg", chunk_size=len(audio) // 8 + 1, chunk_delay=0.4)
    job = imports.song_import_url(url=internet.url("/live-job.mp3"), user=staff_user).job

    row = page.locator(f"#job-{job.pk}")
    expect(row).to_be_visible(timeout=30_000)
    expect(page.locator("#job-list > li.job").first).to_have_id(f"job-{job.pk}")
    assert row.get_attribute("hx-trigger") is None
    expect(row.locator(".badge-completed")).to_be_visible(timeout=120_000)
    expect(row.locator("progress")).to_have_attribute("value", "100")
    expect(page.locator(f"#job-{job.pk}")).to_have_count(1)
    assert page.evaluate("window.stillTheSamePage") is True
    assert Job.objects.get(pk=job.pk).status == Job.Status.COMPLETED
    # No push was swapped blindly: htmx logs an error for an out-of-band swap without a target.
    assert errors == []
