"""Benchmark: a key change, both stems of a 4-minute song at +2 semitones.

What the `render_key` stage does (songs.audio.ffmpeg.pitch_shift): each stem through
Rubber Band (the `rubberband` filter of the imageio-ffmpeg build, high-quality pitch
mode) to AAC in .m4a, one ffmpeg per stem, both at once. The stems are generated here
(a few minutes of chords with harmonics, a bass line and noise for the instrumental; a
gliding voice-like tone for the vocals), 44.1 kHz stereo FLAC as the separation writes
them (the stage reads the lossless stems when they are there).

Printed: wall seconds for both stems, the same per minute of audio, and one stem alone
(the cost of a stem when the other core is busy with something else). The goal: under
30 s for both stems of a 4-minute song on 2 cores, so a key chosen while queueing is
ready long before the song's turn. It prints figures and asserts nothing.

    .venv/bin/python bench/key_change.py [--minutes 4] [--semitones 2] [--runs 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from songs.audio import ffmpeg  # noqa: E402

RATE = 44100


def make_stems(folder: Path, seconds: float) -> tuple[Path, Path]:
    """An instrumental and a vocal stem, `seconds` long, as FLAC; generated a second at a time."""
    rng = np.random.default_rng(7)
    chords = [(57, 60, 64), (53, 57, 60), (55, 59, 62), (52, 55, 59)]  # Am F G Em
    paths = (folder / "instrumental.flac", folder / "vocals.flac")
    raw = [folder / "instrumental.f32", folder / "vocals.f32"]
    with raw[0].open("wb") as instrumental, raw[1].open("wb") as vocals:
        for second in range(int(seconds)):
            t = second + np.arange(RATE) / RATE
            notes = chords[(second // 2) % len(chords)]
            mix = sum(0.1 / n * np.sin(2 * np.pi * 440 * 2 ** ((note - 69) / 12) * n * t)
                      for note in notes for n in range(1, 6))
            mix += 0.3 * np.sin(2 * np.pi * 440 * 2 ** ((notes[0] - 12 - 69) / 12) * t)  # the bass
            mix += 0.02 * rng.standard_normal(RATE)  # cymbals, roughly
            voice_pitch = 220 * 2 ** (np.sin(2 * np.pi * t / 3) / 12)
            voice = 0.3 * np.sin(2 * np.pi * np.cumsum(voice_pitch) / RATE) * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t))
            for out, signal in ((instrumental, mix), (vocals, voice)):
                stereo = np.stack([signal, signal * 0.9], axis=1).astype("<f4")
                out.write(stereo.tobytes())
    for source, path in zip(raw, paths, strict=True):
        subprocess.run([ffmpeg.ffmpeg_exe(), "-v", "error", "-y", "-f", "f32le", "-ar", str(RATE), "-ac", "2",
                        "-i", str(source), "-c:a", "flac", str(path)], check=True)
        source.unlink()
    return paths


def cpu_model() -> str:
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=4.0)
    parser.add_argument("--semitones", type=int, default=2)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    seconds = args.minutes * 60

    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores; load average {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"ffmpeg: {Path(ffmpeg.ffmpeg_exe()).name}; filter: {ffmpeg.PITCH_FILTER.format(ratio=ffmpeg.pitch_ratio(args.semitones))}")
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        started = time.perf_counter()
        instrumental, vocals = make_stems(folder, seconds)
        print(f"stems: {args.minutes:g} min each, made in {time.perf_counter() - started:.1f} s")

        both, single = [], []
        for run in range(args.runs):
            outputs = [folder / f"instrumental.key{run}.m4a", folder / f"vocals.key{run}.m4a"]
            started = time.perf_counter()
            ffmpeg.pitch_shift(list(zip((instrumental, vocals), outputs, strict=True)),
                               semitones=args.semitones, duration=seconds)
            both.append(time.perf_counter() - started)
            started = time.perf_counter()
            ffmpeg.pitch_shift([(instrumental, folder / f"alone{run}.m4a")], semitones=args.semitones, duration=seconds)
            single.append(time.perf_counter() - started)
            print(f"  run {run + 1}: both stems {both[-1]:.1f} s, one stem alone {single[-1]:.1f} s")

    best, median = min(both), statistics.median(both)
    print(f"both stems at {args.semitones:+d}: best {best:.1f} s, median {median:.1f} s "
          f"for {args.minutes:g} min of audio (goal: under 30 s for 4 min)")
    print(f"per minute of audio: {best / args.minutes:.2f} s (both stems), {min(single) / args.minutes:.2f} s (one stem); "
          f"{seconds / best:.1f}x real time")
    print(f"load average after: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
