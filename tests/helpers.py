"""Helpers the test modules share (fixtures live in conftest.py, which imports from here).

- the live site: `start_site` runs `manage.py serve` as a subprocess on the test database;
- signing in: `session_cookies` for a live site or a WebSocket, `page_cookies` as a browser
  that drew a page sends them, `sign_in` for a Playwright page;
- sockets: `ws_communicator` builds a Channels test client the way a browser connects,
  `roots` lists the top-level elements of a pushed HTML message;
- real audio (`make_audio`, by the real ffmpeg);
- the recorded providers: `point_providers_at` the local internet, then `serve_musicbrainz`,
  `serve_coverart` and `serve_lrclib` answer as MusicBrainz, the Cover Art Archive and
  LRCLIB did; `forget` drops a test's Redis keys.
"""

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import numpy as np
import requests
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import connection
from django.test import Client
from django.utils.crypto import get_random_string

from common.procs import free_port
from karaoke_site.asgi import application
from songs.audio.ffmpeg import ffmpeg_exe
from songs.pipeline import metadata

BASE_DIR = Path(__file__).resolve().parent.parent


# --- the live site ----------------------------------------------------------------------


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


THROTTLES = ("THROTTLE_SIGNIN_PER_ACCOUNT", "THROTTLE_SIGNIN_PER_ADDRESS", "THROTTLE_ROOM_PASSWORD_PER_CLIENT",
             "THROTTLE_ROOM_PASSWORD_PER_ROOM", "THROTTLE_ROOM_LOOKUPS", "THROTTLE_JOINS", "THROTTLE_IMPORTS")


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
        # Every client of a live site is 127.0.0.1, for the whole session: its throttles
        # would add up over the tests (tests/test_throttles.py tests them in-process).
        **{name: "1000000/1s" for name in THROTTLES},
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


# --- signing in ---------------------------------------------------------------------------


def session_cookies(user) -> dict[str, str]:
    """Cookies that sign `user` in to a live site sharing our database and DATA_DIR."""
    client = Client()
    client.force_login(user)
    return {settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value}


def page_cookies(user) -> dict[str, str]:
    """What a browser that drew a page sends: its session and its CSRF cookie."""
    return {**session_cookies(user), settings.CSRF_COOKIE_NAME: get_random_string(32)}


def sign_in(page, live_site, user) -> None:
    """Sign `user` in to the live site in a Playwright page's browser context."""
    page.context.add_cookies(
        [{"name": name, "value": value, "url": live_site.url} for name, value in session_cookies(user).items()]
    )


# --- sockets -------------------------------------------------------------------------------


def ws_communicator(path: str, cookies: dict[str, str] | None = None) -> WebsocketCommunicator:
    """A WebSocket to the site's ASGI application at `path`, from the site's own origin,
    with `cookies` (a browser's session) when given."""
    headers = [(b"host", b"testserver"), (b"origin", b"http://testserver")]
    if cookies:
        headers.append((b"cookie", "; ".join(f"{k}={v}" for k, v in cookies.items()).encode()))
    return WebsocketCommunicator(application, path, headers=headers)


VOID = {"input", "br", "img", "meta", "link", "hr"}


class _Roots(HTMLParser):
    def __init__(self):
        super().__init__()
        self.depth, self.found = 0, []

    def handle_starttag(self, tag, attrs):
        if self.depth == 0:
            attrs = dict(attrs)
            self.found.append((tag, attrs.get("id"), attrs.get("hx-swap-oob")))
        if tag not in VOID:
            self.depth += 1

    def handle_endtag(self, tag):
        if tag not in VOID:
            self.depth -= 1


def roots(html: str) -> list[tuple[str, str | None, str | None]]:
    """(tag, id, hx-swap-oob) of every top-level element of a pushed message: what the
    htmx WebSocket extension swaps, each by its own hx-swap-oob."""
    parser = _Roots()
    parser.feed(html)
    return parser.found


# Counts the fragments pushed over the WebSocket, from before the page's own scripts run.
COUNT_PUSHES = "document.addEventListener('htmx:wsAfterMessage', () => { window.pushes = (window.pushes || 0) + 1; });"


def open_live(page, url: str) -> None:
    """Open a party page and wait for its WebSocket's first message (the whole room)."""
    page.add_init_script(COUNT_PUSHES)
    page.goto(url)
    page.wait_for_function("window.pushes > 0")
    # Anything on `window` survives only if the page is never reloaded.
    page.evaluate("window.stillTheSamePage = true")


# --- audio -----------------------------------------------------------------------------------


def make_audio(seconds: float = 3.0, *, fmt: str = "mp3", frequency: int = 440) -> bytes:
    """Real audio made by the real ffmpeg (a sine tone); `m4a` is AAC as the pipeline's browser files."""
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


