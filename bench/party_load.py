"""A party under load, with faults: nothing lost, nothing stuck, everyone back.

Starts the site as `make run` does (a fresh DATA_DIR, SQLite, the embedded Redis,
both task clusters), or on PostgreSQL + Redis with --database-url and --redis-url
(or DATABASE_URL / REDIS_URL), as bench/broadcast.py does. The separation worker
is kept busy: DEMUCS_MODEL_DIR points at the tests' small real HTDemucs
(tests/demucs_model.py) and a few long sine tones (2-5 min, ffmpeg) are imported
through the API from a file server of this script on 127.0.0.1. MusicBrainz,
the Cover Art Archive and LRCLIB point at that server too (it knows nothing), so
no request leaves the machine.

One room; --phones guests in --client-processes processes of their own
(asyncio, websockets, httpx). Each phone joins through the API (its own token),
keeps `/ws/rooms/<code>/?token=...` open and reconnects with a short backoff
whenever it drops, and every few seconds searches the library as the singer page
does (`GET /rooms/<code>/search?q=`, the only search a guest may use); now and
then it adds one of the hits (`POST /api/rooms/<code>/queue`, within the room's
limit per singer) and removes it a while later (`DELETE`). A host console socket
(staff session) and two TV sockets watch too; the host plays the next song every
--next-every seconds and makes a probe change every --probe-every seconds (adds a
song, then removes it): the time from just before that request until every socket
connected all along has a `queue.changed` of that version or later is the
delivery time. The probe's version is read from the host's own socket (the API's
answers carry none): the first `queue.changed` with the entry (an add) or the
first without it after that (a remove).

Phases: --warmup (not counted), normal load (--normal), then kill -9 of every
process of the separation cluster and --fault-separation more seconds of load,
then kill -9 of the web server (uvicorn; `serve` starts it again) and
--fault-web more seconds. Per phase: guest action p50 / p95 and count, delivery
p50 / p95 / max, answers by status and connection errors, sockets reconnected and
how long they took to be back, and the CPU each part used (web, clusters, Redis,
the phones, other work on the machine). Then, after --settle seconds: every add
answered 201 is waiting, played, or gone by its own 204 DELETE (none lost, none
duplicated), every socket has the room's last version, and no job is stuck (each
finished, or running on a live worker with a fresh heartbeat, or waiting while
its cluster's workers are busy; none waiting over a minute with an idle worker),
polled for up to --job-settle seconds while the recovery sweep does its work.
Exit status 1 when that check finds lost, duplicated or stuck data, or a socket
that never came back; times are printed beside the goals, never asserted. Raw
figures: DATA_DIR/party_load.json.

    .venv/bin/python bench/party_load.py [--phones 200] [--database-url ... --redis-url ...]
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from http.cookiejar import CookieJar, DefaultCookiePolicy
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import psutil
import requests
from websockets.asyncio.client import connect

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from broadcast import percentile, site_env, start_site  # noqa: E402 - bench/ is the script's own folder

GOALS = {"action_p95": 300.0, "delivery_p95": 250.0, "back_within": 30.0}
# A socket connected all along that has no probe's version by then is "late" (and the probe
# unmeasured): long enough not to censor the slow probes of a saturated site.
PROBE_TIMEOUT = 45.0
WAITING_STUCK_AFTER = 60.0  # a job waiting this long while its cluster has an idle worker is stuck
VERSION = re.compile(r'"version": (\d+)')
HIT = re.compile(r'id="hit-([0-9a-f-]{36})"')
PHASES = ("normal", "separation killed", "web restarted")

ADJECTIVES = ["Golden", "Electric", "Midnight", "Silver", "Broken", "Dancing", "Lonely", "Wild", "Crimson",
              "Velvet", "Neon", "Sweet", "Burning", "Frozen", "Secret", "Endless"]
NOUNS = ["Heart", "River", "Dream", "Highway", "Summer", "Rain", "Fire", "Moon", "City", "Road", "Star",
         "Ocean", "Garden", "Train", "Night", "Mirror"]
ARTISTS = ["The Lamps", "Nova Reed", "Kite Runners", "Mara Vale", "Blue Static", "Otto Owls", "Juniper",
           "Hollow Pines", "Sunny Club", "Rosa Mint"]
WORDS = [w.lower() for w in ADJECTIVES + NOUNS + " ".join(ARTISTS).split()]

LIBRARY = """
import random
from songs.models import Song
from django.conf import settings
from django.test import Client
from accounts.models import User
rng = random.Random(7)
adjectives, nouns, artists = {adjectives!r}, {nouns!r}, {artists!r}
Song.objects.bulk_create([
    Song(source="url", source_id=f"bench-party-{{os.urandom(6).hex()}}", title=f"{{a}} {{n}}",
         artist=rng.choice(artists), duration=rng.randint(150, 300), status="ready")
    for a in adjectives for n in nouns
])
try:  # the search reads its own index (songs/search_index.py), which bulk_create does not keep
    from songs.search_index import index_songs
except ImportError:
    index_songs = None
if index_songs is not None:
    index_songs(Song.objects.all())
client = Client()
client.force_login(User.objects.get(username="bench-host"))
print(client.cookies[settings.SESSION_COOKIE_NAME].value)
"""

SNAPSHOT = """
import json
from django.conf import settings
from django.db.models import Count
from django.utils import timezone
from jobs.models import Job, JobLog, WorkerHeartbeat
from queue_app.models import QueueEntry, Room
code, job_ids = {code!r}, {job_ids!r}
now = timezone.now()
room = Room.objects.get(code=code)
age = lambda t: None if t is None else (now - t).total_seconds()
jobs = []
for job in Job.objects.filter(pk__in=job_ids):
    events = dict(JobLog.objects.filter(job=job).order_by().values_list("event").annotate(n=Count("id")))
    jobs.append({{"id": str(job.pk), "song": str(job.song_id), "status": job.status, "stage": job.stage,
                 "cluster": job.cluster or settings.DEFAULT_CLUSTER, "progress": job.progress, "worker": job.worker,
                 "heartbeat_age": age(job.heartbeat_at), "updated_age": age(job.updated_at),
                 "next_attempt_in": None if job.next_attempt_at is None else -age(job.next_attempt_at),
                 "error": f"{{job.error_code}}: {{job.error_message[:160]}}" if job.error_code else "",
                 "events": events,
                 "log": [(e, st, at.timestamp()) for e, st, at in JobLog.objects.filter(
                     job=job, event__in=["claimed", "recovered", "reenqueued", "completed", "failed"]
                 ).values_list("event", "stage", "at")]}})
try:  # waiting over a minute with no task left on its broker queue (jobs/services.py)
    from jobs.services import jobs_waiting_stranded
    stranded = [str(j.pk) for js in jobs_waiting_stranded(waiting_after=60).values() for j in js]
