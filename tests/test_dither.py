"""Float to integer conversion: TPDF dither at 16 bits, true silence, clipping, 32 bits."""

from __future__ import annotations

import numpy as np
import pytest

from sleepsound.dsp.dither import Ditherer, to_int16, to_int32

RATE = 48000


def sine(freq: float, level_db: float, frames: int) -> np.ndarray:
    """A mono ``(frames, 1)`` float32 sine at ``level_db`` peak re full scale."""
    t = np.arange(frames) / RATE
    return (10 ** (level_db / 20) * np.sin(2 * np.pi * freq * t))[:, None].astype(np.float32)


def harmonic_spike_ratio(error: np.ndarray, fundamental_bin: int) -> float:
    """Loudest of harmonics 1-10 in the error spectrum over the median bin (power)."""
    power = np.abs(np.fft.rfft(error)) ** 2
    harmonics = power[fundamental_bin * np.arange(1, 11)]
    return float(harmonics.max() / np.median(power[1:]))


def test_dither_decorrelates_the_quantisation_error_of_a_quiet_sine() -> None:
    # -90 dBFS is about one LSB at 16 bits: plain rounding turns it into a distorted
    # square-ish wave whose error is all harmonics; dither turns the error into hiss.
    x = sine(1000.0, -90.0, 4 * RATE)  # 1 kHz lands exactly on FFT bin 4000
    exact = x[:, 0].astype(np.float64) * 32768
    dithered = to_int16(x, np.random.default_rng(1))[:, 0] - exact
    plain = np.clip(np.rint(exact), -32768, 32767) - exact
    bin_1k = 4000
    assert harmonic_spike_ratio(plain, bin_1k) > 1e4
    assert harmonic_spike_ratio(dithered, bin_1k) < 20
    # The error is TPDF plus rounding: mean 0, variance 1/6 + 1/12 = 1/4 LSB².
    assert abs(dithered.mean()) < 0.01
    assert dithered.var() == pytest.approx(0.25, rel=0.03)
    # ...and its size does not depend on the signal (no noise modulation).
    loud = to_int16(sine(1000.0, -20.0, 4 * RATE), np.random.default_rng(2))[:, 0]
    loud_error = loud - sine(1000.0, -20.0, 4 * RATE)[:, 0].astype(np.float64) * 32768
    assert loud_error.var() == pytest.approx(0.25, rel=0.03)


def test_dither_is_at_most_one_lsb_either_side() -> None:
    x = np.full((100_000, 2), 1000.3 / 32768, dtype=np.float32)
    y = to_int16(x, np.random.default_rng(3))
    assert set(np.unique(y).tolist()) <= {999, 1000, 1001, 1002}
    assert y.mean() == pytest.approx(1000.3, abs=0.01)  # unbiased on average


def test_silence_stays_exactly_zero() -> None:
    ditherer = Ditherer(seed=4)
    zeros = np.zeros((4096, 2), dtype=np.float32)
    assert not ditherer.to_int16(zeros).any()
    assert ditherer.to_int16(zeros).dtype == np.int16
    assert not ditherer.to_int32(zeros).any()
    negative_zero = np.full((16, 2), -0.0, dtype=np.float32)
    assert not ditherer.to_int16(negative_zero).any()
    # A block with any signal gets dither: zeros in it are not special.
    almost = zeros.copy()
    almost[0, 0] = 1e-6
    assert ditherer.to_int16(almost).any()


def test_full_scale_clips_without_wrapping() -> None:
    x = np.array([[1.0, -1.0], [1.5, -1.5], [100.0, -100.0], [0.99999, -0.99999]], np.float32)
    x = np.repeat(x, 1000, axis=0)
    y16 = to_int16(x, np.random.default_rng(5))
    assert y16.dtype == np.int16
    assert np.all(y16[:, 0] >= 32765) and np.all(y16[:, 0] <= 32767)
    assert np.all(y16[:, 1] <= -32765)
    assert y16[:3000, 0].min() == 32767 and y16[:3000, 1].max() <= -32767
    y32 = to_int32(x)
    assert y32.dtype == np.int32
    assert np.all(y32[1000:3000, 0] == 2**31 - 1)
    assert np.all(y32[1000:3000, 1] == -(2**31))
    assert np.all(y32[:1000] == [2**31 - 1, -(2**31)])


def test_to_int32_rounds_to_nearest() -> None:
    x = np.array([[0.5, -0.25], [2**-31, 3 * 2**-24]], dtype=np.float32)
    assert to_int32(x).tolist() == [[2**30, -(2**29)], [1, 3 * 2**7]]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_an_empty_block_converts_to_an_empty_block(dtype: type) -> None:
    # The last block of a performance can be empty (the limiter's look-ahead trimmed).
    assert to_int32(np.zeros((0, 2), dtype)).shape == (0, 2)
    assert to_int32(np.zeros((0, 2), dtype)).dtype == np.int32


def test_nan_becomes_zero_not_garbage() -> None:
    x = np.array([[np.nan, 0.5]], dtype=np.float32)
    assert to_int32(x)[0, 0] == 0
    assert abs(int(to_int16(x, np.random.default_rng(0))[0, 0])) <= 1


@pytest.mark.parametrize("sizes", [[1], [7, 1024, 3], [4096]])
def test_block_size_does_not_change_the_output(sizes: list[int]) -> None:
    # Starts off zero: an all-zero block draws no dither, so it would shift the stream.
    x = sine(440.0, -60.0, 20001)[1:].repeat(2, axis=1)
    whole = Ditherer(seed=6).to_int16(x)
    ditherer = Ditherer(seed=6)
    pieces, start, i = [], 0, 0
    while start < len(x):
        pieces.append(ditherer.convert(x[start : start + sizes[i % len(sizes)]], 16))
        start += sizes[i % len(sizes)]
        i += 1
    assert np.array_equal(np.concatenate(pieces), whole)


def test_channels_get_independent_dither() -> None:
    x = np.full((RATE, 2), 0.3 / 32768, dtype=np.float32)
    y = to_int16(x, np.random.default_rng(7)).astype(np.float64)
    assert abs(np.corrcoef(y[:, 0], y[:, 1])[0, 1]) < 0.05


def test_convert_refuses_other_widths_and_shapes() -> None:
    with pytest.raises(ValueError, match="16 or 32"):
        Ditherer().convert(np.zeros((4, 2), np.float32), 24)
    with pytest.raises(ValueError, match="frames, channels"):
        to_int32(np.zeros(4, np.float32))
