"""Generated sounds: spectra, levels, no repetition, binaural beats, block invariance."""

from __future__ import annotations

from fractions import Fraction
from itertools import pairwise

import numpy as np
import pytest
from scipy import signal

from sleepsound.errors import ParameterError, SoundError, UnknownSoundError
from sleepsound.sources.base import Source
from sleepsound.sources.generators import (
    _CHUNK_FRAMES,
    _PINK_A,
    _PINK_B,
    GENERATOR_NAMES,
    LEVEL_DB,
    NOISE_PEAK_LIMIT,
    _soft_limit,
    brown_poles,
    is_generator,
    open_generator,
)
from support.audio import dominant_frequency

RATE = 48000
NOISES = ("white-noise", "pink-noise", "brown-noise")


def rms_db(x: np.ndarray) -> np.ndarray:
    """RMS per channel in dB re full scale."""
    return 20.0 * np.log10(np.sqrt(np.mean(np.square(x, dtype=np.float64), axis=0)))


def octave_band_levels(x: np.ndarray, rate: int) -> np.ndarray:
    """Mean power density (dB) in octave bands 62.5 Hz … 16 kHz, channels averaged."""
    freqs, psd = signal.welch(x, rate, nperseg=1 << 14, axis=0)
    psd = psd.mean(axis=1)
    edges = 62.5 * 2.0 ** np.arange(9)
    return np.array(
        [10 * np.log10(psd[(freqs >= lo) & (freqs < hi)].mean()) for lo, hi in pairwise(edges)]
    )


def render(spec: str, frames: int, channels: int = 2, seed: int = 7, skip: int = 0) -> np.ndarray:
    """Read ``frames`` frames of ``spec`` after discarding ``skip`` (filter warm-up)."""
    source = open_generator(spec, RATE, channels, seed=seed)
    if skip:
        source.read(skip)
    return source.read(frames)


@pytest.fixture(scope="module")
def noise_30s() -> dict[str, np.ndarray]:
    """30 s of each noise after 1 s of warm-up, stereo."""
    return {name: render(name, 30 * RATE, skip=RATE) for name in NOISES}


@pytest.mark.parametrize(
    ("name", "slope_db", "tolerance_db"),
    [("white-noise", 0.0, 0.5), ("pink-noise", -3.0, 1.0), ("brown-noise", -6.0, 1.5)],
)
def test_spectral_slope_per_octave(
    noise_30s: dict[str, np.ndarray], name: str, slope_db: float, tolerance_db: float
) -> None:
    levels = octave_band_levels(noise_30s[name], RATE)
    steps = np.diff(levels)
    assert np.all(np.abs(steps - slope_db) <= tolerance_db), (name, np.round(steps, 2))
    fitted = np.polyfit(np.arange(len(levels)), levels, 1)[0]
    assert abs(fitted - slope_db) <= tolerance_db / 2, (name, fitted)


@pytest.mark.parametrize("name", NOISES)
def test_noise_level_peaks_and_no_dc(noise_30s: dict[str, np.ndarray], name: str) -> None:
    x = noise_30s[name]
    assert x.dtype == np.float32
    assert x.shape == (30 * RATE, 2)
    np.testing.assert_allclose(rms_db(x), LEVEL_DB, atol=0.5)
    assert np.abs(x).max() < NOISE_PEAK_LIMIT
    # No DC drift: every 5 s stretch averages near zero compared with the RMS of 0.1.
    means = x.reshape(6, -1, 2).mean(axis=1)
    assert np.abs(means).max() < 0.01, means


@pytest.mark.parametrize("name", NOISES)
def test_stereo_channels_are_decorrelated(noise_30s: dict[str, np.ndarray], name: str) -> None:
    x = noise_30s[name].astype(np.float64)
    r = np.corrcoef(x[:, 0], x[:, 1])[0, 1]
    assert abs(r) < 0.1, r


@pytest.mark.parametrize("name", NOISES)
def test_two_consecutive_minutes_differ(name: str) -> None:
    source = open_generator(name, RATE, 1, seed=3)
    source.read(RATE)
    first = source.read(60 * RATE)[:, 0].astype(np.float64)
    second = source.read(60 * RATE)[:, 0].astype(np.float64)
    assert not np.array_equal(first, second)
    # Not even a shifted repeat: the cross-correlation has no peak at any lag.
    n = len(first)
    spectrum = np.fft.rfft(first, 2 * n) * np.conj(np.fft.rfft(second, 2 * n))
    xcorr = np.fft.irfft(spectrum)
    peak = np.abs(xcorr).max() / np.sqrt(np.dot(first, first) * np.dot(second, second))
    assert peak < 0.05, peak


