"""Vocal separation with Demucs: audio path in, vocal and instrumental stems out.

A plain adapter (no ORM, no Django): the `separate` stage of the pipeline calls
`separate(...)` with a `SeparationConfig` built by the settings module.

How it works, and why:

* **Warm models.** `load_model` goes through Demucs' own `get_model` (a local
  folder in the layout of Demucs' `LocalRepo`/`BagOnlyRepo` when `model_dir` is
  set, Demucs' normal download otherwise) and keeps the model in a process-level
  cache keyed by (name, model_dir, device), so a worker of the `separation`
  cluster pays the load once.
* **Streaming, not whole-song tensors.** Demucs' `apply_model(split=True)` holds
  the input and four full-length sources in memory. Here the audio is decoded by
  ffmpeg twice: once to count frames and take the mean/std that Demucs'
  `Separator` normalises with, then again in blocks. Segments are run one at a
  time and overlap-added with Demucs' own triangular weights; every sample that
  no later segment touches is final and is written out at once. The result
  equals `apply_model` on the whole song (up to float rounding) with memory
  bounded by a few segments, whatever the song length.
* **No clipping.** The stems are spilled to raw float32 files on disk while the
  peak is tracked; both stems are then encoded with one common gain, applied
  only if a peak would exceed full scale. One common factor keeps
  `vocals + instrumental` equal to the model's estimate of the mix (the vocal
  guide mixes them back together) and never distorts, which a per-sample soft
  limiter would.
* **Outputs** go to temporary names in `out_dir` and are `os.replace`d into
  place, `vocals.flac` last, so its presence means all four files are complete.
  On error or cancel every partial file is removed.
"""

from __future__ import annotations

import ctypes
import logging
import math
import os
import random
import re
import secrets
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

import imageio_ffmpeg
import numpy as np
import torch

from songs.errors import Cancelled, PermanentError

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, str], None]
CancelCheck = Callable[[], bool]

VOCALS = "vocals"
INSTRUMENTAL = "instrumental"
LOSSLESS_SUFFIX = ".flac"
COMPRESSED_SUFFIX = ".m4a"
AAC_BITRATE = "192k"

# What the supervisor of the separation cluster should put in the worker's
# environment. glibc otherwise mmaps and unmaps the 100 MB+ activation buffers
# on every segment (15-17 % of CPU time in the kernel). `tune_allocator` sets
# the same two knobs at run time through mallopt.
ALLOCATOR_ENV = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": "100000000000"}

_INSTALL_HINT = (
    "Put the model into a local folder with `python manage.py install_model --name {name}"
    " --from PATH` (or without --from on a machine with internet) and set DEMUCS_MODEL_DIR"
    " to that folder."
)
_PEAK_CEILING = 0.999  # a hair under full scale so the 24-bit conversion never saturates
_READ_BLOCK_SECONDS = 10.0
_MAX_SHIFT_SECONDS = 0.5  # Demucs' own shift range for the `shifts` trick


@dataclass(frozen=True)
class SeparationConfig:
    """Model and quality settings, built by the settings module from DEMUCS_* variables.

    Defaults are the fastest settings measured on 2-core CPU machines that keep
    Demucs' quality: overlap 0.10 instead of Demucs' 0.25 (real-time factor 0.60
    instead of 0.69 for a difference in SDR of a few hundredths of a dB),
    `shifts=0` (Demucs' default of 1 is a single random offset: the same expected
    quality at up to 0.5 s more audio), and the model's own training segment
    (`segment=None`; shorter segments are padded back to it, so they are slower).
    `threads=0` keeps torch's default (one intra-op thread per physical core);
    extra workers or threads beyond the cores measured no faster.
    """

    name: str = "htdemucs"
    model_dir: Path | None = None
    device: str = "auto"
    threads: int = 0
    overlap: float = 0.10
    shifts: int = 0
    segment: float | None = None

    def __post_init__(self) -> None:
        if self.device not in ("auto", "cuda", "cpu"):
            raise ValueError(f"device must be auto, cuda or cpu, not {self.device!r}")
        if not 0.0 <= self.overlap < 1.0:
            raise ValueError(f"overlap must be in [0, 1), not {self.overlap}")
        if self.shifts < 0 or self.threads < 0:
            raise ValueError("shifts and threads must be >= 0")
        if self.segment is not None and self.segment <= 0:
            raise ValueError(f"segment must be positive, not {self.segment}")