except Exception as exc:
    stranded = None
print(json.dumps({{
    "version": room.version,
    "stranded": stranded,
    "entries": [(i, singer, str(song), status) for i, singer, song, status
                in QueueEntry.objects.filter(room=room).values_list("id", "singer_id", "song_id", "status")],
    "jobs": jobs,
    "heartbeats": [{{"cluster": b.cluster, "pid": b.pid, "age": age(b.beat_at)}} for b in WorkerHeartbeat.objects.all()],
    "stale_after": settings.JOB_STALE_AFTER,
}}))
"""


def now() -> float:
    return time.monotonic()  # CLOCK_MONOTONIC: shared by the processes of one machine


def no_cookies() -> CookieJar:
    """Each phone is its own browser: a shared client must not carry one guest's session to the next."""
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


def outcome(exc: Exception) -> str:
    """A transport failure: `unsent:` when the request cannot have reached the server."""
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return f"unsent:{type(exc).__name__}"
    return f"lost:{type(exc).__name__}"


# --- one WebSocket, held open as a phone does ---------------------------------------------


class Socket:
    """Reconnects with a short backoff whenever it drops; remembers when each
    `queue.changed` version arrived on the current connection (for the probes) and
    every drop (when, when it was back, the close code)."""

    def __init__(self, url: str, headers: dict | None = None, on_message=None):
        self.url = url
        self.headers = headers
        self.on_message = on_message  # (text, parsed-or-None, t), for the host's socket
        self.connected_at: float | None = None  # when the current connection's state arrived
        self.history: deque = deque(maxlen=500)  # (version, arrival) on the current connection
        self.waiters: list = []  # (version, future)
        self.drops: list = []  # [dropped at, back at or None, close code]
        self.last_version = 0
        self.failed_connects = 0
        self.stopping = False
        self.sizes = [0, 0]  # queue.changed messages received, their characters

    async def run(self) -> None:
        attempt = 0
        while not self.stopping:
            code = None
            try:
                async with connect(self.url, additional_headers=self.headers, open_timeout=30, max_size=None,
                                   ping_interval=None, close_timeout=2, proxy=None) as ws:
                    first = await asyncio.wait_for(ws.recv(), 30)
                    t = now()
                    state = json.loads(first)
                    self.last_version = state.get("version", 0)
                    self.history.clear()
                    self.connected_at = t
                    if self.drops and self.drops[-1][1] is None:
                        self.drops[-1][1] = t
                    attempt = 0
                    if self.on_message:
                        self.on_message(first, state, t)
                    async for message in ws:
                        self._received(message, now())
                    code = ws.close_code
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # closed, refused, reset, timed out: a phone just tries again
                code = getattr(getattr(exc, "rcvd", None), "code", None) or type(exc).__name__
            if self.connected_at is not None:
                self.drops.append([now(), None, code])
                self.connected_at = None
                for _, future in self.waiters:
                    if not future.done():
                        future.set_result(None)
                self.waiters.clear()
            else:
                self.failed_connects += 1
            if self.stopping:
                break
            attempt += 1
            await asyncio.sleep(min(4.0, 0.5 * 2 ** (attempt - 1)) * random.uniform(0.7, 1.3))

    def _received(self, message: str, t: float) -> None:
        queue_changed = message.startswith('{"type": "queue.changed"')
        match = VERSION.search(message, 0, 200)
        if match is None:
            return
        version = int(match.group(1))
        self.last_version = max(self.last_version, version)
        if queue_changed:
            self.sizes[0] += 1
            self.sizes[1] += len(message)
            self.history.append((version, t))
            if self.waiters:
                for wanted, future in self.waiters:
                    if version >= wanted and not future.done():
                        future.set_result(t)
                self.waiters = [(w, f) for w, f in self.waiters if not f.done()]
        if self.on_message:
            self.on_message(message, None, t)

    def arrival(self, version: int, since: float):
        """When this socket had `version` or later: a time, a future of one, or None when it
        was not connected all along since `since`."""
        if self.connected_at is None or self.connected_at > since:
            return None
        for seen, t in self.history:
            if seen >= version:
                return t
        future = asyncio.get_running_loop().create_future()
        self.waiters.append((version, future))
        return future


async def arrivals(sockets, version: int, since: float, timeout: float) -> dict:
    """For one probe: arrival times, and how many sockets timed out, dropped meanwhile, or were not there."""
    times, pending, absent = [], [], 0
    for socket in sockets:
        answer = socket.arrival(version, since)
        if answer is None:
            absent += 1
        elif isinstance(answer, float):
            times.append(answer)
        else:
            pending.append(answer)
    dropped = missed = 0
    if pending:
        await asyncio.wait(pending, timeout=max(0.1, since + timeout - now()))
        for future in pending:
            if future.done() and future.result() is not None:
                times.append(future.result())
            elif future.done():
                dropped += 1
            else:
                missed += 1
                future.cancel()
    return {"times": times, "missed": missed, "dropped": dropped, "absent": absent}


# --- the phones (client processes) -----------------------------------------------------------


def client_process(config: dict, indexes: list[int], commands, results) -> None:
    asyncio.run(_phones(config, indexes, commands, results))


class Phone:
    def __init__(self, index: int):
        self.index = index
        self.token = ""
        self.singer = None
        self.socket: Socket | None = None
        self.waiting: list = []  # [entry id, remove at]


