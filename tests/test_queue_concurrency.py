"""20 clients at once against the real server: the queue stays consistent.

Eighteen guests and two hosts (a host and a TV signed in as the host) hammer one room
through the API: adding, removing their own songs, reading the queue, reordering and
advancing the player. Afterwards every acknowledged add is in the database unless an
acknowledged remove took it out, positions are 0..n-1 without repeats, pins are unique,
at most one song plays, nobody is over the limit, and the room's version counts exactly
the acknowledged writes (each write bumps it once, under the room lock).
"""

import html
import random
import re
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from rest_framework.authtoken.models import Token

from queue_app import services
from queue_app.models import QueueEntry, Room
from songs.models import Song

pytestmark = [pytest.mark.slow]

CLIENTS = 20
HOSTS = 2
OPERATIONS = 15
LIMIT = 3


def _reason(response: requests.Response) -> str:
    """The error's message, or for a 500 the exception Django's debug page names."""
    match = re.search(r'<pre class="exception_value">(.*?)</pre>', response.text, re.S)
    return html.unescape(match.group(1)) if match else response.text[:300]


def test_twenty_clients_keep_the_queue_consistent(live_site, django_user_model):
    carol = django_user_model.objects.create_user(username="carol", password="x" * 12, display_name="Carol", is_host=True)
    token = Token.objects.create(user=carol).key
    room = services.room_create(owner=carol, name="Stress", max_waiting_per_singer=LIMIT)
    songs = [
        str(Song.objects.create(title=f"Song {i}", source=Song.Source.UPLOAD, status=Song.Status.READY, duration=120).pk)
        for i in range(12)
    ]
    base = f"{live_site.url}/api/rooms/{room.code}"
    start = threading.Barrier(CLIENTS)
    outcomes = {"added": [], "removed": [], "writes": 0, "statuses": Counter(), "errors": []}
    lock = threading.Lock()

    def record(kind: str, response: requests.Response, *, write: bool, ok: tuple[int, ...], allowed: tuple[int, ...]):
        with lock:
            outcomes["statuses"][(kind, response.status_code)] += 1
            if response.status_code in ok:
                outcomes["writes"] += int(write)
            elif response.status_code not in allowed:
                outcomes["errors"].append(f"{kind}: {response.status_code} {_reason(response)}")

    def guest(number: int) -> None:
        rng = random.Random(number)
        http = requests.Session()
        joined = http.post(f"{base}/join", json={"display_name": f"Guest {number}"}, timeout=30)
        assert joined.status_code == 201, joined.text
        http.headers["X-Singer-Token"] = joined.json()["token"]
        me = joined.json()["id"]
        start.wait()
        for _ in range(OPERATIONS):
            roll = rng.random()
            if roll < 0.55:
                response = http.post(f"{base}/queue", json={"song": rng.choice(songs)}, timeout=30)
                record("add", response, write=True, ok=(201,), allowed=(409,))
                if response.status_code == 201:
                    with lock:
                        outcomes["added"].append(response.json()["id"])
            elif roll < 0.8:
                queue = http.get(f"{base}/queue", timeout=30)
                record("list", queue, write=False, ok=(200,), allowed=())
                mine = [item["id"] for item in queue.json() if item["singer"]["id"] == me] if queue.ok else []
                if mine:
                    entry = rng.choice(mine)
                    response = http.delete(f"{base}/queue/{entry}", timeout=30)
                    # 409: it started playing meanwhile; 404: never (only I remove my songs)
                    record("remove", response, write=True, ok=(204,), allowed=(409,))
                    if response.status_code == 204:
                        with lock:
                            outcomes["removed"].append(entry)
            else:
                record("player", http.get(f"{base}/player", timeout=30), write=False, ok=(200,), allowed=())

    def host(number: int) -> None:
        rng = random.Random(1000 + number)
        http = requests.Session()
        http.headers["Authorization"] = f"Token {token}"
        start.wait()
        for _ in range(OPERATIONS):
            roll = rng.random()
            if roll < 0.4:
                action = rng.choice(["next", "skip", "play", "pause", "previous"])
                response = http.post(f"{base}/player", json={"action": action}, timeout=30)
                record(action, response, write=True, ok=(200,), allowed=(409,))
            else:
                queue = http.get(f"{base}/queue", timeout=30)
                record("list", queue, write=False, ok=(200,), allowed=())
                if queue.ok and queue.json():
                    entry = rng.choice(queue.json())["id"]
                    slot = rng.randrange(len(queue.json()) + 1)
                    response = http.post(f"{base}/queue/reorder", json={"entry": entry, "position": slot}, timeout=30)
                    # 404/409: the entry was removed or started playing meanwhile
                    record("reorder", response, write=True, ok=(200,), allowed=(404, 409))

    with ThreadPoolExecutor(CLIENTS) as pool:
        futures = [pool.submit(host if n < HOSTS else guest, n) for n in range(CLIENTS)]
        for future in futures:
            future.result(timeout=240)

    assert outcomes["errors"] == [], f"{outcomes['errors']}\n{live_site.log()}"
    assert outcomes["statuses"][("add", 201)] > 50  # the test did real work

    room = Room.objects.get(pk=room.pk)
    entries = list(QueueEntry.objects.filter(room=room))
    # Nothing lost, nothing extra.
    assert sorted(e.pk for e in entries) == sorted(set(outcomes["added"]) - set(outcomes["removed"]))
    assert len(set(outcomes["removed"])) == len(outcomes["removed"])
    # Every acknowledged write, and only those, changed the room once.
    assert room.version == outcomes["writes"]
    assert sum(e.status == "playing" for e in entries) <= 1

    waiting = [e for e in entries if e.status == "waiting"]
    pins = [e.pinned_position for e in waiting if e.pinned_position is not None]
    assert len(pins) == len(set(pins))
    assert max(Counter(e.singer_id for e in waiting).values(), default=0) <= LIMIT

    reader = requests.Session()
    reader.headers["Authorization"] = f"Token {token}"
    queue = reader.get(f"{base}/queue", timeout=30).json()
    assert [item["position"] for item in queue] == list(range(len(waiting)))
    assert sorted(item["id"] for item in queue) == sorted(e.pk for e in waiting)
