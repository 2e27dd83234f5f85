"""Sound files as endless sources: streaming, seamless loops, channels, resampling, bad files."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile
from scipy import signal

from sleepsound.errors import SoundFileError, UnknownSoundError
from sleepsound.library.segments import ShuffledSegments
from sleepsound.sources.filesource import FileSource
from sleepsound.sources.soundfiles import map_channels
from support.audio import CLICK_THRESHOLD_DB, click_score, dominant_frequency
from support.encoders import CASES, NEAR_END_HZ, Mp3Case

RATE = 48000


def _tone(freq: float, seconds: float, rate: int, channels: int = 2, level: float = 0.3):
    t = np.arange(round(seconds * rate)) / rate
    mono = (level * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.repeat(mono[:, None], channels, axis=1)


def _write(path: Path, data: np.ndarray, rate: int, subtype: str = "PCM_24") -> str:
    soundfile.write(str(path), data, rate, subtype=subtype)
    return str(path)


def _high_passed(x: np.ndarray, rate: int, cutoff: float = 3000.0) -> np.ndarray:
    sos = signal.butter(4, cutoff, "highpass", fs=rate, output="sos")
    return signal.sosfilt(sos, x[:, 0].astype(np.float64))


def _window_levels_db(x: np.ndarray, rate: int, window_s: float = 0.05) -> np.ndarray:
    size = round(window_s * rate)
    frames = len(x) // size * size
    windows = x[:frames].reshape(-1, size, x.shape[1]).astype(np.float64)
    return 10 * np.log10(np.mean(windows**2, axis=(1, 2)) + 1e-20)


def test_a_tone_loops_without_a_click_at_the_seam(tmp_path: Path) -> None:
    # 220.5 Hz over 3.01 s ends mid-cycle: a plain loop would jump.
    path = _write(tmp_path / "tone.wav", _tone(220.5, 3.01, RATE), RATE)
    source = FileSource(path, RATE, 2)
    played = np.concatenate([source.read(4000) for _ in range(60)])  # ~5 s: past one seam
    assert source.loops >= 1
    residual = np.abs(_high_passed(played, RATE))[RATE // 10 :]
    assert residual.max() < 1e-3  # a plain jump would leave ~0.1 here


def test_a_plain_jump_is_what_the_click_check_would_catch(tmp_path: Path) -> None:
    data = _tone(220.5, 3.01, RATE)
    spliced = np.concatenate([data, data])
    residual = np.abs(_high_passed(spliced, RATE))[RATE // 10 :]
    assert residual.max() > 1e-2


@pytest.mark.parametrize("material", ["same-noise", "tone"])
def test_level_across_the_seam_stays_within_one_db(tmp_path: Path, material: str) -> None:
    rng = np.random.default_rng(5)
    if material == "tone":
        data = _tone(440.0, 4.0, RATE)
    else:
        data = rng.normal(0, 0.1, (4 * RATE, 2)).astype(np.float32)
    path = _write(tmp_path / "m.wav", data, RATE)
    source = FileSource(path, RATE, 2)
    played = np.concatenate([source.read(4800) for _ in range(80)])  # 8 s, two seams
    levels = _window_levels_db(played, RATE, 0.1)
    assert np.max(np.abs(levels - np.median(levels))) < 1.0


def test_no_gap_and_exact_period(tmp_path: Path) -> None:
    # A ramp of known length: after looping the stream never holds a run of silence.
    data = _tone(300.0, 2.0, RATE)
    path = _write(tmp_path / "r.wav", data, RATE)
    source = FileSource(path, RATE, 2)
    played = np.concatenate([source.read(1000) for _ in range(480)])  # 10 s
    envelope = _window_levels_db(played, RATE, 0.01)
    assert envelope.min() > -20 * np.log10(1 / 0.3) - 10  # never a dropout


def test_resampling_from_44k1_keeps_pitch_and_length(tmp_path: Path) -> None:
    first = _tone(1000.0, 1.0, 44100)
    second = _tone(2000.0, 2.0, 44100)
    path = _write(tmp_path / "two.flac", np.concatenate([first, second]), 44100, "PCM_16")
    source = FileSource(path, RATE, 2)
    out = source.read(3 * RATE)[:, 0]
    window = 2400
    freqs = np.fft.rfftfreq(window, 1 / RATE)
    peaks = [
        freqs[np.argmax(np.abs(np.fft.rfft(out[i : i + window] * np.hanning(window))))]
        for i in range(0, len(out) - window, window)
    ]
    assert abs(np.median(peaks[2:18]) - 1000.0) < 20.0
    assert abs(np.median(peaks[22:50]) - 2000.0) < 20.0
    # The switch from 1 kHz to 2 kHz lands one second in, at the new rate.
    switch = next(i for i, f in enumerate(peaks) if f > 1500.0) * window
    assert abs(switch - RATE) <= window


def test_mono_is_copied_to_both_ears_and_stereo_kept(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    stereo = rng.normal(0, 0.1, (RATE, 2)).astype(np.float32)
    mono_path = _write(tmp_path / "mono.wav", stereo[:, :1], RATE)
    stereo_path = _write(tmp_path / "stereo.wav", stereo, RATE)
    from_mono = FileSource(mono_path, RATE, 2).read(RATE // 2)
    assert np.array_equal(from_mono[:, 0], from_mono[:, 1])
    kept = FileSource(stereo_path, RATE, 2).read(RATE // 2)
    assert abs(np.corrcoef(kept[:, 0], kept[:, 1])[0, 1]) < 0.1  # not downmixed
    downmixed = FileSource(stereo_path, RATE, 1).read(RATE // 2)
    assert downmixed.shape == (RATE // 2, 1)


def test_map_channels_shapes() -> None:
    block = np.ones((10, 6), np.float32)
    assert map_channels(block, 2).shape == (10, 2)
    assert map_channels(block[:, :1], 2).shape == (10, 2)
    assert map_channels(block, 1).shape == (10, 1)


def test_memory_stays_flat_over_a_long_file(tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    with soundfile.SoundFile(str(path), "w", 16000, 1, "PCM_16") as handle:
        rng = np.random.default_rng(4)
        for _ in range(20 * 60 // 10):  # 20 minutes
            handle.write(rng.normal(0, 0.05, 160000).astype(np.float32))
    source = FileSource(str(path), RATE, 2)
    block = 4800
    tracemalloc.start()
    try:
        for _ in range(RATE * 60 // block):
            source.read(block)
        _, early_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        for _ in range(RATE * 600 // block):  # ten more minutes of audio
            source.read(block)
        _current, late_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert late_peak < 4 * 1024 * 1024  # a few blocks, not the 115 MB the file decodes to
    assert late_peak < early_peak * 1.5 + 256 * 1024


def test_truncated_file_still_loops(tmp_path: Path) -> None:
    path = tmp_path / "cut.wav"
    _write(path, _tone(440.0, 2.0, RATE), RATE, "PCM_16")
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) * 2 // 3])  # the header still promises 2 s
    source = FileSource(str(path), RATE, 2)
    played = np.concatenate([source.read(4800) for _ in range(60)])  # 6 s
    assert np.max(np.abs(played)) > 0.2
    assert _window_levels_db(played, RATE, 0.05).min() > -30


@pytest.mark.parametrize(
    ("name", "content", "error"),
    [
        ("missing.wav", None, UnknownSoundError),
        ("empty.wav", b"", SoundFileError),
        ("garbage.flac", bytes(range(256)) * 40, SoundFileError),
        ("notes.wav", b"this is not audio\n" * 50, SoundFileError),
    ],
)
def test_bad_files_are_clear_errors(tmp_path: Path, name: str, content, error) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(error, match=name):
        FileSource(str(path), RATE, 2)


# ------------------------------------------------------------------- MP3s from real encoders


def _windows(x: np.ndarray, size: int = 2400) -> np.ndarray:
    return x[: len(x) // size * size, 0].reshape(-1, size)


@pytest.mark.parametrize("case", CASES)
def test_an_mp3_from_a_real_encoder_loops_to_its_end_without_gap_or_click(
    real_mp3s: dict[str, Mp3Case], case: str
) -> None:
    # The header may promise more frames than decode (padding, tags): the loop must
    # still reach the real end, and the jump back must not leave a silent stretch.
    source = FileSource(str(real_mp3s[case].path), RATE, 2)
    played = np.concatenate([source.read(4800) for _ in range(90)])  # 9 s: two seams
    assert source.loops >= 2
    levels = 10 * np.log10(np.mean(_windows(played) ** 2, axis=1) + 1e-20)
    assert levels[1:].min() > -25, "a silent stretch: a gap in the loop"
    assert click_score(played[4800:], RATE) < CLICK_THRESHOLD_DB
    pitches = [dominant_frequency(w, RATE) for w in _windows(played)]
    assert sum(p > NEAR_END_HZ for p in pitches) >= 2, "the end of the file never played"


@pytest.mark.parametrize("case", ["lame-vbr-44k", "ffmpeg-cover-art-no-header", "sox-44k"])
def test_shuffled_segments_of_an_mp3_play_without_gaps(
    real_mp3s: dict[str, Mp3Case], case: str
) -> None:
    # Segments start anywhere: a seek must be exact (VBR) and never land past the real
    # end (a header that over-reports by seconds of cover art).
    source = ShuffledSegments(
        str(real_mp3s[case].path), RATE, 2, segment_s=1.0, crossfade_s=0.2, seed=3
    )
    played = np.concatenate([source.read(4800) for _ in range(150)])  # 15 s: many joins
    levels = 10 * np.log10(np.mean(_windows(played) ** 2, axis=1) + 1e-20)
    assert levels[1:].min() > -25
    assert click_score(played[4800:], RATE) < CLICK_THRESHOLD_DB


@pytest.mark.parametrize("damage", [3500, 20000])
def test_an_mp3_damaged_mid_file_loops_what_decodes(
    tmp_path: Path, real_mp3s: dict[str, Mp3Case], damage: int
) -> None:
    # Past ~1 KB of garbage mpg123 gives up resyncing: playback must not stop there.
    data = real_mp3s["sox-44k"].path.read_bytes()
    middle = len(data) // 2
    path = tmp_path / "damaged.mp3"
    path.write_bytes(data[:middle] + b"\x00\x01" * (damage // 2) + data[middle:])
    source = FileSource(str(path), RATE, 2)
    played = np.concatenate([source.read(4800) for _ in range(60)])  # 6 s: past the damage
    assert source.damaged and source.loops >= 2
    levels = 10 * np.log10(np.mean(_windows(played) ** 2, axis=1) + 1e-20)
    assert levels[1:].min() > -25
    assert click_score(played[4800:], RATE) < CLICK_THRESHOLD_DB
