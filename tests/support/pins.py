"""gpiozero's mock pins with contact bounce that a loaded machine cannot stretch.

On a Pi the kernel stamps every edge as it happens, so a button's bounce (a few
toggles within a millisecond) always reaches the debouncer as one short burst. On
gpiozero's MockFactory the stamp is taken by the thread driving the pin, after
:class:`~sleepsound.controls.finger.Finger`'s half-millisecond sleeps between the
toggles. On a loaded machine those sleeps stretch (up to 180 ms measured at load 8 on
2 cores, about 1 in 100 over 30 ms), and two stretched in a row inside one burst read
as a quick extra click: a single press becomes a double.

:class:`PinClock` is a MockFactory whose clock can stand still, and
:class:`InstantBounceFinger` bounces while it does: every toggle of a press or a
release is stamped with the same instant, as the kernel would stamp them, while
holds, gaps and encoder detents still take their real time. The debouncer still has
to swallow every extra toggle::

    factory = PinClock(pin_class=MockPWMPin)
    controls = Controls(config, submit=..., pin_factory=factory)
    InstantBounceFinger(factory, controls).click("main")
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from gpiozero.pins.mock import MockFactory

from sleepsound.controls.finger import Finger


class PinClock(MockFactory):
    """gpiozero's MockFactory with a clock that can stand still for a moment."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._still_at: float | None = None

    def ticks(self) -> float:
        """The time of edges and of the controls: MockFactory's, unless it stands still."""
        still = self._still_at
        return super().ticks() if still is None else still

    @contextmanager
    def standing_still(self) -> Iterator[None]:
        """Stamp every edge inside with the moment this began."""
        self._still_at = super().ticks()
        try:
            yield
        finally:
            self._still_at = None


class InstantBounceFinger(Finger):
    """A :class:`Finger` on a :class:`PinClock` whose press and release (each a bounce
    burst) take no time on the pins' clock."""

    factory: PinClock

    def press(self, button: str) -> None:
        """Push the button down, bouncing, in one instant of the pins' clock."""
        with self.factory.standing_still():
            super().press(button)

    def release(self, button: str) -> None:
        """Let the button go, bouncing, in one instant of the pins' clock."""
        with self.factory.standing_still():
            super().release(button)
