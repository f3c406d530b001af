"""The Redis-shared rate limiter and circuit breaker, with real Redis and real processes."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import redis
import requests

from songs.providers.ratelimit import CircuitBreaker, RedisRateLimiter

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")

# Each worker holds the slot until its answer is in, and the next grant comes a
# full interval after that, so arrivals are >= 1 s apart by construction. The
# only slack is clock resolution: Redis expires keys on a millisecond clock
# (its wall clock) while the server stamps arrivals with time.monotonic(), so
# allow a few ms of rounding between the two, nothing more.
CLOCK_TOLERANCE = 0.005


@pytest.fixture
def other_client() -> Iterator[redis.Redis]:
    """A second connection, as another worker process would have."""
    client = redis.Redis.from_url(REDIS_URL)
    yield client
    client.close()


class _CountingServer:
    """Records the arrival time of every request (the fake MusicBrainz's view)."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        lock = threading.Lock()
        arrivals = self.arrivals

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with lock:
                    arrivals.append(time.monotonic())
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/ws/2/recording/"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _hammer(redis_url: str, key: str, url: str, requests_to_make: int, start: multiprocessing.Event) -> None:
    """One worker process: as many requests as it can, as fast as the limiter allows."""
    limiter = RedisRateLimiter(redis.Redis.from_url(redis_url), key, interval_seconds=1.0)
    start.wait(10)
    for _ in range(requests_to_make):
        with limiter.slot(timeout=15, hold_seconds=5):
            requests.get(url, timeout=5).raise_for_status()


def test_it_holds_one_request_per_second_across_two_processes(redis_client: redis.Redis, key: str) -> None:
    server = _CountingServer()
    ctx = multiprocessing.get_context("spawn")  # separate interpreters, like two qcluster workers
    start = ctx.Event()
    workers = [ctx.Process(target=_hammer, args=(REDIS_URL, key, server.url, 2, start)) for _ in range(2)]
    try:
        for worker in workers:
            worker.start()
        start.set()
        for worker in workers:
            worker.join(30)
    finally:
        server.close()
    assert [w.exitcode for w in workers] == [0, 0]

    arrivals = sorted(server.arrivals)
    assert len(arrivals) == 4
    # Two requests in any 1-second window would show up as a gap under one second.
    gaps = [later - earlier for earlier, later in zip(arrivals, arrivals[1:], strict=False)]
    assert min(gaps) >= 1.0 - CLOCK_TOLERANCE, gaps


def test_it_gives_up_when_the_slot_stays_taken(redis_client: redis.Redis, key: str) -> None:
    limiter = RedisRateLimiter(redis_client, key, interval_seconds=30)
    assert limiter.acquire(timeout=1)
    assert not limiter.acquire(timeout=0.05)


def test_it_hands_out_the_next_slot_once_the_interval_has_passed(
    redis_client: redis.Redis, key: str, other_client: redis.Redis
) -> None:
    first = RedisRateLimiter(redis_client, key, interval_seconds=0.2)
    other_process = RedisRateLimiter(other_client, key, interval_seconds=0.2)
    assert first.acquire(timeout=1)
    assert other_process.acquire(timeout=1)
    assert redis_client.pttl(key) > 0  # the slot always expires


def test_it_keeps_the_slot_while_a_slow_request_runs(
    redis_client: redis.Redis, key: str, other_client: redis.Redis
) -> None:
    worker = RedisRateLimiter(redis_client, key, interval_seconds=0.1)
    other = RedisRateLimiter(other_client, key, interval_seconds=0.1)
    assert worker.acquire(timeout=1, hold_seconds=5)
    time.sleep(0.15)  # longer than the interval: a grant-only limiter would let `other` in now
    assert not other.acquire(timeout=0.1)
    worker.release()
    assert 0 < redis_client.pttl(key) <= 100  # a fresh interval from the end of the request
    assert other.acquire(timeout=1)


def test_it_never_grants_a_held_slot_even_in_its_last_millisecond(redis_client: redis.Redis, key: str) -> None:
    # Waiters wake exactly when the key should expire, where PTTL can answer 0;
    # that once read as "granted". Held periods of a correct limiter never overlap.
    held: list[tuple[float, float]] = []

    def worker() -> None:
        with redis.Redis.from_url(REDIS_URL) as client:
            limiter = RedisRateLimiter(client, key, interval_seconds=0.005)
            for _ in range(25):
                if not limiter.acquire(timeout=5, hold_seconds=1):
                    return  # shows up as a short count below
                granted = time.monotonic()
                time.sleep(0.002)
                held.append((granted, time.monotonic()))
                limiter.release()

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    held.sort()
    overlaps = [(a, b) for a, b in zip(held, held[1:], strict=False) if b[0] < a[1]]
    assert len(held) == 75 and overlaps == []


def _breaker(client: redis.Redis, key: str, cool_down: float = 0.2) -> CircuitBreaker:
    return CircuitBreaker(
        client, "musicbrainz", failure_threshold=3, cool_down_seconds=cool_down, key_prefix=f"{key}:breaker"
    )


def test_it_opens_after_consecutive_failures_for_every_process(
    redis_client: redis.Redis, key: str, other_client: redis.Redis
) -> None:
    here, elsewhere = _breaker(redis_client, key), _breaker(other_client, key)
    here.record_failure()
    here.record_failure()
    assert elsewhere.allow()
    elsewhere.record_failure()
    assert not here.allow()
    assert not elsewhere.allow()
    assert here.state == "open"


def test_it_counts_only_consecutive_failures(redis_client: redis.Redis, key: str) -> None:
    breaker = _breaker(redis_client, key)
    for _ in range(2):
        breaker.record_failure()
    breaker.record_success()
    for _ in range(2):
        breaker.record_failure()
    assert breaker.allow()
    assert breaker.state == "closed"


def test_it_lets_one_probe_through_after_the_cool_down(redis_client: redis.Redis, key: str) -> None:
    breaker, other = _breaker(redis_client, key), _breaker(redis_client, key)
    for _ in range(3):
        breaker.record_failure()
    time.sleep(0.25)
    assert breaker.state == "half_open"
    assert breaker.allow()  # the probe
    assert not other.allow()  # everyone else waits for its verdict
    breaker.record_success()
    assert other.allow()
    assert other.state == "closed"


def test_it_reopens_when_the_probe_fails(redis_client: redis.Redis, key: str) -> None:
    breaker = _breaker(redis_client, key)
    for _ in range(3):
        breaker.record_failure()
    time.sleep(0.25)
    assert breaker.allow()
    breaker.record_failure()
    assert not breaker.allow()
    assert breaker.state == "open"
