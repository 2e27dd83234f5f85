"""A finger on gpiozero's mock pins: press, release, click and turn like a person.

For tests and the ``--simulate`` terminal view. Build the controls on
``MockFactory(pin_class=MockPWMPin)`` (so the LED's PWM works too), then::

    finger = Finger(factory, controls)
    finger.click("main")            # a single press (with contact bounce)
    finger.double_click("main")
    finger.long_press("main")       # held past the button's hold time
    finger.turn(+1)                 # one detent clockwise; -3 = three counter-clockwise

Every method blocks for as long as a finger would take (a long press is over a
second): call it from a worker thread if the caller must stay responsive. Contact
bounce is a burst of a few short toggles about half a millisecond apart, well inside
the default 30 ms bounce window, as a real tactile switch makes.
"""

from __future__ import annotations

import time
from typing import Final

from gpiozero.pins.mock import MockFactory, MockPin

from sleepsound.controls.hardware import ButtonPin, Controls

BOUNCE_TOGGLES: Final = 4
"""Extra level changes a press or release makes before it settles (an even number)."""

BOUNCE_GAP_S: Final = 0.0005

CLICK_S: Final = 0.1
"""How long a quick click holds the button down."""

DOUBLE_GAP_S: Final = 0.12
"""The pause between the two clicks of a double click."""

LONG_MARGIN_S: Final = 0.3
"""A long press holds this much longer than the hold time."""

DETENT_S: Final = 0.06
"""Time per detent of a steady turn (about 16 detents a second)."""


class Finger:
    """Drives the mock pins of a :class:`Controls` built on a :class:`MockFactory`."""

    def __init__(self, factory: MockFactory, controls: Controls, *, bounce: bool = True) -> None:
        self.factory = factory
        self.controls = controls
        self.bounce = bounce

    def _pin(self, name: str) -> MockPin:
        return self.factory.pin(name)

    def _button(self, name: str) -> ButtonPin:
        for button in self.controls.buttons:
            if button.name == name:
                return button
        names = [b.name for b in self.controls.buttons]
        raise KeyError(f"no working button called {name!r}; there are {names}")

    def _drive(self, pin: MockPin, closed: bool, pull_up: bool) -> None:
        """Close or open a contact, bouncing first if asked."""
        level = closed != pull_up
        if self.bounce:
            for toggle in range(BOUNCE_TOGGLES):
                # Starts at the new level, then flips back and forth, ending on the old
                # one so that the final drive below makes the last real change.
                self._set(pin, level if toggle % 2 == 0 else not level)
                time.sleep(BOUNCE_GAP_S)
        self._set(pin, level)

    @staticmethod
    def _set(pin: MockPin, high: bool) -> None:
        if high:
            pin.drive_high()
        else:
            pin.drive_low()

    def press(self, button: str) -> None:
        """Push the button down (and keep it down)."""
        info = self._button(button)
        self._drive(self._pin(info.pin), True, info.pull_up)

    def release(self, button: str) -> None:
        """Let the button go."""
        info = self._button(button)
        self._drive(self._pin(info.pin), False, info.pull_up)

    def click(self, button: str, hold_s: float = CLICK_S) -> None:
        """A quick press and release."""
        self.press(button)
        time.sleep(hold_s)
        self.release(button)

    def double_click(self, button: str, gap_s: float = DOUBLE_GAP_S) -> None:
        """Two quick clicks ``gap_s`` apart."""
        self.click(button)
        time.sleep(gap_s)
        self.click(button)

    def long_press(self, button: str) -> None:
        """Hold the button down past its hold time, then let go."""
        self.click(button, hold_s=self._button(button).hold_time_s + LONG_MARGIN_S)

    def turn(self, detents: int, detent_s: float = DETENT_S) -> None:
        """Turn the encoder ``detents`` clicks (positive clockwise), ``detent_s`` each."""
        pins = self.controls.encoder_pins
        if pins is None:
            raise KeyError("there is no working encoder")
        a, b = self._pin(pins[0]), self._pin(pins[1])
        # Closed contacts (True) pull the pin low. Clockwise the code A<<1|B runs
        # 0, 2, 3, 1, 0: A closes, B closes, A opens, B opens.
        sequence = [(a, True), (b, True), (a, False), (b, False)]
        if detents < 0:
            sequence = [(b, True), (a, True), (b, False), (a, False)]
        for _ in range(abs(detents)):
            for pin, closed in sequence:
                self._set(pin, not closed)
                time.sleep(detent_s / 4)
