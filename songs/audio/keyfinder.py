"""Key finder adapter: the musical key of an audio file ("A minor"), with numpy only.

The Krumhansl–Schmuckler algorithm: a chromagram (how much of each of the 12 pitch
classes the song holds) is correlated with a key profile (how well each pitch class
fits a key) rotated to each of the 12 tonics, major and minor; the best of the 24 is the
song's key. The profiles are Temperley's (Kostka–Payne corpus), which tell a key from
its dominant better than Krumhansl and Kessler's listener ratings on chords.

What real instruments add, and the chromagram takes away:
- harmonics: a note's 3rd and 5th partials are a fifth and a third above it in
  another octave, which would pull every key towards its dominant. The spectrum is
  read in semitones from the bottom up, and each note's expected partials are
  subtracted from the semitones above it before they count.
- loudness: magnitudes are compressed (log) and each frame counts by its shape, so a
  loud chorus does not outvote the verses, and silence does not count at all.
- the relative key: a minor key and its relative major hold the same notes; the bass
  line tells them apart (a song's tonic is its most frequent bass note), so the bass
  register's share of each tonic is added to that key's score.

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
LOWEST_MIDI = 33  # A1, 55 Hz
HIGHEST_MIDI = 96  # C7, 2093 Hz
BASS_BELOW_MIDI = 55  # G3
# Partials above a note, in semitones, and their expected strength (HARMONIC_DECAY^(n-1)).
PARTIALS = ((12, 2), (19, 3), (24, 4), (28, 5), (31, 6), (34, 7), (36, 8))
HARMONIC_DECAY = 0.8
BASS_WEIGHT = 0.2
# The lead over the runner-up (in correlation) that counts as certain.
CERTAIN_LEAD = 0.2
DECODE_TIMEOUT_SECONDS = 300
CHUNK_FRAMES = 256  # frames transformed at once: bounded memory for a long song

# Temperley (2001), from C: Kostka–Payne corpus.
MAJOR_PROFILE = np.array([0.748, 0.060, 0.488, 0.082, 0.670, 0.460, 0.096, 0.715, 0.104, 0.366, 0.057, 0.400])
MINOR_PROFILE = np.array([0.712, 0.084, 0.474, 0.618, 0.049, 0.460, 0.105, 0.747, 0.404, 0.067, 0.133, 0.330])
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


def _semitone_weights() -> np.ndarray:
    """(FFT bins × semitones): each bin shared between its two nearest semitones."""
    freqs = np.fft.rfftfreq(FRAME, 1 / SAMPLE_RATE)
    midi = np.full(len(freqs), -100.0)
    midi[1:] = 69 + 12 * np.log2(freqs[1:] / 440.0)
    notes = np.arange(LOWEST_MIDI, HIGHEST_MIDI + 1)
    return np.clip(1 - np.abs(midi[:, None] - notes[None, :]), 0, 1).astype(np.float32)


def chroma(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The song's chroma (12 values, from C), and its bass register's."""
    full, bass = np.zeros(12), np.zeros(12)
    if len(samples) < FRAME:
        return full, bass
    window = np.hanning(FRAME).astype(np.float32)
    weights = _semitone_weights()
    notes = np.arange(LOWEST_MIDI, HIGHEST_MIDI + 1)
    classes = np.zeros((len(notes), 12), dtype=np.float32)
    classes[np.arange(len(notes)), notes % 12] = 1
    bass_classes = classes * (notes < BASS_BELOW_MIDI)[:, None]
    starts = np.arange(0, len(samples) - FRAME + 1, HOP)
    for first in range(0, len(starts), CHUNK_FRAMES):
        chunk = starts[first:first + CHUNK_FRAMES]
        frames = np.stack([samples[start:start + FRAME] for start in chunk]) * window
        semitones = np.abs(np.fft.rfft(frames, axis=1)) @ weights
        # Bottom up: what is left of a note after the notes below it took their partials.
        for note in range(semitones.shape[1]):
            for offset, partial in PARTIALS:
                if note + offset < semitones.shape[1]:
                    above = semitones[:, note + offset]
                    np.maximum(above - semitones[:, note] * HARMONIC_DECAY ** (partial - 1), 0, out=above)
        semitones = np.log1p(semitones)
        for total, mapping in ((full, classes), (bass, bass_classes)):
            per_frame = semitones @ mapping
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
    correlations = _correlations(full)
    if not np.any(correlations):
        return None
    scores = correlations.copy()
    if bass is not None and bass.max() > 0:
        scores += BASS_WEIGHT * (bass / bass.max())[None, :]
    ranked = np.sort(scores.ravel())[::-1]
    best = int(np.argmax(scores))
    mode, tonic = ("major", "minor")[best // 12], best % 12
    confidence = float(np.clip((ranked[0] - ranked[1]) / CERTAIN_LEAD, 0.0, 1.0))
    return FoundKey(tonic=tonic, mode=mode, confidence=confidence, correlation=float(correlations[best // 12, tonic]))