def decode_audio(path: Path, *, channels: int = 2, rate: int | None = None) -> np.ndarray:
    """A file's samples as float32, one row per channel (resampled to `rate` when given),
    decoded by the real ffmpeg: what the tests compare stems and measure pitch on."""
    command = [ffmpeg_exe(), "-nostdin", "-v", "error", "-i", str(path), "-f", "f32le", "-ac", str(channels)]
    raw = subprocess.run([*command, *(["-ar", str(rate)] if rate else []), "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, dtype="<f4").reshape(-1, channels).T.copy()


# --- the recorded providers ------------------------------------------------------------------

RECORDED = Path(__file__).parent / "recorded"
SEARCH = "/ws/2/recording/"
XML = {"Content-Type": "application/xml; charset=UTF-8"}
JSON = {"Content-Type": "application/json"}

STUDIO = "8a1e3ec3-93d4-4b54-a2c0-ecfc1e1b2d83"
ARRIVAL = "0b0b1cc5-2a1a-4d0e-8c6b-3a4f0d5e7a90"
JPEG = (RECORDED / "coverart" / "front.jpg").read_bytes()
PNG = (RECORDED / "coverart" / "front-250.png").read_bytes()


def point_providers_at(settings, internet, **overrides) -> str:
    """Every provider at the local server, keys of this test only; returns the key prefix."""
    prefix = f"test-providers:{uuid.uuid4().hex}"
    settings.MUSICBRAINZ_HOST = f"127.0.0.1:{internet.port}"
    settings.MUSICBRAINZ_HTTPS = False
    settings.MUSICBRAINZ_MIN_INTERVAL = 0.01  # the 1/s spacing has its own test (test_enrichment.py)
    settings.COVERART_URL = internet.url("")
    settings.LRCLIB_URL = internet.url("")
    settings.CONTACT_EMAIL = "host@example.org"
    settings.PROVIDER_USER_AGENT_CONTACT = "host@example.org"
    settings.PROVIDER_USER_AGENT = "Encore/1.0 ( host@example.org )"
    settings.PROVIDER_TIMEOUT = 3.0
    settings.PROVIDER_BREAKER_FAILURES = 2
    settings.PROVIDER_KEY_PREFIX = prefix
    for name, value in overrides.items():
        setattr(settings, name, value)
    return prefix


def provider_environment(internet) -> dict[str, str]:
    """`point_providers_at` for a site started as a subprocess: its environment."""
    return {"MUSICBRAINZ_HOST": f"127.0.0.1:{internet.port}", "MUSICBRAINZ_HTTPS": "false",
            "MUSICBRAINZ_MIN_INTERVAL": "0.01", "COVERART_URL": internet.url(""), "LRCLIB_URL": internet.url(""),
            "CONTACT_EMAIL": "host@example.org", "PROVIDER_TIMEOUT": "3"}


def forget(prefix: str) -> None:
    """Drop the Redis keys (limiter, breakers) a test made under `prefix`."""
    client = metadata.redis_client()
    for name in client.scan_iter(match=f"*{prefix}*"):
        client.delete(name)


def serve_musicbrainz(internet, name="recording-dancing-queen.xml", status=200, **options):
    internet.add_route(SEARCH, status, (RECORDED / "musicbrainz" / name).read_bytes(), XML, **options)


def serve_coverart(internet, *, thumbnails=True):
    listing = (RECORDED / "coverart" / "release-arrival.json").read_text()
    internet.add_route(f"/release/{ARRIVAL}", 200, listing.replace("http://coverartarchive.org", internet.url("")), JSON)
    internet.add_file(f"/release/{ARRIVAL}/5769425243.jpg", JPEG, "image/jpeg")
    if thumbnails:
        internet.add_file(f"/release/{ARRIVAL}/5769425243-250.jpg", PNG, "image/png")


def serve_lrclib(internet, get="get-dancing-queen.json", search="search-dancing-queen.json", **options):
    if get:
        internet.add_route("/api/get", 200, (RECORDED / "lrclib" / get).read_bytes(), JSON, **options)
    if search:
        internet.add_route("/api/search", 200, (RECORDED / "lrclib" / search).read_bytes(), JSON, **options)


# --- accessibility ---------------------------------------------------------------------------

# A pinned copy from the npm registry (tests/vendor/README.md), used only by the tests.
AXE = Path(__file__).resolve().parent / "vendor" / "axe-core-4.14.1.min.js"


def axe_violations(page, *, impacts=("serious", "critical")) -> list[str]:
    """What axe-core finds against WCAG 2.1 A and AA on the page as it is now."""
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("""async () => {
      const tags = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
      const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
      return result.violations.map(v => [v.impact, `${v.id}: ${v.nodes.map(n => n.target.join(' ')).slice(0, 5).join(', ')}`]);
    }""")
    return [text for impact, text in found if impact in impacts]


def assert_accessible(page) -> None:
    """axe-core finds nothing at all against WCAG 2.1 A and AA on the page as it is now."""
    violations = axe_violations(page, impacts=("minor", "moderate", "serious", "critical"))
    assert violations == [], violations


TOUCH_TARGETS = "button:visible, a:visible, select:visible, input:visible:not([type=hidden]), summary:visible"


def small_touch_targets(page, selector: str = "body") -> list[tuple[str, dict]]:
    """The controls in `selector` smaller than 44 x 44 CSS px (a thumb's size)."""
    small = []
    for target in page.locator(selector).locator(TOUCH_TARGETS).all():
        # A checkbox or radio button is pressed through its label too: the label is the target.
        box = target.evaluate("""e => {
          const label = ['checkbox', 'radio'].includes(e.type) ? e.closest('label') : null;
          const r = (label || e).getBoundingClientRect();
          return {x: r.x, y: r.y, width: r.width, height: r.height};
        }""")
        if box and (box["height"] < 44 or box["width"] < 44):
            small.append(((target.get_attribute("id") or target.inner_text() or target.get_attribute("name") or "?")[:40],
                          {k: round(v) for k, v in box.items()}))
    return small


def assert_touch_targets(page, selector: str) -> None:
    """Every control in `selector` is at least 44 px tall and wide."""
    assert small_touch_targets(page, selector) == []

