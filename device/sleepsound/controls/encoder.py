"""A rotary encoder (KY-040, EC11) as volume steps (pure: times are passed in).

Decoding
--------
The two contacts A and B close in a Gray-code sequence, one contact changing at a
time. With ``True`` meaning "contact closed" (the pin pulled low) and the code
``A << 1 | B``, a clockwise turn runs::

    code   0 ──▶ 2 ──▶ 3 ──▶ 1 ──▶ 0        (A: 0 1 1 0 0, B: 0 0 1 1 0)
          detent                 detent

:data:`QUARTER_STEPS` gives each (old code, new code) pair its meaning: +1 (a quarter
step clockwise), -1 (counter-clockwise) or None (both contacts changed at once: an
edge was lost, so the direction is unknown). A detent counts when the contacts come
back to rest having moved a whole detent one way: 4 quarter steps in full-step mode
(the KY-040 and most EC11 rest at code 0), 2 in half-step mode (encoders with a
detent at code 0 *and* 3). So:

- contact bounce and wiggle go back and forth and add up to nothing;
- every detent counts exactly once, however many edges it took;
- a run with a lost edge never counts (a dropped detent is better than a jump the
  wrong way).

Acceleration
------------
Steps per detent grow when detents come fast. With ``dt`` the time since the
previous detent in the same direction (a change of direction starts again at 1)::

    multiplier = 1 + round((max - 1) * clamp((SLOW_S - dt) / (SLOW_S - FAST_S), 0, 1))

With the defaults (``max`` 4, SLOW_S 0.12 s, FAST_S 0.03 s):

    ==============  ==============  ==========
    dt per detent   detents/second  multiplier
    ==============  ==============  ==========
    over 105 ms     under 9.5       1
    75 to 105 ms    9.5 to 13       2
    45 to 75 ms     13 to 22        3
    45 ms or less   22 or more      4
    ==============  ==============  ==========

A deliberate notch-by-notch turn stays at the base step; a flick of a whole turn
(20 detents in half a second) covers the range in about one turn.
"""

from __future__ import annotations

import math
from typing import Any, Final

from sleepsound.errors import ParameterError

QUARTER_STEPS: Final[tuple[tuple[int | None, ...], ...]] = (
    # new: 0     1     2     3          old
    (0, -1, +1, None),  # 0
    (+1, 0, None, -1),  # 1
    (-1, None, 0, +1),  # 2
    (None, +1, -1, 0),  # 3
)
"""QUARTER_STEPS[old code][new code]: +1 / -1 quarter step, 0 no change, None invalid."""

FULL_STEP_DETENTS: Final = frozenset({0})
"""Codes where a full-step encoder rests (both contacts open)."""

HALF_STEP_DETENTS: Final = frozenset({0, 3})
"""Codes where a half-step encoder rests (both open, or both closed)."""

SLOW_S: Final = 0.12
"""Detents further apart than this (seconds) move the base step."""

FAST_S: Final = 0.03
"""Detents this close (seconds) or closer move the base step times the maximum."""

DEFAULT_STEP: Final = 2
"""Volume points per detent when turned slowly (a 20-detent turn moves 40 points)."""

DEFAULT_ACCELERATION_MAX: Final = 4
"""The largest multiplier a fast turn reaches; 1 turns acceleration off."""


def code(a: bool, b: bool) -> int:
    """The Gray code of the contacts: ``A << 1 | B``."""
    return (int(bool(a)) << 1) | int(bool(b))


class QuadratureDecoder:
    """Counts detents from the A/B contact levels; see the module docstring."""

    def __init__(
        self, *, half_step: bool = False, reverse: bool = False, a: bool = False, b: bool = False
    ) -> None:
        self.half_step = bool(half_step)
        self.reverse = bool(reverse)
        self._detents = HALF_STEP_DETENTS if self.half_step else FULL_STEP_DETENTS
        self._per_detent = 2 if self.half_step else 4
        self._code = code(a, b)
        self._quarters = 0
        self._lost = False
        self.position = 0
        """Detents counted so far, clockwise positive (after ``reverse``)."""
        self.invalid = 0
        """Transitions where both contacts changed at once (lost edges)."""

    def update(self, a: bool, b: bool) -> int:
        """Feed the contacts' levels after an edge; return +1, -1 or 0 detents."""
        new = code(a, b)
        if new == self._code:
            return 0
        quarter = QUARTER_STEPS[self._code][new]
        self._code = new
        if quarter is None:
            self.invalid += 1
            self._lost = True
        else:
            self._quarters += quarter
        if new not in self._detents:
            return 0
        counted = 0
        if not self._lost and abs(self._quarters) == self._per_detent:
            counted = 1 if self._quarters > 0 else -1
            if self.reverse:
                counted = -counted
        self._quarters = 0
        self._lost = False
        self.position += counted
        return counted


class Acceleration:
    """How many base steps a detent is worth, from how soon it followed the last one."""

    def __init__(
        self,
        *,
        max_multiplier: int = DEFAULT_ACCELERATION_MAX,
        slow_s: float = SLOW_S,
        fast_s: float = FAST_S,
    ) -> None:
        if int(max_multiplier) != max_multiplier or max_multiplier < 1:
            raise ParameterError(
                f"acceleration_max must be a whole number, 1 (off) or more; got {max_multiplier!r}"
            )
        if not 0 <= fast_s < slow_s:
            raise ParameterError(f"need 0 <= fast_s < slow_s; got {fast_s!r} and {slow_s!r}")
        self.max_multiplier = int(max_multiplier)
        self.slow_s = float(slow_s)
        self.fast_s = float(fast_s)
        self._last_direction = 0
        self._last_s = -math.inf

    def multiplier(self, direction: int, now_s: float) -> int:
        """The multiplier for a detent in ``direction`` (+1/-1) at ``now_s``."""
        same_way = direction == self._last_direction
        dt = now_s - self._last_s if same_way else math.inf
        self._last_direction, self._last_s = direction, now_s
        speed = (self.slow_s - dt) / (self.slow_s - self.fast_s)
        extra = (self.max_multiplier - 1) * min(1.0, max(0.0, speed))
        # floor(x + 0.5): round half up, so the curve in the docstring holds exactly.
        return 1 + math.floor(extra + 0.5)


class RotaryVolume:
    """A rotary encoder as ``{"volume_step": n}`` commands, one per detent."""

    def __init__(
        self,
        *,
        step: int = DEFAULT_STEP,
        half_step: bool = False,
        reverse: bool = False,
        acceleration_max: int = DEFAULT_ACCELERATION_MAX,
        a: bool = False,
        b: bool = False,
    ) -> None:
        if int(step) != step or not 1 <= step <= 100:
            raise ParameterError(
                f"step must be a whole number of volume points 1-100; got {step!r}"
            )
        self.step = int(step)
        self.decoder = QuadratureDecoder(half_step=half_step, reverse=reverse, a=a, b=b)
        self.acceleration = Acceleration(max_multiplier=acceleration_max)

    def update(self, a: bool, b: bool, now_s: float) -> dict[str, Any] | None:
        """Feed the contacts after an edge at ``now_s``; return a command for a detent."""
        direction = self.decoder.update(a, b)
        if direction == 0:
            return None
        points = min(100, self.step * self.acceleration.multiplier(direction, now_s))
        return {"volume_step": direction * points}