@dataclass(frozen=True)
class SeparationResult:
    vocals: Path  # lossless working file (24-bit FLAC)
    instrumental: Path
    vocals_compressed: Path  # browser-playable (AAC in .m4a)
    instrumental_compressed: Path
    sample_rate: int  # the input's own rate
    duration: float  # seconds
    gain: float  # common gain applied to both stems to avoid clipping; 1.0 = untouched
    device: str
    seconds: float  # wall time of the whole separation


@dataclass
class WarmModel:
    model: Any  # demucs.apply.BagOfModels or a single Demucs model
    name: str
    model_dir: Path | None
    device: str
    load_seconds: float
    samplerate: int
    audio_channels: int
    sources: list[str]
    segment_seconds: float  # the longest segment the model accepts
    uses: int = 0


@dataclass
class _Stats:
    frames: int
    mean: float
    std: float


@dataclass
class _Probe:
    sample_rate: int


# ---------------------------------------------------------------------------
# Models

_models: dict[tuple[str, str | None, str], WarmModel] = {}
_models_lock = threading.Lock()
load_count = 0  # how many times a model was actually read from disk / network
last_load_seconds: float | None = None
_allocator_tuned = False


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def tune_allocator() -> bool:
    """Keep freed activation buffers in the heap instead of returning them to the kernel.

    Same effect as `ALLOCATOR_ENV` in the environment, for workers whose supervisor
    did not set it. Only glibc has mallopt; elsewhere this does nothing.
    """
    global _allocator_tuned
    if _allocator_tuned:
        return True
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_max = -1, -4  # from glibc's malloc.h
    _allocator_tuned = bool(libc.mallopt(m_mmap_max, 0)) and bool(
        libc.mallopt(m_trim_threshold, int(ALLOCATOR_ENV["MALLOC_TRIM_THRESHOLD_"]))
    )
    return _allocator_tuned


def load_model(config: SeparationConfig) -> WarmModel:
    """Return the warm model for `config`, loading it once per process."""
    global load_count, last_load_seconds
    device = resolve_device(config.device)
    if config.threads:
        torch.set_num_threads(config.threads)
    key = (config.name, str(config.model_dir) if config.model_dir else None, device)
    with _models_lock:
        warm = _models.get(key)
        if warm is not None:
            log.info("Reusing warm Demucs model %s on %s", config.name, device)
            return warm
        if device == "cpu":
            tune_allocator()
        started = time.perf_counter()
        model = _get_demucs_model(config.name, config.model_dir)
        if VOCALS not in model.sources:
            raise PermanentError(
                "model_unavailable",
                f"Demucs model {config.name!r} has no {VOCALS!r} source"
                f" (it has {', '.join(model.sources)}). Set DEMUCS_MODEL to a model"
                " that separates vocals, e.g. htdemucs.",
            )
        model.to(device)
        warm = WarmModel(
            model=model,
            name=config.name,
            model_dir=config.model_dir,
            device=device,
            load_seconds=time.perf_counter() - started,
            samplerate=int(model.samplerate),
            audio_channels=int(model.audio_channels),
            sources=list(model.sources),
            segment_seconds=_max_segment_seconds(model),
        )
        _models[key] = warm
        load_count += 1
        last_load_seconds = warm.load_seconds
        log.info(
            "Loaded Demucs model %s on %s in %.2f s", config.name, device, warm.load_seconds
        )
        return warm


def clear_models() -> None:
    """Forget every warm model (frees its memory once nothing else holds it)."""
    with _models_lock:
        _models.clear()


