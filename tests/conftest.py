"""Fixtures shared by the whole suite.

The slow ones start real things: the site itself (`manage.py serve` as a
subprocess: uvicorn plus real qclusters, against the test database), a local
"internet" serving recorded responses, and Chromium driven by Playwright.
"""

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from django.conf import settings
from django.db import connection
from django.test import Client
from hypothesis import settings as settings_profiles

from common.procs import free_port
from tests.internet import LocalInternet

BASE_DIR = Path(__file__).resolve().parent.parent

# CI runs the property tests on fixed examples (derandomized, no example
# database): a failure there is reproducible, and never a matter of luck.
# Locally they explore new examples on every run.
settings_profiles.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings_profiles.load_profile("ci")
CHROMIUM = "/usr/bin/chromium"
# Fixtures that run the site as a subprocess, which reads the real settings.
LIVE_FIXTURES = {"live_site", "live_site_server", "crash_site"}


def database_url() -> str:
    """The test database, as a URL a subprocess of the site can use."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    credentials = quote(db["USER"] or "")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"])
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@dataclass
class LiveSite:
    process: subprocess.Popen
    port: int
    log_path: Path
    clusters: tuple[str, ...] = ("encore", "separation")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def log(self, lines: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def wait_healthy(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the site exited with {self.process.returncode}:\n{self.log()}")
            try:
                last = requests.get(f"{self.url}/healthz", timeout=5)
                # Healthy for this site: clusters it does not run may be absent.
                failing = [
                    part for part in last.json().get("failing", [])
                    if not (part.startswith("cluster:") and part.split(":", 1)[1] not in self.clusters)
                ]
                if not failing:
                    return
            except requests.RequestException as exc:
                last = exc
            time.sleep(0.3)
        raise RuntimeError(f"the site was not healthy after {timeout} s (last: {getattr(last, 'text', last)}):\n{self.log()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def start_site(*, extra_env: dict | None = None, clusters: str | None = None, port: int | None = None) -> LiveSite:
    """The site as a subprocess, healthy. `port`: a given one (a site started again where
    clients knew it, after `stop()`); a free one otherwise."""
    port = port or free_port()
    log_path = Path(settings.DATA_DIR) / f"site-{port}.log"
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DATA_DIR": str(settings.DATA_DIR),
        # The site's workers beat once as they start (its readiness check needs
        # that), then rarely: the heartbeat table belongs to the unit tests
        # sharing this database, which assert on exactly what is in it.
        "WORKER_HEARTBEAT_INTERVAL": "3600",
        "WORKER_HEARTBEAT_STALE_AFTER": "7200",
        **(extra_env or {}),
    }
    argv = [sys.executable, str(BASE_DIR / "manage.py"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    if clusters is not None:
        argv += ["--clusters", clusters]
    with log_path.open("ab") as log:  # appended: a site started again on its port keeps the first log
        process = subprocess.Popen(
            argv, cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, process_group=0
        )
    names = tuple(clusters.split(",")) if clusters is not None else ("encore", "separation")
    site = LiveSite(process=process, port=port, log_path=log_path, clusters=names)
    try:
        site.wait_healthy()
    except Exception:
        site.stop()
        raise
    return site


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
        from songs.pipeline.runner import run_job

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
    from jobs import services as job_services

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
    from tests.demucs_model import SMALL_NAME, build_small_htdemucs

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
def isolated_media(request, settings, tmp_path):
    """Each test its own MEDIA_ROOT: a rolled-back test leaves no files for the next.

    Tests on the live site share the site's MEDIA_ROOT instead (a subprocess
    cannot see this override).
    """
    if not LIVE_FIXTURES.intersection(request.fixturenames):
        settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(scope="session")
def live_site_server(django_db_setup, django_db_blocker):
    """The real site (web server and both qclusters) on the test database, for the session."""
    site = start_site()
    yield site
    site.stop()


@pytest.fixture
def live_site(live_site_server, transactional_db):
    """The running site, for a test whose rows must be visible to it (committed)."""
    if live_site_server.process.poll() is not None:
        pytest.fail(f"the live site died:\n{live_site_server.log()}")
    return live_site_server


def session_cookies(user) -> dict[str, str]:
    """Cookies that sign `user` in to a live site sharing our database and DATA_DIR."""
    client = Client()
    client.force_login(user)
    return {settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value}


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user(
        username="alice", password="a-long-party-password", is_staff=True, display_name="Alice"
    )


@pytest.fixture
def singer_user(django_user_model):
    return django_user_model.objects.create_user(username="bob", password="bobs-long-password", display_name="Bob")


def make_audio(seconds: float = 3.0, *, fmt: str = "mp3", frequency: int = 440) -> bytes:
    """Real audio made by the real ffmpeg (a sine tone); `m4a` is AAC as the pipeline's browser files."""
    import tempfile

    from songs.audio.ffmpeg import ffmpeg_exe

    codec = {
        "mp3": ["-c:a", "libmp3lame"], "wav": ["-c:a", "pcm_s16le"], "ogg": ["-c:a", "libvorbis"],
        "m4a": ["-c:a", "aac", "-b:a", "96k", "-movflags", "+faststart"],
    }[fmt]
    source = [ffmpeg_exe(), "-nostdin", "-v", "error", "-f", "lavfi", "-i", f"sine=frequency={frequency}:duration={seconds}",
              "-ac", "2", *codec]
    if fmt == "m4a":
        # MP4 writes its index after the audio: it needs a file it can seek in, not a pipe.
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "audio.m4a"
            subprocess.run([*source, str(path)], check=True, capture_output=True)
            return path.read_bytes()
    done = subprocess.run([*source, "-f", fmt, "-"], check=True, capture_output=True)
    return done.stdout


