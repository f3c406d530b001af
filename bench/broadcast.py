"""How long one queue change takes to reach every WebSocket client of a room.

Starts the site as `make run` does (a fresh DATA_DIR, SQLite, the embedded
Redis, both task clusters), or on PostgreSQL + Redis with --database-url and
--redis-url (or DATABASE_URL / REDIS_URL). One room with a realistic queue;
N singers join through the API and each opens `/ws/rooms/<code>/?token=...`
(the JSON consumer). Then the host makes one queue change at a time (a POST
adding a song, then a DELETE taking it out again, so the queue keeps its
length) and we time from just before the request until the last of the N
clients has the `queue.changed` message. Several changes per size; prints
p50 / p95 / max per size.

The clients run in their own processes (--client-processes, default 2), not
in the one that times, so the timer is not queued behind 500 sockets' worth
of frames. They share the machine with the site: on a 2-core machine the
figures include that competition. Times are CLOCK_MONOTONIC, shared by the
processes of one machine.

    .venv/bin/python bench/broadcast.py [--sizes 50,200,500] [--changes 20]
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from common.procs import free_port  # noqa: E402

QUEUE_LENGTH = 15  # songs waiting while we measure: a busy party


def site_env(data_dir: Path, database_url: str | None, redis_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "TASK_BROKER")}
    env.update(DATA_DIR=str(data_dir), DEBUG="true", LOG_LEVEL="warning")
    # Every guest joins from 127.0.0.1 here: the per-client join limit is for the Wi-Fi.
    env.update(THROTTLE_JOINS="1000000/1s")
    if database_url:
        env["DATABASE_URL"] = database_url
    if redis_url:
        env.update(REDIS_URL=redis_url, TASK_BROKER="redis")
    return env


SETUP = """
from accounts.models import User
from rest_framework.authtoken.models import Token
from songs.models import Song
user, _ = User.objects.get_or_create(username="bench-host", defaults={"is_staff": True})
token, _ = Token.objects.get_or_create(user=user)
songs = [Song.objects.create(source="url", source_id=f"bench-broadcast-{user.pk}-{i}-{os.urandom(4).hex()}",
                             title=f"Song {i}", artist="Bench", duration=180, status="ready") for i in range(40)]