def model_info(config: SeparationConfig | None = None) -> dict[str, Any]:
    """What `manage.py separation_info` prints: settings, device, threads, warm models."""
    info: dict[str, Any] = {
        "threads": torch.get_num_threads(),
        "cuda_available": torch.cuda.is_available(),
        "allocator_tuned": _allocator_tuned
        or all(os.environ.get(k) == v for k, v in ALLOCATOR_ENV.items()),
        "load_count": load_count,
        "last_load_seconds": last_load_seconds,
        "warm_models": [
            {
                "name": warm.name,
                "model_dir": str(warm.model_dir) if warm.model_dir else None,
                "device": warm.device,
                "load_seconds": round(warm.load_seconds, 3),
                "uses": warm.uses,
                "sources": warm.sources,
                "samplerate": warm.samplerate,
                "segment_seconds": warm.segment_seconds,
            }
            for warm in _models.values()
        ],
    }
    if config is not None:
        info.update(
            model=config.name,
            model_dir=str(config.model_dir) if config.model_dir else None,
            device=resolve_device(config.device),
            overlap=config.overlap,
            shifts=config.shifts,
            segment=config.segment,
        )
    return info


def _get_demucs_model(name: str, model_dir: Path | None) -> Any:
    from demucs.pretrained import get_model  # imported late: it pulls in the whole of Demucs

    where = f"the folder {model_dir}" if model_dir else "the internet"
    if model_dir is not None and not Path(model_dir).is_dir():
        raise _model_unavailable(name, f"{model_dir} does not exist or is not a folder")
    try:
        return get_model(name, repo=Path(model_dir) if model_dir else None)
    except SystemExit as exc:
        # Demucs' `fatal` prints and exits; a worker must not.
        raise _model_unavailable(name, f"Demucs refused to load it from {where}") from exc
    except Exception as exc:  # offline download, bad checksum, unpickling errors...
        raise _model_unavailable(name, f"loading from {where} failed: {exc}") from exc


def _model_unavailable(name: str, reason: str) -> PermanentError:
    return PermanentError(
        "model_unavailable",
        f"Demucs model {name!r} is not available: {reason}. " + _INSTALL_HINT.format(name=name),
    )


def _max_segment_seconds(model: Any) -> float:
    # A bag may mix models trained on different segments; one length must suit all.
    members = getattr(model, "models", [model])
    return min(float(member.segment) for member in members)


# ---------------------------------------------------------------------------
# Separation


def output_paths(out_dir: Path) -> dict[str, Path]:
    """Where `separate` puts its four files (the pipeline checks these for idempotence)."""
    out_dir = Path(out_dir)
    return {
        "vocals": out_dir / f"{VOCALS}{LOSSLESS_SUFFIX}",
        "instrumental": out_dir / f"{INSTRUMENTAL}{LOSSLESS_SUFFIX}",
        "vocals_compressed": out_dir / f"{VOCALS}{COMPRESSED_SUFFIX}",
        "instrumental_compressed": out_dir / f"{INSTRUMENTAL}{COMPRESSED_SUFFIX}",
    }


def separate(
    audio_path: Path,
    *,
    out_dir: Path,
    config: SeparationConfig,
    on_progress: ProgressCallback | None = None,
    is_cancelled: CancelCheck | None = None,
) -> SeparationResult:
    """Split `audio_path` into vocals and instrumental files in `out_dir`.

    Raises PermanentError (`not_audio`, `model_unavailable`) and Cancelled. A CUDA
    out-of-memory error is retried once on the CPU.
    """
    progress = _monotonic(on_progress)
    try:
        return _separate_on(audio_path, Path(out_dir), config, progress, is_cancelled)
    except torch.OutOfMemoryError:
        if resolve_device(config.device) != "cuda":
            raise
        log.warning("CUDA ran out of memory separating %s; retrying on the CPU", audio_path)
        torch.cuda.empty_cache()
        cpu = replace(config, device="cpu")
        return _separate_on(audio_path, Path(out_dir), cpu, progress, is_cancelled)


