"""The analysis helpers measure what they claim, on signals with known answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile
from hypothesis import given, settings
from hypothesis import strategies as st

from support.audio import (
    CLICK_THRESHOLD_DB,
    SILENCE_DB,
    can_write,
    click_index,
    click_score,
    db_to_amplitude,
    dominant_frequency,
    level_envelope_db,
    make_corrupt_files,
    peak_db,
    rms_db,
    sine,
    write_test_audio,
    write_test_wav,
)

RATE = 48000


def quantise_16(x: np.ndarray) -> np.ndarray:
    """What a 16-bit capture of ``x`` reads back as."""
    return (np.round(x * 32767) / 32768).astype(np.float32)


def test_levels_of_known_signals() -> None:
    full = sine(1000.0, 1.0, RATE, level_db=0.0)
    assert rms_db(full) == pytest.approx(-3.0103, abs=1e-3)
    assert peak_db(full) == pytest.approx(0.0, abs=1e-3)
    assert peak_db(sine(1000.0, 1.0, RATE, level_db=-20.0)) == pytest.approx(-20.0, abs=1e-3)
    assert rms_db(np.full((100, 2), 0.5)) == pytest.approx(-6.0206, abs=1e-3)
    assert rms_db(np.zeros(100)) == SILENCE_DB
    assert peak_db(np.zeros(0)) == SILENCE_DB


def test_envelope_follows_a_fade() -> None:
    # Four 0.25 s steps at -10, -20, -30 dB and silence, in stereo.
    steps = [sine(500.0, 0.25, RATE, level_db=db) for db in (-10.0, -20.0, -30.0)]
    signal = np.concatenate([*steps, np.zeros(RATE // 4, np.float32)])
    stereo = np.stack([signal, signal], axis=1)

    envelope = level_envelope_db(stereo, RATE, 0.25)
    np.testing.assert_allclose(envelope[:3], [-13.01, -23.01, -33.01], atol=0.01)
    assert envelope[3] == SILENCE_DB
    assert level_envelope_db(stereo, RATE, 0.1).shape == (10,)
    assert level_envelope_db(stereo[:10], RATE, 0.1).shape == (0,)


@pytest.mark.parametrize("step_db", [-40.0, -50.0])
@pytest.mark.parametrize("bits16", [False, True])
def test_click_score_finds_a_one_sample_step(step_db: float, bits16: bool) -> None:
    tone = sine(80.0, 3.0, RATE, level_db=-30.0)
    damaged = tone.copy()
    damaged[RATE:] += db_to_amplitude(step_db)
    if bits16:
        tone, damaged = quantise_16(tone), quantise_16(damaged)

    assert click_score(tone, RATE) < 10.0
    assert click_score(damaged, RATE) > CLICK_THRESHOLD_DB
    assert abs(click_index(damaged, RATE) - RATE) <= 2


def test_click_score_finds_a_click_in_one_channel_only() -> None:
    left = sine(150.0, 1.0, RATE, level_db=-20.0)
    right = left.copy()
    right[RATE // 2] += db_to_amplitude(-40.0)  # a single-sample spike
    assert click_score(np.stack([left, right], 1), RATE) > CLICK_THRESHOLD_DB


def test_click_score_accepts_smooth_starts_stops_and_crossfades() -> None:
    silence = np.zeros(RATE // 10, np.float32)
    tone = sine(100.0, 1.0, RATE, level_db=-6.0, phase=1.0)
    ramp = np.minimum(1.0, np.arange(tone.size) / (0.02 * RATE)).astype(np.float32)
    ramped = tone * ramp * ramp[::-1]
    assert click_score(np.concatenate([silence, ramped, silence]), RATE) < CLICK_THRESHOLD_DB
    # The same tone switched on and off hard: a click a listener hears.
    assert click_score(np.concatenate([silence, tone, silence]), RATE) > CLICK_THRESHOLD_DB

    a = sine(100.0, 2.0, RATE, level_db=-12.0)
    b = sine(150.0, 2.0, RATE, level_db=-12.0, phase=0.5)
    mix = np.clip((np.arange(a.size) - RATE) / (0.05 * RATE), 0.0, 1.0) * np.pi / 2
    crossfade = a * np.cos(mix) + b * np.sin(mix)
    assert click_score(crossfade, RATE) < CLICK_THRESHOLD_DB
    cut = np.where(np.arange(a.size) < RATE, a, b)
    assert click_score(cut, RATE) > CLICK_THRESHOLD_DB


def test_click_score_on_noise_beds() -> None:
    rng = np.random.default_rng(3)
    white = (0.05 * rng.standard_normal(2 * RATE)).astype(np.float32)
    assert click_score(white, RATE) < CLICK_THRESHOLD_DB
    brown = np.cumsum(rng.standard_normal(2 * RATE))
    brown = 0.01 * (brown - np.convolve(brown, np.ones(2001) / 2001, "same")) / np.std(brown)
    assert click_score(brown, RATE) < CLICK_THRESHOLD_DB
    brown[RATE:] += db_to_amplitude(-40.0)
    assert click_score(brown, RATE) > CLICK_THRESHOLD_DB


def test_click_score_of_nothing() -> None:
    assert click_score(np.zeros(RATE, np.float32), RATE) == SILENCE_DB
    assert click_score(np.zeros(0), RATE) == SILENCE_DB
    with pytest.raises(ValueError):
        click_index(np.zeros(0), RATE)


@settings(max_examples=40, deadline=None)
@given(
    frequency=st.floats(40.0, 15000.0),
    duration_s=st.floats(0.05, 1.0),
    phase=st.floats(0.0, 6.28),
)
def test_dominant_frequency_within_a_tenth_of_a_bin(
    frequency: float, duration_s: float, phase: float
) -> None:
    tone = sine(frequency, duration_s, RATE, level_db=-10.0, phase=phase)
    bin_hz = RATE / tone.size
    # Below a few bins the Hann main lobe meets its own mirror image at 0 Hz.
    if frequency < 4 * bin_hz:
        return
    assert dominant_frequency(tone, RATE) == pytest.approx(frequency, abs=0.1 * bin_hz)


def test_dominant_frequency_picks_the_strongest_of_two() -> None:
    mix = sine(300.0, 0.5, RATE, -20.0) + sine(2000.0, 0.5, RATE, -10.0)
    assert dominant_frequency(np.stack([mix, mix], 1), RATE) == pytest.approx(2000.0, abs=0.5)


@pytest.mark.parametrize(
    ("name", "subtype", "exact"),
    [
        ("t.wav", None, True),
        ("t.wav", "FLOAT", True),
        ("t.flac", "PCM_24", True),
        ("t.ogg", None, False),
        ("t.mp3", None, False),
    ],
)
def test_write_test_audio_round_trip(
    tmp_path: Path, name: str, subtype: str | None, exact: bool
) -> None:
    if not can_write(Path(name).suffix):
        pytest.skip(f"this libsndfile cannot write {name}")
    data = sine(440.0, 0.5, RATE, level_db=-6.0, channels=2)
    path = write_test_audio(tmp_path / name, data, RATE, subtype)

    read, rate = soundfile.read(path, dtype="float32", always_2d=True)
    assert rate == RATE
    assert read.shape[1] == 2
    if exact:
        assert read.shape == data.shape
        np.testing.assert_allclose(read, data, atol=1.0 / 32768)
    else:
        assert dominant_frequency(read, RATE) == pytest.approx(440.0, abs=2.0)
        assert rms_db(read) == pytest.approx(rms_db(data), abs=1.0)


def test_write_test_wav_refuses_unknown_extensions(tmp_path: Path) -> None:
    assert write_test_wav is write_test_audio
    with pytest.raises(ValueError, match="extension"):
        write_test_audio(tmp_path / "x.aac", np.zeros(10), RATE)


def test_corrupt_files_are_corrupt(tmp_path: Path) -> None:
    files = make_corrupt_files(tmp_path)
    assert set(files) == {"truncated_wav", "garbage_flac", "empty_wav", "text_wav"}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in files.values())
    assert files["empty_wav"].stat().st_size == 0
    for kind in ("garbage_flac", "empty_wav", "text_wav"):
        with pytest.raises(soundfile.LibsndfileError):
            soundfile.read(files[kind])
    # The truncated WAV's header promises half a second of 16-bit mono; a third of it is there.
    content = files["truncated_wav"].read_bytes()
    assert content[:4] == b"RIFF"
    assert content[36:40] == b"data"
    promised_bytes = int.from_bytes(content[40:44], "little")
    assert promised_bytes == RATE // 2 * 2
    assert len(content) - 44 < promised_bytes // 2
