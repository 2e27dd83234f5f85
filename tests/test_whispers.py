"""Whispers and personal attention: the quality bars of issue 17, measured on renders."""

from __future__ import annotations

import numpy as np
import pytest

from library_helpers import lufs, peak_db
from sleepsound.errors import ParameterError
from sleepsound.sources import open_source
from sleepsound.sources.presets import parse_preset
from sleepsound.sources.texture_engines import find_texture, open_texture, texture_ids
from support.audio import level_envelope_db

RATE = 48000
SECONDS = 40


@pytest.fixture(scope="module")
def whispers() -> np.ndarray:
    """40 s of whispers as one ear hears them (still, so both ears are the same)."""
    audio = open_texture("whispers", RATE, 2, seed=7).read(SECONDS * RATE).astype(np.float64)
    assert np.array_equal(audio[:, 0], audio[:, 1])
    return audio[:, 0]


def _band_power(x: np.ndarray, low_hz: float, high_hz: float) -> float:
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1.0 / RATE)
    return float(spectrum[(freqs >= low_hz) & (freqs < high_hz)].sum())


def _pitch_strength(x: np.ndarray) -> float:
    """90th percentile over loud 40 ms windows of the normalised autocorrelation peak
    at lags of a 70-400 Hz voice (1 for a perfectly periodic buzz, ~0 for noise)."""
    window = round(0.04 * RATE)
    frames = x[: len(x) // window * window].reshape(-1, window)
    energy = (frames**2).mean(axis=1)
    loud = frames[energy > 0.1 * np.median(energy[energy > 0])]
    loud = loud - loud.mean(axis=1, keepdims=True)
    spectrum = np.fft.rfft(loud, n=2 * window, axis=1)
    corr = np.fft.irfft(np.abs(spectrum) ** 2, axis=1)[:, :window]
    corr /= corr[:, :1]
    lags = slice(round(RATE / 400), round(RATE / 70) + 1)
    return float(np.percentile(corr[:, lags].max(axis=1), 90))


def test_whispers_have_no_voiced_pitch(whispers: np.ndarray) -> None:
    assert _pitch_strength(whispers) < 0.35
    # The measure does see a voice: a 140 Hz buzz through the same envelope scores high.
    envelope = np.repeat(10 ** (level_envelope_db(whispers, RATE, 0.01) / 20), RATE // 100)
    t = np.arange(len(envelope)) / RATE
    buzz = ((t * 140.0) % 1.0 - 0.5) * envelope
    assert _pitch_strength(buzz) > 0.7


def test_whispers_sit_in_the_speech_band(whispers: np.ndarray) -> None:
    spectrum = np.abs(np.fft.rfft(whispers)) ** 2
    freqs = np.fft.rfftfreq(len(whispers), 1.0 / RATE)
    centroid = float((freqs * spectrum).sum() / spectrum.sum())
    assert 1500.0 <= centroid <= 5000.0


def test_whispers_are_de_essed(whispers: np.ndarray) -> None:
    ratio_db = 10 * np.log10(
        _band_power(whispers, 7000.0, RATE / 2) / _band_power(whispers, 1500.0, 5000.0)
    )
    assert ratio_db <= -15.0


def test_syllables_modulate_the_level_at_2_to_8_hz(whispers: np.ndarray) -> None:
    envelope = 10 ** (level_envelope_db(whispers, RATE, 0.01) / 20)  # 100 Hz frame rate
    envelope -= envelope.mean()
    modulation = np.abs(np.fft.rfft(envelope * np.hanning(len(envelope)))) ** 2
    freqs = np.fft.rfftfreq(len(envelope), 0.01)
    considered = (freqs >= 1.5) & (freqs <= 25.0)
    peak_hz = freqs[considered][np.argmax(modulation[considered])]
    assert 2.0 <= peak_hz <= 8.0
    in_band = modulation[(freqs >= 2.0) & (freqs <= 8.0)].sum()
    above = modulation[(freqs > 8.0) & (freqs <= 25.0)].sum()
    assert in_band > 2 * above


def test_phrases_pause_several_times_a_minute(whispers: np.ndarray) -> None:
    level = level_envelope_db(whispers, RATE, 0.1)
    speech = np.percentile(level, 80)
    quiet = level <= speech - 15.0
    pauses = int(np.count_nonzero(quiet[1:] & ~quiet[:-1]))
    assert pauses >= 4 * SECONDS / 60, pauses


def test_no_ten_second_stretch_repeats(whispers: np.ndarray) -> None:
    stretch = whispers[: 10 * RATE]
    rest = whispers[10 * RATE :]
    n = len(stretch) + len(rest)
    corr = np.fft.irfft(np.fft.rfft(rest, n) * np.conj(np.fft.rfft(stretch, n)), n)
    energy = np.sqrt(np.sum(stretch**2) * np.sum(rest**2) / len(rest) * len(stretch))
    assert np.max(np.abs(corr)) / energy < 0.2


def test_whispers_play_at_the_target_loudness_without_startling_peaks() -> None:
    for spec in ("whispers", "whispers:move=ear-to-ear", "whispers:move=around"):
        preset = find_texture(spec)
        assert preset is not None
        audio = open_texture(preset, RATE, 2, seed=3).read(30 * RATE).astype(np.float64)
        loudness = lufs(audio, RATE)
        assert loudness == pytest.approx(-23.0, abs=2.0), spec
        assert peak_db(audio) - loudness <= 20.0, spec


def test_the_voice_drifts_so_phrases_differ(whispers: np.ndarray) -> None:
    # Spectral shape of each second differs from every other's (no template phrase).
    seconds = whispers[: 20 * RATE].reshape(20, RATE)
    shapes = np.log10(np.abs(np.fft.rfft(seconds, axis=1))[:, 100:6000] ** 2 + 1e-20)
    shapes = shapes.reshape(20, -1, 100).mean(axis=2)  # 50 Hz bands
    shapes -= shapes.mean(axis=1, keepdims=True)
    distances = [np.abs(a - b).mean() for i, a in enumerate(shapes) for b in shapes[i + 1 :]]
    assert min(distances) > 0.05


def _preset(text: str) -> object:
    return parse_preset(text, "test-attention", "test-attention.toml")[0]


def _attention(hands_db: float) -> np.ndarray:
    preset = _preset(
        'texture = "attention"\n[parameters]\nlevel_db = -1.2\n'
        "whisper_s = [5.0, 6.0]\ninterlude_s = [3.0, 4.0]\nside_deg = [80.0, 85.0]\n"
        f"brushing_level_db = {hands_db}\ntapping_level_db = {hands_db}\n"
    )
    return open_texture(preset, RATE, 2, seed=3).read(30 * RATE).astype(np.float64)


def test_attention_whispers_at_one_ear_then_the_other() -> None:
    audio = _attention(0.0)
    assert lufs(audio, RATE) == pytest.approx(-23.0, abs=2.5)
    assert peak_db(audio) - lufs(audio, RATE) <= 20.0
    half = RATE // 2
    windows = audio[: len(audio) // half * half].reshape(-1, half, 2)
    spectra = np.abs(np.fft.rfft(windows, axis=1)) ** 2
    freqs = np.fft.rfftfreq(half, 1.0 / RATE)
    band = spectra[:, (freqs >= 2000) & (freqs <= 8000)].sum(axis=1)
    ild = 10 * np.log10(band[:, 0] / band[:, 1])
    assert ild.max() >= 8.0 and ild.min() <= -8.0  # the voice at each ear in turn


def test_attention_brushes_and_taps_between_the_whispering() -> None:
    # Same seed, hands all but muted: the voice is the same, the difference is the hands.
    voice = _attention(-40.0)
    hands = _attention(0.0) - voice  # 0.99 of the hands
    voice_level = level_envelope_db(voice, RATE, 0.5)
    hands_power = 10 ** (level_envelope_db(hands, RATE, 0.5) / 10)
    assert 10 * np.log10(hands_power.mean()) > voice_level.max() - 15.0
    quiet_voice = voice_level < np.percentile(voice_level, 90) - 15.0
    assert hands_power[quiet_voice].sum() > 0.7 * hands_power.sum()


def test_attention_and_whispers_are_built_in_textures() -> None:
    assert {"whispers", "attention"} <= set(texture_ids())
    preset = find_texture("whispers:move=around,speed=20")
    assert preset is not None and preset.parameters["move"] == "around"
    with pytest.raises(ParameterError, match="move must be one of still, ear-to-ear, around"):
        open_source("whispers:move=sideways", RATE, 2)
    with pytest.raises(ParameterError, match="speed"):
        open_source("whispers:move=around,speed=0.5", RATE, 2)
    with pytest.raises(ParameterError, match="syllables_per_s"):
        open_source("whispers:syllables_per_s=4", RATE, 2)


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 96000])
@pytest.mark.parametrize("spec", ["whispers:move=around", "attention"])
def test_other_rates_and_channel_counts(spec: str, rate: int) -> None:
    for channels in (1, 2):
        block = open_source(spec, rate, channels).read(3 * rate)
        assert block.shape == (3 * rate, channels) and block.dtype == np.float32
        assert np.all(np.isfinite(block)) and peak_db(block) < -3.0  # 20 dB over -23 LUFS
        assert level_envelope_db(block, rate, 1.0).min() > -90.0  # never digital silence
