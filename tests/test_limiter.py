"""Peak limiter: the ceiling holds for brutal input, quiet material passes untouched."""

from __future__ import annotations

import numpy as np
import pytest

from sleepsound.dsp.limiter import PeakLimiter
from sleepsound.sources.generators import open_generator

RATE = 48000


def run_in_blocks(limiter: PeakLimiter, x: np.ndarray, sizes: list[int]) -> np.ndarray:
    """Process ``x`` in blocks cycling through ``sizes``."""
    out, start, i = [], 0, 0
    while start < len(x):
        size = sizes[i % len(sizes)]
        out.append(limiter.process(x[start : start + size]))
        start += size
        i += 1
    return np.concatenate(out)


def square(freq: float, amplitude: float, frames: int, channels: int = 2) -> np.ndarray:
    t = np.arange(frames) / RATE
    wave = amplitude * np.sign(np.sin(2 * np.pi * freq * t + 0.1))
    return np.repeat(wave[:, None], channels, axis=1).astype(np.float32)


def brutal_inputs() -> dict[str, np.ndarray]:
    """Material far above the ceiling, each about 1 s, stereo."""
    rng = np.random.default_rng(5)
    frames = RATE
    spikes = np.zeros((frames, 2), dtype=np.float32)
    spikes[rng.integers(0, frames, 40), rng.integers(0, 2, 40)] = rng.choice([-100.0, 100.0], 40)
    spikes[1000] = 3.0  # two spikes one frame apart: the second must be caught too
    spikes[1001] = -50.0
    quiet_with_spikes = (rng.standard_normal((frames, 2)) * 0.05).astype(np.float32)
    quiet_with_spikes[::4801] = 8.0
    nyquist = np.tile([[10.0], [-10.0]], (frames // 2, 2)).astype(np.float32)
    return {
        "square +20 dBFS": square(100.0, 10.0, frames),
        "square +20 dBFS 3 kHz": square(3000.0, 10.0, frames),
        "single-sample spikes": spikes,
        "quiet with spikes": quiet_with_spikes,
        "dc +20 dBFS": np.full((frames, 2), 10.0, dtype=np.float32),
        "dc negative then positive": np.concatenate(
            [np.full((frames // 2, 2), -10.0), np.full((frames // 2, 2), 10.0)]
        ).astype(np.float32),
        "nyquist +20 dBFS": nyquist,
        "gaussian +30 dBFS": (rng.standard_normal((frames, 2)) * 30).astype(np.float32),
        "one channel only": np.stack(
            [square(50.0, 20.0, frames, 1)[:, 0], np.zeros(frames, np.float32)], axis=1
        ),
    }


@pytest.mark.parametrize("name", list(brutal_inputs()))
@pytest.mark.parametrize("sizes", [[RATE], [1024], [1, 7, 333, 96, 95, 97, 4000]])
def test_no_output_sample_exceeds_the_ceiling(name: str, sizes: list[int]) -> None:
    x = brutal_inputs()[name]
    limiter = PeakLimiter(RATE, 2)
    y = run_in_blocks(limiter, x, sizes)
    assert y.dtype == np.float32
    assert y.shape == x.shape
    assert np.abs(y).max() <= limiter.ceiling
    assert limiter.ceiling <= 10 ** (-1 / 20)


@pytest.mark.parametrize("name", list(brutal_inputs()))
@pytest.mark.parametrize("hold_s", [0.0, 0.05])
def test_the_bound_holds_without_the_safety_clip(name: str, hold_s: float) -> None:
    # The final clip is only a guard against float rounding: the gain itself must
    # already keep every sample at the ceiling (to within float32 rounding).
    limiter = PeakLimiter(RATE, 2, hold_s=hold_s)
    x = brutal_inputs()[name]
    y = np.concatenate([limiter._process_unclipped(x[i : i + 777]) for i in range(0, RATE, 777)])
    assert np.abs(y).max() <= limiter.ceiling * (1 + 2**-22)


@pytest.mark.parametrize("ceiling_db", [0.0, -0.1, -3.0, -12.0])
@pytest.mark.parametrize(("lookahead_s", "hold_s"), [(0.0, 0.0), (0.001, 0.0), (0.005, 0.1)])
def test_ceiling_holds_for_other_settings(
    ceiling_db: float, lookahead_s: float, hold_s: float
) -> None:
    limiter = PeakLimiter(RATE, 2, ceiling_db, lookahead_s=lookahead_s, hold_s=hold_s)
    for x in brutal_inputs().values():
        y = run_in_blocks(limiter, x, [1, 500, 2048])
        assert np.abs(y).max() <= limiter.ceiling <= 10 ** (ceiling_db / 20)


def test_material_below_the_ceiling_passes_bit_identical_after_the_delay() -> None:
    x = open_generator("pink-noise", RATE, 2, seed=2).read(10 * RATE) * np.float32(1.6)
    assert 0.5 < np.abs(x).max() <= 10 ** (-1 / 20)  # loud, yet below the ceiling
    limiter = PeakLimiter(RATE, 2)
    y = run_in_blocks(limiter, x, [1024])
    lat = limiter.latency_frames
    assert lat == 96  # 2 ms at 48 kHz: documented latency
    assert np.array_equal(y[lat:], x[:-lat])
    assert np.array_equal(y[:lat], np.zeros((lat, 2), np.float32))


def test_transparent_again_after_a_loud_burst_releases() -> None:
    quiet = open_generator("white-noise", RATE, 2, seed=4).read(3 * RATE)
    x = quiet.copy()
    x[RATE : RATE + 480] *= 100  # 10 ms burst at about +20 dBFS peak
    limiter = PeakLimiter(RATE, 2, hold_s=0.05, release_db_per_s=40.0)
    y = limiter.process(x)
    lat = limiter.latency_frames
    # Reduction needed is about 20 log10(0.89 / (100 · 0.45)) ≈ -34 dB; recovery after
    # the hold takes 34 / 40 s, so by 1 s after the burst the gain is exactly 1 again.
    recovered = 2 * RATE + 480
    assert np.array_equal(y[recovered + lat :], x[recovered:-lat])
    # ...but not straight after the hold: the release is gradual.
    early = RATE + 480 + int(0.06 * RATE)
    ratio = np.abs(y[early + lat : early + lat + 480]) / np.abs(x[early : early + 480])
    assert ratio.max() < 0.5


@pytest.mark.parametrize(
    ("sizes", "frames"),
    [
        ([1], RATE // 4),
        ([17, 1, 96, 5000], 3 * RATE),
        ([95], 3 * RATE),
        ([97, 2400, 2401], 3 * RATE),
    ],
)
def test_block_size_does_not_change_the_output(sizes: list[int], frames: int) -> None:
    rng = np.random.default_rng(9)
    quiet = (rng.standard_normal((3 * RATE, 2)) * 0.1).astype(np.float32)
    # Loudness jumps every 10 ms to every 100 ms: attacks, holds and releases overlap.
    envelope = np.repeat(rng.choice([0.5, 1.0, 12.0, 40.0], 300), RATE // 100)[:, None]
    x = (quiet * envelope).astype(np.float32)[:frames]
    whole = PeakLimiter(RATE, 2).process(x)
    blocked = run_in_blocks(PeakLimiter(RATE, 2), x, sizes)
    assert np.array_equal(blocked, whole)


def test_gain_changes_are_ramps_not_steps() -> None:
    # On positive DC the gain is simply output / delayed input.
    levels = [0.5, 10.0, 0.5, 3.0, 100.0, 0.5]
    x = np.repeat(np.array(levels, dtype=np.float32), RATE // 2)[:, None].repeat(2, axis=1)
    limiter = PeakLimiter(RATE, 2)
    y = run_in_blocks(limiter, x, [1000])
    lat = limiter.latency_frames
    gain = y[lat:, 0].astype(np.float64) / x[:-lat, 0]
    steps = np.abs(np.diff(gain))
    # The deepest reduction (100 -> ceiling) spread over the lookahead is the biggest step.
    deepest = 1 - limiter.ceiling / 100.0
    assert steps.max() <= deepest / lat * (1 + 1e-6)
    # While the input is steady and loud the output sits at the ceiling: no over-reduction.
    steady = y[int(0.75 * RATE), 0]
    assert steady == pytest.approx(limiter.ceiling, rel=1e-5)


def test_release_is_gradual_in_db() -> None:
    x = np.concatenate([np.full(RATE // 10, 10.0), np.full(RATE, 0.5)])[:, None]
    x = x.astype(np.float32).repeat(2, axis=1)
    limiter = PeakLimiter(RATE, 2, release_db_per_s=40.0)
    y = limiter.process(x)
    lat = limiter.latency_frames
    gain_db = 20 * np.log10(y[lat:, 0].astype(np.float64) / x[:-lat, 0])
    rise_per_s = np.diff(gain_db) * RATE
    assert rise_per_s.max() <= 40.0 * 1.01 + 1e-6  # never faster than the release rate
    assert gain_db[-1] == 0.0  # ...but it does come back fully


def test_channels_are_linked_so_the_image_stays() -> None:
    loud_left = square(80.0, 10.0, RATE, 1)[:, 0]
    quiet_right = np.full(RATE, 0.25, dtype=np.float32)
    x = np.stack([loud_left, quiet_right], axis=1)
    limiter = PeakLimiter(RATE, 2)
    y = limiter.process(x)
    lat = limiter.latency_frames
    gain_left = y[lat:, 0].astype(np.float64) / x[:-lat, 0]
    gain_right = y[lat:, 1].astype(np.float64) / x[:-lat, 1]
    np.testing.assert_allclose(gain_left, gain_right, rtol=1e-6)
    assert gain_right.min() < 0.1  # the quiet channel was turned down with the loud one


def test_latency_delays_an_impulse_by_latency_frames() -> None:
    limiter = PeakLimiter(44100, 1, lookahead_s=0.005)
    x = np.zeros((1000, 1), dtype=np.float32)
    x[10] = 0.5
    y = limiter.process(x)
    assert limiter.latency_frames == 220
    assert np.flatnonzero(y[:, 0]).tolist() == [10 + 220]
    assert y[230, 0] == np.float32(0.5)


def test_reset_forgets_history() -> None:
    x = brutal_inputs()["square +20 dBFS"][:5000]
    fresh = PeakLimiter(RATE, 2).process(x)
    used = PeakLimiter(RATE, 2)
    used.process(brutal_inputs()["gaussian +30 dBFS"][:3000])
    used.reset()
    assert np.array_equal(used.process(x), fresh)


def test_non_finite_input_is_treated_as_silence() -> None:
    x = np.full((2000, 2), 0.2, dtype=np.float32)
    x[500, 0], x[600, 1], x[700, 0] = np.nan, np.inf, -np.inf
    limiter = PeakLimiter(RATE, 2)
    y = limiter.process(x)
    assert np.isfinite(y).all()
    lat = limiter.latency_frames
    assert y[500 + lat, 0] == 0.0
    assert y[499 + lat, 0] == np.float32(0.2)


def test_bad_blocks_and_settings_are_refused() -> None:
    limiter = PeakLimiter(RATE, 2)
    with pytest.raises(ValueError, match=r"\(frames, 2\)"):
        limiter.process(np.zeros((10, 1), np.float32))
    assert limiter.process(np.zeros((0, 2), np.float32)).shape == (0, 2)
    with pytest.raises(ValueError, match="ceiling_db"):
        PeakLimiter(RATE, 2, ceiling_db=1.0)
