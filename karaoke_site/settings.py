"""Encore settings: one module, every knob from the environment.

The defaults are the embedded set-up that ``make run`` starts on a laptop
(SQLite in DATA_DIR, an embedded redis-server, the ORM task broker). Production
changes environment variables, never this file. The README has the table.
"""

import os
import secrets
import sys
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from karaoke_site.env import (
    env_bool,
    env_choice,
    env_float,
    env_float_list,
    env_int,
    env_json_object,
    env_list,
    env_path,
    env_rate,
    env_str,
    env_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent

DATA_DIR = env_path("DATA_DIR", BASE_DIR / "data")
DATA_DIR.mkdir(parents=True, exist_ok=True)

# Off unless asked for (`make run` too): a debug page shows the code, the settings and
# the request to whoever causes an error, and the party's Wi-Fi is not a private network.
DEBUG = env_bool("DEBUG", False)


def _secret_key() -> str:
    key = env_str("SECRET_KEY")
    if key:
        return key
    # The embedded default (SQLite in DATA_DIR) is one machine: a key generated there
    # and kept beside the database is as safe as the database. With an external one,
    # several web servers may share it, and each would invent its own key.
    embedded = (env_str("DATABASE_URL") or "sqlite:").lower().startswith("sqlite:")
    if not (DEBUG or embedded):
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. With an external database (DATABASE_URL) Encore will not "
            "invent one: set SECRET_KEY to a long random string (for example the output of "
            "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`)."
        )
    # Generated once and kept, so sessions survive a restart; O_EXCL makes the
    # first of several processes starting at once win and the others read it.
    path = DATA_DIR / "secret_key"
    try:
        fd = path.open("x")
    except FileExistsError:
        return path.read_text().strip()
    with fd:
        fd.write(secrets.token_urlsafe(50))
    path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()

# A party runs on a LAN where phones reach the laptop by its address, so every
# host name is accepted unless the operator narrows it.
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["*"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
HOST = env_str("HOST", "0.0.0.0")
PORT = env_int("PORT", 8000, minimum=1, maximum=65535)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "django_q",
    "django_htmx",
    "csp",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "karaoke_site",
    "accounts",
    "songs",
    "jobs",
    "queue_app",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # A NUL byte in an address or a query is a 400 before any view reads it.
    "common.middleware.reject_nul_bytes",
    # Under /api/, a query parameter given twice is a 400 (none of them is a list).
    "common.middleware.api_query_once",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # A Throttled that no view answered where the user acted: a 429 with Retry-After.
    "common.middleware.ThrottledAnswers",
    # Room codes that match no room, counted per client on every room address.
    "queue_app.throttles.RoomLookupThrottle",
    "django_htmx.middleware.HtmxMiddleware",
    # Last: keeps the whole chain above in one thread per request (see its docstring).
    "common.middleware.SyncChain",
]

ROOT_URLCONF = "karaoke_site.urls"
ASGI_APPLICATION = "karaoke_site.asgi.application"
# The error answers (karaoke_site/views.py; handler400-500 in urls.py): JSON under /api/,
# friendly pages elsewhere. A debug page (DEBUG=true only) masks the passwords of URLs.
CSRF_FAILURE_VIEW = "karaoke_site.views.csrf_failure"
DEFAULT_EXCEPTION_REPORTER_FILTER = "common.debug.SecretsReporterFilter"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Behind an HTTPS proxy -----------------------------------------------------
# All off by default: `make run` serves plain HTTP on the party's network. A site
# behind an HTTPS reverse proxy turns them on (docs/deploy.md lists the set that
# `manage.py check --deploy` passes with).
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
# A load balancer's or supervisor's health check may ask over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)


def _proxy_ssl_header() -> tuple[str, str] | None:
    """SECURE_PROXY_SSL_HEADER=X-Forwarded-Proto (the value meaning HTTPS: `https`) or
    `Header-Name=value`: the header the proxy sets, as Django's META name."""
    value = env_str("SECURE_PROXY_SSL_HEADER")
    if not value:
        return None
    name, _, secure = value.partition("=")
    name, secure = name.strip(), secure.strip() or "https"
    if not name or not all(part.isalnum() for part in name.split("-")):
        raise ImproperlyConfigured(
            f"SECURE_PROXY_SSL_HEADER={value!r} should be a header name, optionally with the value that "
            "means HTTPS: X-Forwarded-Proto, or X-Forwarded-Proto=https."
        )
    return "HTTP_" + name.upper().replace("-", "_"), secure