def _separate_on(
    audio_path: Path,
    out_dir: Path,
    config: SeparationConfig,
    progress: ProgressCallback,
    is_cancelled: CancelCheck | None,
) -> SeparationResult:
    started = time.perf_counter()
    cancelled = is_cancelled or (lambda: False)
    probe = _probe(Path(audio_path))  # cheap, so a bad upload fails before any model work
    warm = load_model(config)
    warm.uses += 1
    progress(0, "Separating vocals")
    stats = _read_stats(Path(audio_path), warm)
    out_dir.mkdir(parents=True, exist_ok=True)
    final = output_paths(out_dir)
    token = secrets.token_hex(4)
    spill = {stem: out_dir / f".{stem}.{token}.f32.part" for stem in (VOCALS, INSTRUMENTAL)}
    parts = {key: path.with_name(f".{path.name}.{token}.part") for key, path in final.items()}
    try:
        peak = _separate_to_spill(Path(audio_path), warm, config, stats, spill, progress, cancelled)
        if cancelled():
            raise Cancelled()
        gain = min(1.0, _PEAK_CEILING / peak) if peak > _PEAK_CEILING else 1.0
        progress(99, "Encoding stems")
        _encode_stems(spill, parts, warm, probe, gain)
        # vocals.flac last: its presence means the other three are complete.
        for key in ("instrumental_compressed", "vocals_compressed", "instrumental", "vocals"):
            os.replace(parts[key], final[key])
    finally:
        for path in [*spill.values(), *parts.values()]:
            path.unlink(missing_ok=True)
    progress(100, "Separation finished")
    return SeparationResult(
        vocals=final["vocals"],
        instrumental=final["instrumental"],
        vocals_compressed=final["vocals_compressed"],
        instrumental_compressed=final["instrumental_compressed"],
        sample_rate=probe.sample_rate,
        duration=stats.frames / warm.samplerate,
        gain=gain,
        device=warm.device,
        seconds=time.perf_counter() - started,
    )


def _monotonic(on_progress: ProgressCallback | None) -> ProgressCallback:
    # A CPU retry after CUDA ran out of memory starts again from 0; users should
    # not see the bar go back.
    highest = -1

    def report(percent: int, message: str) -> None:
        nonlocal highest
        if on_progress is not None and percent >= highest:
            highest = percent
            on_progress(percent, message)

    return report


