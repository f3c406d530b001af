"""Fixtures shared by the whole suite (helpers that are not fixtures are in helpers.py).

The slow ones start real things: the site itself (`manage.py serve` as a
subprocess: uvicorn plus real qclusters, against the test database), a local
"internet" serving recorded responses, and Chromium driven by Playwright.

Personas, one meaning each: Alice (`staff_user`) is staff, Bob (`singer_user`) sings
with an account, Carol (`carol`) is a host who opens rooms and is not staff;
`staff_client`, `staff_api` and `singer_api` are clients signed in as them. A module's
own `host` is a room's host, never staff.
"""

import asyncio
import os
import uuid
from pathlib import Path

import psutil
import pytest
import redis
from asgiref.sync import async_to_sync
from channels.layers import channel_layers, get_channel_layer
from django.conf import settings
from django.test import Client
from hypothesis import settings as settings_profiles
from playwright.sync_api import sync_playwright
from rest_framework.test import APIClient

from common import events
from jobs import services as job_services
from songs.pipeline.runner import run_job
from tests.demucs_model import SMALL_NAME, build_small_htdemucs
from tests.factories import UserFactory
from tests.helpers import (
    forget,
    make_audio,
    point_providers_at,
    serve_coverart,
    serve_lrclib,
    serve_musicbrainz,
    start_site,
)
from tests.internet import LocalInternet

# CI runs the property tests on fixed examples (derandomized, no example
# database): a failure there is reproducible, and never a matter of luck.
# Locally they explore new examples on every run.
settings_profiles.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings_profiles.load_profile("ci")
CHROMIUM = "/usr/bin/chromium"
# Fixtures that run the site as a subprocess, which reads the real settings.
LIVE_FIXTURES = {"live_site", "live_site_server", "crash_site", "own_site"}


class InProcessBroker:
    """Stands in for Django-Q2 in tests that run jobs in this process.

    Tasks are recorded as they are enqueued (on commit); `run(job)` delivers a
    job's tasks one by one to the runner, each to the cluster it was routed
    to, as the real clusters would, until the job enqueues nothing more. (A
    live site running in the same session must not pick these jobs up; the real
    broker and qclusters are exercised by the live tests.)
    """

    def __init__(self):
        self.tasks: list[tuple[str, tuple, str | None]] = []

    def record(self, func, *args, **kwargs):
        self.tasks.append((func, args, kwargs.get("cluster")))
        return f"task-{len(self.tasks)}"

    def run(self, job, *, limit: int = 20):
        job_id = str(getattr(job, "pk", job))
        for _ in range(limit):
            mine = [task for task in self.tasks if task[0] == settings.JOBS_TASK and task[1][0] == job_id]
            if not mine:
                break
            self.tasks.remove(mine[0])
            run_job(job_id=job_id, cluster=mine[0][1][1])
        if hasattr(job, "refresh_from_db"):
            job.refresh_from_db()
            job.song.refresh_from_db()
        return job


@pytest.fixture(autouse=True)
def broker(request, monkeypatch):
    if LIVE_FIXTURES.intersection(request.fixturenames):
        return None
    stand_in = InProcessBroker()
    monkeypatch.setattr(job_services, "async_task", stand_in.record)
    return stand_in


@pytest.fixture
def queued(broker):
    """The tasks enqueued so far: (function, args, cluster)."""
    return broker.tasks


@pytest.fixture(scope="session", autouse=True)
def demucs_test_model():
    """The small real HTDemucs, saved where the loader reads DEMUCS_MODEL_DIR.

    The plugin points DEMUCS_MODEL / DEMUCS_MODEL_DIR at it for this process and
    every site subprocess; it is built once per run (about a second).
    """
    folder = Path(os.environ["DEMUCS_MODEL_DIR"])
    if not (folder / f"{SMALL_NAME}.yaml").exists():
        build_small_htdemucs(folder)
    return folder


