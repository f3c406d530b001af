"""The Demucs adapter with a small real HTDemucs loaded through the production path."""

from __future__ import annotations

import os
import random
import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
import torch
from demucs.apply import apply_model

from songs.audio import hls, separation
from songs.audio.separation import SeparationConfig, separate, separate_blocks
from songs.errors import Cancelled, PermanentError, TransientError
from tests.demucs_model import SMALL_NAME, build_small_htdemucs
from tests.helpers import decode_audio

RATE = 44100
# One AAC frame: the encoder works in 1024-sample frames, and the mp4 edit list
# that trims its priming is only as exact as the decoder honours it.
AAC_FRAME = 1024


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    build_small_htdemucs(folder)
    return folder


@pytest.fixture(scope="module")
def config(model_dir: Path) -> SeparationConfig:
    # One thread: the small model's many tiny ops only lose to thread
    # synchronisation when other test processes share the two cores.
    return SeparationConfig(name=SMALL_NAME, model_dir=model_dir, device="cpu", threads=1)


def synthetic_mix(seconds: float, rate: int = RATE, channels: int = 2) -> np.ndarray:
    """A centred tone as the "voice", tones and noise panned as the "band"."""
    t = np.arange(int(seconds * rate)) / rate
    voice = 0.3 * np.sin(2 * np.pi * 440 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    bass = 0.2 * np.sin(2 * np.pi * 110 * t)
    noise = 0.05 * np.random.default_rng(0).standard_normal(t.size)
    mix = np.stack([voice + bass + 0.3 * noise, voice + 0.4 * bass + noise])
    if channels == 1:
        mix = mix.mean(axis=0, keepdims=True)
    return mix.astype(np.float32)


def write_audio(path: Path, mix: np.ndarray, rate: int = RATE) -> Path:
    codec = ["-c:a", "pcm_s24le"] if path.suffix == ".wav" else ["-sample_fmt", "s32"]
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "f32le", "-ar", str(rate),
         "-ac", str(mix.shape[0]), "-i", "-", *codec, str(path)],
        input=mix.T.tobytes(), check=True,
    )
    return path


def test_it_writes_both_stems_with_the_original_length_and_rate(
    tmp_path: Path, config: SeparationConfig
) -> None:
    song = write_audio(tmp_path / "song.wav", synthetic_mix(7.0))
    progress: list[int] = []

    result = separate(
        song, out_dir=tmp_path / "stems", config=config,
        on_progress=lambda percent, message: progress.append(percent),
    )

    assert result.sample_rate == RATE
    assert result.duration == pytest.approx(7.0, abs=1 / RATE)
    frames = int(7.0 * RATE)
    for lossless in (result.vocals, result.instrumental):
        assert decode_audio(lossless).shape == (2, frames)  # FLAC is sample-exact
    for compressed in (result.vocals_compressed, result.instrumental_compressed):
        assert abs(decode_audio(compressed).shape[1] - frames) <= AAC_FRAME
    assert progress == sorted(progress) and progress[-1] == 100
    assert len(progress) >= 4  # one report per segment, not just start and end
    assert sorted(p.name for p in (tmp_path / "stems").iterdir()) == [
        "instrumental.flac", "instrumental.m4a", "vocals.flac", "vocals.m4a"
    ]


def test_it_keeps_a_48k_mono_songs_rate_and_length(tmp_path: Path, config: SeparationConfig) -> None:
    song = write_audio(tmp_path / "mono.flac", synthetic_mix(3.0, 48000, channels=1), 48000)

    result = separate(song, out_dir=tmp_path / "stems", config=config)

    assert result.sample_rate == 48000
    # Resampling 44.1 kHz back to 48 kHz may round the length by a sample.
    assert abs(decode_audio(result.vocals).shape[1] - 3 * 48000) <= 1


def test_it_reuses_the_warm_model(tmp_path: Path, config: SeparationConfig) -> None:
    separation.clear_models()
    song = write_audio(tmp_path / "song.wav", synthetic_mix(2.0))
    loads_before = separation.load_count

    separate(song, out_dir=tmp_path / "one", config=config)
    separate(song, out_dir=tmp_path / "two", config=config)

    assert separation.load_count == loads_before + 1
    info = separation.model_info(config)
    assert info["warm_models"][0]["uses"] == 2
    assert info["last_load_seconds"] is not None and info["device"] == "cpu"


def test_it_stops_when_cancelled_and_leaves_no_partial_files(
    tmp_path: Path, config: SeparationConfig
) -> None:
    song = write_audio(tmp_path / "song.wav", synthetic_mix(12.0))
    segments_done: list[int] = []
    out_dir = tmp_path / "stems"

    with pytest.raises(Cancelled):
        separate(
            song, out_dir=out_dir, config=config,
            on_progress=lambda percent, message: segments_done.append(percent),
            is_cancelled=lambda: any(0 < p < 99 for p in segments_done),
        )

    assert [p for p in segments_done if 0 < p < 99] == [segments_done[1]]  # stopped after one
    assert list(out_dir.iterdir()) == []
    assert ffmpeg_children() == []  # the encoders that ran alongside the model are gone


