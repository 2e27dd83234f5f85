"""The volume taper, fade curves, slewed volume and loop-seam law."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sleepsound.dsp.gain import (
    FLOOR_DB,
    MIN_RAMP_S,
    VOLUME_RANGE_DB,
    Envelope,
    SlewedGain,
    ramp_frames,
    seam_gains,
    volume_to_db,
    volume_to_gain,
)

RATE = 48000


@pytest.mark.parametrize(
    ("volume", "max_volume", "expected_db"),
    [
        (100, 100, 0.0),
        (50, 100, -VOLUME_RANGE_DB / 2),
        (1, 100, -VOLUME_RANGE_DB * 0.99),
        (0, 100, -math.inf),
        (90, 60, -VOLUME_RANGE_DB * 0.4),  # the ceiling wins
        (40, 0, -math.inf),
    ],
)
def test_taper_maps_volume_to_db(volume: float, max_volume: float, expected_db: float) -> None:
    assert volume_to_db(volume, max_volume) == pytest.approx(expected_db)


def test_taper_steps_are_equal_in_db_and_zero_is_silence() -> None:
    levels = [volume_to_db(v) for v in range(1, 101)]
    steps = np.diff(levels)
    assert np.allclose(steps, steps[0])
    assert volume_to_gain(0) == 0.0


def test_db_fade_is_linear_in_db_then_reaches_exact_zero() -> None:
    envelope = Envelope(RATE, 1.0)
    frames = 10 * RATE
    envelope.move_to(0.0, frames, "db")
    gains = envelope.render(frames).astype(np.float64)
    assert gains[-1] == 0.0
    t = np.arange(1, frames + 1) / frames
    audible = gains > 10 ** ((FLOOR_DB + 6) / 20)
    measured_db = 20 * np.log10(gains[audible])
    expected_db = FLOOR_DB * t[audible]
    assert np.max(np.abs(measured_db - expected_db)) < 0.2
    assert np.all(np.diff(gains) <= 0)


def test_interrupted_fade_continues_from_where_it_is() -> None:
    envelope = Envelope(RATE, 0.0)
    envelope.move_to(1.0, RATE, "db")
    first = envelope.render(RATE // 2)
    envelope.move_to(0.0, RATE, "db")
    second = envelope.render(RATE)
    joined = np.concatenate([first, second])
    assert np.max(np.abs(np.diff(joined))) < 0.01
    assert second[-1] == 0.0


def test_equal_power_crossfade_keeps_power() -> None:
    fade_out, fade_in = Envelope(RATE, 1.0), Envelope(RATE, 0.0)
    fade_out.move_to(0.0, RATE, "out")
    fade_in.move_to(1.0, RATE, "in")
    power = fade_out.render(RATE) ** 2 + fade_in.render(RATE) ** 2
    assert np.allclose(power, 1.0, atol=1e-5)


def test_zero_length_ramp_is_never_a_step() -> None:
    assert ramp_frames(0.0, RATE) == round(MIN_RAMP_S * RATE)


def test_slewed_volume_rises_gradually_and_falls_faster() -> None:
    slew = SlewedGain(RATE, volume_to_gain(10), up_db_per_s=20, down_db_per_s=40)
    slew.set_target(volume_to_gain(90))  # a 40 dB jump asked at once
    rising = slew.render(RATE * 3)
    rise_db = 20 * np.log10(rising.astype(np.float64))
    assert np.max(np.diff(rise_db)) <= 20 / RATE * 1.01  # float32 rounding only
    assert rise_db[RATE // 2] < volume_to_db(90) - 20  # half a second later: still far below
    assert rising[-1] == pytest.approx(volume_to_gain(90))
    slew.set_target(volume_to_gain(10))
    falling = slew.render(RATE)
    assert falling[-1] == pytest.approx(volume_to_gain(10))


def test_slewed_volume_to_zero_ends_in_true_silence() -> None:
    slew = SlewedGain(RATE, volume_to_gain(20))
    slew.set_target(0.0)
    gains = slew.render(RATE * 2)
    assert gains[-1] == 0.0
    assert slew.gain == 0.0


def _seam_level_db(tail: np.ndarray, head: np.ndarray) -> np.ndarray:
    fade_out, fade_in = seam_gains(tail, head)
    mixed = tail * fade_out[:, None] + head * fade_in[:, None]
    windows = mixed[: len(mixed) // 480 * 480].reshape(-1, 480, mixed.shape[1])
    return 10 * np.log10(np.mean(windows**2, axis=(1, 2)))


def test_seam_holds_level_for_identical_material() -> None:
    rng = np.random.default_rng(1)
    same = rng.normal(0, 0.1, (RATE, 2)).astype(np.float32)
    levels = _seam_level_db(same, same)
    assert np.max(np.abs(levels - 10 * np.log10(0.01))) < 1.0


def test_seam_holds_level_for_unrelated_material() -> None:
    rng = np.random.default_rng(2)
    tail = rng.normal(0, 0.1, (RATE, 2)).astype(np.float32)
    head = rng.normal(0, 0.1, (RATE, 2)).astype(np.float32)
    levels = _seam_level_db(tail, head)
    assert np.max(np.abs(levels - 10 * np.log10(0.01))) < 1.0
