"""Latency of `POST /api/songs/import` with concurrent clients.

Starts the site exactly as `make run` does (a fresh DATA_DIR, SQLite, the
embedded Redis, both task clusters), or uses a running one (--url, --token).
The server's process count is WEB_CONCURRENCY (the site's default unless set).
Each import points at a real audio file on a local HTTP server, so the
workers download and transcode in the background while the clients measure:
the answer must stay fast while the machine is busy. Prints p50 / p95 / max:
first with every client posting back to back (closed loop: 20 clients keep 20
requests in flight, so the figures measure throughput), then, as an additional
view, with each client adding a song every --every seconds (open loop: what 20
people adding songs at that pace would see).

    .venv/bin/python bench/import_latency.py [--clients 20] [--requests 10]
"""

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from common.procs import free_port  # noqa: E402

PASSWORD = "bench-password-123"


def make_audio_folder() -> Path:
    import imageio_ffmpeg  # noqa: PLC0415 - only the audio-folder mode needs it

    folder = Path(tempfile.mkdtemp(prefix="encore-bench-audio-"))
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-v", "error", "-f", "lavfi", "-i",
         "sine=frequency=440:duration=3", "-ac", "2", "-c:a", "libmp3lame", str(folder / "song.mp3")],
        check=True,
    )
    return folder


def serve_folder(folder: Path) -> tuple[ThreadingHTTPServer, int]:
    class Quiet(SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(folder), **kwargs)

        def translate_path(self, path):
            # Every /song-N.mp3 is the same file: distinct links, one recording.
            return str(folder / "song.mp3")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def start_site(data_dir: Path, *, workers: bool = True, extra_env: dict | None = None) -> tuple[subprocess.Popen, str, str]:
    """The site as `make run` starts it (plus `extra_env`), with a staff user 'bench'
    (password PASSWORD) and its API token."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "TASK_BROKER")}
    env.update(DATA_DIR=str(data_dir), DEBUG="true", LOG_LEVEL="warning", **(extra_env or {}))
    # One user imports every song here: the per-user import limit is for people.
    env.update(THROTTLE_IMPORTS="1000000/1s")
    manage = [sys.executable, str(BASE_DIR / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True)
    token = subprocess.run(
        [*manage, "shell", "-c",
         "from accounts.models import User; from rest_framework.authtoken.models import Token;"
         f"u = User.objects.create_user('bench', password='{PASSWORD}', is_staff=True);"
         "print(Token.objects.create(user=u).key)"],
        env=env, check=True, capture_output=True, text=True,
    ).stdout.strip().splitlines()[-1]
    port = free_port()
    process = subprocess.Popen(
        [*manage, "serve", "--host", "127.0.0.1", "--port", str(port), *([] if workers else ["--clusters", ""])],
        env=env, stdout=subprocess.DEVNULL, stderr=(data_dir / "serve.log").open("wb"),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            answer = requests.get(f"{url}/healthz", timeout=2)
            # Without workers the clusters are (rightly) reported dead: the rest must be fine.
            if answer.status_code == 200 or (not workers and all(
                    part.startswith("cluster:") for part in answer.json().get("failing", []))):
                return process, url, token
        except requests.RequestException:
            pass
        time.sleep(0.5)
    process.terminate()
    raise SystemExit(f"the site did not become healthy; see {data_dir / 'serve.log'}")


def run_clients(
    url: str, token: str, audio_port: int, clients: int, per_client: int, tag: str, interval: float = 0.0,
    floor: bool = False,
) -> list[float]:
    """Each client posts `per_client` imports: back to back (closed loop), or one every
    `interval` seconds on a fixed schedule (open loop: a late answer does not delay the
    next request, so queueing shows in the figures instead of slowing the arrivals).
    With `floor`, each asks for a song that does not exist instead: token
    authentication, one query and a 404, the least an API call costs here."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients)

    def client(index: int) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Token {token}"
        barrier.wait()
        # Spread the clients over the interval, as people would be.
        first = time.perf_counter() + interval * index / clients
        for n in range(per_client):
            if interval:
                time.sleep(max(0.0, first + n * interval - time.perf_counter()))
            started = time.perf_counter()
            if floor:
                response = session.get(f"{url}/api/songs/{uuid.uuid4()}", timeout=60)
            else:
                link = f"http://127.0.0.1:{audio_port}/{tag}-{index}-{n}.mp3"
                response = session.post(f"{url}/api/songs/import", json={"url": link}, timeout=60)
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                if response.status_code not in ((404,) if floor else (200, 202)):
                    errors.append(f"{response.status_code} {response.text[:200]}")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        print(f"  {len(errors)} unexpected answers, e.g. {errors[0]}")
    return latencies


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(fraction * len(ordered)) - 1))]


def report(name: str, latencies: list[float], wall: float) -> None:
    ms = [v * 1000 for v in latencies]
    print(
        f"{name:<28} n={len(ms):<4} p50={statistics.median(ms):7.1f} ms  p95={percentile(ms, 0.95):7.1f} ms"
        f"  max={max(ms):7.1f} ms  ({len(ms) / wall:.0f} req/s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=10, help="imports per client")
    parser.add_argument("--url", help="a running site (default: start one on the embedded default)")
    parser.add_argument("--token", help="an API token of a staff user of --url")
    parser.add_argument("--no-workers", action="store_true",
                        help="start the site without task clusters: the web path alone")
    parser.add_argument("--every", type=float, default=1.0,
                        help="seconds between one client's imports in the open-loop view (0: skip it)")
    parser.add_argument("--floor", action="store_true",
                        help="also time the same clients asking for a missing song (the least any API call costs)")
    args = parser.parse_args()

    audio = make_audio_folder()
    audio_server, audio_port = serve_folder(audio)
    process = None
    if args.url:
        if not args.token:
            raise SystemExit("--url needs --token")
        url, token = args.url.rstrip("/"), args.token
    else:
        data_dir = Path(tempfile.mkdtemp(prefix="encore-bench-"))
        process, url, token = start_site(data_dir, workers=not args.no_workers)
        what = "no task workers" if args.no_workers else "with its task workers busy on the imports"
        concurrency = os.environ.get("WEB_CONCURRENCY", "default")
        print(f"site: {url} (embedded default, {what}, WEB_CONCURRENCY={concurrency}, DATA_DIR={data_dir})")
    try:
        if args.floor:
            run_clients(url, token, audio_port, min(4, args.clients), 2, "warmup", floor=True)
            started = time.perf_counter()
            floor = run_clients(url, token, audio_port, args.clients, args.requests, "floor", floor=True)
            report(f"(floor) GET a missing song, {args.clients} clients", floor, time.perf_counter() - started)
        run_clients(url, token, audio_port, min(4, args.clients), 2, "warmup")
        started = time.perf_counter()
        latencies = run_clients(url, token, audio_port, args.clients, args.requests, f"run{int(started)}")
        report(f"import, {args.clients} clients", latencies, time.perf_counter() - started)
        if args.every:
            started = time.perf_counter()
            paced = run_clients(url, token, audio_port, args.clients, args.requests, f"paced{int(started)}", args.every)
            # An additional view, not the goal's measure: people add songs at a pace.
            report(f"(additional view) open loop, one import per client every {args.every:g} s",
                   paced, time.perf_counter() - started)
        started = time.perf_counter()
        repeats = run_clients(url, token, audio_port, min(4, args.clients), 2, "warmup")
        report("import of a known link", repeats, time.perf_counter() - started)
    finally:
        audio_server.shutdown()
        if process is not None:
            process.send_signal(signal.SIGTERM)
            process.wait(60)


if __name__ == "__main__":
    main()
