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
* **A live stream while it runs.** Given a `stream_dir`, the AAC encoder of each stem
  also writes an HLS event playlist of short fMP4 segments there (ffmpeg's `tee`
  muxer: one encode feeds both the .m4a and the stream, so streaming costs no
  second encode). A player can start the song before the model has finished and
  play the stems as they grow; `on_stream(seconds)` reports how much audio both
  playlists hold after every block. The finished files are the same as without a
  stream; the stream itself stays at gain 1 (a rare peak over full scale clips
  there, as the finished files are turned down).
* **Outputs** go to temporary names in `out_dir` and are `os.replace`d into
  place, `vocals.flac` last, so its presence means all four files are complete.
  On error or cancel every partial file is removed.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import math
import os
import queue
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

from songs.audio import hls as stream_files
from songs.audio.hls import INSTRUMENTAL, VOCALS
from songs.errors import Cancelled, PermanentError, TransientError

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, str], None]
CancelCheck = Callable[[], bool]

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
_ENCODER_QUEUE_BLOCKS = 8  # blocks of each stem waiting for its encoder (a few MB each)
_ENCODER_NICENESS = 5  # below the model's threads, so encoding fills their idle moments


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
    # Seconds of wall time each second of audio takes at least (0: as fast as the model
    # goes). For tests and demonstrations of singing while a song separates: a slow
    # machine, on purpose, at a known speed (DEMUCS_PACE).
    pace: float = 0.0

    def __post_init__(self) -> None:
        if self.device not in ("auto", "cuda", "cpu"):
            raise ValueError(f"device must be auto, cuda or cpu, not {self.device!r}")
        if not 0.0 <= self.overlap < 1.0:
            raise ValueError(f"overlap must be in [0, 1), not {self.overlap}")
        if self.pace < 0:
            raise ValueError(f"pace must be >= 0, not {self.pace}")
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
class _Source:
    """The decoded song: raw float32 frames at the model's rate and channels in `path`,
    with what the model and the encoder need to know about it."""

    path: Path
    frames: int
    mean: float  # of the mono mix, as Demucs' Separator normalises
    std: float
    sample_rate: int  # the original's, to write the stems back at


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
    from demucs.pretrained import get_model  # noqa: PLC0415 - it pulls in the whole of Demucs

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
    stream_dir: Path | None = None,
    on_stream: StreamCallback | None = None,
) -> SeparationResult:
    """Split `audio_path` into vocals and instrumental files in `out_dir`.

    With `stream_dir`, both stems are also streamed there as they are separated
    (songs/audio/hls.py names the files); `on_stream` hears how many seconds the
    stream holds.

    Raises PermanentError (`not_audio`, `model_unavailable`) and Cancelled. A CUDA
    out-of-memory error is retried once on the CPU.
    """
    progress = _monotonic(on_progress)
    stream = _Stream(Path(stream_dir), on_stream) if stream_dir is not None else None
    try:
        return _separate_on(audio_path, Path(out_dir), config, progress, is_cancelled, stream)
    except torch.OutOfMemoryError:
        if resolve_device(config.device) != "cuda":
            raise
        log.warning("CUDA ran out of memory separating %s; retrying on the CPU", audio_path)
        torch.cuda.empty_cache()
        cpu = replace(config, device="cpu")
        if stream is not None:
            stream.reset()
        return _separate_on(audio_path, Path(out_dir), cpu, progress, is_cancelled, stream)