print(token.key, *[str(song.pk) for song in songs])
"""


def start_site(env: dict[str, str], data_dir: Path) -> tuple[subprocess.Popen, str, str, list[str]]:
    manage = [sys.executable, str(BASE_DIR / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True)
    out = subprocess.run([*manage, "shell", "-c", "import os\n" + SETUP], env=env, check=True,
                         capture_output=True, text=True).stdout.strip().splitlines()[-1].split()
    token, songs = out[0], out[1:]
    port = free_port()
    process = subprocess.Popen(
        [*manage, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=(data_dir / "serve.log").open("wb"),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                return process, url, token, songs
        except requests.RequestException:
            pass
        time.sleep(0.5)
    process.terminate()
    raise SystemExit(f"the site did not become healthy; see {data_dir / 'serve.log'}")


# --- the client processes ---------------------------------------------------------------


def client_process(ws_urls: list[str], commands, results) -> None:
    """Holds len(ws_urls) sockets; for each armed change, reports when the last one had it."""
    asyncio.run(_client_main(ws_urls, commands, results))


async def _client_main(ws_urls, commands, results) -> None:
    from websockets.asyncio.client import connect  # noqa: PLC0415 - only the client processes need websockets

    loop = asyncio.get_running_loop()
    armed: dict = {"change": None, "waiting": 0, "last": 0.0, "times": []}
    all_have_it = asyncio.Event()

    async def reader(socket) -> None:
        async for message in socket:
            # The consumer writes "type" first: no need to parse the whole queue.
            if armed["change"] is not None and message.startswith('{"type": "queue.changed"'):
                now = time.monotonic()
                if socket not in armed["seen"]:
                    armed["seen"].add(socket)
                    armed["times"].append(now)
                    if len(armed["seen"]) == len(sockets):
                        all_have_it.set()

    sockets = []
    for start in range(0, len(ws_urls), 50):
        sockets += await asyncio.gather(*(connect(u, open_timeout=60, max_size=None) for u in ws_urls[start:start + 50]))
    for socket in sockets:
        json.loads(await socket.recv())  # the full state, first
    tasks = [asyncio.create_task(reader(socket)) for socket in sockets]
    results.put(("ready", len(sockets)))
    while True:
        command = await loop.run_in_executor(None, commands.get)
        if command is None:
            break
        armed.update(change=command, seen=set(), times=[])
        all_have_it.clear()
        results.put(("armed", command))
        try:
            await asyncio.wait_for(all_have_it.wait(), 30)
        except TimeoutError:
            pass
        results.put(("done", command, len(armed["times"]), armed["times"]))
        armed["change"] = None
    for task in tasks:
        task.cancel()
    await asyncio.gather(*(socket.close() for socket in sockets), return_exceptions=True)


# --- the timer -------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(fraction * len(ordered)) - 1))]


def measure(url: str, token: str, songs: list[str], size: int, changes: int, processes: int) -> dict:
    host = requests.Session()
    host.headers["Authorization"] = f"Token {token}"
    room = host.post(f"{url}/api/rooms/", json={"name": f"Bench {size}", "max_waiting_per_singer": None}, timeout=30)
    room.raise_for_status()
    code = room.json()["code"]
    host.post(f"{url}/api/rooms/{code}/join", json={}, timeout=30).raise_for_status()
    for song in songs[:QUEUE_LENGTH]:
        host.post(f"{url}/api/rooms/{code}/queue", json={"song": song}, timeout=30).raise_for_status()
    guests = requests.Session()
    tokens = []
    for n in range(size):
        answer = guests.post(f"{url}/api/rooms/{code}/join", json={"display_name": f"Guest {n}"},
                             headers={"X-Singer-Token": ""}, timeout=30)
        answer.raise_for_status()
        tokens.append(answer.json()["token"])
        guests.cookies.clear()  # each phone is its own browser
    ws = url.replace("http://", "ws://")
    urls = [f"{ws}/ws/rooms/{code}/?token={t}" for t in tokens]
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    workers = []
    for i in range(processes):
        commands = context.Queue()
        process = context.Process(target=client_process, args=(urls[i::processes], commands, results), daemon=True)
        process.start()
        workers.append((process, commands))
    connected = sum(results.get(timeout=300)[1] for _ in workers)
    assert connected == size, f"{connected} of {size} clients connected"
    time.sleep(1.0)
    everyone, each, answered = [], [], []
    spare = songs[QUEUE_LENGTH:]
    added = None
    for change in range(changes):
        for _, commands in workers:
            commands.put(change)
        for _ in workers:
            assert results.get(timeout=60)[0] == "armed"
        started = time.monotonic()
        if added is None:
            answer = host.post(f"{url}/api/rooms/{code}/queue", json={"song": spare[change % len(spare)]}, timeout=30)
            answer.raise_for_status()
            added = answer.json()["id"]
        else:
            host.delete(f"{url}/api/rooms/{code}/queue/{added}", timeout=30).raise_for_status()
            added = None
        answered.append((time.monotonic() - started) * 1000)
        latest, received = 0.0, 0
        for _ in workers:
            kind, _, count, times = results.get(timeout=60)
            received += count
            latest = max([latest, *times])
            each += [(t - started) * 1000 for t in times]
        if received < size:
            print(f"  change {change}: only {received} of {size} clients had it after 30 s")
        everyone.append((latest - started) * 1000)
        time.sleep(0.2)
    for _, commands in workers:
        commands.put(None)
    for process, _ in workers:
        process.join(30)
    return {"everyone": everyone, "each": each, "answered": answered}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="50,200,500", help="clients per run, comma-separated")
    parser.add_argument("--changes", type=int, default=20, help="queue changes timed per size")
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"),
                        help="PostgreSQL instead of SQLite (a database of your own: it gets tables and rows)")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL"),
                        help="a Redis of your own (use a free db number) instead of the embedded one")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="encore-bench-"))
    env = site_env(data_dir, args.database_url, args.redis_url)
    process, url, token, songs = start_site(env, data_dir)
    where = "PostgreSQL + Redis" if args.database_url else "embedded default (SQLite, embedded Redis)"
    concurrency = os.environ.get("WEB_CONCURRENCY", "default")
    print(f"site: {url} ({where}, WEB_CONCURRENCY={concurrency}, DATA_DIR={data_dir}); load {os.getloadavg()[0]:.2f}")
    try:
        for size in [int(s) for s in args.sizes.split(",")]:
            result = measure(url, token, songs, size, args.changes, args.client_processes)
            ms = result["everyone"]
            print(
                f"{size:>4} clients, {len(ms)} changes: all have it  p50={statistics.median(ms):6.1f} ms"
                f"  p95={percentile(ms, 0.95):6.1f} ms  max={max(ms):6.1f} ms"
                f"   (the change's own answer p50={statistics.median(result['answered']):5.1f} ms;"
                f" one client p50={statistics.median(result['each']):6.1f} ms)  load {os.getloadavg()[0]:.2f}",
                flush=True,
            )
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)


if __name__ == "__main__":
    main()
