"""Benchmark: how soon a song asked for on demand can be sung.

A 4-minute song on a local link; the site started as `make run` starts it (a fresh
DATA_DIR, SQLite, the embedded Redis, both task clusters) with the full-size `htdemucs`
architecture (random weights, built as bench/separation.py builds it: the compute does not
depend on the weights); a headless Chromium TV on a room with no interlude. The host adds
the song and a singer queues it at once; the song starts by itself as soon as it is
playable (songs/streaming.py), from its live stream, while Demucs still runs.

Printed: seconds from the import request to the first instrumental sound on the TV, from
the end of the download to that sound, how long the separation took (and its speed), and
every stall during the whole song (the TV saying "playing" while its audio stands still,
or holding with "getting ready"). Goal on a 2-core machine: first sound within 15 s of
the end of the download, and no stall, for a song separated faster than real time. It
prints figures and asserts nothing.

    .venv/bin/python bench/time_to_sing.py [--minutes 4] [--safety 10]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import requests

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
sys.path.insert(0, str(BASE_DIR / "bench"))

from import_latency import PASSWORD, serve_folder, start_site  # noqa: E402
from key_change import cpu_model  # noqa: E402
from separation import NAME, SIGNATURE, write_song  # noqa: E402

from tests.demucs_model import FULL_HTDEMUCS_KWARGS, build_htdemucs  # noqa: E402

CHROMIUM = "/usr/bin/chromium"


def open_tv(playwright, url: str, code: str):
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM, args=["--no-sandbox", "--headless", "--disable-background-networking",
                                        "--autoplay-policy=no-user-gesture-required"],
    )
    page = browser.new_context().new_page()
    page.goto(f"{url}/accounts/login/")
    page.fill("input[name=username]", "bench")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    page.goto(f"{url}/rooms/{code}/tv/")
    page.get_by_role("button", name="Start the TV").click()
    # Every 100 ms: the wall clock (the same as this process's), the audio's time, the mode.
    page.evaluate("""() => {
        window.playLog = [];
        setInterval(() => window.playLog.push({at: Date.now() / 1000, position: window.encoreTv.position,
            mode: window.encoreTv.mode, entry: window.encoreTv.entry, streaming: window.encoreTv.streaming}), 100);
    }""")
    return browser, page


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


def cpu_by_part(site: subprocess.Popen) -> dict[str, float]:
    """CPU seconds so far of the site's web server, its workers (by cluster) and Chromium."""
    parts: dict[str, list[psutil.Process]] = {"web server": [], "task workers": [], "Chromium": []}
    for process in psutil.Process(site.pid).children(recursive=True):
        try:
            command = " ".join(process.cmdline())
        except psutil.Error:
            continue
        parts["task workers" if "qcluster" in command or "multiprocessing" in command else "web server"].append(process)
    parts["web server"].append(psutil.Process(site.pid))
    for process in psutil.Process().children(recursive=True):
        try:
            if "chrom" in process.name().lower():
                parts["Chromium"].append(process)
        except psutil.Error:
            pass
    return {name: cpu_seconds(processes) for name, processes in parts.items()}


