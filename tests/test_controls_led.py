"""The status LED's brightness over time: dim, soft, countable blinks, a slowing pulse."""

from __future__ import annotations

import itertools
import math

import pytest

from sleepsound.controls.led import (
    DEFAULT_WAKE_LEVEL,
    TIMER_PRESETS,
    Breathing,
    StatusLed,
    blinks_for_timer,
    duty_for,
)
from sleepsound.errors import ParameterError

FRAME = 0.01  # 100 samples a second: finer than the adapter's 50 Hz


def samples(led: StatusLed, start_s: float, end_s: float) -> list[float]:
    n = round((end_s - start_s) / FRAME)
    return [led.level(start_s + i * FRAME) for i in range(n + 1)]


def count_pulses(levels: list[float], threshold: float) -> int:
    """Rising crossings of ``threshold``: what an eye counts as blinks."""
    return sum(1 for a, b in itertools.pairwise(levels) if a < threshold <= b)


def test_dark_when_stopped_and_dim_while_playing() -> None:
    led = StatusLed()
    assert led.level(5.0) == 0.0
    led.steady = True
    assert led.level(5.0) == pytest.approx(0.08)
    assert duty_for(led.level(5.0)) < 0.005  # under half a percent of PWM duty


def test_brightness_zero_means_dark_even_while_playing() -> None:
    led = StatusLed(brightness=0.0)
    led.steady = True
    assert max(samples(led, 0, 5)) == 0.0


@pytest.mark.parametrize("minutes", [*TIMER_PRESETS, 0])
def test_a_timer_preset_shows_as_that_many_slow_blinks(minutes: int) -> None:
    led = StatusLed()
    led.steady = True
    led.confirm_timer(minutes, now_s=10.0)
    levels = samples(led, 10.0, 20.0)
    expected = TIMER_PRESETS.index(minutes) + 1 if minutes else 1
    assert count_pulses(levels, 0.2) == expected
    assert max(levels) == pytest.approx(0.4, abs=0.01)
    # Blinks are slow: the light stays above half the blink level for a good while.
    above = sum(1 for x in levels if x >= 0.2) * FRAME
    per_blink = above / expected
    assert per_blink >= (1.0 if minutes == 0 else 0.2)  # "off" is one long glow
    # Afterwards the steady level comes back.
    assert led.level(20.0) == pytest.approx(0.08)


def test_blinks_start_with_a_dark_pause_so_the_first_one_stands_out() -> None:
    led = StatusLed()
    led.steady = True
    led.blink(3, now_s=1.0)
    assert max(samples(led, 1.0, 1.0 + 0.35)) == 0.0


def test_blinks_and_fades_are_soft_with_no_hard_edges() -> None:
    led = StatusLed(breathing=Breathing(ramp_s=60, duration_s=120))
    led.steady = True
    led.blink(5, now_s=0.0)
    led.start_breathing(now_s=10.0)
    levels = samples(led, 0.0, 100.0)
    # 10 ms apart, the level never moves more than a few percent of full scale.
    jumps = [abs(b - a) for a, b in itertools.pairwise(levels)]
    assert max(jumps) < 0.03


def test_a_new_blink_replaces_the_one_under_way() -> None:
    led = StatusLed()
    led.blink(5, now_s=0.0)
    led.blink(1, now_s=1.0)
    assert count_pulses(samples(led, 1.0, 8.0), 0.2) == 1


@pytest.mark.parametrize(
    ("minutes", "count"), [(0, 0), (10, 1), (15, 1), (20, 1), (45, 3), (89, 4), (90, 5), (600, 5)]
)
def test_timer_values_between_presets_count_the_presets_reached(minutes: int, count: int) -> None:
    assert blinks_for_timer(minutes) == count


def test_blinks_count_the_configured_presets_not_the_default_ones() -> None:
    # [sleep] presets_min = [120, 10, 20]: 120 minutes is the third preset.
    led = StatusLed(timer_presets=(120, 10, 20))
    led.confirm_timer(120, now_s=10.0)
    assert count_pulses(samples(led, 10.0, 20.0), 0.2) == 3


# -- breathing --------------------------------------------------------------------------


def cycle_lengths(led: StatusLed, start_s: float, end_s: float) -> list[tuple[float, float]]:
    """(start time, length) of each full breath: from one dark moment to the next."""
    levels = samples(led, start_s, end_s)
    starts = [
        start_s + i * FRAME
        for i in range(1, len(levels) - 1)
        if levels[i] <= levels[i - 1] and levels[i] < levels[i + 1] and levels[i] < 0.01
    ]
    return [(a, b - a) for a, b in itertools.pairwise(starts)]


def test_the_breathing_pacer_slows_from_eleven_to_six_breaths_a_minute() -> None:
    breathing = Breathing(start_bpm=11, end_bpm=6, ramp_s=300, duration_s=600)
    led = StatusLed(breathing=breathing)
    led.start_breathing(now_s=0.0)
    cycles = cycle_lengths(led, 0.0, 700.0)
    first_start, first = cycles[0]
    assert first_start == pytest.approx(60 / 11, abs=0.05)  # the 2nd breath starts on time
    assert 60 / first == pytest.approx(11, abs=0.5)
    last_bpm = [60 / length for start, length in cycles if start > 320]
    assert last_bpm and all(b == pytest.approx(6, abs=0.05) for b in last_bpm)
    rates = [60 / length for _, length in cycles]
    assert rates == sorted(rates, reverse=True)  # never speeds up again