async def _phones(config: dict, indexes: list[int], commands, results) -> None:
    base, code = config["url"], config["code"]
    loop = asyncio.get_running_loop()
    http = httpx.AsyncClient(cookies=no_cookies(), trust_env=False, timeout=httpx.Timeout(30, connect=10),
                             limits=httpx.Limits(max_connections=None, max_keepalive_connections=len(indexes)))
    records: list = []  # (started, kind, ms, status)
    adds: list = []  # (phone, singer, song, outcome, entry id)
    removes: list = []  # (phone, entry id, outcome)
    go = asyncio.Event()
    stop = asyncio.Event()

    async def call(kind: str, method: str, url: str, **kwargs):
        started = now()
        try:
            answer = await http.request(method, url, **kwargs)
            status = answer.status_code
        except httpx.TransportError as exc:
            answer, status = None, outcome(exc)
        if go.is_set():
            records.append((started, kind, (now() - started) * 1000, status))
        return status, answer

    async def join(phone: Phone) -> None:
        for _ in range(5):
            status, answer = await call("join", "POST", f"{base}/api/rooms/{code}/join",
                                        json={"display_name": f"Guest {phone.index}"})
            if status in (200, 201):
                phone.token, phone.singer = answer.json()["token"], answer.json()["id"]
                return
            await asyncio.sleep(1)

    async def add(phone: Phone, song: str) -> None:
        status, answer = await call("add", "POST", f"{base}/api/rooms/{code}/queue", json={"song": song},
                                    headers={"X-Singer-Token": phone.token})
        entry = answer.json()["id"] if status == 201 else None
        adds.append((phone.index, phone.singer, song, "ok" if status == 201 else str(status), entry))
        if entry is not None:
            phone.waiting.append([entry, now() + random.uniform(*config["keep"])])

    async def remove(phone: Phone, item: list) -> None:
        entry = item[0]
        status, _ = await call("remove", "DELETE", f"{base}/api/rooms/{code}/queue/{entry}",
                               headers={"X-Singer-Token": phone.token})
        removes.append((phone.index, entry, str(status)))
        if status in (204, 404, 409):  # gone by this DELETE, gone before, or no longer waiting (it played)
            phone.waiting.remove(item)
        else:  # not known whether it went: tap again a little later
            item[1] = now() + random.uniform(2, 5)

    async def act(phone: Phone) -> None:
        await go.wait()
        await asyncio.sleep(random.uniform(0, config["think"][1]))
        while not stop.is_set():
            due = [item for item in phone.waiting if item[1] <= now()]
            if due:
                await remove(phone, due[0])
            else:
                status, answer = await call(
                    "search", "GET", f"{base}/rooms/{code}/search", params={"q": random.choice(WORDS)},
                    headers={"X-Singer-Token": phone.token, "HX-Request": "true"},
                )
                hits = HIT.findall(answer.text) if status == 200 else []
                if hits and len(phone.waiting) < config["limit"] and random.random() < config["add_chance"]:
                    await asyncio.sleep(random.uniform(0.5, 2.0))  # reading the list
                    await add(phone, random.choice(hits))
            try:
                await asyncio.wait_for(stop.wait(), random.uniform(*config["think"]))
            except TimeoutError:
                pass

    phones = [Phone(i) for i in indexes]
    gate = asyncio.Semaphore(20)

    async def join_gated(phone):
        async with gate:
            await join(phone)

    await asyncio.gather(*(join_gated(p) for p in phones))
    ws = base.replace("http://", "ws://")
    runners = []
    for phone in phones:
        if phone.token:
            phone.socket = Socket(f"{ws}/ws/rooms/{code}/?token={phone.token}")
            runners.append(asyncio.create_task(phone.socket.run()))
            await asyncio.sleep(0.01)
    sockets = [p.socket for p in phones if p.socket]
    deadline = now() + 120
    while now() < deadline and any(s.connected_at is None for s in sockets):
        await asyncio.sleep(0.2)
    results.put(("ready", sum(s.connected_at is not None for s in sockets), sum(not p.token for p in phones)))

    actors = []
    probes = set()
    while True:
        command = await loop.run_in_executor(None, commands.get)
        if command is None:
            break
        if command[0] == "go":
            go.set()
            actors = [asyncio.create_task(act(p)) for p in phones if p.token]
        elif command[0] == "probe":
            _, probe, since, version = command

            async def answer_probe(probe=probe, since=since, version=version):
                found = await arrivals(sockets, version, since, PROBE_TIMEOUT)
                results.put(("probe", probe, found))

            task = asyncio.create_task(answer_probe())
            probes.add(task)
            task.add_done_callback(probes.discard)
        elif command[0] == "stop":
            stop.set()
            await asyncio.gather(*actors, return_exceptions=True)
            results.put(("stopped", records, adds, removes))
        elif command[0] == "final":
            results.put(("final", [(s.last_version, s.connected_at is not None, s.drops, s.sizes) for s in sockets]))
    for socket in sockets:
        socket.stopping = True
    for runner in runners:
        runner.cancel()
    await asyncio.gather(*runners, return_exceptions=True)
    await http.aclose()


# --- the site, its audio and its faults -------------------------------------------------------


def make_tones(folder: Path, durations: list[int]) -> list[str]:
    import imageio_ffmpeg  # noqa: PLC0415 - only the tone files need it

    names, processes = [], []
    for number, seconds in enumerate(durations):
        name = f"tone-{number}-{seconds}s.mp3"
        processes.append(subprocess.Popen(
            [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-v", "error", "-f", "lavfi", "-i",
             f"sine=frequency={220 + 70 * number}:duration={seconds}", "-ac", "2", "-c:a", "libmp3lame",
             # No Xing/Info header: with one, the site's early length check reads the whole
             # file's duration from a partial download and refuses 4-5 minute songs as
             # 30-50 minutes long (bench/README.md, party_load.py).
             "-write_xing", "0", str(folder / name)]))
        names.append(name)
    for process in processes:
        if process.wait() != 0:
            raise SystemExit("ffmpeg could not make the tone files")
    return names


def serve_files(folder: Path) -> ThreadingHTTPServer:
    """The tones under /audio/; for the metadata providers, nothing is known (a 404,
    or an empty list for LRCLIB's search), so enrichment finds nothing, quickly."""

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(folder), **kwargs)

        def do_GET(self):
            if self.path.startswith("/audio/"):
                self.path = self.path[len("/audio"):]
                return super().do_GET()
            if self.path.startswith("/api/search"):
                body = b"[]"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return None
            self.send_error(404)
            return None

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request, client_address):
            if not isinstance(sys.exc_info()[1], ConnectionError):  # yt-dlp hangs up once it knows enough
                super().handle_error(request, client_address)

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def build_model(folder: Path) -> None:
    from tests.demucs_model import build_small_htdemucs  # noqa: PLC0415 - torch, only for this step

    build_small_htdemucs(folder)


def manage_shell(env: dict, code: str, timeout: float = 120) -> str:
    done = subprocess.run([sys.executable, str(BASE_DIR / "manage.py"), "shell", "-c", "import os\n" + code],
                          env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"manage.py shell failed: {done.stderr[-2000:]}")
    return done.stdout.strip().splitlines()[-1]


def separation_processes(serve: psutil.Process) -> list[psutil.Process]:
    found = []
    for process in serve.children(recursive=True):
        try:
            if process.environ().get("Q_CLUSTER_NAME") == "separation":
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return found


def web_processes(serve: psutil.Process) -> list[psutil.Process]:
    for child in serve.children():
        try:
            if "uvicorn" in " ".join(child.cmdline()):
                return [child, *child.children(recursive=True)]
        except psutil.NoSuchProcess:
            pass
    return []


def kill(processes: list[psutil.Process]) -> list[int]:
    killed = []
    for process in processes:
        try:
            process.send_signal(signal.SIGKILL)
            killed.append(process.pid)
        except psutil.NoSuchProcess:
            pass
    return killed


# --- where the CPU goes -----------------------------------------------------------------------