@pytest.mark.parametrize("name", NOISES)
def test_unseeded_noises_differ_between_openings(name: str) -> None:
    a = open_generator(name, RATE, 1).read(4800)
    b = open_generator(name, RATE, 1).read(4800)
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("spec", [*GENERATOR_NAMES, "binaural-delta:carrier=180,beat=2.5"])
@pytest.mark.parametrize("channels", [1, 2])
def test_block_size_does_not_change_the_output(spec: str, channels: int) -> None:
    whole = render(spec, 20000, channels)
    source = open_generator(spec, RATE, channels, seed=7)
    sizes = [1, 2, 3, 1000, 0, 4096, 7, 511, 64]
    pieces = []
    total = 0
    for size in sizes * 10:
        size = min(size, 20000 - total)
        pieces.append(source.read(size))
        total += size
    pieces.append(source.read(20000 - total))
    blocked = np.concatenate(pieces)
    assert np.array_equal(blocked, whole)


def documented_filter(name: str, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """The IIR each noise is defined as: Smith's pink filter, or the brown filter."""
    if name == "pink-noise":
        return np.array(_PINK_B), np.array(_PINK_A)
    return np.array([1.0, -1.0]), np.array(brown_poles(rate))


@pytest.mark.parametrize("name", ["pink-noise", "brown-noise"])
@pytest.mark.parametrize(("rate", "channels"), [(48000, 1), (48000, 2), (8000, 3), (44100, 4)])
def test_noise_is_exactly_the_documented_iir_filter(name: str, rate: int, channels: int) -> None:
    # The block evaluation (matrix products per block, start states carried across
    # blocks and chunks) must be the same filter as a direct-form IIR, with no seam at
    # any boundary: an error there would be a click every block that a spectrum
    # barely shows. Float32 arithmetic: within a few float32 ulps of the peak.
    source = open_generator(name, rate, channels, seed=1)
    x = np.random.default_rng(2).uniform(-1.0, 1.0, (4 * _CHUNK_FRAMES, channels))
    x = x.astype(np.float32)
    chunks = [
        source._filter.run(x[start : start + _CHUNK_FRAMES])
        for start in range(0, len(x), _CHUNK_FRAMES)
    ]
    ours = np.concatenate(chunks).astype(np.float64)
    expected = signal.lfilter(*documented_filter(name, rate), x.astype(np.float64), axis=0)
    scale = np.vdot(expected, ours) / np.vdot(expected, expected)  # the level, tested above
    error = np.abs(ours - scale * expected)
    assert error.max() <= 2e-6 * np.abs(scale * expected).max()
    # No seam: the error at block starts is no larger than anywhere else.
    assert error[::32].max() <= 2 * np.percentile(error, 99.9)


@pytest.mark.parametrize("spec", GENERATOR_NAMES)
def test_generators_keep_the_source_contract(spec: str) -> None:
    source = open_generator(spec, 44100, 2, seed=1)
    assert isinstance(source, Source)
    assert (source.rate, source.channels) == (44100, 2)
    block = source.read(333)
    assert block.shape == (333, 2)
    assert block.dtype == np.float32
    assert block.flags.c_contiguous
    assert source.read(0).shape == (0, 2)
    source.close()
    with pytest.raises(SoundError, match="closed"):
        source.read(10)


@pytest.mark.parametrize(
    ("spec", "carrier", "beat"),
    [
        ("binaural-delta", 200.0, 2.0),
        ("binaural-theta", 200.0, 6.0),
        ("binaural-delta:carrier=180,beat=2.5", 180.0, 2.5),
        ("binaural-theta:beat=7.25", 200.0, 7.25),
    ],
)
def test_binaural_ears_differ_by_the_beat(spec: str, carrier: float, beat: float) -> None:
    x = render(spec, 16 * RATE).astype(np.float64)  # 1/16 Hz resolution
    left, right = dominant_frequency(x[:, 0], RATE), dominant_frequency(x[:, 1], RATE)
    assert left == pytest.approx(carrier - beat / 2, abs=1 / 16)
    assert right == pytest.approx(carrier + beat / 2, abs=1 / 16)
    assert right - left == pytest.approx(beat, abs=1 / 16)
    np.testing.assert_allclose(rms_db(x), LEVEL_DB, atol=0.01)


def test_mono_binaural_is_a_monaural_beat_at_the_same_level() -> None:
    x = render("binaural-delta", 16 * RATE, channels=1).astype(np.float64)[:, 0]
    np.testing.assert_allclose(rms_db(x[:, None]), LEVEL_DB, atol=0.01)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    freqs = np.fft.rfftfreq(len(x), 1.0 / RATE)
    top_two = sorted(freqs[np.argsort(spectrum)[-2:]])
    assert top_two == pytest.approx([199.0, 201.0], abs=1 / 16)
    # The loudness envelope beats at 2 Hz: 1 s windows alternate loud and near-silent.
    envelope = np.abs(signal.hilbert(x))[RATE : 2 * RATE]
    assert envelope.max() > 0.19
    assert envelope.min() < 0.01


def test_binaural_is_continuous_across_block_boundaries() -> None:
    spec = "binaural-delta:carrier=180,beat=2.5"
    whole = render(spec, RATE)
    source = open_generator(spec, RATE, 2)
    blocked = np.concatenate([source.read(n) for n in [100, 1, 4799, 256] * 9 + [RATE - 46404]])
    assert np.array_equal(blocked, whole)
    # No click anywhere: no step larger than a sine's steepest slope allows.
    steepest = 2 * np.pi * 181.25 / RATE * 0.1 * np.sqrt(2)
    assert np.abs(np.diff(blocked, axis=0)).max() <= steepest * 1.0001


def test_binaural_phase_stays_exact_after_ten_hours() -> None:
    source = open_generator("binaural-delta:carrier=180,beat=2.5", RATE, 2)
    frames_played = 10 * 3600 * RATE
    # Fast-forward the 64-bit phase accumulators by ten hours of increments.
    source._phase = source._increment * np.uint64(frames_played)
    block = source.read(64).astype(np.float64)
    for ear, freq in enumerate((Fraction(17875, 100), Fraction(18125, 100))):
        expected = [
            np.sin(2 * np.pi * float((freq * (frames_played + n) / RATE) % 1)) for n in range(64)
        ]
        np.testing.assert_allclose(block[:, ear], 0.1 * np.sqrt(2) * np.array(expected), atol=1e-6)


def test_soft_limit_keeps_peaks_below_the_limit_and_leaves_normal_samples() -> None:
    x = np.array([0.0, 0.3, -0.6, 0.61, -0.8, 1.0, -5.0, 1e6, -np.inf])
    y = _soft_limit(x).astype(np.float32)
    assert np.all(np.abs(y) < NOISE_PEAK_LIMIT)
    assert np.array_equal(y[:3], x[:3].astype(np.float32))
    assert np.all(np.sign(y) == np.sign(x))
    assert np.all(np.diff(np.abs(y[3:])) >= 0)  # monotonic: louder stays louder


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("binaural-delta:carrier=30", "carrier must be a number from 40 to 1000 Hz"),
        ("binaural-delta:carrier=1200", "carrier must be a number from 40 to 1000 Hz"),
        ("binaural-theta:beat=0.1", "beat must be a number from 0.5 to 40 Hz"),
        ("binaural-theta:beat=fast", "beat must be a number from 0.5 to 40 Hz"),
        ("binaural-theta:beat=nan", "beat must be a number"),
        ("binaural-delta:volume=3", "unknown parameter"),
        ("binaural-delta:carrier", "key=value"),
        ("binaural-delta:beat=2,beat=3", "given twice"),
        ("pink-noise:beat=2", "takes no parameters"),
    ],
)
def test_bad_parameters_name_the_parameter_and_range(spec: str, fragment: str) -> None:
    with pytest.raises(ParameterError, match=fragment):
        open_generator(spec, RATE, 2)


def test_unknown_generator_lists_all_and_suggests_the_nearest() -> None:
    with pytest.raises(UnknownSoundError) as caught:
        open_generator("pink-nosie", RATE, 2)
    message = str(caught.value)
    assert "did you mean 'pink-noise'" in message.lower()
    assert all(name in message for name in GENERATOR_NAMES)
    with pytest.raises(UnknownSoundError, match="Generators: white-noise"):
        open_generator("zzzzzz", RATE, 2)


@pytest.mark.parametrize(("rate", "channels"), [(0, 2), (48000, 0), (44100.0, 2)])
def test_bad_format_is_refused(rate: int, channels: int) -> None:
    with pytest.raises(ParameterError):
        open_generator("white-noise", rate, channels)


def test_is_generator() -> None:
    assert all(is_generator(name) for name in GENERATOR_NAMES)
    assert is_generator("binaural-delta:carrier=180,beat=2.5")
    assert is_generator(" Pink-Noise ")
    assert not is_generator("rain")
    assert not is_generator("/home/pi/sounds/rain.flac")
