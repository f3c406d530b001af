"""Counting attempts per client, account or room, shared by every process through the cache.

A throttle allows `limit` events per window of `seconds` for one key (an account, a
client address, a room and a client) and refuses more with a 429 that says when to try
again. The counts live in Django's cache, which is Redis whenever the site runs (the
embedded one by default, or REDIS_URL), so every web process and every host shares them:
a guesser cannot spread the attempts over the processes.

Windows are fixed and aligned on the clock (a count starts at 0 every `seconds`): one
INCR per event, no list to keep. At a window's edge a client may get up to twice the
limit in a short time; for stopping guessing (300 a minute down to 10 a quarter of an
hour) that is no matter.

The rates are settings, `(limit, seconds)`, read at each use (karaoke_site/env.py
`env_rate` reads "10/15m"). THROTTLE_KEY_PREFIX names the keys' space (the tests give
each test its own).

If the cache cannot be reached, the attempt is allowed and a warning logged: an outage
of Redis must not lock everyone out of the site.
"""

import hashlib
import logging
import math
import time

from django.conf import settings
from django.core.cache import cache

from common.errors import ApplicationError

logger = logging.getLogger(__name__)


def client_address(request) -> str:
    """The client's address: REMOTE_ADDR, which uvicorn sets from X-Forwarded-For when
    the proxy is one it trusts (FORWARDED_ALLOW_IPS). Never read the header here: any
    client can write it."""
    return request.META.get("REMOTE_ADDR") or "unknown"


def scope_client(scope) -> str:
    """The same for a WebSocket handshake (its ASGI scope)."""
    client = scope.get("client") or ("unknown", 0)
    return str(client[0])


def in_words(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    if minutes < 60:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours = math.ceil(minutes / 60)
    return f"{hours} hour{'s' if hours != 1 else ''}"


class Throttled(ApplicationError):
    """A 429: too many attempts; `retry_after` seconds until the next window."""

    status_code = 429

    def __init__(self, message: str, *, retry_after: int, throttle: str):
        super().__init__(f"{message} Try again in {in_words(retry_after)}.",
                         extra={"retry_after": retry_after, "throttle": throttle})
        self.retry_after = retry_after


def with_retry_after(response, exc: Throttled | Exception):
    """Give a response that answers a Throttled its Retry-After header."""
    retry_after = getattr(exc, "retry_after", None)
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


class Throttle:
    """`limit` events per `seconds` per key; the rate is the setting named `setting`."""

    def __init__(self, name: str, *, setting: str, message: str):
        self.name = name
        self.setting = setting
        self.message = message

    @property
    def rate(self) -> tuple[int, int]:
        return getattr(settings, self.setting)

    def _key(self, parts: tuple, now: float) -> tuple[str, int]:
        _, seconds = self.rate
        window = int(now // seconds)
        identity = hashlib.sha256("\x1f".join(str(part) for part in parts).encode()).hexdigest()[:32]
        prefix = getattr(settings, "THROTTLE_KEY_PREFIX", "throttle")
        return f"{prefix}:{self.name}:{seconds}:{identity}:{window}", int((window + 1) * seconds - now) + 1

    def _refuse(self, retry_after: int) -> Throttled:
        return Throttled(self.message, retry_after=max(1, retry_after), throttle=self.name)

    def check(self, *parts) -> None:
        """Refuse (Throttled) if this key has used its window's events; count nothing."""
        limit, _ = self.rate
        key, retry_after = self._key(parts, time.time())
        try:
            count = cache.get(key, 0)
        except Exception:  # any cache failure: allow, and say so
            logger.warning("throttle %s: the cache cannot be reached; allowing", self.name, exc_info=True)
            return
        if count >= limit:
            raise self._refuse(retry_after)

    def hit(self, *parts) -> int:
        """Count one event for this key; the count in this window so far (0 if unknown)."""
        _, seconds = self.rate
        key, _ = self._key(parts, time.time())
        try:
            for _attempt in range(3):
                cache.add(key, 0, timeout=seconds + 1)
                try:
                    return cache.incr(key)
                except ValueError:  # expired between add and incr: a new window
                    continue
        except Exception:  # any cache failure: allow, and say so
            logger.warning("throttle %s: the cache cannot be reached; allowing", self.name, exc_info=True)
        return 0

    def hit_or_refuse(self, *parts) -> None:
        """Count one event, and refuse it if it is one too many."""
        limit, _ = self.rate
        now = time.time()
        if self.hit(*parts) > limit:
            raise self._refuse(self._key(parts, now)[1])

    def reset(self, *parts) -> None:
        key, _ = self._key(parts, time.time())
        try:
            cache.delete(key)
        except Exception:  # nothing to undo then
            logger.warning("throttle %s: the cache cannot be reached", self.name, exc_info=True)
