"""Button gestures from raw edges, driven with explicit timestamps (no sleeping).

A "finger" here is a list of (time, pressed) edges with real contact bounce; the
recogniser is ticked every 10 ms as the adapter's thread would, and each gesture is
recorded with the moment it was recognised.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sleepsound.controls.gestures import (
    TRANSITIONS,
    Debouncer,
    Gesture,
    GestureRecognizer,
    State,
)
from sleepsound.errors import ParameterError

TICK = 0.01
BOUNCE = 0.03
HOLD = 1.0
DOUBLE = 0.35

# A tactile switch closing: the contact makes, breaks and makes again within ~2 ms.
CLOSE_BOUNCE = (0.0, 0.0004, 0.0009, 0.0015, 0.0021)
# A worn contact: 8 ms of chatter, the last gap 3 ms.
WORN_BOUNCE = (0.0, 0.001, 0.0025, 0.004, 0.005, 0.0065, 0.008)

Edges = list[tuple[float, bool]]


def contact(at: float, pressed: bool, bounce: tuple[float, ...] = CLOSE_BOUNCE) -> Edges:
    """The edges of one press or release starting at ``at``: odd-length chatter that
    ends on the new level."""
    assert len(bounce) % 2 == 1
    return [(at + dt, pressed if i % 2 == 0 else not pressed) for i, dt in enumerate(bounce)]


def click(at: float, hold_s: float, bounce: tuple[float, ...] = CLOSE_BOUNCE) -> Edges:
    """A press at ``at`` released ``hold_s`` later, both with bounce."""
    return contact(at, True, bounce) + contact(at + hold_s, False, bounce)


def run(
    edges: Edges, until: float, recognizer: GestureRecognizer | None = None
) -> list[tuple[Gesture, float]]:
    """Feed edges and 10 ms ticks in time order; return (gesture, when recognised)."""
    rec = recognizer or GestureRecognizer(bounce_time=BOUNCE, hold_time=HOLD, double_time=DOUBLE)
    ticks = [(round(i * TICK, 6), None) for i in range(int(until / TICK) + 1)]
    seen: list[tuple[Gesture, float]] = []
    for t, pressed in sorted([*edges, *ticks], key=lambda e: e[0]):
        found = rec.tick(t) if pressed is None else rec.edge(pressed, t)
        seen += [(g, t) for g in found]
    return seen


def gestures(seen: list[tuple[Gesture, float]]) -> list[Gesture]:
    return [g for g, _ in seen]


# -- single -----------------------------------------------------------------------------


def test_a_bouncing_click_is_one_single_press_after_the_double_window() -> None:
    seen = run(click(1.0, 0.12), until=3.0)
    assert gestures(seen) == [Gesture.SINGLE]
    released = 1.0 + 0.12
    # Not before the double-press window has closed, and within one tick of it.
    assert released + DOUBLE <= seen[0][1] <= released + DOUBLE + BOUNCE + TICK


def test_a_worn_contact_with_long_chatter_still_gives_one_single() -> None:
    assert gestures(run(click(1.0, 0.15, WORN_BOUNCE), until=3.0)) == [Gesture.SINGLE]


def test_nothing_fires_while_the_double_window_is_open() -> None:
    released = 1.0 + 0.12
    assert run(click(1.0, 0.12), until=released + DOUBLE - 0.02) == []


def test_double_time_zero_fires_single_as_soon_as_the_release_settles() -> None:
    rec = GestureRecognizer(bounce_time=BOUNCE, hold_time=HOLD, double_time=0)
    seen = run(click(1.0, 0.12), until=2.0, recognizer=rec)
    assert gestures(seen) == [Gesture.SINGLE]
    assert seen[0][1] <= 1.12 + 0.0021 + BOUNCE + TICK


# -- double -----------------------------------------------------------------------------


def test_two_clicks_with_a_gap_just_under_the_window_are_a_double() -> None:
    gap = DOUBLE - 0.01
    edges = click(1.0, 0.1) + click(1.1 + gap, 0.1)
    seen = run(edges, until=3.0)
    assert gestures(seen) == [Gesture.DOUBLE]
    # Fires on the second press, without waiting for its release.
    assert seen[0][1] < 1.1 + gap + 0.1


def test_two_clicks_with_a_gap_just_over_the_window_are_two_singles() -> None:
    gap = DOUBLE + 0.01
    edges = click(1.0, 0.1) + click(1.1 + gap, 0.1)
    assert gestures(run(edges, until=3.0)) == [Gesture.SINGLE, Gesture.SINGLE]


def test_a_second_press_begun_inside_the_window_counts_though_it_settles_after() -> None:
    # The second press's first contact is 5 ms before the window closes; its chatter
    # lasts 8 ms more and it settles 30 ms later. The finger was in time.
    second = 1.1 + DOUBLE - 0.005
    edges = click(1.0, 0.1) + click(second, 0.1, WORN_BOUNCE)
    assert gestures(run(edges, until=3.0)) == [Gesture.DOUBLE]


def test_three_quick_clicks_are_a_double_then_a_single() -> None:
    edges = click(1.0, 0.1) + click(1.3, 0.1) + click(1.6, 0.1)
    assert gestures(run(edges, until=3.0)) == [Gesture.DOUBLE, Gesture.SINGLE]


# -- long -------------------------------------------------------------------------------


def test_a_hold_just_over_the_hold_time_is_a_long_press_fired_while_still_held() -> None:
    edges = click(1.0, HOLD + 0.05)
    seen = run(edges, until=4.0)
    assert gestures(seen) == [Gesture.LONG]
    fired = seen[0][1]
    assert 1.0 + HOLD <= fired <= 1.0 + HOLD + TICK
    assert fired < 1.0 + HOLD + 0.05  # before the release


def test_a_hold_just_under_the_hold_time_is_a_single_press() -> None:
    assert gestures(run(click(1.0, HOLD - 0.05), until=4.0)) == [Gesture.SINGLE]


def test_hold_time_is_measured_from_the_first_contact_not_the_end_of_the_bounce() -> None:
    seen = run(click(1.0, 2.0, WORN_BOUNCE), until=4.0)
    assert gestures(seen) == [Gesture.LONG]
    assert seen[0][1] <= 1.0 + HOLD + TICK


def test_a_long_press_is_not_followed_by_a_single_on_release() -> None:
    assert gestures(run(click(1.0, 3.0), until=6.0)) == [Gesture.LONG]


def test_is_held_is_true_from_the_long_press_until_release() -> None:
    rec = GestureRecognizer(bounce_time=BOUNCE, hold_time=HOLD, double_time=DOUBLE)
    rec.edge(True, 1.0)
    rec.tick(1.5)
    assert rec.is_pressed and not rec.is_held
    assert rec.tick(2.01) == [Gesture.LONG]
    assert rec.is_held
    rec.edge(False, 2.5)
    rec.tick(2.6)
    assert not rec.is_pressed and not rec.is_held


# -- noise and odd starts ---------------------------------------------------------------


def test_a_spike_shorter_than_the_bounce_window_is_no_press() -> None:
    edges = [(1.0, True), (1.001, False)]
    assert run(edges, until=3.0) == []


def test_chatter_that_never_goes_quiet_and_ends_open_is_no_press() -> None:
    # A contact toggling every 10 ms for a second (never quiet for 30 ms), ending open.
    edges = [(1.0 + i * 0.01, i % 2 == 0) for i in range(100)]
    assert run(edges, until=2.5) == []


def test_a_button_held_at_start_up_fires_nothing_when_released() -> None:
    rec = GestureRecognizer(bounce_time=BOUNCE, hold_time=HOLD, double_time=DOUBLE, pressed=True)
    seen = run(contact(1.0, False), until=5.0, recognizer=rec)
    assert seen == []
    assert rec.state is State.IDLE and not rec.is_pressed


def test_an_edge_delivered_late_is_taken_at_the_moment_already_reached() -> None:
    rec = GestureRecognizer(bounce_time=BOUNCE, hold_time=HOLD, double_time=DOUBLE)
    rec.tick(5.0)
    # An edge stamped earlier than the last tick (a late callback) still counts.
    rec.edge(True, 4.9)
    rec.tick(5.1)
    assert rec.is_pressed
    # Dated at 5.0, the moment already processed, so the hold runs from there.
    assert rec.tick(5.99) == []
    assert rec.tick(6.01) == [Gesture.LONG]


def test_bad_timings_are_refused_with_the_parameter_named() -> None:
    with pytest.raises(ParameterError, match="hold_time"):
        GestureRecognizer(hold_time=0)
    with pytest.raises(ParameterError, match="double_time"):
        GestureRecognizer(double_time=-1)
    with pytest.raises(ParameterError, match="bounce_time"):
        Debouncer(float("nan"))


# -- the machine itself -----------------------------------------------------------------


def test_every_state_is_reachable_and_every_gesture_is_produced() -> None:
    targets = {State.IDLE} | {new for new, _ in TRANSITIONS.values()}
    assert targets == set(State)
    assert {g for _, g in TRANSITIONS.values() if g is not None} == set(Gesture)


def test_a_held_button_ignores_everything_but_its_release() -> None:
    from_held = {signal for state, signal in TRANSITIONS if state is State.HELD}
    assert [s.value for s in from_held] == ["release"]


def test_the_debouncer_dates_a_change_at_its_first_edge() -> None:
    d = Debouncer(0.03)
    for t, level in contact(2.0, True, WORN_BOUNCE):
        d.edge(level, t)
    assert d.settle(2.02) is None  # still inside the window after the last edge
    assert d.settle(2.05) == (True, 2.0)
    assert d.level is True and d.pending_since is None


# -- properties -------------------------------------------------------------------------

bursts = st.lists(st.floats(min_value=0.0002, max_value=0.004), min_size=0, max_size=4).map(
    lambda gaps: (0.0, *[sum(gaps[: i + 1]) for i in range(len(gaps) - len(gaps) % 2)])
)


@settings(max_examples=200, deadline=None)
@given(
    holds=st.lists(st.floats(min_value=0.06, max_value=1.6), min_size=1, max_size=4),
    gaps=st.lists(st.floats(min_value=0.06, max_value=0.8), min_size=4, max_size=4),
    bounce=bursts,
)
def test_bounce_never_changes_which_gestures_a_finger_makes(
    holds: list[float], gaps: list[float], bounce: tuple[float, ...]
) -> None:
    # Bounce is dated away (a change counts from its first edge), so the outcome is
    # the same to the tick, even right at the edge of a window.
    clean: Edges = []
    bouncy: Edges = []
    t = 1.0
    for hold, gap in zip(holds, gaps, strict=False):
        clean += click(t, hold, (0.0,))
        bouncy += click(t, hold, bounce)
        t += hold + gap
    until = t + 2.0
    assert gestures(run(bouncy, until)) == gestures(run(clean, until))