class CpuMeter:
    """CPU seconds per part of the site and of the bench, per phase, sampled every second
    (a killed process loses at most its last second), and the whole machine's busy time
    (other work on it included)."""

    def __init__(self, serve_pid: int, phone_pids: list[int]):
        self.serve = psutil.Process(serve_pid)
        self.fixed = {serve_pid: "serve", os.getpid(): "timer", **{pid: "phones" for pid in phone_pids}}
        self.phone_processes = [psutil.Process(pid) for pid in phone_pids]
        self.groups: dict[int, str] = {}
        self.last: dict[int, float] = {}
        self.spent: Counter = Counter()  # (phase, group) -> CPU seconds
        self.machine = self._machine()

    @staticmethod
    def _machine() -> float:
        t = psutil.cpu_times()
        return sum(t) - t.idle - getattr(t, "iowait", 0.0)

    def _group(self, process: psutil.Process) -> str:
        if process.pid in self.fixed:
            return self.fixed[process.pid]
        if process.pid not in self.groups:
            name = "serve's other"
            try:
                cluster = process.environ().get("Q_CLUSTER_NAME")
                line = " ".join(process.cmdline())
                if cluster:
                    name = cluster
                elif "uvicorn" in line or any("uvicorn" in " ".join(a.cmdline()) for a in process.parents()):
                    name = "web"
                elif "redis-server" in line or process.name().startswith("redis"):
                    name = "redis"
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
            self.groups[process.pid] = name
        return self.groups[process.pid]

    def sample(self, phase: str | None) -> None:
        try:
            processes = [self.serve, *self.serve.children(recursive=True)]
        except psutil.NoSuchProcess:
            processes = []
        processes += [psutil.Process(), *self.phone_processes]
        for process in processes:
            try:
                t = process.cpu_times()
                group = self._group(process)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            total = t.user + t.system
            self.spent[(phase, group)] += total - self.last.get(process.pid, 0.0)
            self.last[process.pid] = total
        machine = self._machine()
        self.spent[(phase, "machine")] += machine - self.machine
        self.machine = machine

    def line(self, phase: str, seconds: float) -> str:
        order = ["web", "encore", "separation", "redis", "serve", "serve's other", "phones", "timer"]
        ours = sum(v for (p, g), v in self.spent.items() if p == phase and g != "machine")
        parts = [f"{g} {self.spent[(phase, g)] / seconds:.2f}" for g in order if self.spent[(phase, g)] > 0]
        machine = self.spent[(phase, "machine")] / seconds
        return (f"{', '.join(parts)}; machine busy {machine:.2f} of {psutil.cpu_count()} "
                f"(other work {max(0.0, machine - ours / seconds):.2f})")


# --- the host, the TVs, the timer -----------------------------------------------------------


