"""Quadrature decoding and acceleration, driven with contact levels and timestamps."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sleepsound.controls.encoder import (
    QUARTER_STEPS,
    Acceleration,
    QuadratureDecoder,
    RotaryVolume,
    code,
)
from sleepsound.errors import ParameterError

# (A closed, B closed) clockwise from a detent: A closes, B closes, A opens, B opens.
CW = [(True, False), (True, True), (False, True), (False, False)]
CCW = [(False, True), (True, True), (True, False), (False, False)]


def detents(levels: list[tuple[bool, bool]], decoder: QuadratureDecoder) -> list[int]:
    """Feed contact levels; return the non-zero detents counted, in order."""
    counted = [decoder.update(a, b) for a, b in levels]
    return [d for d in counted if d]


def with_bounce(levels: list[tuple[bool, bool]]) -> list[tuple[bool, bool]]:
    """Each change chatters: new, old, new (the contact makes, breaks, makes)."""
    out: list[tuple[bool, bool]] = []
    previous = (False, False)
    for level in levels:
        out += [level, previous, level]
        previous = level
    return out


def turn(volume: RotaryVolume, n: int, start_s: float, detent_s: float) -> list[dict[str, int]]:
    """``n`` detents (sign = direction), one every ``detent_s``; the commands produced."""
    sequence = CW if n > 0 else CCW
    commands = []
    for i in range(abs(n)):
        for j, (a, b) in enumerate(sequence):
            t = start_s + i * detent_s + j * detent_s / 4
            command = volume.update(a, b, t)
            if command is not None:
                commands.append(command)
    return commands


# -- the table --------------------------------------------------------------------------


def test_the_table_knows_every_pair_of_codes() -> None:
    for old in range(4):
        for new in range(4):
            one_contact = bin(old ^ new).count("1") == 1
            step = QUARTER_STEPS[old][new]
            if old == new:
                assert step == 0
            elif one_contact:
                assert step in (-1, 1)
                assert QUARTER_STEPS[new][old] == -step  # going back undoes it
            else:
                assert step is None


def test_clockwise_runs_the_gray_code_forwards() -> None:
    codes = [code(False, False)] + [code(a, b) for a, b in CW]
    assert codes == [0, 2, 3, 1, 0]
    assert all(QUARTER_STEPS[x][y] == 1 for x, y in itertools.pairwise(codes))


# -- full step --------------------------------------------------------------------------


def test_each_clockwise_detent_counts_once() -> None:
    decoder = QuadratureDecoder()
    assert detents(CW * 5, decoder) == [1] * 5
    assert decoder.position == 5


def test_each_counter_clockwise_detent_counts_once() -> None:
    decoder = QuadratureDecoder()
    assert detents(CCW * 3, decoder) == [-1] * 3


def test_contact_bounce_on_every_edge_still_counts_each_detent_once() -> None:
    decoder = QuadratureDecoder()
    assert detents(with_bounce(CW * 4), decoder) == [1] * 4


def test_wiggle_at_a_detent_counts_nothing() -> None:
    # Resting on a detent, the A contact touches and lets go again and again.
    wiggle = [(True, False), (False, False)] * 20
    assert detents(wiggle, QuadratureDecoder()) == []


def test_half_a_detent_and_back_counts_nothing() -> None:
    there_and_back = [(True, False), (True, True), (True, False), (False, False)]
    assert detents(there_and_back * 5, QuadratureDecoder()) == []


def test_wiggle_halfway_then_completing_the_detent_counts_one() -> None:
    levels = [(True, False), (True, True), (True, False), (True, True)] * 3
    levels += [(False, True), (False, False)]
    assert detents(levels, QuadratureDecoder()) == [1]


def test_a_lost_edge_drops_that_detent_and_never_jumps() -> None:
    decoder = QuadratureDecoder()
    # Both contacts appear to change at once (code 0 -> 3): an edge was lost.
    lost = [(True, True), (False, True), (False, False)]
    assert detents(lost, decoder) == []
    assert decoder.invalid == 1
    assert detents(CW * 2, decoder) == [1, 1]  # and the next detents are fine


def test_reverse_swaps_the_direction() -> None:
    assert detents(CW * 2, QuadratureDecoder(reverse=True)) == [-1, -1]
    assert detents(CCW * 2, QuadratureDecoder(reverse=True)) == [1, 1]


def test_starting_between_detents_does_not_count_the_partial_move() -> None:
    decoder = QuadratureDecoder(a=True, b=True)
    assert detents([(False, True), (False, False), *CW], decoder) == [1]


# -- half step --------------------------------------------------------------------------


def test_half_step_counts_a_detent_at_each_rest_position() -> None:
    decoder = QuadratureDecoder(half_step=True)
    assert detents(CW * 2, decoder) == [1] * 4
    assert detents(CCW, decoder) == [-1] * 2


def test_half_step_ignores_wiggle_too() -> None:
    wiggle = [(True, False), (False, False), (True, False), (False, False)]
    assert detents(wiggle * 5, QuadratureDecoder(half_step=True)) == []


def test_full_step_mode_on_a_half_step_encoder_counts_every_other_click() -> None:
    assert detents(CW * 2, QuadratureDecoder(half_step=False)) == [1, 1]


# -- acceleration -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dt", "multiplier"),
    [
        (0.5, 1),
        (0.12, 1),
        (0.106, 1),
        (0.104, 2),
        (0.076, 2),
        (0.074, 3),
        (0.046, 3),
        (0.044, 4),
        (0.01, 4),
    ],
)
def test_the_acceleration_curve_matches_the_documented_table(dt: float, multiplier: int) -> None:
    accel = Acceleration()
    assert accel.multiplier(1, 10.0) == 1  # the first detent of a turn
    assert accel.multiplier(1, 10.0 + dt) == multiplier


def test_a_change_of_direction_starts_again_at_the_base_step() -> None:
    accel = Acceleration()
    accel.multiplier(1, 1.0)
    assert accel.multiplier(1, 1.02) == 4
    assert accel.multiplier(-1, 1.04) == 1


def test_acceleration_max_one_turns_it_off() -> None:
    accel = Acceleration(max_multiplier=1)
    accel.multiplier(1, 1.0)
    assert accel.multiplier(1, 1.001) == 1


def test_a_slow_turn_moves_the_base_step_per_detent() -> None:
    volume = RotaryVolume(step=2)
    assert turn(volume, 5, start_s=1.0, detent_s=0.25) == [{"volume_step": 2}] * 5


def test_a_slow_counter_clockwise_turn_lowers_the_volume() -> None:
    volume = RotaryVolume(step=3)
    assert turn(volume, -4, start_s=1.0, detent_s=0.3) == [{"volume_step": -3}] * 4


def test_a_fast_flick_covers_much_more_ground_than_a_slow_turn() -> None:
    slow = sum(c["volume_step"] for c in turn(RotaryVolume(), 20, 1.0, 0.25))
    fast_commands = turn(RotaryVolume(), 20, 1.0, 0.025)
    fast = sum(c["volume_step"] for c in fast_commands)
    assert slow == 40
    assert len(fast_commands) == 20  # still one command per detent: nothing skipped
    assert fast == 2 + 19 * 8  # the first at the base step, then the maximum
    assert fast >= 100  # one flick of one turn spans the whole range


# -- properties -------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([1, -1]), max_size=80))
def test_any_valid_walk_counts_its_net_turn_exactly(steps: list[int]) -> None:
    # Walk the Gray code one contact at a time, any way (turns, wiggle, reversals),
    # then come home to the nearest detent: the count is the net number of detents.
    order = [0, 2, 3, 1]  # clockwise codes
    levels = {0: (False, False), 2: (True, False), 3: (True, True), 1: (False, True)}
    decoder = QuadratureDecoder()
    position = 0
    total = 0
    for step in steps:
        position += step
        total += decoder.update(*levels[order[position % 4]])
    while position % 4:
        position += 1 if position % 4 >= 2 else -1
        total += decoder.update(*levels[order[position % 4]])
    assert total == position // 4
    assert decoder.position == total


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ParameterError, match="step"):
        RotaryVolume(step=0)
    with pytest.raises(ParameterError, match="acceleration_max"):
        RotaryVolume(acceleration_max=0)