def test_the_in_breath_is_shorter_than_the_out_breath() -> None:
    led = StatusLed(breathing=Breathing(start_bpm=6, end_bpm=6, ramp_s=0, duration_s=100))
    led.start_breathing(now_s=0.0)
    levels = samples(led, 0.0, 10.0)  # exactly one 10 s breath
    peak = levels.index(max(levels)) * FRAME
    assert peak == pytest.approx(4.0, abs=0.02)  # 40 % rising, 60 % falling


def test_the_pacer_stops_dark_at_the_end_of_a_breath_after_its_duration() -> None:
    breathing = Breathing(start_bpm=6, end_bpm=6, ramp_s=0, duration_s=25, level=0.3)
    led = StatusLed(brightness=0.0, breathing=breathing)
    led.start_breathing(now_s=0.0)
    assert led.is_breathing(24.0)
    # 25 s is mid-way through the third 10 s breath: it finishes that one, then stops.
    assert led.level(29.9) < 0.01
    assert not led.is_breathing(30.01)
    assert max(samples(led, 30.01, 60.0)) == 0.0


def test_breathing_replaces_the_steady_level_and_gives_it_back_when_done() -> None:
    breathing = Breathing(start_bpm=10, end_bpm=10, ramp_s=0, duration_s=6)
    led = StatusLed(breathing=breathing)
    led.steady = True
    led.start_breathing(now_s=0.0)
    assert led.level(0.0) == 0.0  # a breath starts dark, below the steady level
    assert led.level(6.5) == pytest.approx(0.08)


def test_without_a_breathing_config_start_breathing_does_nothing() -> None:
    led = StatusLed()
    led.start_breathing(now_s=0.0)
    assert not led.is_breathing(1.0)


def test_rate_and_breath_count_agree() -> None:
    b = Breathing()
    # The breath count is the integral of the rate.
    h = 0.5
    numeric = sum(b.rate_bpm(t + h / 2) / 60 * h for t in [i * h for i in range(1200)])
    assert numeric == pytest.approx(b.breaths(600.0), rel=1e-4)


def test_duty_follows_a_gamma_curve() -> None:
    assert duty_for(0.0) == 0.0
    assert duty_for(1.0) == 1.0
    assert duty_for(0.5) == pytest.approx(0.5**2.2)
    assert duty_for(2.0) == 1.0
    assert not math.isnan(duty_for(-1.0))


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ParameterError, match="brightness"):
        StatusLed(brightness=1.5)
    with pytest.raises(ParameterError, match="end_bpm"):
        Breathing(end_bpm=0)


# -- the wake's sunrise ------------------------------------------------------------------


WALL = 1_800_000_000.0  # 2027-01-15T08:00:00Z


def wake_program(phase: str, until: str | None = None) -> dict[str, object]:
    return {"name": "weekday", "kind": "wake", "phase": phase, "until": until}


def test_the_led_rises_with_the_wake_and_is_full_when_the_sound_is_up() -> None:
    led = StatusLed()
    led.follow("playing", 0, 0.0)
    led.follow_program(wake_program("rising", "2027-01-15T08:20:00Z"), 0.0, WALL)
    levels = [led.level(t) for t in range(0, 1201, 60)]
    assert levels[0] == 0.0  # dark at the start: a sunrise, not a switch
    assert all(b > a for a, b in itertools.pairwise(levels))  # brighter every minute
    assert levels[10] == pytest.approx(DEFAULT_WAKE_LEVEL / 2)
    assert levels[-1] == pytest.approx(DEFAULT_WAKE_LEVEL)  # up with the sound
    # Published again mid-rise (another key changed): the sunrise goes on, not over.
    led.follow_program(wake_program("rising", "2027-01-15T08:20:00Z"), 600.0, WALL + 600)
    assert led.level(900.0) == pytest.approx(DEFAULT_WAKE_LEVEL * 0.75)
    led.follow_program(wake_program("ringing"), 1200.0, WALL + 1200)
    assert led.level(1500.0) == pytest.approx(DEFAULT_WAKE_LEVEL)


def test_the_sunrise_goes_dark_when_snoozed_and_gives_the_led_back_when_over() -> None:
    led = StatusLed()
    led.follow("playing", 0, 0.0)
    led.follow_program(wake_program("ringing"), 0.0, WALL)
    led.follow("fading_out", 0, 10.0)
    led.follow_program(wake_program("snoozed", "2027-01-15T08:09:00Z"), 10.0, WALL + 10)
    assert led.sunrise(20.0) is None
    led.follow_program(wake_program("rising", "2027-01-15T08:10:00Z"), 540.0, WALL + 540)
    assert led.level(540.0) == 0.0 and led.level(570.0) == pytest.approx(DEFAULT_WAKE_LEVEL / 2)
    led.follow_program(None, 700.0, WALL + 700)  # dismissed
    assert led.sunrise(700.0) is None
    assert led.level(700.0) == pytest.approx(0.08)  # the dim steady light while playing


def test_a_bedtime_program_has_no_sunrise() -> None:
    led = StatusLed()
    led.follow("playing", 45, 0.0)
    led.follow_program({"name": "n", "kind": "bedtime", "phase": "playing", "until": None}, 0, WALL)
    assert led.sunrise(10.0) is None and led.level(10.0) == pytest.approx(0.08)


def test_with_a_wake_light_the_status_led_keeps_dim() -> None:
    led = StatusLed(wake_level=0.0)
    led.follow("playing", 0, 0.0)
    led.follow_program(wake_program("rising", "2027-01-15T08:01:00Z"), 0.0, WALL)
    assert led.level(30.0) == pytest.approx(0.08)
    assert led.sunrise(30.0) == pytest.approx(0.5)  # what the wake light shows
