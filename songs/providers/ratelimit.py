"""A request-rate limiter and a circuit breaker shared by every process through Redis.

MusicBrainz allows one request per second per client, and "client" means the
whole site: every worker process on every host. So the slot lives in Redis, not
in a process: a key set with ``SET NX PX`` *is* the current request's ticket,
and only one caller can create it until it expires. Redis keeps the clock (key
expiry), so hosts with skewed clocks still agree.

The breaker is shared the same way, so that when a provider is down one
failing worker spares all the others the wait for their own timeouts.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

import redis
from redis.commands.core import Script

from songs.errors import TransientError

__all__ = ["Breaker", "CircuitBreaker", "CircuitOpen", "Limiter", "RedisRateLimiter"]

log = logging.getLogger(__name__)


class Limiter(Protocol):
    def acquire(self, timeout: float, *, hold_seconds: float = 0.0) -> bool: ...
    def release(self) -> None: ...


class Breaker(Protocol):
    def allow(self) -> bool: ...
    def record_success(self) -> None: ...
    def record_failure(self) -> None: ...


class CircuitOpen(TransientError):
    """The provider failed repeatedly; it is skipped until its cool-down ends."""


_IN_FLIGHT_POLL_MS = 50

# Takes the slot if it is free (-1); otherwise says how many ms until it frees up
# (>= 1: PTTL answers 0 in a key's last millisecond, which must not read as a grant).
# One script so that "is it free?" and "take it" cannot interleave between callers.
_GRANTED = -1
_TAKE_SLOT = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return -1
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -1 then
  -- A key without expiry (set by hand?) would block everyone forever.
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
return math.max(ttl, 1)
"""

# The request is over: the interval restarts now. Leave the key alone if another
# caller already holds it (our hold ran out and they were granted after it).
_RELEASE_SLOT = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] or not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""


class RedisRateLimiter:
    """At most one request per ``interval_seconds`` across all processes sharing ``key``.

    ``acquire`` alone spaces the moments slots are *granted*. But the provider
    counts the moments requests *arrive*, and every request spends a variable
    time between grant and send (10-20 ms on loopback in our tests, a fresh
    connection's handshake on the internet, far more when the host is loaded),
    so grant-spaced requests can arrive less than an interval apart. Callers
    therefore hold the slot for the request with ``hold_seconds`` and ``release``
    it when the answer is in: the next grant comes ``interval_seconds`` after this
    request *ended*, so arrivals are spaced whatever the stalls. A caller that
    dies mid-request frees the slot after ``hold + interval``.
    """

    def __init__(self, redis_client: redis.Redis, key: str, interval_seconds: float):
        self._redis = redis_client
        self._key = key
        self._interval_ms = max(1, round(interval_seconds * 1000))
        self._take = redis_client.register_script(_TAKE_SLOT)
        self._release = redis_client.register_script(_RELEASE_SLOT)
        self._held = threading.local()

    def acquire(self, timeout: float, *, hold_seconds: float = 0.0) -> bool:
        """Block until this caller may make one request; False if ``timeout`` passes first."""
        deadline = time.monotonic() + timeout
        token = uuid.uuid4().hex
        lease_ms = self._interval_ms + max(0, round(hold_seconds * 1000))
        while True:
            wait_ms = self._call(self._take, token, lease_ms)
            if wait_ms == _GRANTED:
                self._held.token = token
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if wait_ms > self._interval_ms:
                # A request is in flight and will shorten the wait when it releases:
                # look again soon rather than sleeping out its whole hold.
                wait_ms = min(wait_ms, _IN_FLIGHT_POLL_MS)
            # Otherwise sleep exactly until expiry: the slot is free the moment the key is gone.
            time.sleep(min(wait_ms / 1000, remaining))

    def release(self) -> None:
        """The request has ended (well or badly): start the interval from now."""
        token = getattr(self._held, "token", None)
        if token is not None:
            self._held.token = None
            self._call(self._release, token, self._interval_ms)

    @contextmanager
    def slot(self, timeout: float, *, hold_seconds: float) -> Iterator[None]:
        """``with limiter.slot(5, hold_seconds=10): make_the_request()``."""
        if not self.acquire(timeout, hold_seconds=hold_seconds):
            raise TransientError("rate_limited", f"no request slot for {self._key} within {timeout:g} s")
        try:
            yield
        finally:
            self.release()

    def _call(self, script: Script, token: str, px: int) -> int:
        try:
            return int(script(keys=[self._key], args=[token, px]))
        except redis.RedisError as exc:
            # Without the shared slot we cannot keep the promise to the provider.
            raise TransientError("ratelimit_unavailable", f"rate limiter store unreachable: {exc}") from exc


# allow(): closed -> yes; open -> no; half-open (cool-down over, failures still
# counted) -> yes for exactly one caller, the probe, until it reports back.
_ALLOW = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local failures = tonumber(redis.call('GET', KEYS[2]) or '0')
if failures < tonumber(ARGV[1]) then return 1 end
if redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"""

_FAIL = """
local failures = redis.call('INCR', KEYS[2])
if failures >= tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[2])
  redis.call('DEL', KEYS[3])
end
return failures
"""


class CircuitBreaker:
    """Open after ``failure_threshold`` consecutive failures; half-open after ``cool_down_seconds``.

    Redis trouble never blocks a provider call here: the breaker only saves
    time, so when its store is unreachable it lets calls through (and the rate
    limiter, which must hold, reports the outage).
    """

    def __init__(
        self,
        redis_client: redis.Redis,
        name: str,
        failure_threshold: int,
        cool_down_seconds: float,
        *,
        key_prefix: str = "encore:breaker",
    ):
        self._redis = redis_client
        prefix = f"{key_prefix}:{name}"
        self._keys = [f"{prefix}:open", f"{prefix}:failures", f"{prefix}:probe"]
        self.name = name
        self._threshold = failure_threshold
        self._cool_down_ms = max(1, round(cool_down_seconds * 1000))
        self._allow = redis_client.register_script(_ALLOW)
        self._fail = redis_client.register_script(_FAIL)

    def allow(self) -> bool:
        try:
            # The probe's lease is one cool-down: a probe that dies without
            # reporting back frees the way for the next one.
            return bool(self._allow(keys=self._keys, args=[self._threshold, self._cool_down_ms]))
        except redis.RedisError:
            log.warning("circuit breaker %s: Redis unreachable, letting the call through", self.name)
            return True

    def record_success(self) -> None:
        try:
            self._redis.delete(*self._keys)
        except redis.RedisError:
            log.warning("circuit breaker %s: Redis unreachable, success not recorded", self.name)

    def record_failure(self) -> None:
        try:
            self._fail(keys=self._keys, args=[self._threshold, self._cool_down_ms])
        except redis.RedisError:
            log.warning("circuit breaker %s: Redis unreachable, failure not recorded", self.name)

    @property
    def state(self) -> str:
        """ "closed", "open" or "half_open", for the admin."""
        open_key, failures_key, _ = self._keys
        if self._redis.exists(open_key):
            return "open"
        return "half_open" if int(self._redis.get(failures_key) or 0) >= self._threshold else "closed"
