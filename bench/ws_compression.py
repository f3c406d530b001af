"""The compression CPU of one room change sent to N sockets: per socket (permessage-deflate
with context takeover, as uvicorn negotiates it by default) against once per process
(karaoke_site/websocket.py: no server context takeover, what sockets send alike
compressed once).

Two kinds of push, each to --sockets sockets:
- json: the same `queue.changed` text to every API client (a queue of --songs entries);
- html: a phone's push, the room's queue fragment followed by that singer's own
  "My songs" (different on every socket).

The texts are made here in the shape of the real ones (one element per queue entry with
the singer, the song, its wait); only their bytes matter to zlib. Each socket's compressor
has already sent one earlier change, as on a party's sockets. Variants are interleaved,
--rounds times; prints the median milliseconds per change and the ratio.

    .venv/bin/python bench/ws_compression.py [--sockets 100] [--songs 200] [--rounds 15]
"""

import argparse
import json
import os
import random
import statistics
import sys
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from key_change import cpu_model  # noqa: E402

from karaoke_site import websocket  # noqa: E402

BITS, SETTINGS = websocket.WINDOW_BITS, websocket.COMPRESS_SETTINGS
WORDS = "love night dance queen heart fire rain summer road baby time light dream girl boy".split()


def title(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS).title() for _ in range(rng.randint(1, 4)))


def queue(rng: random.Random, songs: int, version: int) -> list[dict]:
    return [{"id": 1000 + n, "position": n, "singer": {"id": n % 180, "name": f"Singer {n % 180}"},
             "song": {"id": f"{rng.getrandbits(128):032x}", "title": title(rng), "artist": title(rng),
                      "duration": rng.randint(150, 300), "status": "ready", "cover": None},
             "status": "waiting", "key_shift": 0, "wait_minutes": n * 4 + version % 3,
             "estimated_start": f"2026-12-07T21:{n % 60:02d}:00+00:00"} for n in range(songs)]


def queue_html(entries: list[dict], version: int) -> str:
    rows = "".join(
        f'<li class="entry" id="entry-{e["id"]}"><span class="pos">{e["position"] + 1}</span>'
        f'<span class="title">{e["song"]["title"]}</span> <span class="artist">{e["song"]["artist"]}</span>'
        f'<span class="singer">{e["singer"]["name"]}</span><span class="wait">in about {e["wait_minutes"]} min</span></li>'
        for e in entries)
    return f'<section id="queue-ABCDE" hx-swap-oob="true" data-version="{version}"><ol class="queue">{rows}</ol></section>'


def my_songs_html(entries: list[dict], singer: int, version: int) -> str:
    mine = "".join(f'<li><span class="title">{e["song"]["title"]}</span> <button>Remove</button></li>'
                   for e in entries if e["singer"]["id"] == singer)
    return f'<section id="my-songs-ABCDE" hx-swap-oob="true" data-version="{version}"><ul>{mine or "None yet"}</ul></section>'


def pushes(kind: str, entries: list[dict], version: int, sockets: int) -> list[bytes]:
    if kind == "json":
        text = json.dumps({"type": "queue.changed", "room": "ABCDE", "version": version, "queue": entries})
        return [text.encode()] * sockets
    shared = queue_html(entries, version)
    return [f"{shared}\n{my_songs_html(entries, n % 180, version)}".encode() for n in range(sockets)]


def per_socket(messages: list[bytes], earlier: list[bytes]) -> float:
    encoders = []
    for message in earlier:  # each socket's context: the change before
        encoder = zlib.compressobj(wbits=-BITS, **SETTINGS)
        encoder.compress(message)
        encoder.flush(zlib.Z_SYNC_FLUSH)
        encoders.append(encoder)
    start = time.process_time()
    for encoder, message in zip(encoders, messages, strict=True):
        encoder.compress(message)
        encoder.flush(zlib.Z_SYNC_FLUSH)
    return time.process_time() - start


def shared(messages: list[bytes]) -> float:
    websocket._whole.clear()
    websocket._beginnings.clear()
    start = time.process_time()
    for message in messages:
        websocket.shared_compress(message, BITS, SETTINGS)
    return time.process_time() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=100, help="sockets of one room in one web process")
    parser.add_argument("--songs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    rng = random.Random(7)
    print(f"{args.sockets} sockets, a queue of {args.songs} songs; CPU: {cpu_model()}, "
          f"load {os.getloadavg()[0]:.2f}")
    for kind in ("json", "html"):
        earlier = pushes(kind, queue(rng, args.songs, 1), 1, args.sockets)
        now = pushes(kind, queue(rng, args.songs, 2), 2, args.sockets)
        times: dict[str, list[float]] = {"per socket": [], "shared": []}
        for _ in range(args.rounds):
            times["per socket"].append(per_socket(now, earlier))
            times["shared"].append(shared(now))
        a, b = (statistics.median(times[name]) * 1000 for name in ("per socket", "shared"))
        print(f"{kind:5} push of {len(now[0]) / 1024:5.1f} KB: per socket {a:7.2f} ms, shared {b:6.2f} ms "
              f"per change ({a / b:5.1f}x less CPU)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