@pytest.fixture(scope="session")
def song_mp3() -> bytes:
    return make_audio(3.0)


class EventRecorder:
    """Listens on channel-layer groups, like a consumer would, and keeps what arrives."""

    def __init__(self, groups):
        from asgiref.sync import async_to_sync
        from channels.layers import get_channel_layer

        self._sync = async_to_sync
        self.layer = get_channel_layer()
        self.groups = list(groups)
        self.channel = async_to_sync(self.layer.new_channel)()
        for group in self.groups:
            async_to_sync(self.layer.group_add)(group, self.channel)

    def drain(self, timeout: float = 0.3) -> list[dict]:
        import asyncio

        from common import events

        # Events leave on a background thread: what was published is sent first.
        assert events.flush(), "the events were not sent within 5 s"

        async def receive_all():
            received = []
            while True:
                try:
                    received.append(await asyncio.wait_for(self.layer.receive(self.channel), timeout))
                except TimeoutError:
                    return received

        return self._sync(receive_all)()

    def types(self, timeout: float = 0.3) -> list[str]:
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
    from channels.layers import channel_layers

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
def host(staff_user) -> Client:
    """A browser-like client signed in as staff (Alice), for the pages."""
    client = Client()
    client.force_login(staff_user)
    return client


@pytest.fixture
def key() -> str:
    """A Redis key prefix of this test's own."""
    import uuid

    return f"test-providers:{uuid.uuid4().hex}"


@pytest.fixture
def redis_client(key: str):
    import redis

    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    yield client
    # Only this test's keys: another pytest run may share the database right now.
    for name in client.scan_iter(match=f"{key}*"):
        client.delete(name)
    client.close()


@pytest.fixture
def api(staff_user):
    """An API client signed in as staff (Alice)."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(staff_user)
    return client


@pytest.fixture
def singer_api(singer_user):
    """An API client signed in as a singer who is not staff (Bob)."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(singer_user)
    return client


# --- browser ------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    """Chromium for one test module.

    Not for the session: Playwright's sync API keeps an event loop running in
    this thread until it stops, and every later asyncio.run / async_to_sync in
    the session would then fail.
    """
    from playwright.sync_api import sync_playwright

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
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()