def _separate_on(
    audio_path: Path,
    out_dir: Path,
    config: SeparationConfig,
    progress: ProgressCallback,
    is_cancelled: CancelCheck | None,
    stream: _Stream | None = None,
) -> SeparationResult:
    started = time.perf_counter()
    cancelled = is_cancelled or (lambda: False)
    audio_path = Path(audio_path)
    if not audio_path.is_file():
        raise PermanentError("not_audio", f"{audio_path.name} does not exist")
    warm = load_model(config)
    warm.uses += 1
    progress(0, "Separating vocals")
    out_dir.mkdir(parents=True, exist_ok=True)
    final = output_paths(out_dir)
    token = secrets.token_hex(4)
    mix = out_dir / f".mix.{token}.f32.part"
    spill = {stem: out_dir / f".{stem}.{token}.f32.part" for stem in (VOCALS, INSTRUMENTAL)}
    parts = {key: path.with_name(f".{path.name}.{token}.part") for key, path in final.items()}
    try:
        # One decode: it reads the original's rate, takes the mean/std the model
        # normalises with, and leaves the samples in `mix` for the segments.
        source = _decode(audio_path, warm, mix)
        encoders = _StemEncoders(parts, warm, source.sample_rate, stream)
        try:
            peak = _separate_to_spill(source, warm, config, spill, encoders, progress, cancelled, stream)
            if cancelled():
                raise Cancelled()
            gain = min(1.0, _PEAK_CEILING / peak) if peak > _PEAK_CEILING else 1.0
            progress(99, "Encoding stems")
            encoded = encoders.running  # not when a peak over full scale stopped them
            if encoded:
                encoders.finish()  # they encoded while the model ran; only the tail is left
                if stream is not None:
                    stream.check(final=True)
            if gain != 1.0 or not encoded:
                # A peak passed full scale: the encoded files are unusable; encode the
                # spilled stems again with one common gain (the stream stays as it was).
                _encode_stems(spill, parts, warm, source.sample_rate, gain)
        finally:
            encoders.abort()
        # vocals.flac last: its presence means the other three are complete.
        for key in ("instrumental_compressed", "vocals_compressed", "instrumental", "vocals"):
            os.replace(parts[key], final[key])
    finally:
        for path in [mix, *spill.values(), *parts.values()]:
            path.unlink(missing_ok=True)
    progress(100, "Separation finished")
    return SeparationResult(
        vocals=final["vocals"],
        instrumental=final["instrumental"],
        vocals_compressed=final["vocals_compressed"],
        instrumental_compressed=final["instrumental_compressed"],
        sample_rate=source.sample_rate,
        duration=source.frames / warm.samplerate,
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
    source: _Source,
    warm: WarmModel,
    config: SeparationConfig,
    spill: dict[str, Path],
    encoders: _StemEncoders,
    progress: ProgressCallback,
    cancelled: CancelCheck,
    stream: _Stream | None = None,
) -> float:
    """Run the model over the song; append both stems to raw float32 files and feed them
    to the encoders as they become final; return the peak."""
    vocals_index = warm.sources.index(VOCALS)
    peak = 0.0
    written = 0  # frames
    began = time.perf_counter()

    def on_segment(index: int, total: int) -> None:
        progress(min(98, 98 * index // total), f"Separated segment {index} of {total}")

    with (
        open(spill[VOCALS], "wb") as vocals_file,
        open(spill[INSTRUMENTAL], "wb") as instrumental_file,
    ):
        blocks = separate_blocks(
            warm,
            _file_blocks(source.path, warm.audio_channels, int(_READ_BLOCK_SECONDS * warm.samplerate)),
            total_frames=source.frames,
            mean=source.mean,
            std=source.std,
            config=config,
            on_segment=on_segment,
            is_cancelled=cancelled,
        )
        for sources in blocks:
            vocals = sources[vocals_index]
            instrumental = sources.sum(dim=0) - vocals
            for name, stem, file in (
                (VOCALS, vocals, vocals_file), (INSTRUMENTAL, instrumental, instrumental_file)
            ):
                peak = max(peak, float(stem.abs().max()))
                data = stem.t().contiguous().numpy().tobytes()
                file.write(data)
                if peak > _PEAK_CEILING and stream is None:
                    encoders.abort()  # it will be encoded again with a gain; stop wasting CPU
                else:
                    encoders.write(name, data)
            written += sources.shape[-1]
            if config.pace:
                _wait_for_pace(began + config.pace * written / warm.samplerate, cancelled)
            if stream is not None:
                stream.check()
    return peak


def _wait_for_pace(until: float, cancelled: CancelCheck) -> None:
    while (left := until - time.perf_counter()) > 0:
        if cancelled():
            raise Cancelled()
        time.sleep(min(left, 0.2))


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
    from demucs.apply import apply_model  # noqa: PLC0415 - torch and Demucs load only in the processes that separate

    # On the CPU, nn.MultiheadAttention's "fast path" (taken in inference) computes
    # self-attention as two plain bmm's and a softmax over the whole 2688x2688 score
    # matrix per head; without it, torch uses its fused flash attention, as the
    # cross-attention layers already do. Measured on the full htdemucs: 18 % less CPU
    # time per segment, same result to float rounding (3.6e-7).
    fastpath = warm.device != "cpu"

    def run(window: torch.Tensor) -> torch.Tensor:
        # Demucs' own per-segment path (no split, no shift): handles bags and their
        # weights, and pads a shorter `segment` the way apply_model does.
        with torch.inference_mode(), _mha_fastpath(fastpath):
            out = apply_model(
                warm.model, window[None], shifts=0, split=False, segment=segment,
                device=warm.device,
            )
        return out[0].to("cpu", torch.float32)

    return run


@contextlib.contextmanager
def _mha_fastpath(enabled: bool) -> Iterator[None]:
    previous = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(enabled)
    try:
        yield
    finally:
        torch.backends.mha.set_fastpath_enabled(previous)


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


def _not_audio_message(path: Path, stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    detail = lines[-1] if lines else "no audio stream"
    return f"{path.name} is not a readable audio file ({detail})"


def _decode(path: Path, warm: WarmModel, dest: Path) -> _Source:
    """Decode the first audio stream once, to float32 at the model's rate and channels,
    into `dest`; take the frame count and the mono mix's mean/std on the way, and the
    original's sample rate from ffmpeg's banner (there is no ffprobe)."""
    channels = warm.audio_channels
    frame_bytes = 4 * channels
    frames, total, squares = 0, 0.0, 0.0
    leftover = b""
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(
            [
                _ffmpeg(), "-hide_banner", "-nostdin", "-nostats", "-i", str(path),
                "-map", "0:a:0", "-vn", "-f", "f32le", "-ac", str(channels),
                "-ar", str(warm.samplerate), "pipe:1",
            ],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr,
        )
        assert proc.stdout is not None
        try:
            with open(dest, "wb") as out:
                while data := proc.stdout.read(int(_READ_BLOCK_SECONDS * warm.samplerate) * frame_bytes):
                    out.write(data)
                    data = leftover + data
                    usable = len(data) - len(data) % frame_bytes
                    leftover = data[usable:]
                    samples = np.frombuffer(data[:usable], dtype="<f4").reshape(-1, channels)
                    mono = samples.astype(np.float64).mean(axis=1)
                    frames += mono.shape[0]
                    total += float(mono.sum())
                    squares += float(np.dot(mono, mono))
            code = proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            proc.stdout.close()
        stderr.seek(0)
        banner = stderr.read().decode(errors="replace")
    if code != 0:
        raise PermanentError("not_audio", _not_audio_message(path, banner))
    match = re.search(r"Stream #\d+:\d+\S*: Audio: [^\n]*?(\d+) Hz", banner)
    if match is None:
        raise PermanentError("not_audio", _not_audio_message(path, banner))
    if frames == 0:
        raise PermanentError("not_audio", f"{path.name} contains no audio samples")
    mean = total / frames
    variance = max(0.0, (squares - frames * mean * mean) / max(1, frames - 1))
    return _Source(
        path=dest, frames=frames, mean=mean, std=math.sqrt(variance) + 1e-8,
        sample_rate=int(match.group(1)),
    )


def _file_blocks(path: Path, channels: int, frames: int) -> Iterator[torch.Tensor]:
    """`[channels, n]` blocks of the decoded song, read back from its raw file."""
    with open(path, "rb") as file:
        while data := file.read(frames * 4 * channels):
            samples = np.frombuffer(data, dtype="<f4").reshape(-1, channels)
            yield torch.from_numpy(samples.T.copy())


def _encode_command(
    stem: str, source: str, parts: dict[str, Path], warm: WarmModel, sample_rate: int, gain: float,
    stream_dir: Path | None = None,
) -> list[str]:
    """ffmpeg reading one stem as raw float32 from `source` and writing both its files
    (and, with `stream_dir`, its live stream, from the same AAC encode)."""
    per_output: list[str] = []
    if gain != 1.0:
        per_output += ["-af", f"volume={gain:.9f}:precision=float"]
    if sample_rate != warm.samplerate:
        per_output += ["-ar", str(sample_rate)]  # back to the original's rate
    return [
        _ffmpeg(), "-hide_banner", "-nostdin", "-v", "error", "-y",
        "-f", "f32le", "-ar", str(warm.samplerate), "-ac", str(warm.audio_channels),
        "-i", source,
        *per_output, "-c:a", "flac", "-sample_fmt", "s32", "-f", "flac", str(parts[stem]),
        *per_output, "-c:a", "aac", "-b:a", AAC_BITRATE,
        *(_stream_outputs(stem, parts, stream_dir) if stream_dir is not None
          else ["-movflags", "+faststart", "-f", "ipod", str(parts[f"{stem}_compressed"])]),
    ]


def _stream_outputs(stem: str, parts: dict[str, Path], stream_dir: Path) -> list[str]:
    # tee: the one AAC encode goes to the .m4a and to an HLS event playlist of 2 s fMP4
    # segments. temp_file: a segment or playlist is renamed into place when complete, so
    # a player never reads half of one. The tee muxer splits its options on ':' and '|',
    # so the paths (folders Encore names: no such characters) are passed as they are.
    names = stream_files.names(stem)
    hls = ":".join([
        "f=hls", f"hls_time={stream_files.SEGMENT_SECONDS}", "hls_playlist_type=event",
        "hls_segment_type=fmp4", "hls_flags=temp_file+independent_segments",
        f"hls_fmp4_init_filename={names['init']}",
        f"hls_segment_filename={stream_dir / names['segments']}",
    ])
    return [
        "-map", "0:a", "-f", "tee",
        f"[f=ipod:movflags=+faststart]{parts[f'{stem}_compressed']}|[{hls}]{stream_dir / names['playlist']}",
    ]


StreamCallback = Callable[[float], None]


class _Stream:
    """Where the live stream goes, and who hears how far it reaches."""

    def __init__(self, folder: Path, on_stream: StreamCallback | None):
        self.folder = folder
        self.on_stream = on_stream
        self.reported = -1.0

    def reset(self) -> None:
        """Start again empty (a retry on the CPU): the old segments would not follow on."""
        for path in self.folder.glob("*"):
            path.unlink(missing_ok=True)
        self.reported = -1.0

    def check(self, *, final: bool = False) -> float:
        """Read both playlists; report the seconds both hold when that grew (or at the end)."""
        held = [stream_files.held_seconds(self.folder / stream_files.playlist_name(stem)) for stem in stream_files.STEMS]
        seconds = min(seconds for seconds, _ in held)
        if self.on_stream is not None and (seconds > self.reported or final):
            self.reported = seconds
            self.on_stream(seconds)
        return seconds


def _encode_failed(errors: list[str]) -> TransientError:
    # Usually the disk (full, or the folder went away): worth another attempt later.
    return TransientError(
        "encode_failed", f"ffmpeg could not encode the stems: {' | '.join(errors) or 'no message'}"
    )


def _encode_stems(
    spill: dict[str, Path], parts: dict[str, Path], warm: WarmModel, sample_rate: int, gain: float
) -> None:
    """Encode both spilled stems at once (one ffmpeg each, two outputs per ffmpeg)."""
    procs = [
        subprocess.Popen(
            _encode_command(stem, str(spill[stem]), parts, warm, sample_rate, gain),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        for stem in (VOCALS, INSTRUMENTAL)
    ]
    errors = []
    for proc in procs:
        _, stderr = proc.communicate()
        if proc.returncode != 0:
            errors.append(stderr.decode(errors="replace").strip())
    if errors:
        raise _encode_failed(errors)


class _StemEncoders:
    """One ffmpeg per stem, encoding at gain 1 while the model computes the next
    segments: each is fed through its stdin by a thread of its own, so a full pipe
    never stalls the model. When the song ends only the last block is left to encode.

    `abort()` kills them (a cancel, an error, or a peak over full scale, after which
    the spilled stems are encoded again with a gain); their partial files are the
    caller's to remove. A failed ffmpeg surfaces as `encode_failed` (transient).
    """

    def __init__(self, parts: dict[str, Path], warm: WarmModel, sample_rate: int, stream: _Stream | None = None):
        if stream is not None:
            stream.folder.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen] = {}
        self.queues: dict[str, queue.Queue] = {}
        self.threads: list[threading.Thread] = []
        self.stderr: dict[str, IO[bytes]] = {}
        self.broken = threading.Event()
        self.closed = False
        try:
            for stem in (VOCALS, INSTRUMENTAL):
                self.stderr[stem] = tempfile.TemporaryFile()
                proc = subprocess.Popen(
                    _encode_command(stem, "pipe:0", parts, warm, sample_rate, 1.0,
                                    stream.folder if stream is not None else None),
                    stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self.stderr[stem],
                )
                self.procs[stem] = proc
                _lower_priority(proc.pid)
                self.queues[stem] = queue.Queue(maxsize=_ENCODER_QUEUE_BLOCKS)
                thread = threading.Thread(
                    target=self._feed, args=(proc, self.queues[stem]), name=f"encode-{stem}",
                    daemon=True,
                )
                thread.start()
                self.threads.append(thread)
        except BaseException:
            self.abort()
            raise

    @property
    def running(self) -> bool:
        return not self.closed

    def _feed(self, proc: subprocess.Popen, blocks: queue.Queue) -> None:
        assert proc.stdin is not None
        while (data := blocks.get()) is not None:
            if self.broken.is_set():
                continue  # keep draining, so a blocked put() returns
            try:
                proc.stdin.write(data)
            except (OSError, ValueError):  # ffmpeg died (or was killed): the pipe broke
                self.broken.set()
        with contextlib.suppress(OSError, ValueError):
            proc.stdin.close()

    def write(self, stem: str, data: bytes) -> None:
        if self.closed:
            return
        if self.broken.is_set():
            self.finish()  # raises encode_failed with ffmpeg's message
        self.queues[stem].put(data)

    def finish(self) -> None:
        """Close the inputs, wait for both files; raise `encode_failed` if ffmpeg failed."""
        if self.closed:
            return
        for blocks in self.queues.values():
            blocks.put(None)
        for thread in self.threads:
            thread.join()
        errors = []
        for stem, proc in self.procs.items():
            if proc.wait() != 0:
                self.stderr[stem].seek(0)
                errors.append(self.stderr[stem].read().decode(errors="replace").strip())
        self._close()
        if errors:
            raise _encode_failed(errors)

    def abort(self) -> None:
        if self.closed:
            return
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
        for blocks in self.queues.values():
            blocks.put(None)
        for thread in self.threads:
            thread.join()
        for proc in self.procs.values():
            proc.wait()
        self._close()

    def _close(self) -> None:
        self.closed = True
        for file in self.stderr.values():
            file.close()


def _lower_priority(pid: int) -> None:
    """Encoders yield the cores to the model's threads: they fill its idle moments."""
    if _ENCODER_NICENESS:
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, pid, os.getpriority(os.PRIO_PROCESS, 0) + _ENCODER_NICENESS)
