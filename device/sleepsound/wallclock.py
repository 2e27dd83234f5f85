"""Pure: did the wall clock jump? (NTP's first sync on a Pi without a clock battery,
a user's ``date -s``, a time zone mix-up fixed by hand.)

The state document says when the sleep timer ends in wall-clock time
(``timer_ends_at``) while the timer itself runs on the monotonic clock. After a jump
the published time is wrong until something else changes, so the daemon compares the
two clocks on each turn of its loop and re-publishes when they have drifted apart.
"""

from __future__ import annotations

from typing import Final

JUMP_TOLERANCE_S: Final = 1.0
"""A change of the wall clock's offset from the monotonic clock above this is a jump.
NTP's slewing moves it by at most 0.5 ms a second, and the published time is only
whole seconds, so anything this large is a step."""

Reading = tuple[float, float]
"""One reading of both clocks: ``(wall_s, monotonic_s)``, taken together."""


def jumped(before: Reading, after: Reading, tolerance_s: float = JUMP_TOLERANCE_S) -> bool:
    """Whether the wall clock moved relative to the monotonic clock between two readings
    (by more than ``tolerance_s``, either way)."""
    return abs(offset_s(after) - offset_s(before)) > tolerance_s


def offset_s(reading: Reading) -> float:
    """The wall clock's lead over the monotonic clock in one reading, in seconds."""
    wall_s, monotonic_s = reading
    return wall_s - monotonic_s


__all__ = ["JUMP_TOLERANCE_S", "Reading", "jumped", "offset_s"]
