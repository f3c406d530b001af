"""Key finder adapter: the musical key of an audio file ("A minor"), with numpy only.

A chromagram (how loud each of the 12 pitch classes is, summed over the song) compared
with the 24 key profiles of Krumhansl and Kessler (how well each pitch class fits a
key, as listeners rated it), rotated to every tonic: the key whose profile correlates
best is the song's (the Krumhansl–Schmuckler algorithm). The bass register (below
C4) is counted once more on its own: a song's tonic sits in its bass line more often
than anywhere else, which is what tells a minor key from its relative major (the same
notes).

Plain functions, no Django: a path in, a `FoundKey` (or None for silence) out. The audio
is decoded by the ffmpeg adapter's binary, mono at 11 025 Hz (nothing above 2 kHz counts).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from songs.audio.ffmpeg import ffmpeg_exe
from songs.errors import Cancelled, PermanentError, TransientError

SAMPLE_RATE = 11025
FRAME = 8192  # 0.74 s: 1.3 Hz between bins, finer than a semitone from 55 Hz up
HOP = 4096
LOWEST_HZ = 55.0  # A1
HIGHEST_HZ = 2000.0
BASS_BELOW_HZ = 262.0  # C4
BASS_WEIGHT = 0.5
DECODE_TIMEOUT_SECONDS = 300
CHUNK_FRAMES = 256  # frames transformed at once: bounded memory for a long song

# Krumhansl & Kessler (1982), from C.
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
_MAJOR_NAMES = ("C", "D♭", "D", "E♭", "E", "F", "F♯", "G", "A♭", "A", "B♭", "B")
_MINOR_NAMES = ("C", "C♯", "D", "E♭", "E", "F", "F♯", "G", "G♯", "A", "B♭", "B")


@dataclass(frozen=True)
class FoundKey:
    tonic: int  # pitch class, 0 = C
    mode: str  # "major" or "minor"
    confidence: float  # 0–1: how clearly the best key beats the next best
    correlation: float  # the best key's correlation with the chromagram

    @property
    def name(self) -> str:
        names = _MAJOR_NAMES if self.mode == "major" else _MINOR_NAMES
        return f"{names[self.tonic]} {self.mode}"


def detect_key(path: str | Path, *, is_cancelled: Callable[[], bool] | None = None) -> FoundKey | None:
    """The key of the audio at `path`, or None when there is nothing tonal to hear."""
    samples = decode(path)
    if is_cancelled and is_cancelled():
        raise Cancelled("Key detection cancelled.")
    full, bass = chroma(samples)
    return key_of(full, bass)


def decode(path: str | Path) -> np.ndarray:
    path = Path(path)
    cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-v", "error", "-i", str(path),
           "-map", "0:a:0", "-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "f32le", "-"]
    try:
        done = subprocess.run(cmd, check=False, capture_output=True, timeout=DECODE_TIMEOUT_SECONDS,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise TransientError("ffmpeg_timeout", f"Reading {path.name} took too long.") from exc
    if done.returncode != 0:
        raise PermanentError("not_audio", f"{path.name} could not be decoded to find its key.")
    return np.frombuffer(done.stdout, dtype=np.float32)


def _pitch_class_weights(freqs: np.ndarray, low: float, high: float) -> np.ndarray:
    """(bins × 12): how much each FFT bin between `low` and `high` Hz counts for each pitch
    class; a bin between two semitones is shared between them (a triangle, 1 at the centre)."""
    weights = np.zeros((len(freqs), 12), dtype=np.float32)
    inside = (freqs >= low) & (freqs < high)
    midi = 69 + 12 * np.log2(freqs[inside] / 440.0)
    lower = np.floor(midi)
    share = (midi - lower).astype(np.float32)
    rows = np.nonzero(inside)[0]
    weights[rows, lower.astype(int) % 12] += 1 - share
    weights[rows, (lower.astype(int) + 1) % 12] += share
    return weights


def chroma(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The song's chroma (12 values) over the whole range, and over its bass register."""
    full = np.zeros(12)
    bass = np.zeros(12)
    if len(samples) < FRAME:
        return full, bass
    window = np.hanning(FRAME).astype(np.float32)
    freqs = np.fft.rfftfreq(FRAME, 1 / SAMPLE_RATE)
    full_weights = _pitch_class_weights(freqs, LOWEST_HZ, HIGHEST_HZ)
    bass_weights = _pitch_class_weights(freqs, LOWEST_HZ, BASS_BELOW_HZ)
    starts = np.arange(0, len(samples) - FRAME + 1, HOP)
    for first in range(0, len(starts), CHUNK_FRAMES):
        chunk = starts[first:first + CHUNK_FRAMES]
        frames = np.stack([samples[start:start + FRAME] for start in chunk]) * window
        # Compressed magnitudes: a loud chorus must not outvote the rest of the song.
        magnitude = np.log1p(100 * np.abs(np.fft.rfft(frames, axis=1)))
        for weights, total in ((full_weights, full), (bass_weights, bass)):
            per_frame = magnitude @ weights
            # Each frame counts by its shape, not its loudness; silent frames not at all.
            peaks = per_frame.max(axis=1, keepdims=True)
            heard = peaks[:, 0] > 1e-3
            total += (per_frame[heard] / peaks[heard]).sum(axis=0)
    return full, bass


def _correlations(chromagram: np.ndarray) -> np.ndarray:
    """(2 × 12): the correlation of `chromagram` with each major, then minor, key."""
    result = np.zeros((2, 12))
    if not np.any(chromagram) or np.allclose(chromagram, chromagram[0]):
        return result
    for row, profile in enumerate((MAJOR_PROFILE, MINOR_PROFILE)):
        for tonic in range(12):
            result[row, tonic] = np.corrcoef(chromagram, np.roll(profile, tonic))[0, 1]
    return result


def key_of(full: np.ndarray, bass: np.ndarray | None = None) -> FoundKey | None:
    """The best of the 24 keys for a chromagram (and its bass register), or None when flat."""
    scores = _correlations(full)
    if bass is not None:
        scores = scores + BASS_WEIGHT * _correlations(bass)
    if not np.any(scores):
        return None
    ranked = np.sort(scores.ravel())[::-1]
    best = int(np.argmax(scores))
    mode, tonic = ("major", "minor")[best // 12], best % 12
    top = scores.max() / (1 + (BASS_WEIGHT if bass is not None else 0))
    # How far ahead of the runner-up the best key is, against how far it could be.
    confidence = float(np.clip((ranked[0] - ranked[1]) / max(ranked[0], 1e-9) * 4, 0.0, 1.0))
    return FoundKey(tonic=tonic, mode=mode, confidence=confidence, correlation=float(top))