SECURE_PROXY_SSL_HEADER = _proxy_ssl_header()

# Scripts from this site only (htmx and the pages' own, in static/): no inline script,
# no eval. Inline styles are allowed: the admin and the API docs (Swagger UI) write
# style attributes, and a style cannot run code. WebSockets are 'self' too (CSP 3).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, "'unsafe-inline'"],
        # YouTube's own image hosts: the thumbnails of search results (songs.selectors
        # shows no other host's image).
        "img-src": [SELF, "data:", "https://*.ytimg.com", "https://*.ggpht.com"],
        # blob: the TV plays a song still separating through Media Source Extensions
        # (hls.js), whose media URL is a blob: of the page's own making.
        "media-src": [SELF, "blob:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# --- Database ---------------------------------------------------------------

# Persistent connections only in the task workers: a qcluster worker is one
# long-lived thread, where reusing its connection makes the ORM broker 5-20x
# faster. Under ASGI every request's sync code runs in a fresh thread, so a
# persistent connection would be left behind per request until PostgreSQL
# refuses new clients (Django's docs: disable them under ASGI).
_IN_TASK_WORKER = "qcluster" in sys.argv
CONN_MAX_AGE = env_int("CONN_MAX_AGE", 600 if _IN_TASK_WORKER else 0, minimum=0)
SQLITE_PATH = DATA_DIR / "encore.sqlite3"
DATABASE_URL = env_url(
    "DATABASE_URL",
    f"sqlite:///{SQLITE_PATH}",
    schemes=("sqlite", "postgres", "postgresql", "pgsql"),
)
_database = dj_database_url.parse(DATABASE_URL, conn_max_age=CONN_MAX_AGE, conn_health_checks=True)
if _database["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server read while a worker writes; IMMEDIATE takes the
    # write lock at BEGIN, so two writers queue on busy_timeout instead of
    # failing with "database is locked" half-way through a transaction.
    _database["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": env_int("SQLITE_BUSY_TIMEOUT", 20, minimum=1),
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not ":memory:", so the test suite's subprocesses (web server,
    # qcluster) open the same test database as the test process.
    _database["TEST"] = {"NAME": str(DATA_DIR / "test-encore.sqlite3")}
DATABASES = {"default": _database}

# Web server processes (uvicorn --workers). A process runs Python one thread at a
# time, so one per core lets a busy party use every core: with 200 phones on a 2-core
# machine one process is saturated (searches p95 1.1 s, a change reaches every phone in
# 6.5 s) and two answer in about 250 ms (bench/README.md, party_load.py). Each process
# holds its connections and about 100 MB. On PostgreSQL at most 4; on SQLite at most 2:
# every write takes the one database lock, so more processes add waiting, not
# throughput (two measured no worse than one on the import benchmark, interleaved).
WEB_CONCURRENCY = env_int(
    "WEB_CONCURRENCY",
    min(2 if _database["ENGINE"] == "django.db.backends.sqlite3" else 4, os.cpu_count() or 1),
    minimum=1,
    maximum=64,
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer and cache ----------------------------------------


def _redis_url() -> str | None:
    url = env_url("REDIS_URL", None, schemes=("redis", "rediss", "unix"))
    if url:
        return url
    # `manage.py serve` starts the embedded redis-server and passes REDIS_URL
    # to its children; it also leaves the address here so an operator's
    # `manage.py ...` in another terminal talks to the same running site.
    running = DATA_DIR / "run" / "redis.url"
    if running.exists():
        return running.read_text().strip() or None
    return None


REDIS_URL = _redis_url()

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py 8 defaults to a 5 s socket timeout, the same length
                # as channels-redis' blocking pop: an idle receiver then raises
                # and the WebSocket drops (channels_redis issue 422).
                "hosts": [{"address": REDIS_URL, "socket_timeout": None}],
                "prefix": "encore",
                "capacity": 1000,
                "expiry": 60,
            },
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "encore",
        }
    }
else:
    # Only a management command run while the site is stopped gets here: no
    # page or worker is listening, so in-process stand-ins lose nothing.
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Tasks (Django-Q2) -------------------------------------------------------

TASK_BROKER = env_choice("TASK_BROKER", "orm", ("orm", "redis"))
if TASK_BROKER == "redis" and not REDIS_URL:
    raise ImproperlyConfigured("TASK_BROKER=redis needs REDIS_URL (redis://host:port/db).")

TASK_TIMEOUT = env_int("TASK_TIMEOUT", 1800, minimum=10)
SEPARATION_TIMEOUT = env_int("SEPARATION_TIMEOUT", 3600, minimum=10)
# The cluster names tasks are routed to; `serve` starts one qcluster for each.
DEFAULT_CLUSTER = "encore"
# The jobs app runs a state machine for a subject it does not know: the wiring names
# the subject's model and the task that runs one job (`task(job_id, cluster)`).
JOBS_SUBJECT_MODEL = "songs.Song"
JOBS_TASK = "songs.tasks.run_job"
SEPARATION_CLUSTER = "separation"
CLUSTERS = (DEFAULT_CLUSTER, SEPARATION_CLUSTER)

Q_CLUSTER = {
    # Shared by every cluster of the site: it salts the signed task payloads.
    "name": DEFAULT_CLUSTER,
    "workers": env_int("WORKERS", 2, minimum=1),
    "timeout": TASK_TIMEOUT,
    # A task not acknowledged within `retry` seconds is delivered again; it
    # must outlast `timeout` or a slow task would run twice at once.
    "retry": env_int("TASK_RETRY_AFTER", TASK_TIMEOUT + 120, minimum=TASK_TIMEOUT + 1),
    "max_attempts": 5,
    "recycle": 200,
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 500,
    # Django-Q2 prefetches workers² tasks into memory by default; a crash loses them
    # (recovered by jobs.services.jobs_recover, but later): keep it to one per worker.
    "queue_limit": env_int("WORKERS", 2, minimum=1),
    "poll": 0.25,
    "cache": "default",
    "label": "Tasks",
    "ALT_CLUSTERS": {
        SEPARATION_CLUSTER: {
            "workers": env_int("SEPARATION_WORKERS", 1, minimum=1),
            "timeout": SEPARATION_TIMEOUT,
            "retry": SEPARATION_TIMEOUT + 120,
            "recycle": 50,
            # Take one task at a time: a crash strands no prefetched separation.
            "queue_limit": 1,
        },
    },
}
if TASK_BROKER == "orm":
    Q_CLUSTER["orm"] = "default"
else:
    Q_CLUSTER["redis"] = REDIS_URL

# `serve` starts the task clusters this much nicer than the web server, so
# pages and API calls keep answering promptly while the workers fill the cores.
WORKER_NICENESS = env_int("WORKER_NICENESS", 10, minimum=0, maximum=19)
# On Linux they also run in the idle scheduling class (SCHED_IDLE): a niceness still lets a
# busy worker finish its slice before a waking web request runs; an idle-class one gives
# the core up at once. At a party the web server wakes hundreds of times a second (every
# search, every socket write) and uses about a core: the workers keep the rest
# (bench/README.md, party_load.py). False: the niceness alone.
WORKER_IDLE = env_bool("WORKER_IDLE", True)

# How often a worker process records that it is alive, and when /healthz
# starts calling a cluster dead.
WORKER_HEARTBEAT_INTERVAL = env_float("WORKER_HEARTBEAT_INTERVAL", 10.0, minimum=0.5)
WORKER_HEARTBEAT_STALE_AFTER = env_float("WORKER_HEARTBEAT_STALE_AFTER", 60.0, minimum=1.0)

# --- Songs and jobs -----------------------------------------------------------

SONG_MAX_DURATION = env_int("SONG_MAX_DURATION", 20 * 60, minimum=10)
UPLOAD_MAX_MB = env_int("UPLOAD_MAX_MB", 200, minimum=1)
# Who may play or download a song's audio (original, transcodes, stems): "hosts" (staff
# and hosts: the library and the TVs) or "accounts" (anyone signed in). Covers: anyone
# signed in. (songs/media_views.py)
SONG_AUDIO_ACCESS = env_choice("SONG_AUDIO_ACCESS", "hosts", ("hosts", "accounts"))
# Request bodies are capped before they are read (common/bodylimit.py): JSON and forms
# at REQUEST_BODY_MAX_KB, the views that take a file at the upload limit (plus 1 MB
# for the form's other fields). Anything larger is a 413 before it reaches the disk.
REQUEST_BODY_MAX_BYTES = env_int("REQUEST_BODY_MAX_KB", 1024, minimum=16) * 1024
_UPLOAD_BODY_MAX_BYTES = (UPLOAD_MAX_MB + 1) * 1024 * 1024
BODY_LIMITS_BY_VIEW = {
    "songs:upload": _UPLOAD_BODY_MAX_BYTES,
    "api-song-upload": _UPLOAD_BODY_MAX_BYTES,
    # The song's admin page takes a cover image (songs.services.COVER_MAX_MB).
    "admin:songs_song_change": _UPLOAD_BODY_MAX_BYTES,
    "admin:songs_song_add": _UPLOAD_BODY_MAX_BYTES,
    # A song's edit may carry its lyrics, up to 200,000 characters (songs/api.py): as a form,
    # up to 4 bytes each, escaped three times over.
    "api-song-detail": max(REQUEST_BODY_MAX_BYTES, 3 * 1024 * 1024),
}
DOWNLOAD_SOCKET_TIMEOUT = env_int("DOWNLOAD_SOCKET_TIMEOUT", 30, minimum=1)
YOUTUBE_SEARCH_CACHE_SECONDS = env_int("YOUTUBE_SEARCH_CACHE_SECONDS", 300, minimum=0)
# What YouTube said of one video (title, length), for the requests made from a search.
YOUTUBE_VIDEO_CACHE_SECONDS = env_int("YOUTUBE_VIDEO_CACHE_SECONDS", 3600, minimum=0)
# YouTube searches one singer may make from their phone in a minute.
YOUTUBE_SEARCHES_PER_MINUTE = env_int("YOUTUBE_SEARCHES_PER_MINUTE", 10, minimum=1)
# More yt-dlp options, as a JSON object, for every search, look-up and download (a proxy,
# the address to leave from). Encore's own (where the file goes, its format,
# progress, the length limit) still win. The tests point yt-dlp at a local stand-in for
# YouTube with it, in their own process and in a site they start.
YTDLP_OPTIONS = env_json_object("YTDLP_OPTIONS", {})
# Waits before the automatic retries of a transient failure (network, 5xx, 429).
JOB_RETRY_DELAYS = env_float_list("JOB_RETRY_DELAYS", [4.0, 16.0, 64.0])
JOB_MAX_MANUAL_RETRIES = env_int("JOB_MAX_MANUAL_RETRIES", 10, minimum=0)
JOB_HEARTBEAT_INTERVAL = env_float("JOB_HEARTBEAT_INTERVAL", 5.0, minimum=0.2)
# A running job whose heartbeat is older than this lost its worker.
JOB_STALE_AFTER = env_float("JOB_STALE_AFTER", 60.0, minimum=1.0)
JOB_MAX_RECOVERIES = env_int("JOB_MAX_RECOVERIES", 3, minimum=0)
# A job waiting (pending, queued, retrying) this long with no task for it on its
# cluster's broker queue is enqueued again (a crash took the task it had).
JOB_WAITING_STALE_AFTER = env_float("JOB_WAITING_STALE_AFTER", 120.0, minimum=1.0)
# Progress is saved and published at most this often (and on every 1 % step).
JOB_PROGRESS_MIN_INTERVAL = env_float("JOB_PROGRESS_MIN_INTERVAL", 0.5, minimum=0.0)

# --- Metadata providers -------------------------------------------------------
# MusicBrainz (metadata), the Cover Art Archive and LRCLIB (lyrics). Point them at
# mirrors (or, in tests, a local server) by environment; the enrich and lyrics
# stages never fail a song over them.

MUSICBRAINZ_HOST = env_str("MUSICBRAINZ_HOST", "musicbrainz.org")
if "://" in MUSICBRAINZ_HOST or "/" in MUSICBRAINZ_HOST:
    raise ImproperlyConfigured(
        f"MUSICBRAINZ_HOST={MUSICBRAINZ_HOST!r} should be host[:port] only, e.g. musicbrainz.org or mb.lan:5000 "
        "(use MUSICBRAINZ_HTTPS=false for plain HTTP)."
    )
MUSICBRAINZ_HTTPS = env_bool("MUSICBRAINZ_HTTPS", True)
# MusicBrainz allows one request per second per client; a private mirror may allow more.
MUSICBRAINZ_MIN_INTERVAL = env_float("MUSICBRAINZ_MIN_INTERVAL", 1.0, minimum=0.0)
COVERART_URL = env_url("COVERART_URL", "https://coverartarchive.org", schemes=("http", "https"))
LRCLIB_URL = env_url("LRCLIB_URL", "https://lrclib.net", schemes=("http", "https"))
# MusicBrainz asks every client for a way to reach its operator in the User-Agent.
CONTACT_EMAIL = env_str("CONTACT_EMAIL", "")
ENCORE_VERSION = "1.0"
PROVIDER_USER_AGENT_CONTACT = CONTACT_EMAIL or "https://github.com/encore-karaoke"
PROVIDER_USER_AGENT = f"Encore/{ENCORE_VERSION} ( {PROVIDER_USER_AGENT_CONTACT} )"
# Seconds for one provider call (waiting for the MusicBrainz slot counts separately).
PROVIDER_TIMEOUT = env_float("PROVIDER_TIMEOUT", 10.0, minimum=0.1)
# After this many failures in a row a provider is skipped for the cool-down.
PROVIDER_BREAKER_FAILURES = env_int("PROVIDER_BREAKER_FAILURES", 3, minimum=1)
PROVIDER_BREAKER_COOL_DOWN = env_float("PROVIDER_BREAKER_COOL_DOWN", 300.0, minimum=1.0)
# How long answers (found or not) are cached, so a reprocess repeats no request.
PROVIDER_CACHE_SECONDS = env_int("PROVIDER_CACHE_SECONDS", 7 * 24 * 3600, minimum=0)
# Prefix of the shared Redis keys (rate-limit slot, breakers) and cache keys.
PROVIDER_KEY_PREFIX = "encore:providers"

# --- Separation (Demucs) --------------------------------------------------------

# The model and where it is read from. With DEMUCS_MODEL_DIR set, only that
# folder is read (see `manage.py install_model`); without it, Demucs downloads
# the weights on first use, which needs internet.
DEMUCS_MODEL = env_str("DEMUCS_MODEL", "htdemucs")
DEMUCS_MODEL_DIR = env_path("DEMUCS_MODEL_DIR", DATA_DIR / "models") if env_str("DEMUCS_MODEL_DIR") else None
DEMUCS_DEVICE = env_choice("DEMUCS_DEVICE", "auto", ("auto", "cuda", "cpu"))
DEMUCS_THREADS = env_int("DEMUCS_THREADS", 0, minimum=0)  # 0: one per physical core
DEMUCS_OVERLAP = env_float("DEMUCS_OVERLAP", 0.10, minimum=0.0, maximum=0.9)
DEMUCS_SHIFTS = env_int("DEMUCS_SHIFTS", 0, minimum=0, maximum=10)
DEMUCS_SEGMENT = env_float("DEMUCS_SEGMENT", 0.0, minimum=0.0) or None  # 0: the model's own
# Seconds each second of audio takes at least (0: as fast as it goes): a slow machine on
# purpose, for tests and for trying out singing while a song separates.
DEMUCS_PACE = env_float("DEMUCS_PACE", 0.0, minimum=0.0)
# Singing while a song separates (songs/streaming.py): how many seconds of audio must stay
# ahead of the singer, at the speed measured for the song, before it may start.
STREAM_SAFETY_SECONDS = env_float("STREAM_SAFETY_SECONDS", 10.0, minimum=2.0)

# --- Accounts ------------------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"
# Django's backend, refusing sign-ins over THROTTLE_SIGNIN_* (accounts/throttles.py).
AUTHENTICATION_BACKENDS = ["accounts.throttles.ThrottledModelBackend"]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Throttles ---------------------------------------------------------------
# Guessing and flooding, counted in the cache (Redis: shared by every web process and
# host) per account, client address or room; "count/period" (s, m, h, d). Over the limit
# the answer is a 429 that says when to try again (common/throttle.py). The client
# address is REMOTE_ADDR: behind a proxy on another machine, set uvicorn's
# FORWARDED_ALLOW_IPS to it, or every guest shares the proxy's address.
# Failed sign-ins, per account (any address) and per address (any account).
THROTTLE_SIGNIN_PER_ACCOUNT = env_rate("THROTTLE_SIGNIN_PER_ACCOUNT", "10/15m")
THROTTLE_SIGNIN_PER_ADDRESS = env_rate("THROTTLE_SIGNIN_PER_ADDRESS", "30/15m")
# Wrong room passwords, per room and address, and per room from everywhere (a 4-digit
# PIN takes days, not two hours; a guesser can keep the password form closed that long).
THROTTLE_ROOM_PASSWORD_PER_CLIENT = env_rate("THROTTLE_ROOM_PASSWORD_PER_CLIENT", "5/5m")
THROTTLE_ROOM_PASSWORD_PER_ROOM = env_rate("THROTTLE_ROOM_PASSWORD_PER_ROOM", "30/15m")
# Room codes that match no room, per address (pages, API and sockets).
THROTTLE_ROOM_LOOKUPS = env_rate("THROTTLE_ROOM_LOOKUPS", "20/10m")
# Joins per address (a party behind one NAT address counts as one client).
THROTTLE_JOINS = env_rate("THROTTLE_JOINS", "60/10m")
# Imports (links and uploads) per signed-in user.
THROTTLE_IMPORTS = env_rate("THROTTLE_IMPORTS", "100/1h")
# Song requests one singer may make (asking again after cancelling counts too).
THROTTLE_REQUESTS = env_rate("THROTTLE_REQUESTS", "20/1h")
THROTTLE_KEY_PREFIX = "throttle"  # inside the cache's own prefix ("encore")

# --- API -------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # DRF's, but CSRF is checked for guests' sessions too (common/authentication.py).
        "common.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # drf-spectacular's, telling every status and error an operation can answer (common/schema.py).
    "DEFAULT_SCHEMA_CLASS": "common.schema.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "common.api.Pagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "common.api.exception_handler",
}
# Headers by which an API client names its own credentials: a request that carries
# one is not authenticated by its cookies, so it needs no CSRF token.
API_CREDENTIAL_HEADERS = ["HTTP_AUTHORIZATION", "HTTP_X_SINGER_TOKEN"]
SPECTACULAR_SETTINGS = {
    "TITLE": "Encore API",
    "DESCRIPTION": "Song library, import jobs and party rooms of an Encore karaoke server.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # A PATCH's body is its own serializer as written: the views' update serializers make
    # their fields optional themselves, and a PATCH that needs a field (a request's
    # decision, a singer's new name) says so.
    "COMPONENT_SPLIT_PATCH": False,
    "ENUM_NAME_OVERRIDES": {
        "SongStatusEnum": "songs.models.Song.Status",
        "JobStatusEnum": "jobs.models.Job.Status",
        "LookupStatusEnum": "songs.models.Song.LookupStatus",
    },
}

# --- Static and media ------------------------------------------------------

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "static"
# Empty unless someone runs collectstatic; WhiteNoise warns at start-up about a missing one.
STATIC_ROOT.mkdir(exist_ok=True)
# Served straight from the source folders: no collectstatic step to forget.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
MEDIA_ROOT = env_path("MEDIA_ROOT", DATA_DIR / "media")

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_choice(
        "LOG_LEVEL", "info", ("debug", "info", "warning", "error")
    ).upper()},
}
