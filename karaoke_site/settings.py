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
from django.core.exceptions import ImproperlyConfigured

from karaoke_site.env import (
    env_bool,
    env_choice,
    env_float,
    env_float_list,
    env_int,
    env_list,
    env_path,
    env_str,
    env_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent

DATA_DIR = env_path("DATA_DIR", BASE_DIR / "data")
DATA_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", True)


def _secret_key() -> str:
    key = env_str("SECRET_KEY")
    if key:
        return key
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. With DEBUG off Encore will not invent one: "
            "set SECRET_KEY to a long random string (for example the output of "
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
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "karaoke_site.urls"
ASGI_APPLICATION = "karaoke_site.asgi.application"

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
# time, so on PostgreSQL one per core (at most 4; each holds its connections and
# about 100 MB) lets a busy party use every core. On SQLite the default is one:
# every write takes the one database lock, and writers in other processes wait on
# SQLite's sleeping retries; with two processes on a 2-core machine the import
# benchmark's p95 doubled (README, Benchmarks).
WEB_CONCURRENCY = env_int(
    "WEB_CONCURRENCY",
    1 if _database["ENGINE"] == "django.db.backends.sqlite3" else min(4, os.cpu_count() or 1),
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
    "poll": 0.25,
    "cache": "default",
    "label": "Tasks",
    "ALT_CLUSTERS": {
        SEPARATION_CLUSTER: {
            "workers": env_int("SEPARATION_WORKERS", 1, minimum=1),
            "timeout": SEPARATION_TIMEOUT,
            "retry": SEPARATION_TIMEOUT + 120,
            "recycle": 50,
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

# How often a worker process records that it is alive, and when /healthz
# starts calling a cluster dead.
WORKER_HEARTBEAT_INTERVAL = env_float("WORKER_HEARTBEAT_INTERVAL", 10.0, minimum=0.5)
WORKER_HEARTBEAT_STALE_AFTER = env_float("WORKER_HEARTBEAT_STALE_AFTER", 60.0, minimum=1.0)

# --- Songs and jobs -----------------------------------------------------------

SONG_MAX_DURATION = env_int("SONG_MAX_DURATION", 20 * 60, minimum=10)
UPLOAD_MAX_MB = env_int("UPLOAD_MAX_MB", 200, minimum=1)
DOWNLOAD_SOCKET_TIMEOUT = env_int("DOWNLOAD_SOCKET_TIMEOUT", 30, minimum=1)
YOUTUBE_SEARCH_CACHE_SECONDS = env_int("YOUTUBE_SEARCH_CACHE_SECONDS", 300, minimum=0)
# Waits before the automatic retries of a transient failure (network, 5xx, 429).
JOB_RETRY_DELAYS = env_float_list("JOB_RETRY_DELAYS", [4.0, 16.0, 64.0])
JOB_MAX_MANUAL_RETRIES = env_int("JOB_MAX_MANUAL_RETRIES", 10, minimum=0)
JOB_HEARTBEAT_INTERVAL = env_float("JOB_HEARTBEAT_INTERVAL", 5.0, minimum=0.2)
# A running job whose heartbeat is older than this lost its worker.
JOB_STALE_AFTER = env_float("JOB_STALE_AFTER", 60.0, minimum=1.0)
JOB_MAX_RECOVERIES = env_int("JOB_MAX_RECOVERIES", 3, minimum=0)
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

# --- Accounts ------------------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- API -------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "common.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Encore API",
    "DESCRIPTION": "Song library, import jobs and party rooms of an Encore karaoke server.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
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
