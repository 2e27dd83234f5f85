"""A potentiometer reading (0-1, e.g. from an MCP3008) as a steady volume (pure).

Three stages turn a noisy ADC reading into a volume that never jitters at rest:

1. Smoothing: the median of the last three readings (a lone spike from the ADC
   never gets through), then an exponential moving average with time constant
   ``smoothing_s`` (the weight of a sample follows the time since the last one, so
   an irregular polling rate does not change the response).
2. Scaling: the ends of the travel (``dead_zone`` at each end) map to exactly 0 and
   100, so both are reachable despite resistor tolerance and wiper contact.
3. Hysteresis: the volume changes only when the smoothed position has moved more
   than ``hysteresis`` volume points from where it was when the volume last changed.
   A knob at rest therefore never moves the volume as long as the (smoothed)
   noise stays inside that band, wherever the knob stands; a turning knob moves it
   in steps just over ``hysteresis`` points. Reaching either end always snaps to
   0 or 100.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from typing import Final

from sleepsound.errors import ParameterError

DEFAULT_HYSTERESIS: Final = 1.5
"""Volume points the smoothed knob must move before the volume follows (10-bit ADC
noise of a few counts is 0.3 points or less)."""

DEFAULT_SMOOTHING_S: Final = 0.1
"""Time constant of the moving average, seconds."""

DEFAULT_DEAD_ZONE: Final = 0.02
"""Fraction of the travel at each end that reads as exactly 0 or 100."""


class PotVolume:
    """Smoothing, scaling and hysteresis from a 0-1 reading to a volume 0-100."""

    def __init__(
        self,
        *,
        hysteresis: float = DEFAULT_HYSTERESIS,
        smoothing_s: float = DEFAULT_SMOOTHING_S,
        dead_zone: float = DEFAULT_DEAD_ZONE,
        reverse: bool = False,
    ) -> None:
        if not (math.isfinite(hysteresis) and 0 < hysteresis <= 20):
            raise ParameterError(f"hysteresis must be 0-20 volume points; got {hysteresis!r}")
        if not (math.isfinite(smoothing_s) and smoothing_s >= 0):
            raise ParameterError(f"smoothing_s must be 0 or more seconds; got {smoothing_s!r}")
        if not 0 <= dead_zone < 0.25:
            raise ParameterError(f"dead_zone must be from 0 to 0.25; got {dead_zone!r}")
        self.hysteresis = float(hysteresis)
        self.smoothing_s = float(smoothing_s)
        self.dead_zone = float(dead_zone)
        self.reverse = bool(reverse)
        self._smoothed: float | None = None
        self._recent: deque[float] = deque(maxlen=3)
        self._last_s = -math.inf
        self._anchor = math.nan
        self.volume: int | None = None
        """The volume last returned by :meth:`update` (None before the first reading)."""

    @property
    def position(self) -> float | None:
        """The smoothed knob position in volume points 0-100 (None before any reading)."""
        return None if self._smoothed is None else self._scale(self._smoothed)

    def update(self, fraction: float, now_s: float) -> int | None:
        """Feed a reading (0-1) taken at ``now_s``; return the new volume if it changed."""
        if not math.isfinite(fraction):
            return None
        x = min(1.0, max(0.0, float(fraction)))
        if self.reverse:
            x = 1.0 - x
        self._recent.append(x)
        x = statistics.median(self._recent)
        if self._smoothed is None or self.smoothing_s == 0:
            self._smoothed = x
        else:
            dt = max(0.0, now_s - self._last_s)
            weight = 1.0 - math.exp(-dt / self.smoothing_s)
            self._smoothed += weight * (x - self._smoothed)
        self._last_s = now_s
        position = self._scale(self._smoothed)
        at_end = position in (0.0, 100.0)
        moved = abs(position - self._anchor) > self.hysteresis
        if self.volume is not None and not moved and not (at_end and position != self.volume):
            return None
        volume = math.floor(position + 0.5)
        self._anchor = position
        if volume == self.volume:
            return None
        self.volume = volume
        return volume

    def _scale(self, x: float) -> float:
        span = 1.0 - 2.0 * self.dead_zone
        return 100.0 * min(1.0, max(0.0, (x - self.dead_zone) / span))
