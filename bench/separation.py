"""Benchmark: Encore's warm separation worker vs one `python -m demucs` process per song.

Full-size `htdemucs` architecture (Demucs' own `HTDemucs` class with the released
model's hyper-parameters) with random weights: the compute cost does not depend on
the weight values. It is saved into a temporary model folder and both sides load it
from there (`--repo` for the Demucs command line), so nothing is downloaded.

    (a)  one worker process (allocator env set, as the separation cluster's
         supervisor does) loads the model once and runs `separate()` on every song;
    (b)  `python -m demucs --two-stems vocals` per song at Demucs' defaults, what
         most karaoke apps do;
    (b=) the same command with our settings (overlap, shifts, allocator env), to
         tell the cost of a process per song from the cost of the settings.

Printed per song: real-time factor (wall seconds per second of audio), b/a, model
load time, peak RSS (each process's own, from wait4), and the efficiency against
the floor: FLOPs of the segments the song needs / the matmul rate measured here.

    .venv/bin/python bench/separation.py --quick   # one 30 s song, (a) and (b)
    .venv/bin/python bench/separation.py           # 5 x 30 s and one 4-minute song

It prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
import wave
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from songs.audio.separation import ALLOCATOR_ENV, SeparationConfig  # noqa: E402
from tests.demucs_model import FULL_HTDEMUCS_KWARGS, build_htdemucs  # noqa: E402

NAME = "htdemucs"
SIGNATURE = "b3nc4000"
RATE = 44100
SEGMENT_SECONDS = float(FULL_HTDEMUCS_KWARGS["segment"])
DEMUCS_DEFAULT_OVERLAP = 0.25
OUR_OVERLAP = SeparationConfig().overlap
OUR_SHIFTS = SeparationConfig().shifts


@dataclass
class Run:
    song: Path
    seconds: float  # audio duration
    wall: float
    maxrss_mb: float
    segments: int


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one 30 s song, (a) and (b) only")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("songs", nargs="*", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
    else:
        bench(args)


def config_for(model_dir: Path, threads: int) -> SeparationConfig:
    return SeparationConfig(name=NAME, model_dir=model_dir, device="cpu", threads=threads)


# ---------------------------------------------------------------------------
# (a): runs in its own process, so its RSS and load time are its own


def worker(args: argparse.Namespace) -> None:
    """Load once, then separate each song path read from stdin (one per line)."""
    from songs.audio import separation  # noqa: PLC0415 - torch and Demucs load only in the processes that separate

    config = config_for(args.model_dir, args.threads)
    warm = separation.load_model(config)
    emit({"event": "loaded", "load_seconds": warm.load_seconds, "threads": torch.get_num_threads()})
    for index, line in enumerate(sys.stdin):
        song = Path(line.strip())
        started = time.perf_counter()
        result = separation.separate(song, out_dir=args.out / str(index), config=config)
        emit({
            "event": "song", "song": str(song), "wall": time.perf_counter() - started,
            "seconds": result.duration, "maxrss_mb": maxrss_mb(resource.RUSAGE_SELF),
        })


def emit(payload: dict) -> None:
    print(json.dumps(payload), flush=True)


def maxrss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # KiB on Linux


class WarmWorker:
    """(a) as a child process we feed songs to, so runs of (a) and (b) can alternate
    and a change in the machine's load hits both alike."""

    def __init__(self, model_dir: Path, out: Path, threads: int):
        command = [
            sys.executable, str(Path(__file__).resolve()), "--worker", "--model-dir", str(model_dir),
            "--out", str(out), "--threads", str(threads),
        ]
        env = {**os.environ, **ALLOCATOR_ENV}  # what the separation cluster's supervisor sets
        self.proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        self.load_seconds = self._reply()["load_seconds"]

    def _reply(self) -> dict:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                return json.loads(line)
        raise SystemExit(f"worker died with {self.proc.wait()}")

    def separate(self, song: Path) -> Run:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{song}\n")
        self.proc.stdin.flush()
        event = self._reply()
        return Run(song, event["seconds"], event["wall"], event["maxrss_mb"],
                   segments(event["seconds"], OUR_OVERLAP))

    def close(self) -> float:
        """Stop the worker; return its peak RSS in MB."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        _, status, usage = os.wait4(self.proc.pid, 0)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        return usage.ru_maxrss / 1024


# ---------------------------------------------------------------------------
# (b): one Demucs command-line process per song


def run_demucs_cli(
    model_dir: Path, song: Path, out: Path, *, overlap: float, shifts: int, allocator: bool
) -> Run:
    env = {**os.environ, **(ALLOCATOR_ENV if allocator else {})}
    command = [
        sys.executable, "-m", "demucs", "-n", NAME, "--repo", str(model_dir), "-d", "cpu",
        "--two-stems", "vocals", "--overlap", str(overlap), "--shifts", str(shifts),
        "-o", str(out), str(song),
    ]
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    assert proc.stderr is not None
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"python -m demucs failed: {stderr.decode(errors='replace')[-2000:]}")
    seconds = wav_seconds(song)
    return Run(song, seconds, wall, usage.ru_maxrss / 1024, segments(seconds, overlap))


def demucs_cli_load_seconds(model_dir: Path) -> tuple[float, float]:
    """Import and model-load time of a fresh `python -m demucs` process."""
    code = (
        "import time, json; t = time.perf_counter(); import demucs.separate;"
        "from demucs.pretrained import get_model; from pathlib import Path;"
        f"i = time.perf_counter(); get_model({NAME!r}, repo=Path({str(model_dir)!r}));"
        "print(json.dumps([i - t, time.perf_counter() - i]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    imports, load = json.loads(out.stdout.strip().splitlines()[-1])
    return imports, load


# ---------------------------------------------------------------------------
# The floor


def matmul_gflops(threads: int) -> float:
    torch.set_num_threads(threads)
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    best = math.inf
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(5):
            a @ b
        best = min(best, (time.perf_counter() - started) / 5)
    return 2 * 2048**3 / best / 1e9


def segment_gflop(model_dir: Path) -> float:
    """FLOPs of one segment: convolutions and linear layers from torch's counter, the
    attention products (QK^T and AV, which the counter misses on CPU) from hooks."""
    from demucs.states import load_model  # noqa: PLC0415 - torch and Demucs load only in the processes that separate
    from torch.utils.flop_counter import FlopCounterMode  # noqa: PLC0415 - torch and Demucs load only in the processes that separate

    (weights,) = model_dir.glob(f"{SIGNATURE}-*.th")
    model = load_model(weights).eval()
    attention = 0

    def count_attention(module, args, kwargs, output) -> None:
        nonlocal attention
        query, key = args[0], args[1]
        if module.batch_first:
            batch, q_len, dim = query.shape
            k_len = key.shape[1]
        else:
            q_len, batch, dim = query.shape
            k_len = key.shape[0]
        attention += 4 * batch * q_len * k_len * dim

    for module in model.modules():
        if isinstance(module, torch.nn.MultiheadAttention):
            module.register_forward_hook(count_attention, with_kwargs=True)
    torch.backends.mha.set_fastpath_enabled(False)  # the fused path hides its matmuls
    mix = torch.randn(1, 2, int(SEGMENT_SECONDS * RATE))
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(mix)
    torch.backends.mha.set_fastpath_enabled(True)
    return (counter.get_total_flops() + attention) / 1e9


def segments(seconds: float, overlap: float) -> int:
    length = round(seconds * RATE)
    seg = int(SEGMENT_SECONDS * RATE)
    return math.ceil(length / int((1 - overlap) * seg))


# ---------------------------------------------------------------------------
# Songs


def write_song(path: Path, seconds: float, seed: int) -> Path:
    """A stereo "song": a vibrato tone in the centre, chords and noise panned."""
    rng = np.random.default_rng(seed)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(RATE)
        for start in range(0, int(seconds * RATE), 10 * RATE):
            t = (start + np.arange(min(10 * RATE, int(seconds * RATE) - start))) / RATE
            voice = 0.25 * np.sin(2 * np.pi * 330 * t + 3 * np.sin(2 * np.pi * 5 * t))
            chords = sum(0.08 * np.sin(2 * np.pi * f * t) for f in (110, 165, 220, 277))
            noise = 0.03 * rng.standard_normal((2, t.size))
            stereo = np.stack([voice + chords, voice + 0.5 * chords]) + noise
            out.writeframes((np.clip(stereo.T, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def wav_seconds(path: Path) -> float:
    with wave.open(str(path)) as song:
        return song.getnframes() / song.getframerate()


# ---------------------------------------------------------------------------


def bench(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="encore-bench-") as tmp:
        root = Path(tmp)
        print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
        model_dir = root / "models"
        build_htdemucs(
            model_dir, name=NAME, signature=SIGNATURE, kwargs=FULL_HTDEMUCS_KWARGS, seed=0
        )
        lengths = [30.0] if args.quick else [30.0] * 5 + [240.0]
        songs = [
            write_song(root / f"song{index}.wav", seconds, seed=index)
            for index, seconds in enumerate(lengths)
        ]
        rate = matmul_gflops(args.threads)
        gflop = segment_gflop(model_dir)
        print(f"matmul rate: {rate:.0f} GFLOP/s on {args.threads} threads; "
              f"one {SEGMENT_SECONDS} s segment: {gflop:.0f} GFLOP "
              f"(floor {gflop / rate:.2f} s per segment)")
        imports, cli_load = demucs_cli_load_seconds(model_dir)

        worker = WarmWorker(model_dir, root / "a", args.threads)
        warm_runs, cli_runs, same_runs = [], [], []
        for song in songs:
            warm_runs.append(worker.separate(song))
            cli_runs.append(run_demucs_cli(
                model_dir, song, root / "b", overlap=DEMUCS_DEFAULT_OVERLAP, shifts=1, allocator=False
            ))
            if not args.quick and wav_seconds(song) <= 30:
                same_runs.append(run_demucs_cli(
                    model_dir, song, root / "b_same", overlap=OUR_OVERLAP, shifts=OUR_SHIFTS,
                    allocator=True,
                ))
        worker_rss = worker.close()
        load = worker.load_seconds
        print(f"load average at end: {os.getloadavg()[0]:.2f}")
        report(warm_runs, cli_runs, same_runs, load, imports, cli_load, worker_rss, rate, gflop)


def report(
    warm_runs: list[Run], cli_runs: list[Run], same_runs: list[Run], load: float,
    imports: float, cli_load: float, worker_rss: float, rate: float, gflop: float,
) -> None:
    def efficiency(run: Run) -> float:
        return run.segments * gflop / rate / run.wall

    print()
    print(f"(a) warm worker: model loaded once in {load:.2f} s; worker peak RSS {worker_rss:.0f} MB")
    print(f"(b) python -m demucs per song: imports {imports:.2f} s + model load {cli_load:.2f} s "
          "in every process")
    print()
    header = (f"{'song':>8} {'secs':>5} | {'RTF a':>6} {'eff a':>6} {'RSS a MB':>8} | "
              f"{'RTF b':>6} {'eff b':>6} {'RSS b MB':>8} | {'b/a':>5}")
    print(header)
    print("-" * len(header))
    for warm, cli in zip(warm_runs, cli_runs, strict=True):
        print(
            f"{warm.song.stem:>8} {warm.seconds:5.0f} | {warm.wall / warm.seconds:6.3f} "
            f"{efficiency(warm):6.0%} {warm.maxrss_mb:8.0f} | {cli.wall / cli.seconds:6.3f} "
            f"{efficiency(cli):6.0%} {cli.maxrss_mb:8.0f} | {cli.wall / warm.wall:5.2f}"
        )
    if same_runs:
        print()
        print(f"(b=) python -m demucs per song with our settings (overlap {OUR_OVERLAP}, shifts {OUR_SHIFTS},"
              " allocator env):")
        for warm, same in zip(warm_runs, same_runs, strict=False):
            print(f"{same.song.stem:>8} {same.seconds:5.0f} | RTF {same.wall / same.seconds:6.3f} "
                  f"eff {efficiency(same):4.0%} RSS {same.maxrss_mb:6.0f} MB | "
                  f"b=/a {same.wall / warm.wall:5.2f}")
    short = [(w, c) for w, c in zip(warm_runs, cli_runs, strict=True) if w.seconds <= 30]
    if short:
        print()
        mean_a = sum(w.wall for w, _ in short) / sum(w.seconds for w, _ in short)
        mean_b = sum(c.wall for _, c in short) / sum(c.seconds for _, c in short)
        print(f"30 s songs: RTF a {mean_a:.3f}, RTF b {mean_b:.3f}, b/a {mean_b / mean_a:.2f}")


if __name__ == "__main__":
    main()