def ffmpeg_children() -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            name = stat.read_text().split("(", 1)[1].rsplit(")", 1)[0]
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and "ffmpeg" in name:
            children.append(int(stat.parent.name))
    return children


@pytest.mark.parametrize("seconds", [3.0, 12.0])
def test_an_encoder_failure_is_a_transient_error_and_leaves_no_files(
    tmp_path: Path, config: SeparationConfig, monkeypatch: pytest.MonkeyPatch, seconds: float
) -> None:
    """ffmpeg dies at once (an AAC bitrate it cannot parse): while the model still runs
    (12 s: several blocks), or with only the end left to encode (3 s: one block)."""
    song = write_audio(tmp_path / "song.wav", synthetic_mix(seconds))
    monkeypatch.setattr(separation, "AAC_BITRATE", "not-a-bitrate")
    out_dir = tmp_path / "stems"

    with pytest.raises(TransientError) as error:
        separate(song, out_dir=out_dir, config=config)

    assert error.value.code == "encode_failed"
    assert "ffmpeg could not encode the stems" in error.value.message
    assert list(out_dir.iterdir()) == []
    assert ffmpeg_children() == []


def test_the_stems_are_encoded_while_the_model_runs(
    tmp_path: Path, config: SeparationConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every block goes to the running encoders as soon as it is final; no encode
    from the spilled files after the model when nothing clips."""
    song = write_audio(tmp_path / "song.wav", synthetic_mix(12.0))
    writes: list[str] = []
    real_write = separation._StemEncoders.write
    monkeypatch.setattr(
        separation._StemEncoders, "write",
        lambda self, stem, data: (writes.append(stem), real_write(self, stem, data))[1],
    )
    monkeypatch.setattr(separation, "_encode_stems", lambda *args: pytest.fail("encoded again"))

    result = separate(song, out_dir=tmp_path / "stems", config=config)

    assert result.gain == 1.0
    assert writes.count("vocals") == writes.count("instrumental") >= 2
    assert decode_audio(result.vocals).shape == (2, 12 * RATE)


@pytest.mark.parametrize("where", ["missing folder", "missing name"])
def test_it_reports_an_unavailable_model_with_the_fix(
    tmp_path: Path, model_dir: Path, where: str
) -> None:
    song = write_audio(tmp_path / "song.wav", synthetic_mix(1.0))
    if where == "missing folder":
        config = SeparationConfig(name=SMALL_NAME, model_dir=tmp_path / "nowhere", device="cpu")
    else:
        config = SeparationConfig(name="htdemucs", model_dir=model_dir, device="cpu")

    with pytest.raises(PermanentError) as error:
        separate(song, out_dir=tmp_path / "stems", config=config)

    assert error.value.code == "model_unavailable"
    assert "DEMUCS_MODEL_DIR" in error.value.message
    assert "manage.py install_model --name" in error.value.message


@pytest.mark.parametrize("content", [b"ID3" + bytes(range(256)) * 40, b"just some text\n"])
def test_it_rejects_a_corrupt_file_as_not_audio(
    tmp_path: Path, config: SeparationConfig, content: bytes
) -> None:
    song = tmp_path / "song.mp3"
    song.write_bytes(content)

    with pytest.raises(PermanentError) as error:
        separate(song, out_dir=tmp_path / "stems", config=config)

    assert error.value.code == "not_audio"
    assert not (tmp_path / "stems").exists() or list((tmp_path / "stems").iterdir()) == []


@pytest.mark.parametrize("shifts", [0, 1])
def test_it_is_seamless_across_segment_and_block_boundaries(
    config: SeparationConfig, shifts: int
) -> None:
    """Streaming in small, odd-sized blocks equals Demucs' apply_model on the whole song."""
    warm = separation.load_model(config)
    mix = torch.from_numpy(synthetic_mix(20.0))
    mono = mix.mean(0)
    mean, std = float(mono.mean()), float(mono.std()) + 1e-8
    streaming_config = SeparationConfig(
        name=config.name, model_dir=config.model_dir, device="cpu", threads=1,
        overlap=0.25, shifts=shifts,
    )
    sizes = [3001, 7919, 12345, 44100]  # irregular blocks, none aligned with segments
    blocks, at = [], 0
    while at < mix.shape[1]:
        size = sizes[len(blocks) % len(sizes)]
        blocks.append(mix[:, at:at + size])
        at += size

    random.seed(1234)
    streamed = torch.cat(list(separate_blocks(
        warm, blocks, total_frames=mix.shape[1], mean=mean, std=std, config=streaming_config,
    )), dim=-1)
    random.seed(1234)
    whole = apply_model(
        warm.model, ((mix - mean) / std)[None], shifts=shifts, split=True, overlap=0.25,
    )[0] * std + mean

    assert streamed.shape == whole.shape
    assert torch.allclose(streamed, whole, atol=1e-5, rtol=0)


def test_it_never_clips_and_scales_both_stems_alike(tmp_path: Path, model_dir: Path) -> None:
    build_small_htdemucs(model_dir, name="loud_htdemucs", signature="10d0a001", output_gain=40)
    config = SeparationConfig(name="loud_htdemucs", model_dir=model_dir, device="cpu", threads=1)
    song = write_audio(tmp_path / "loud.wav", synthetic_mix(3.0))

    result = separate(song, out_dir=tmp_path / "stems", config=config)

    assert result.gain < 1.0
    stems = {"vocals": decode_audio(result.vocals), "instrumental": decode_audio(result.instrumental)}
    assert max(np.abs(stem).max() for stem in stems.values()) <= 1.0
    warm = separation.load_model(config)
    mix = torch.from_numpy(decode_audio(song))
    mono = mix.mean(0)
    mean, std = float(mono.mean()), float(mono.std()) + 1e-8
    reference = apply_model(warm.model, ((mix - mean) / std)[None], shifts=0, overlap=0.1)[0]
    reference = (reference * std + mean).numpy()
    vocals = reference[warm.sources.index("vocals")]
    expected = {"vocals": vocals, "instrumental": reference.sum(axis=0) - vocals}
    for name, stem in stems.items():
        assert np.abs(stem - expected[name] * result.gain).max() < 1e-4, name


# --- the live stream (singing while it separates) -------------------------------------------


def test_a_streamed_separation_ends_with_the_same_files_and_a_playable_stream_of_each_stem(
    tmp_path: Path, config: SeparationConfig
) -> None:
    song = write_audio(tmp_path / "song.wav", synthetic_mix(20.0))
    plain = separate(song, out_dir=tmp_path / "plain", config=config)
    reports: list[float] = []

    streamed = separate(song, out_dir=tmp_path / "streamed", config=config,
                        stream_dir=tmp_path / "stream", on_stream=reports.append)

    for attribute in ("vocals", "instrumental", "vocals_compressed", "instrumental_compressed"):
        a, b = decode_audio(getattr(plain, attribute)), decode_audio(getattr(streamed, attribute))
        assert a.shape == b.shape and np.array_equal(a, b), attribute
    # It grew as the model ran: several reports, rising, the last the whole song.
    assert len(reports) >= 3 and reports == sorted(reports)
    assert reports[0] < 20.0 - 2 * hls.SEGMENT_SECONDS
    assert reports[-1] == pytest.approx(20.0, abs=0.1)
    for stem in hls.STEMS:
        playlist = tmp_path / "stream" / hls.playlist_name(stem)
        seconds, complete = hls.held_seconds(playlist)
        assert complete and seconds == pytest.approx(20.0, abs=0.1)
        assert "#EXT-X-PLAYLIST-TYPE:EVENT" in playlist.read_text()
        assert all(hls.FILE_NAME.match(path.name) for path in playlist.parent.iterdir())
        # What a player hears from the stream is the finished stem (one AAC encode feeds
        # both), give or take the encoder's priming frame, which ffmpeg does not trim
        # from the segments.
        heard = decode_audio(playlist)
        final = decode_audio(getattr(streamed, f"{stem}_compressed"))
        assert 0 <= heard.shape[1] - final.shape[1] <= 2 * AAC_FRAME
        errors = [np.abs(heard[:, lead:lead + final.shape[1]] - final).max() for lead in (0, AAC_FRAME, 2 * AAC_FRAME)
                  if lead + final.shape[1] <= heard.shape[1]]
        assert min(errors) < 1e-4, stem


def test_a_paced_separation_takes_at_least_its_pace(tmp_path: Path, config: SeparationConfig) -> None:
    song = write_audio(tmp_path / "song.wav", synthetic_mix(6.0))
    paced = SeparationConfig(**{**config.__dict__, "pace": 0.5})
    result = separate(song, out_dir=tmp_path / "stems", config=paced)
    assert result.seconds >= 3.0


def test_a_peak_over_full_scale_keeps_the_stream_going_and_turns_the_files_down(
    tmp_path: Path, model_dir: Path
) -> None:
    build_small_htdemucs(model_dir, name="loud_htdemucs", signature="10d0a001", output_gain=40)
    config = SeparationConfig(name="loud_htdemucs", model_dir=model_dir, device="cpu", threads=1)
    song = write_audio(tmp_path / "loud.wav", synthetic_mix(8.0))

    result = separate(song, out_dir=tmp_path / "stems", config=config, stream_dir=tmp_path / "stream")

    assert result.gain < 1.0
    assert np.abs(decode_audio(result.instrumental)).max() <= 1.0
    seconds, complete = hls.held_seconds(tmp_path / "stream" / hls.playlist_name("instrumental"))
    assert complete and seconds == pytest.approx(8.0, abs=0.1)