class Party:
    def __init__(self, args, url: str, token: str, session: str, code: str, probe_songs: list[str], env: dict,
                 serve: subprocess.Popen, workers: list, results):
        self.args, self.url, self.code, self.env = args, url, code, env
        self.token, self.session = token, session
        self.probe_songs = probe_songs
        self.serve = psutil.Process(serve.pid)
        self.workers = workers  # (process, commands)
        self.results = results
        self.marks: dict[str, float] = {}
        self.events: list[str] = []
        self.host_records: list = []  # (started, kind, ms, status)
        self.host_adds: list = []  # (song, outcome, entry)
        self.host_removes: list = []  # (entry, outcome)
        self.probes: list = []  # dicts
        self.qlog: deque = deque(maxlen=5000)  # (version, entry ids, arrival) of the host's socket
        self.inbox: dict[str, asyncio.Queue] = {}
        self.probe_answers: dict[int, list] = {}
        self.probe_done: dict[int, asyncio.Event] = {}

    def phase(self) -> str | None:
        t = now()
        for name in reversed(("warm-up", *PHASES)):
            mark = self.marks.get("go" if name == "warm-up" else name)
            if mark is not None and t >= mark and "end" not in self.marks:
                return name
        return None

    async def meter_loop(self) -> None:
        while True:
            self.cpu.sample(self.phase())
            await asyncio.sleep(1.0)

    def note(self, text: str) -> None:
        t = now() - self.marks.get("go", now())
        line = f"  [{t:6.1f} s] {text}"
        self.events.append(line)
        print(line, flush=True)

    # messages from the client processes, routed onto this loop
    def _dispatch(self, loop) -> None:
        while True:
            try:
                message = self.results.get()
            except (EOFError, OSError):
                return
            if message is None:
                return
            loop.call_soon_threadsafe(self._route, message)

    def _route(self, message) -> None:
        if message[0] == "probe":
            self.probe_answers.setdefault(message[1], []).append(message[2])
            if len(self.probe_answers[message[1]]) == len(self.workers):
                self.probe_done[message[1]].set()
        else:
            self.inbox.setdefault(message[0], asyncio.Queue()).put_nowait(message)

    async def gather(self, kind: str, timeout: float) -> list:
        queue = self.inbox.setdefault(kind, asyncio.Queue())
        got = []
        deadline = now() + timeout
        while len(got) < len(self.workers) and now() < deadline:
            try:
                got.append(await asyncio.wait_for(queue.get(), deadline - now()))
            except TimeoutError:
                break
        return got

    def send(self, command) -> None:
        for _, commands in self.workers:
            commands.put(command)

    async def call(self, kind: str, method: str, path: str, **kwargs):
        started = now()
        try:
            answer = await self.http.request(method, f"{self.url}{path}", **kwargs)
            status = answer.status_code
        except httpx.TransportError as exc:
            answer, status = None, outcome(exc)
        self.host_records.append((started, kind, (now() - started) * 1000, status))
        return status, answer

    def _host_message(self, text: str, parsed, t: float) -> None:
        if parsed is None:
            if not text.startswith('{"type": "queue.changed"'):
                return
            parsed = json.loads(text)
        if "queue" in parsed:
            self.qlog.append((parsed["version"], frozenset(e["id"] for e in parsed["queue"]), t))
            self.host_changed.set()

    async def probe_version(self, entry: int, present: bool, since: float) -> int | None:
        """The version of the host's change, seen on the host's socket (connected all along)."""
        deadline = now() + PROBE_TIMEOUT
        while now() < deadline:
            if self.host.connected_at is None or self.host.connected_at > since:
                return None
            seen = False
            for version, ids, t in list(self.qlog):
                if t < self.host.connected_at:
                    continue
                if entry in ids:
                    if present:
                        return version
                    seen = True
                elif seen:
                    return version
            self.host_changed.clear()
            try:
                await asyncio.wait_for(self.host_changed.wait(), max(0.05, deadline - now()))
            except TimeoutError:
                pass
        return None

    async def measure(self, number: int, since: float, answer_ms: float, entry: int, present: bool) -> None:
        version = await self.probe_version(entry, present, since)
        record = {"at": since, "answer": answer_ms, "delivery": None, "sockets": 0, "missed": 0, "dropped": 0}
        self.probes.append(record)
        if version is None:
            record["skipped"] = "host socket dropped first" if (
                self.host.connected_at is None or self.host.connected_at > since) else "late on the host socket"
            return
        self.probe_done[number] = asyncio.Event()
        self.send(("probe", number, since, version))
        local = await arrivals([self.host, *self.tvs], version, since, PROBE_TIMEOUT)
        try:
            await asyncio.wait_for(self.probe_done[number].wait(), PROBE_TIMEOUT + 10)
        except TimeoutError:
            record["skipped"] = "no answer from the phones' processes"
            return
        found = [local, *self.probe_answers.pop(number)]
        times = [t for part in found for t in part["times"]]
        for key in ("missed", "dropped"):
            record[key] = sum(part[key] for part in found)
        record["sockets"] = len(times)
        if times and not record["missed"]:
            record["delivery"] = (max(times) - since) * 1000

    async def probe_loop(self) -> None:
        added, number = None, 0
        measuring = set()
        while not self.stopping.is_set():
            started = now()
            number += 1
            if added is None:
                song = self.probe_songs[number % len(self.probe_songs)]
                status, answer = await self.call("probe add", "POST", f"/api/rooms/{self.code}/queue", json={"song": song})
                self.host_adds.append((song, "ok" if status == 201 else str(status), answer.json()["id"] if status == 201 else None))
                if status == 201:
                    added = answer.json()["id"]
                    task = asyncio.create_task(self.measure(number, started, (now() - started) * 1000, added, True))
                    measuring.add(task)
                    task.add_done_callback(measuring.discard)
            else:
                status, _ = await self.call("probe remove", "DELETE", f"/api/rooms/{self.code}/queue/{added}")
                self.host_removes.append((added, str(status)))
                if status == 204:
                    task = asyncio.create_task(self.measure(number, started, (now() - started) * 1000, added, False))
                    measuring.add(task)
                    task.add_done_callback(measuring.discard)
                if status in (204, 404, 409):
                    added = None
            try:
                await asyncio.wait_for(self.stopping.wait(), max(0.05, started + self.args.probe_every - now()))
            except TimeoutError:
                pass
        if added is not None:
            status, _ = await self.call("probe remove", "DELETE", f"/api/rooms/{self.code}/queue/{added}")
            self.host_removes.append((added, str(status)))
        await asyncio.gather(*measuring, return_exceptions=True)

    async def next_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                await asyncio.wait_for(self.stopping.wait(), self.args.next_every)
            except TimeoutError:
                await self.call("next", "POST", f"/api/rooms/{self.code}/player", json={"action": "next"})

    async def watch_back(self, what: str, since: float, is_back, back: str = "back") -> None:
        deadline = since + 120
        while now() < deadline:
            try:
                if await is_back():
                    self.marks[f"{what} back"] = now()
                    self.note(f"{what} {back} {now() - since:.1f} s after the kill")
                    return
            except Exception:  # not yet
                pass
            await asyncio.sleep(0.25)
        self.note(f"{what} NOT {back} within 120 s")

    async def separation_running(self) -> dict | None:
        status, answer = await self.call("jobs", "GET", "/api/jobs/", params={"status": "running"})
        if status != 200:
            return None
        for job in answer.json().get("results", []):
            if job["stage"] == "separate":
                return job
        return None

    async def run(self) -> dict:
        loop = asyncio.get_running_loop()
        threading.Thread(target=self._dispatch, args=(loop,), daemon=True).start()
        self.http = httpx.AsyncClient(headers={"Authorization": f"Token {self.token}"}, cookies=no_cookies(),
                                      trust_env=False, timeout=httpx.Timeout(30, connect=10))
        self.stopping = asyncio.Event()
        self.host_changed = asyncio.Event()
        ws = self.url.replace("http://", "ws://")
        cookie = {"Cookie": f"sessionid={self.session}"}
        self.host = Socket(f"{ws}/ws/rooms/{self.code}/", cookie, on_message=self._host_message)
        self.tvs = [Socket(f"{ws}/ws/rooms/{self.code}/", cookie) for _ in range(2)]
        runners = [asyncio.create_task(s.run()) for s in (self.host, *self.tvs)]

        ready = await self.gather("ready", 300)
        connected = sum(r[1] for r in ready)
        failed = sum(r[2] for r in ready)
        print(f"phones: {connected} of {self.args.phones} sockets connected ({failed} could not join)", flush=True)

        deadline = now() + 180
        job = await self.separation_running()
        while job is None and now() < deadline:
            await asyncio.sleep(2)
            job = await self.separation_running()
        busy = f"busy on job {job['id'][:8]} ({job['progress']:.0f} %)" if job else "NOT running yet"
        print(f"separation: {busy}", flush=True)

        self.cpu = CpuMeter(self.serve.pid, [process.pid for process, _ in self.workers])
        meter = asyncio.create_task(self.meter_loop())
        self.marks["go"] = now()
        self.send(("go",))
        loops = [asyncio.create_task(self.probe_loop()), asyncio.create_task(self.next_loop())]
        self.note(f"load starts ({self.args.warmup:g} s warm-up, not counted)")
        await asyncio.sleep(self.args.warmup)
        self.marks["normal"] = now()
        self.note("phase: normal load")
        await asyncio.sleep(self.args.normal)

        job = await self.separation_running()
        processes = separation_processes(self.serve)
        self.marks["separation killed"] = now()
        killed = kill(processes)
        self.killed = set(killed)
        self.separation_killed_wall = time.time()
        self.note(f"phase: kill -9 of the separation cluster ({len(killed)} processes: {killed}); it was "
                  + (f"separating job {job['id'][:8]} at {job['progress']:.0f} %" if job else "not separating"))

        async def separation_back():
            return any(p.pid not in self.killed for p in separation_processes(self.serve))

        watchers = [asyncio.create_task(self.watch_back("separation cluster", now(), separation_back))]
        await asyncio.sleep(self.args.fault_separation)

        processes = web_processes(self.serve)
        self.marks["web restarted"] = now()
        killed = kill(processes)
        self.note(f"phase: kill -9 of the web server ({killed})")

        async def web_back():  # any answer: a busy server may take seconds to give it
            async with httpx.AsyncClient(trust_env=False, timeout=httpx.Timeout(15, connect=2)) as probe:
                await probe.get(f"{self.url}/healthz")
                return True

        watchers.append(asyncio.create_task(self.watch_back("web server", now(), web_back, "answering")))
        await asyncio.sleep(self.args.fault_web)
        self.cpu.sample(self.phase())
        self.marks["end"] = now()
        meter.cancel()
        self.note("load ends; waiting for the answers in flight")
        self.stopping.set()
        await asyncio.gather(*loops)
        self.send(("stop",))
        stopped = await self.gather("stopped", 90)
        await asyncio.sleep(self.args.settle)
        self.send(("final",))
        final = await self.gather("final", 60)
        local_final = [(s.last_version, s.connected_at is not None, s.drops, s.sizes) for s in (self.host, *self.tvs)]
        status, answer = await self.call("final queue", "GET", f"/api/rooms/{self.code}/queue")
        api_queue = [e["id"] for e in answer.json()] if status == 200 else None
        for watcher in watchers:
            watcher.cancel()
        for socket in (self.host, *self.tvs):
            socket.stopping = True
        for runner in runners:
            runner.cancel()
        await asyncio.gather(*runners, *watchers, return_exceptions=True)
        self.send(None)
        status, answer = await self.call("healthz", "GET", "/healthz")
        health = answer.text[:600] if answer is not None else status
        await self.http.aclose()
        return {"stopped": stopped, "final": final, "local_final": local_final, "api_queue": api_queue,
                "health": health}