def stalls(log: list[dict]) -> list[tuple[float, float, float]]:
    """(start in song seconds, length in seconds, kind) of each moment the audio stood
    still for more than 0.3 s while the song was on (playing or holding)."""
    found: list[tuple[float, float, float]] = []
    still_since = None
    for before, after in zip(log, log[1:], strict=False):
        on = after["entry"] is not None and after["mode"] in ("playing", "holding") and after["position"] > 0.2
        if on and after["position"] - before["position"] < 0.02:
            still_since = before if still_since is None else still_since
            continue
        if still_since is not None and after["at"] - still_since["at"] > 0.3:
            found.append((still_since["position"], after["at"] - still_since["at"], still_since["mode"]))
        still_since = None
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=4.0)
    parser.add_argument("--safety", type=float, default=10.0, help="STREAM_SAFETY_SECONDS for the site")
    args = parser.parse_args()
    seconds = args.minutes * 60

    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - only this benchmark drives a browser

    print(f"CPU: {cpu_model()}, {os.cpu_count()} CPUs; load average at start: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="encore-bench-sing-") as tmp:
        root = Path(tmp)
        model_dir = root / "models"
        build_htdemucs(model_dir, name=NAME, signature=SIGNATURE, kwargs=FULL_HTDEMUCS_KWARGS, seed=0)
        audio = root / "audio"
        audio.mkdir()
        wav = write_song(root / "song.wav", seconds, seed=1)
        import imageio_ffmpeg  # noqa: PLC0415 - only this setup step needs it, after the heavy imports

        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-i", str(wav), "-c:a", "libmp3lame",
                        "-b:a", "192k", str(audio / "song.mp3")], check=True)
        server, audio_port = serve_folder(audio)
        process, url, token = start_site(root / "data", extra_env={
            "DEMUCS_MODEL": NAME, "DEMUCS_MODEL_DIR": str(model_dir), "STREAM_SAFETY_SECONDS": str(args.safety)})
        api = requests.Session()
        api.headers["Authorization"] = f"Token {token}"
        try:
            room = api.post(f"{url}/api/rooms", json={"name": "Bench"}, timeout=30).json()
            api.patch(f"{url}/api/rooms/{room['code']}", json={"interlude_seconds": 0}, timeout=30).raise_for_status()
            singer = requests.post(f"{url}/api/rooms/{room['code']}/join", json={"display_name": "Ann"}, timeout=30).json()
            with sync_playwright() as playwright:
                browser, page = open_tv(playwright, url, room["code"])
                cpu_before = cpu_by_part(process)
                asked = time.time()
                answer = api.post(f"{url}/api/songs/import", json={"url": f"http://127.0.0.1:{audio_port}/song.mp3"},
                                  timeout=30)
                answer.raise_for_status()
                song_id, job_id = answer.json()["song"]["id"], answer.json()["job"]["id"]
                requests.post(f"{url}/api/rooms/{room['code']}/queue", json={"song": song_id},
                              headers={"X-Singer-Token": singer["token"]}, timeout=30).raise_for_status()
                downloaded = None
                while downloaded is None and time.time() - asked < 600:
                    job = api.get(f"{url}/api/jobs/{job_id}", timeout=30).json()
                    if job["stage"] not in ("", "download"):
                        downloaded = time.time()
                    time.sleep(0.1)
                page.wait_for_function("() => window.encoreTv.position > 0.05", timeout=600_000)
                # The whole song, to its end (the TV goes idle) or its last seconds.
                page.wait_for_function(
                    f"() => window.encoreTv.entry === null || window.encoreTv.position > {seconds - 3}",
                    timeout=int((seconds + 600) * 1000),
                )
                log = page.evaluate("window.playLog")
                cpu_after = cpu_by_part(process)
                wall = time.time() - asked
                browser.close()
            job = api.get(f"{url}/api/jobs/{job_id}", timeout=30).json()
        finally:
            process.terminate()
            process.wait(30)
            server.shutdown()

    first = next(sample for sample in log if sample["position"] > 0.05 and sample["mode"] == "playing")
    separate = (job.get("stage_seconds") or {}).get("separate")
    print(f"song: {args.minutes:g} min; STREAM_SAFETY_SECONDS {args.safety:g}; interlude 0")
    print(f"import request -> first instrumental sound on the TV: {first['at'] - asked:6.1f} s")
    if downloaded is not None:
        print(f"end of download -> first instrumental sound:        {first['at'] - downloaded:6.1f} s")
    print(f"played from the live stream: {'yes' if first['streaming'] else 'no (the song was ready first)'}")
    if separate:
        print(f"separation: {separate:.1f} s for {seconds:.0f} s of audio "
              f"({seconds / separate:.2f}x real time)")
    found = stalls(log)
    print(f"stalls during the song: {len(found)}"
          + "".join(f"\n  at {at:6.1f} s of the song: {length:.1f} s ({mode})" for at, length, mode in found))
    print(f"CPU seconds from the request to the song's end ({wall:.0f} s of wall time, {os.cpu_count()} CPUs): "
          + ", ".join(f"{name} {cpu_after[name] - cpu_before[name]:.0f}" for name in cpu_after))
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
