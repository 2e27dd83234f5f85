"""Pure log budgets: a burst of the same trouble writes a few lines, then a count.

A flood of bad commands would otherwise write one line each to an SD card that has
to last for years. Time is passed in, so the budget is tested without a clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

INTERVAL_S: Final = 60.0
"""The window a budget covers."""
BURST: Final = 5
"""Lines allowed per window before the rest are only counted."""


@dataclass
class LogThrottle:
    """At most ``burst`` lines per ``interval_s``; the rest are counted for a summary.

    Typical use::

        allowed, missed = throttle.allow(now)
        if missed:
            log.info("... and %d more like it", missed)
        if allowed:
            log.info("the line itself")
    """

    interval_s: float = INTERVAL_S
    burst: int = BURST
    _window_start_s: float | None = field(default=None, init=False)
    _used: int = field(default=0, init=False)
    _suppressed: int = field(default=0, init=False)

    def allow(self, now: float) -> tuple[bool, int]:
        """Whether a line may be written at ``now``, and how many were held back in a
        window that has just closed (to be summarised once, before this line)."""
        missed = 0
        if self._window_start_s is None or now - self._window_start_s >= self.interval_s:
            missed = self.take_suppressed()
            self._window_start_s = now
            self._used = 0
        if self._used < self.burst:
            self._used += 1
            return True, missed
        self._suppressed += 1
        return False, missed

    def take_suppressed(self) -> int:
        """How many lines were held back since the last summary; resets the count."""
        missed, self._suppressed = self._suppressed, 0
        return missed


__all__ = ["BURST", "INTERVAL_S", "LogThrottle"]