# --- the figures and the verdict -------------------------------------------------------------


def phase_of(marks: dict, t: float) -> str | None:
    if t < marks["normal"]:
        return None
    if t < marks["separation killed"]:
        return "normal"
    if t < marks["web restarted"]:
        return "separation killed"
    if t < marks["end"]:
        return "web restarted"
    return None


def stats(values: list[float]) -> str:
    if not values:
        return "—"
    return (f"p50 {statistics.median(values):6.0f}  p95 {percentile(values, 0.95):6.0f}  "
            f"max {max(values):6.0f} ms")


def report_phases(party: Party, records: list, drops: list) -> dict:
    marks = party.marks
    goals = {}
    print("\nPer phase (guest actions: search, add, remove; delivery: host's probe change to every socket)")
    for phase in PHASES:
        start = marks[phase]
        end = {"normal": marks["separation killed"], "separation killed": marks["web restarted"],
               "web restarted": marks["end"]}[phase]
        mine = [r for r in records if phase_of(marks, r[0] + r[2] / 1000) == phase]
        answered = [r[2] for r in mine if isinstance(r[3], int)]
        by_kind = {kind: [r[2] for r in mine if r[1] == kind and isinstance(r[3], int)]
                   for kind in ("search", "add", "remove")}
        statuses = Counter(r[3] for r in mine)
        host_statuses = Counter(r[3] for r in party.host_records if phase_of(marks, r[0] + r[2] / 1000) == phase)
        probes = [p for p in party.probes if phase_of(marks, p["at"]) == phase]
        delivered = [p["delivery"] for p in probes if p["delivery"] is not None]
        missed = sum(1 for p in probes if p.get("missed"))
        skipped = Counter(p["skipped"] for p in probes if p.get("skipped"))
        in_phase = [d for d in drops if start <= d[0] < end]
        back = [d[1] - d[0] for d in in_phase if d[1] is not None]
        print(f"\n{phase} ({end - start:.0f} s):")
        print(f"  guest actions  n={len(answered):<5} {stats(answered)}   ({len(mine) / (end - start):.1f}/s)")
        for kind, values in by_kind.items():
            print(f"    {kind:<7}      n={len(values):<5} {stats(values)}")
        print(f"  delivery       n={len(delivered):<5} {stats(delivered)}   (of {len(probes)} probes; "
              f"{missed} with a socket still without it after {PROBE_TIMEOUT:.0f} s; not measured: {dict(skipped)};"
              f" sockets per probe {max([p['sockets'] for p in probes] or [0])})")
        print(f"  probe answers  {stats([p['answer'] for p in probes])}")
        print(f"  guest answers  {dict(sorted(statuses.items(), key=str))}")
        ends = sorted(r[0] + r[2] / 1000 for r in mine if isinstance(r[3], int))
        if len(ends) > 1:
            gap, at = max((b - a, a) for a, b in zip(ends, ends[1:], strict=False))
            print(f"  longest gap with no answer to any phone: {gap:.1f} s (from {at - marks['go']:.1f} s)")
        print(f"  host answers   {dict(sorted(host_statuses.items(), key=str))}")
        slowest = max(back) if back else None
        print(f"  CPU (cores)    {party.cpu.line(phase, end - start)}")
        print(f"  sockets dropped {len(in_phase)}, back {len(back)}"
              + (f", drop to back p50 {statistics.median(back):.1f} s max {slowest:.1f} s" if back else ""))
        if phase == "web restarted":
            back_after_kill = [d[1] - start for d in in_phase if d[1] is not None]
            never = len(in_phase) - len(back)
            goals["back"] = (max(back_after_kill) if back_after_kill else None, never)
            print("  slowest back after the restart: "
                  + (f"{max(back_after_kill):.1f} s after the kill" if back_after_kill else "—")
                  + f"; never back: {never}")
        server_errors = sum(n for s, n in statuses.items() if isinstance(s, int) and s >= 500)
        server_errors += sum(n for s, n in host_statuses.items() if isinstance(s, int) and s >= 500)
        goals[phase] = {"action_p95": percentile(answered, 0.95) if answered else None,
                        "delivery_p95": percentile(delivered, 0.95) if delivered else None,
                        "server_errors": server_errors}
    return goals


def check_entries(snapshot: dict, adds: list, removes: list, api_queue, finals: list) -> dict:
    """Every add answered 201 is waiting, played, or gone by its own 204 DELETE."""
    rows = {row[0]: row for row in snapshot["entries"]}
    known: dict[int, tuple] = {}
    duplicate_ids = 0
    unknown_adds: Counter = Counter()  # (singer, song) -> adds whose outcome is not known
    for _, singer, song, result, entry in adds:
        if entry is not None:
            duplicate_ids += entry in known
            known[entry] = (singer, song)
        elif result.startswith("lost:") or result.startswith("5"):
            unknown_adds[(singer, song)] += 1
    gone = {entry for _, entry, result in removes if result == "204"}
    maybe_gone = {entry for _, entry, result in removes if result.startswith("lost:") or result.startswith("5")}
    gone |= {entry for _, entry, result in removes if result == "404" and entry in maybe_gone}
    not_found = [entry for _, entry, result in removes if result == "404" and entry not in maybe_gone]
    lost, resurrected, played = [], [], 0
    for entry in known:
        row = rows.get(entry)
        if entry in gone:
            if row is not None:
                resurrected.append(row)
        elif row is None:
            if entry not in maybe_gone:
                lost.append(entry)
        elif row[3] != "waiting":
            played += 1
    unexplained = []
    for entry, row in rows.items():
        if entry in known:
            continue
        key = (row[1], row[2])
        if unknown_adds[key] > 0:
            unknown_adds[key] -= 1
        else:
            unexplained.append(row)
    waiting = sorted(e for e, row in rows.items() if row[3] == "waiting")
    api_mismatch = api_queue is not None and sorted(api_queue) != waiting
    api_duplicates = api_queue is not None and len(api_queue) != len(set(api_queue))
    connected = [f for f in finals if f[1]]
    stale = sum(1 for f in connected if f[0] < snapshot["version"])
    return {"adds ok": len(known), "played": played, "removed ok": len(gone), "waiting": len(waiting),
            "lost": lost, "duplicated": unexplained, "duplicate ids": duplicate_ids,
            "deleted but still there": resurrected, "own entry 404 on DELETE": not_found,
            "API queue differs from the database": api_mismatch, "API queue repeats an entry": api_duplicates,
            "sockets connected at the end": len(connected), "sockets down at the end": len(finals) - len(connected),
            "sockets behind the room's version": stale}