@pytest.fixture(autouse=True)
def fast_password_hashing(request, settings):
    # The real hasher costs about a second per user on these machines; a live
    # site (a subprocess with the real settings) must be able to check them.
    if not LIVE_FIXTURES.intersection(request.fixturenames):
        settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def own_throttle_counts(settings):
    """Each test counts its own attempts (common/throttle.py): the counts live in Redis,
    and every test client comes from 127.0.0.1. (A live site keeps the real keys.)"""
    settings.THROTTLE_KEY_PREFIX = f"throttle-test-{uuid.uuid4().hex}"


@pytest.fixture(autouse=True)
def isolated_media(request, settings, tmp_path):
    """Each test its own MEDIA_ROOT: a rolled-back test leaves no files for the next.

    Tests on the live site share the site's MEDIA_ROOT instead (a subprocess
    cannot see this override).
    """
    if not LIVE_FIXTURES.intersection(request.fixturenames):
        settings.MEDIA_ROOT = tmp_path / "media"


_SESSION_SITES: list = []  # the session's live site, once a test has started it


@pytest.fixture(scope="session")
def live_site_server(django_db_setup, django_db_blocker):
    """The real site (web server and both qclusters) on the test database, for the session."""
    site = start_site()
    _SESSION_SITES.append(site)
    yield site
    site.stop()


@pytest.fixture
def session_site_paused():
    """The session's live site, if a test started it, shares the database and the broker:
    its workers would take this test's jobs or tasks. They are paused (SIGSTOP) for the
    test and resumed after it."""
    paused = []
    for site in _SESSION_SITES:
        if site.process.poll() is None:
            for child in psutil.Process(site.process.pid).children():
                try:
                    if "qcluster" not in " ".join(child.cmdline()):
                        continue
                    # The cluster and every process it started (its pusher and workers
                    # may be spawned, with another command line).
                    for process in [child, *child.children(recursive=True)]:
                        process.suspend()
                        paused.append(process)
                except psutil.NoSuchProcess:
                    pass
    yield
    for process in paused:
        try:
            process.resume()
        except psutil.NoSuchProcess:
            pass


@pytest.fixture
def own_site(django_db_setup, transactional_db, session_site_paused):
    """For a test that starts (and restarts) sites of its own with tests.helpers.start_site:
    the test database, the real broker and the real media folder (LIVE_FIXTURES)."""


@pytest.fixture
def live_site(live_site_server, transactional_db):
    """The running site, for a test whose rows must be visible to it (committed)."""
    if live_site_server.process.poll() is not None:
        pytest.fail(f"the live site died:\n{live_site_server.log()}")
    return live_site_server


@pytest.fixture(scope="session")
def song_mp3() -> bytes:
    return make_audio(3.0)


class EventRecorder:
    """Listens on channel-layer groups, like a consumer would, and keeps what arrives."""

    def __init__(self, groups):
        # Events leave on a background thread: one published before this recorder (a
        # request's "pending", say) could otherwise still arrive after it subscribed.
        assert events.flush(), "the events were not sent within 5 s"
        self._sync = async_to_sync
        self.layer = get_channel_layer()
        self.groups = list(groups)
        self.channel = async_to_sync(self.layer.new_channel)()
        for group in self.groups:
            async_to_sync(self.layer.group_add)(group, self.channel)

    def drain(self, timeout: float = 1.0) -> list[dict]:
        # Events leave on a background thread: what was published is sent first. Then
        # everything is in Redis, but on a loaded machine the second of two events once
        # came more than 0.3 s after the first (CI, test_queue_services.py): `timeout` is
        # the quiet that ends the drain.
        assert events.flush(), "the events were not sent within 5 s"

        async def receive_all():
            received = []
            while True:
                try:
                    received.append(await asyncio.wait_for(self.layer.receive(self.channel), timeout))
                except TimeoutError:
                    return received

        return self._sync(receive_all)()

    def types(self, timeout: float = 1.0) -> list[str]:
        return [event["type"] for event in self.drain(timeout)]

    def close(self) -> None:
        for group in self.groups:
            self._sync(self.layer.group_discard)(group, self.channel)


