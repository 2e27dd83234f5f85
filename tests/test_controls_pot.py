"""A potentiometer reading as a volume: noise never moves it, a turn always does."""

from __future__ import annotations

import itertools
import random

import pytest

from sleepsound.controls.pot import PotVolume
from sleepsound.errors import ParameterError

POLL = 0.05
LSB = 1 / 1023  # one count of the MCP3008's 10 bits


def feed(pot: PotVolume, readings: list[float], start_s: float = 0.0) -> list[int]:
    """Readings one poll apart; the volumes reported (changes only)."""
    changes = []
    for i, x in enumerate(readings):
        volume = pot.update(x, start_s + i * POLL)
        if volume is not None:
            changes.append(volume)
    return changes


def noisy(centre: float, counts: int, n: int, seed: int) -> list[float]:
    """``n`` readings of a knob at rest: ``centre`` plus up to +/-``counts`` LSB of noise."""
    rng = random.Random(seed)
    return [centre + rng.randint(-counts, counts) * LSB for _ in range(n)]


@pytest.mark.parametrize("centre", [0.0, 0.1, 0.3051, 0.5, 0.5054, 0.75, 0.9949, 1.0])
def test_a_knob_at_rest_never_jitters_the_volume(centre: float) -> None:
    # +/-4 counts of noise (+/-0.4 volume points) for ten minutes of polling; some
    # centres sit right on a rounding boundary between two volumes.
    pot = PotVolume()
    changes = feed(pot, noisy(centre, 4, 12000, seed=int(centre * 1e4)))
    assert len(changes) == 1  # the first reading, then nothing


def test_a_lone_spike_from_the_adc_does_not_move_the_volume() -> None:
    pot = PotVolume()
    readings = [0.5] * 20 + [1.0] + [0.5] * 20 + [0.0] + [0.5] * 20
    assert feed(pot, readings) == [50]


def test_turning_the_knob_follows_it_in_small_steps_to_both_ends() -> None:
    pot = PotVolume()
    up = [i / 400 for i in range(401)]  # 20 s from one end to the other
    changes = feed(pot, up + [1.0] * 20)
    assert changes[0] == 0
    assert changes[-1] == 100
    assert changes == sorted(changes)
    assert max(b - a for a, b in itertools.pairwise(changes)) <= 3
    down = feed(pot, [1 - i / 400 for i in range(401)] + [0.0] * 20, start_s=100.0)
    assert down[-1] == 0
    assert down == sorted(down, reverse=True)


def test_the_ends_of_the_travel_are_exactly_0_and_100() -> None:
    pot = PotVolume()
    assert feed(pot, [0.995] * 10) == [100]
    assert feed(pot, [0.008] * 40, start_s=10.0)[-1] == 0


def test_the_volume_follows_a_turn_once_it_passes_the_hysteresis() -> None:
    pot = PotVolume(hysteresis=1.5, smoothing_s=0)
    feed(pot, [0.5] * 5)  # 50
    position = pot.position
    assert position is not None
    # Just under 1.5 points away: nothing. Just over: it follows.
    small = (position + 1.4) / 100 * 0.96 + 0.02
    assert feed(pot, [small] * 5, start_s=1.0) == []
    large = (position + 1.6) / 100 * 0.96 + 0.02
    assert feed(pot, [large] * 5, start_s=2.0) == [round(position + 1.6)]


def test_reverse_turns_the_knob_around() -> None:
    assert feed(PotVolume(reverse=True), [0.9] * 10) == [round((0.1 - 0.02) / 0.96 * 100)]


def test_smoothing_makes_a_sudden_jump_arrive_gradually() -> None:
    pot = PotVolume(smoothing_s=0.5)
    feed(pot, [0.2] * 10)
    changes = feed(pot, [0.8] * 60, start_s=10.0)
    assert len(changes) > 3  # several intermediate volumes, not one leap
    assert changes[-1] == round((0.8 - 0.02) / 0.96 * 100)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ParameterError, match="hysteresis"):
        PotVolume(hysteresis=0)
    with pytest.raises(ParameterError, match="smoothing_s"):
        PotVolume(smoothing_s=-1)