def worker_alive(worker: str) -> bool:
    """A job's worker ("host:pid", of this machine here) is a live process."""
    pid = worker.rpartition(":")[2]
    return pid.isdigit() and psutil.pid_exists(int(pid)) and psutil.Process(int(pid)).status() != psutil.STATUS_ZOMBIE


def check_jobs(snapshot: dict, job_ids: list[str], env: dict) -> dict:
    """Every job finished, or running on a live worker with a fresh heartbeat, or waiting while
    its cluster's workers are all busy; none waiting over a minute with an idle worker."""
    workers = {"encore": int(env.get("WORKERS", 2)), "separation": int(env.get("SEPARATION_WORKERS", 1))}
    fresh = snapshot["stale_after"]
    jobs = snapshot["jobs"]
    for job in jobs:
        job["live"] = job["status"] in ("running", "retrying") and job["heartbeat_age"] is not None \
            and job["heartbeat_age"] < fresh and worker_alive(job["worker"])
    busy = Counter(j["cluster"] for j in jobs if j["live"])
    found = {j["id"] for j in jobs}
    stuck, duplicated, behind = [], [], []
    for job in jobs:
        done = job["events"].get("completed", 0)
        if done > 1:
            duplicated.append(f"{job['id'][:8]} completed {done} times")
        if job["status"] in ("running", "retrying") and not job["live"]:
            stuck.append(f"{job['id'][:8]} {job['status']} {job['stage']} on worker {job['worker']} "
                         f"({'alive' if worker_alive(job['worker']) else 'gone'}), heartbeat {job['heartbeat_age']} s old")
        elif job["status"] in ("pending", "queued") and job["updated_age"] > WAITING_STUCK_AFTER:
            if busy[job["cluster"]] < workers.get(job["cluster"], 1):
                stuck.append(f"{job['id'][:8]} {job['status']} {job['stage']} for {job['updated_age']:.0f} s, "
                             f"and {job['cluster']} has an idle worker now")
            elif job["id"] in (snapshot.get("stranded") or []):
                # Behind a busy worker: not stuck, but no task of its broker is left for it (a
                # killed cluster took it, or its pusher holds it); the sweep enqueues another.
                behind.append(f"{job['id'][:8]} {job['status']} {job['stage']} for {job['updated_age']:.0f} s")
    counts = Counter(j["status"] for j in jobs)
    return {"statuses": dict(counts), "lost": [j for j in job_ids if j not in found], "duplicated": duplicated,
            "stuck": stuck, "waiting behind a busy worker with no task on the broker": behind,
            "jobs": [f"{j['id'][:8]} {j['status']:<9} {j['stage']:<9} {j['progress']:5.1f} % worker {j['worker'] or '-'}"
                     f" events {j['events']}" + (f" error {j['error']}" if j["error"] else "") for j in jobs]}


def serve_log_summary(path: Path) -> list[str]:
    if not path.exists():
        return []
    lines = path.read_text(errors="replace").splitlines()
    wanted = re.compile(r"Traceback|ERROR|WARNING|Error:|Internal Server Error|exited with|restart|recover")
    return [line for line in lines if wanted.search(line)]


# --- main ----------------------------------------------------------------------------------