def _separate_to_spill(
    audio_path: Path,
    warm: WarmModel,
    config: SeparationConfig,
    stats: _Stats,
    spill: dict[str, Path],
    progress: ProgressCallback,
    cancelled: CancelCheck,
) -> float:
    """Run the model over the song, append the two stems to raw float32 files, return the peak."""
    vocals_index = warm.sources.index(VOCALS)
    peak = 0.0

    def on_segment(index: int, total: int) -> None:
        progress(min(98, 98 * index // total), f"Separated segment {index} of {total}")

    with (
        _PcmDecoder(audio_path, warm) as decoder,
        open(spill[VOCALS], "wb") as vocals_file,
        open(spill[INSTRUMENTAL], "wb") as instrumental_file,
    ):
        blocks = separate_blocks(
            warm,
            decoder.blocks(int(_READ_BLOCK_SECONDS * warm.samplerate)),
            total_frames=stats.frames,
            mean=stats.mean,
            std=stats.std,
            config=config,
            on_segment=on_segment,
            is_cancelled=cancelled,
        )
        for sources in blocks:
            vocals = sources[vocals_index]
            instrumental = sources.sum(dim=0) - vocals
            for stem, file in ((vocals, vocals_file), (instrumental, instrumental_file)):
                peak = max(peak, float(stem.abs().max()))
                file.write(stem.t().contiguous().numpy().tobytes())
    return peak


def separate_blocks(
    warm: WarmModel,
    blocks: Iterable[torch.Tensor],
    *,
    total_frames: int,
    mean: float,
    std: float,
    config: SeparationConfig,
    on_segment: Callable[[int, int], None] | None = None,
    is_cancelled: CancelCheck | None = None,
) -> Iterator[torch.Tensor]:
    """Stream Demucs over `blocks` of a `[channels, n]` mix; yield `[sources, channels, n]`.

    Input blocks may have any sizes; output blocks come as soon as they are final
    and add up to `total_frames`. `mean`/`std` are the whole song's (as Demucs'
    `Separator` normalises), which is why they are taken in a first pass.
    """
    segment_seconds = _segment_seconds(warm, config)
    seg = int(warm.samplerate * segment_seconds)
    stride = max(1, int((1 - config.overlap) * seg))
    weight = _transition_weight(seg)
    max_shift = int(_MAX_SHIFT_SECONDS * warm.samplerate)
    # Demucs draws one random offset per shift from the `random` module; doing the
    # same, in the same order, keeps seeded runs comparable with apply_model.
    leads = [max_shift - random.randint(0, max_shift) for _ in range(config.shifts)] or [0]
    shape = (len(warm.sources), warm.audio_channels)
    passes = [_Pass(total_frames, lead, seg, stride, weight, shape) for lead in leads]
    window = _InputWindow(iter(blocks), total_frames, warm.audio_channels, mean, std)
    forward = _forward(warm, segment_seconds if config.segment is not None else None)
    total_segments = sum(len(p.offsets) for p in passes)
    emitted = 0
    for index in range(1, total_segments + 1):
        if is_cancelled is not None and is_cancelled():
            raise Cancelled()
        current = min((p for p in passes if not p.done), key=lambda p: p.final)
        start = current.next_window_start()
        current.add(forward(window.get(start, start + seg)))
        if on_segment is not None:
            on_segment(index, total_segments)
        ready = min(p.final for p in passes)
        if ready > emitted:
            block = sum(p.take(ready - emitted) for p in passes) / len(passes)
            emitted = ready
            yield block * std + mean
        pending = [p for p in passes if not p.done]
        window.discard_before(
            min(p.next_window_start() for p in pending) if pending else total_frames
        )


def _segment_seconds(warm: WarmModel, config: SeparationConfig) -> float:
    if config.segment is None:
        return warm.segment_seconds
    if config.segment > warm.segment_seconds:
        log.warning(
            "DEMUCS_SEGMENT %.2f s is longer than model %s accepts; using %.2f s",
            config.segment, warm.name, warm.segment_seconds,
        )
        return warm.segment_seconds
    return config.segment


def _transition_weight(seg: int) -> torch.Tensor:
    # Demucs' apply_model weight with transition_power=1: a triangle peaking mid-segment.
    weight = torch.cat([torch.arange(1, seg // 2 + 1), torch.arange(seg - seg // 2, 0, -1)])
    return weight.float() / weight.max()


def _forward(warm: WarmModel, segment: float | None) -> Callable[[torch.Tensor], torch.Tensor]:
    from demucs.apply import apply_model

    def run(window: torch.Tensor) -> torch.Tensor:
        # Demucs' own per-segment path (no split, no shift): handles bags and their
        # weights, and pads a shorter `segment` the way apply_model does.
        with torch.inference_mode():
            out = apply_model(
                warm.model, window[None], shifts=0, split=False, segment=segment,
                device=warm.device,
            )
        return out[0].to("cpu", torch.float32)

    return run


@dataclass
class _Pass:
    """One overlap-add pass of apply_model's split loop, over a virtual input made of
    `lead` zeros followed by the song (the `shifts` trick; lead is 0 without it).

    Segment k starts at virtual offset k*stride; a short last segment takes extra
    context from before its offset, exactly like Demucs' `TensorChunk.padded`.
    Every sample before the next segment's offset is final once a segment is added.
    """

    total: int
    lead: int
    seg: int
    stride: int
    weight: torch.Tensor
    shape: tuple[int, int]
    offsets: range = field(init=False)
    index: int = 0
    acc_start: int = 0  # virtual position of acc[..., 0]
    final: int = 0  # real position up to which output is final

    def __post_init__(self) -> None:
        self.virtual = self.total + self.lead
        self.offsets = range(0, self.virtual, self.stride)
        self.acc = torch.zeros(*self.shape, 0)
        self.acc_weight = torch.zeros(0)
        self.ready: list[torch.Tensor] = []

    @property
    def done(self) -> bool:
        return self.index >= len(self.offsets)

    def _chunk(self) -> tuple[int, int]:
        offset = self.offsets[self.index]
        return offset, min(self.seg, self.virtual - offset)

    def next_window_start(self) -> int:
        offset, length = self._chunk()
        return offset - (self.seg - length) // 2 - self.lead  # in real positions

    def add(self, out: torch.Tensor) -> None:
        offset, length = self._chunk()
        trim = (self.seg - length) // 2
        end = offset + length - self.acc_start
        if end > self.acc.shape[-1]:
            grow = end - self.acc.shape[-1]
            self.acc = torch.cat([self.acc, torch.zeros(*self.shape, grow)], dim=-1)
            self.acc_weight = torch.cat([self.acc_weight, torch.zeros(grow)])
        at = offset - self.acc_start
        self.acc[..., at:end] += self.weight[:length] * out[..., trim:trim + length]
        self.acc_weight[at:end] += self.weight[:length]
        self.index += 1
        final_virtual = self.virtual if self.done else self.offsets[self.index]
        count = final_virtual - self.acc_start
        block = self.acc[..., :count] / self.acc_weight[:count]
        skip = min(count, max(0, self.lead - self.acc_start))  # the leading zeros are not song
        if count - skip:
            self.ready.append(block[..., skip:])
        self.acc, self.acc_weight = self.acc[..., count:], self.acc_weight[count:]
        self.acc_start = final_virtual
        self.final = max(0, final_virtual - self.lead)

    def take(self, count: int) -> torch.Tensor:
        joined = torch.cat(self.ready, dim=-1) if len(self.ready) > 1 else self.ready[0]
        head, rest = joined[..., :count], joined[..., count:]
        self.ready = [rest] if rest.shape[-1] else []
        return head


class _InputWindow:
    """The normalised mix between the oldest sample a pending segment needs and the
    newest one read; zeros outside the song, as Demucs pads."""

    def __init__(
        self, blocks: Iterator[torch.Tensor], total: int, channels: int, mean: float, std: float
    ):
        self.blocks = blocks
        self.total = total
        self.mean, self.std = mean, std
        self.buffer = torch.zeros(channels, 0)
        self.start = 0  # real position of buffer[..., 0]

    def _fill(self, end: int) -> None:
        pieces = [self.buffer]
        have = self.start + self.buffer.shape[-1]
        while have < min(end, self.total):
            block = next(self.blocks, None)
            if block is None:
                break  # the decoder gave fewer frames than counted: pad with silence
            pieces.append((block - self.mean) / self.std)
            have += block.shape[-1]
        if len(pieces) > 1:
            self.buffer = torch.cat(pieces, dim=-1)

    def get(self, start: int, end: int) -> torch.Tensor:
        self._fill(end)
        out = torch.zeros(self.buffer.shape[0], end - start)
        lo, hi = max(start, self.start, 0), min(end, self.start + self.buffer.shape[-1], self.total)
        if hi > lo:
            out[:, lo - start:hi - start] = self.buffer[:, lo - self.start:hi - self.start]
        return out

    def discard_before(self, position: int) -> None:
        drop = min(max(0, position - self.start), self.buffer.shape[-1])
        if drop:
            self.buffer = self.buffer[:, drop:].clone()
            self.start += drop


# ---------------------------------------------------------------------------
# ffmpeg (the imageio-ffmpeg binary; there is no ffprobe)


def _ffmpeg() -> str:
    return imageio_ffmpeg.get_ffmpeg_exe()


def _probe(path: Path) -> _Probe:
    """The first audio stream's sample rate, read from `ffmpeg -i`'s banner."""
    if not path.is_file():
        raise PermanentError("not_audio", f"{path.name} does not exist")
    result = subprocess.run(
        [_ffmpeg(), "-hide_banner", "-nostdin", "-i", str(path)],
        capture_output=True, text=True, errors="replace", check=False,
    )
    match = re.search(r"Stream #\d+:\d+\S*: Audio: [^\n]*?(\d+) Hz", result.stderr)
    if match is None:
        raise PermanentError("not_audio", _not_audio_message(path, result.stderr))
    return _Probe(sample_rate=int(match.group(1)))


def _not_audio_message(path: Path, stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    detail = lines[-1] if lines else "no audio stream"
    return f"{path.name} is not a readable audio file ({detail})"


class _PcmDecoder:
    """ffmpeg decoding the first audio stream to float32 at the model's rate and channels."""

    def __init__(self, path: Path, warm: WarmModel):
        self.path = path
        self.channels = warm.audio_channels
        self.stderr: IO[bytes] = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [
                _ffmpeg(), "-hide_banner", "-nostdin", "-v", "error", "-i", str(path),
                "-map", "0:a:0", "-vn", "-f", "f32le", "-ac", str(warm.audio_channels),
                "-ar", str(warm.samplerate), "pipe:1",
            ],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.stderr,
        )

    def blocks(self, frames: int) -> Iterator[torch.Tensor]:
        assert self.proc.stdout is not None
        frame_bytes = 4 * self.channels
        leftover = b""
        while True:
            data = leftover + self.proc.stdout.read(frames * frame_bytes)
            if len(data) <= len(leftover):
                break
            usable = len(data) - len(data) % frame_bytes
            leftover = data[usable:]
            samples = np.frombuffer(data[:usable], dtype="<f4").reshape(-1, self.channels)
            yield torch.from_numpy(samples.T.copy())
        if self.proc.wait() != 0:
            self.stderr.seek(0)
            raise PermanentError(
                "not_audio", _not_audio_message(self.path, self.stderr.read().decode(errors="replace"))
            )

    def __enter__(self) -> _PcmDecoder:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.stderr.close()


def _read_stats(path: Path, warm: WarmModel) -> _Stats:
    """Frame count and the mean/std of the mono mix, as Demucs' Separator normalises."""
    frames, total, squares = 0, 0.0, 0.0
    with _PcmDecoder(path, warm) as decoder:
        for block in decoder.blocks(int(_READ_BLOCK_SECONDS * warm.samplerate)):
            mono = block.double().mean(dim=0)
            frames += mono.shape[-1]
            total += float(mono.sum())
            squares += float((mono * mono).sum())
    if frames == 0:
        raise PermanentError("not_audio", f"{path.name} contains no audio samples")
    mean = total / frames
    variance = max(0.0, (squares - frames * mean * mean) / max(1, frames - 1))
    return _Stats(frames=frames, mean=mean, std=math.sqrt(variance) + 1e-8)


def _encode_stems(
    spill: dict[str, Path], parts: dict[str, Path], warm: WarmModel, probe: _Probe, gain: float
) -> None:
    """Encode both stems at once (one ffmpeg each, two outputs per ffmpeg)."""
    per_output: list[str] = []
    if gain != 1.0:
        per_output += ["-af", f"volume={gain:.9f}:precision=float"]
    if probe.sample_rate != warm.samplerate:
        per_output += ["-ar", str(probe.sample_rate)]  # back to the original's rate
    procs = []
    for stem in (VOCALS, INSTRUMENTAL):
        command = [
            _ffmpeg(), "-hide_banner", "-nostdin", "-v", "error", "-y",
            "-f", "f32le", "-ar", str(warm.samplerate), "-ac", str(warm.audio_channels),
            "-i", str(spill[stem]),
            *per_output, "-c:a", "flac", "-sample_fmt", "s32", "-f", "flac",
            str(parts[stem]),
            *per_output, "-c:a", "aac", "-b:a", AAC_BITRATE, "-movflags", "+faststart",
            "-f", "ipod", str(parts[f"{stem}_compressed"]),
        ]
        procs.append(subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        ))
    errors = []
    for proc in procs:
        _, stderr = proc.communicate()
        if proc.returncode != 0:
            errors.append(stderr.decode(errors="replace").strip())
    if errors:
        raise RuntimeError(f"ffmpeg could not encode the stems: {' | '.join(errors)}")