@pytest.fixture
def fresh_channel_layer():
    """A channel layer of this test's own, for tests that run several event loops.

    channels-redis keeps asyncio locks across loops; a receive cancelled while it
    waits for one (a consumer's, or the room fan-out's, at disconnect) leaves that
    lock bound to a loop that the next test's asyncio.run() is not. One server
    process runs one loop, so this is the tests' problem only.
    """
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture
def listen():
    recorders = []

    def start(*groups) -> EventRecorder:
        recorder = EventRecorder(groups)
        recorders.append(recorder)
        return recorder

    yield start
    for recorder in recorders:
        recorder.close()


@pytest.fixture
def internet():
    """A local stand-in for the internet: files and recorded responses on 127.0.0.1."""
    with LocalInternet() as server:
        yield server


@pytest.fixture
def key() -> str:
    """A Redis key prefix of this test's own."""
    return f"test-providers:{uuid.uuid4().hex}"


@pytest.fixture
def redis_client(key: str):
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    yield client
    # Only this test's keys: another pytest run may share the database right now.
    for name in client.scan_iter(match=f"{key}*"):
        client.delete(name)
    client.close()


# --- personas -------------------------------------------------------------------


@pytest.fixture
def staff_user(db):
    """Alice: staff (the whole site and the admin); signs in with a password."""
    return UserFactory(username="alice", password="a-long-party-password", staff=True, display_name="Alice")


@pytest.fixture
def singer_user(db):
    """Bob: a singer with an account, neither staff nor a host; signs in with a password."""
    return UserFactory(username="bob", password="bobs-long-password", display_name="Bob")


@pytest.fixture
def carol(db):
    """Carol: a host (opens rooms and runs her own), not staff."""
    return UserFactory(username="carol", display_name="Carol", host=True)


@pytest.fixture
def staff_client(staff_user) -> Client:
    """A browser-like client signed in as Alice (staff), for the pages."""
    client = Client()
    client.force_login(staff_user)
    return client


@pytest.fixture
def staff_api(staff_user) -> APIClient:
    """An API client signed in as Alice (staff)."""
    client = APIClient()
    client.force_authenticate(staff_user)
    return client


@pytest.fixture
def singer_api(singer_user) -> APIClient:
    """An API client signed in as Bob (a singer, not staff)."""
    client = APIClient()
    client.force_authenticate(singer_user)
    return client


# --- the recorded providers --------------------------------------------------------


@pytest.fixture
def providers(settings, internet):
    """Every provider (MusicBrainz, Cover Art Archive, LRCLIB) at the local internet,
    which answers nothing yet: the test serves what it needs (helpers.serve_*)."""
    prefix = point_providers_at(settings, internet)
    yield internet
    forget(prefix)


@pytest.fixture
def recorded_providers(providers):
    """The providers, answering for Dancing Queen (ABBA) as they did when recorded."""
    serve_musicbrainz(providers)
    serve_coverart(providers)
    serve_lrclib(providers)
    return providers


# --- browser ------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    """Chromium for one test module.

    Not for the session: Playwright's sync API keeps an event loop running in
    this thread until it stops, and every later asyncio.run / async_to_sync in
    the session would then fail.
    """
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install -y chromium` (.ci/run does it)")
    # Meanwhile the test's own ORM calls are still plain synchronous code, so
    # Django may allow them despite the running loop.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    chromium = playwright.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=["--no-sandbox", "--headless", "--disable-background-networking", "--disable-gpu"],
    )
    yield chromium
    chromium.close()
    playwright.stop()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def page(browser):
    # Playwright's wait_for_function builds its predicate with eval, which the site's
    # Content-Security-Policy forbids: the browser tests look past the policy, and
    # tests/e2e/test_csp_browser.py drives the pages under it.
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()