def pair(text: str) -> tuple[float, float]:
    low, high = (float(x) for x in text.split(","))
    return low, high


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phones", type=int, default=200)
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--think", type=pair, default=(3.0, 9.0), help="seconds between one phone's actions (min,max)")
    parser.add_argument("--add-chance", type=float, default=0.04, help="after a search, the chance of adding a hit")
    parser.add_argument("--keep", type=pair, default=(15.0, 60.0), help="seconds before a phone removes its song")
    parser.add_argument("--max-waiting", type=int, default=3, help="the room's limit of waiting songs per singer")
    parser.add_argument("--probe-every", type=float, default=2.0)
    parser.add_argument("--next-every", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=15.0)
    parser.add_argument("--normal", type=float, default=40.0)
    parser.add_argument("--fault-separation", type=float, default=30.0)
    parser.add_argument("--fault-web", type=float, default=40.0)
    parser.add_argument("--settle", type=float, default=10.0)
    parser.add_argument("--job-settle", type=float, default=180.0,
                        help="at most this long, wait for the job check to pass (the recovery sweep runs every minute)")
    parser.add_argument("--tones", default="120,180,240,300", help="seconds of each imported tone (2-5 min)")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"),
                        help="PostgreSQL instead of SQLite (a database of your own: it gets tables and rows)")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL"),
                        help="a Redis of your own (use a free db number) instead of the embedded one")
    args = parser.parse_args()

    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    data_dir = Path(tempfile.mkdtemp(prefix="encore-party-"))
    audio = data_dir / "tones"
    audio.mkdir()
    tones = make_tones(audio, [int(x) for x in args.tones.split(",")])
    files = serve_files(audio)
    local = f"127.0.0.1:{files.server_address[1]}"
    build_model(data_dir / "models")
    env = site_env(data_dir, args.database_url, args.redis_url)
    env.update(DEBUG="false")  # as `make run` (broadcast.py turns it on)
    env.update(
        DEMUCS_MODEL="tiny_htdemucs", DEMUCS_MODEL_DIR=str(data_dir / "models"),
        MUSICBRAINZ_HOST=local, MUSICBRAINZ_HTTPS="false", COVERART_URL=f"http://{local}",
        LRCLIB_URL=f"http://{local}", CONTACT_EMAIL="bench@example.org", THROTTLE_IMPORTS="1000000/1s",
    )
    serve, url, token, songs = start_site(env, data_dir)
    where = "PostgreSQL + Redis" if args.database_url else "embedded default (SQLite, embedded Redis)"
    print(f"site: {url} ({where}, DATA_DIR={data_dir})", flush=True)
    exit_code = 0
    workers = []
    try:
        session = manage_shell(env, LIBRARY.format(adjectives=ADJECTIVES, nouns=NOUNS, artists=ARTISTS))
        host = requests.Session()
        host.trust_env = False
        host.headers["Authorization"] = f"Token {token}"
        job_ids = []
        for name in tones:
            answer = host.post(f"{url}/api/songs/import", json={"url": f"http://{local}/audio/{name}"}, timeout=30)
            answer.raise_for_status()
            job_ids.append(answer.json()["job"]["id"])
        print(f"imported {len(tones)} tones of {args.tones} s: jobs {[j[:8] for j in job_ids]}", flush=True)
        room = host.post(f"{url}/api/rooms/", json={"name": "Party load", "max_waiting_per_singer": args.max_waiting},
                         timeout=30)
        room.raise_for_status()
        code = room.json()["code"]
        host_singer = host.post(f"{url}/api/rooms/{code}/join", json={}, timeout=30).json()["id"]

        config = {"url": url, "code": code, "think": args.think, "keep": args.keep, "limit": args.max_waiting,
                  "add_chance": args.add_chance}
        context = multiprocessing.get_context("spawn")
        results = context.Queue()
        for i in range(args.client_processes):
            commands = context.Queue()
            process = context.Process(target=client_process, daemon=True,
                                      args=(config, list(range(i, args.phones, args.client_processes)), commands, results))
            process.start()
            workers.append((process, commands))

        party = Party(args, url, token, session, code, songs, env, serve, workers, results)
        outcome_ = asyncio.run(party.run())
        results.put(None)
        records = [r for s in outcome_["stopped"] for r in s[1]]
        adds = [a for s in outcome_["stopped"] for a in s[2]]
        removes = [r for s in outcome_["stopped"] for r in s[3]]
        finals = [f for s in outcome_["final"] for f in s[1]] + outcome_["local_final"]
        drops = [d for f in finals for d in f[2]]
        if len(outcome_["stopped"]) < len(workers):
            print(f"!! only {len(outcome_['stopped'])} of {len(workers)} client processes reported")
        goals = report_phases(party, records, drops)
        go = party.marks["go"]
        (data_dir / "party_load.json").write_text(json.dumps({
            "marks": {k: v - go for k, v in party.marks.items()},
            "records": [(r[0] - go, r[1], round(r[2], 1), r[3]) for r in records],
            "host_records": [(r[0] - go, r[1], round(r[2], 1), r[3]) for r in party.host_records],
            "probes": [{**p, "at": p["at"] - go} for p in party.probes],
            "drops": [(d[0] - go, None if d[1] is None else d[1] - go, d[2]) for d in drops],
            "cpu": [(ph, g, v) for (ph, g), v in party.cpu.spent.items()],
        }))
        messages, characters = sum(f[3][0] for f in finals), sum(f[3][1] for f in finals)
        seconds = party.marks["end"] - party.marks["go"]
        print(f"\nqueue.changed: {messages} received by {len(finals)} sockets in {seconds:.0f} s "
              f"({messages / max(1, len(finals)) / seconds:.2f} per socket per s), "
              f"{characters / max(1, messages) / 1000:.1f} KB of JSON each on average (before compression)")

        adds += [(-1, host_singer, song, result, entry) for song, result, entry in party.host_adds]
        removes += [(-1, entry, result) for entry, result in party.host_removes]
        snapshot = json.loads(manage_shell(env, SNAPSHOT.format(code=code, job_ids=job_ids)))
        entries = check_entries(snapshot, adds, removes, outcome_["api_queue"], finals)
        print(f"\nQueue check after {args.settle:g} s of settling (room version {snapshot['version']}):")
        for key, value in entries.items():
            shown = len(value) if isinstance(value, list) else value
            print(f"  {key}: {shown}" + (f"  e.g. {value[:5]}" if isinstance(value, list) and value else ""))

        started = now()
        while True:
            jobs = check_jobs(snapshot, job_ids, env)
            if not jobs["stuck"] or now() - started > args.job_settle:
                break
            print(f"  waiting for the jobs: {jobs['stuck']}", flush=True)
            time.sleep(10)
            snapshot = json.loads(manage_shell(env, SNAPSHOT.format(code=code, job_ids=job_ids)))
        print(f"\nJob check ({now() - started:.0f} s after the queue check, "
              f"{now() - party.marks['separation killed']:.0f} s after the separation kill): {jobs['statuses']}")
        for line in jobs["jobs"]:
            print(f"  {line}")
        for key in ("lost", "duplicated", "stuck", "waiting behind a busy worker with no task on the broker"):
            print(f"  {key}: {len(jobs[key])}" + (f"  {jobs[key]}" if jobs[key] else ""))
        print("  after the separation kill (seconds, from the job log):")
        for job in snapshot["jobs"]:
            after = [f"{event} {stage} +{at - party.separation_killed_wall:.0f}" for event, stage, at in job["log"]
                     if at >= party.separation_killed_wall]
            print(f"    {job['id'][:8]}: {', '.join(after) or '-'}")
        print(f"  /healthz: {outcome_['health']}")

        log_lines = serve_log_summary(data_dir / "serve.log")
        print(f"\nserve.log: {len(log_lines)} lines of errors, restarts and recoveries"
              + (":" if log_lines else ""))
        for line in log_lines[:40]:
            print(f"  {line[:300]}")

        back, never = goals.get("back", (None, 0))
        server_errors = sum(goals[p]["server_errors"] for p in PHASES)
        bad_entries = (len(entries["lost"]) + len(entries["duplicated"]) + entries["duplicate ids"]
                       + len(entries["deleted but still there"]))
        bad_jobs = len(jobs["lost"]) + len(jobs["duplicated"]) + len(jobs["stuck"])

        def verdict(ok):
            return "met" if ok else "NOT met"

        print("\nGoals (issue 18):")
        for phase in PHASES:
            a, d = goals[phase]["action_p95"], goals[phase]["delivery_p95"]
            tag = " (the goal's phase)" if phase == "normal" else ""
            print(f"  {phase:<18} guest action p95 {a or 0:5.0f} ms (goal ≤ {GOALS['action_p95']:.0f}: "
                  f"{verdict(a is not None and a <= GOALS['action_p95'])}), delivery p95 {d or 0:5.0f} ms "
                  f"(goal ≤ {GOALS['delivery_p95']:.0f}: {verdict(d is not None and d <= GOALS['delivery_p95'])}){tag}")
        print(f"  server errors (5xx): {server_errors} (goal 0: {verdict(server_errors == 0)})")
        print(f"  entries lost or duplicated: {bad_entries}; jobs lost, duplicated or stuck: {bad_jobs} "
              f"(goal 0: {verdict(bad_entries + bad_jobs == 0)})")
        print(f"  every socket back within {GOALS['back_within']:.0f} s of the restart: "
              + (f"slowest {back:.1f} s, {never} never back" if back is not None else f"none came back, {never} never")
              + f" ({verdict(back is not None and back <= GOALS['back_within'] and never == 0)})")
        if bad_entries or bad_jobs or never or entries["sockets down at the end"]:
            exit_code = 1
    finally:
        for process, _ in workers:
            process.join(10)
            if process.is_alive():
                process.terminate()
        serve.send_signal(signal.SIGTERM)
        try:
            serve.wait(60)
        except subprocess.TimeoutExpired:
            serve.kill()
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"DATA_DIR kept for inspection: {data_dir}")
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
