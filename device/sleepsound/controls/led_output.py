"""The status LED's output: its pure core's level turned into a PWM duty on its pin.

:func:`led_core` builds the core (:class:`~sleepsound.controls.led.StatusLed`) from
the ``[led]`` section; :class:`LedOutput` writes a level to the PWM pin, only when
the duty changes, and never lets a failing write stop the controls.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable

from gpiozero import PWMLED

from sleepsound.controls.led import Breathing, StatusLed, duty_for
from sleepsound.controls.schema import LedConfig

log = logging.getLogger(__name__)


def led_core(config: LedConfig, timer_presets: Iterable[float]) -> StatusLed:
    """The LED's pure core for ``config`` (raises :class:`SleepsoundError` when a
    value is out of range); ``timer_presets`` is ``[sleep] presets_min``."""
    breathing = config.breathing
    return StatusLed(
        brightness=config.brightness,
        blink_level=config.blink.level,
        blink_period_s=config.blink.period_s,
        timer_presets=timer_presets,
        # With a wake light of its own, the sunrise is there and the status LED stays dim.
        wake_level=0.0 if config.wake_pin is not None else config.wake_level,
        breathing=(
            Breathing(
                start_bpm=breathing.start_bpm,
                end_bpm=breathing.end_bpm,
                ramp_s=breathing.ramp_s,
                duration_s=breathing.duration_s,
                level=breathing.level,
            )
            if breathing.enabled
            else None
        ),
    )


class LedOutput:
    """The LED's PWM pin (or none, when no LED works): shows a perceived level."""

    def __init__(self, pwm: PWMLED | None) -> None:
        """Drive ``pwm``; with None every call does nothing."""
        self.pwm = pwm
        self._duty = -1.0

    def show(self, level: float) -> None:
        """Light the LED at ``level`` (perceived brightness 0-1)."""
        if self.pwm is None:
            return
        duty = duty_for(level)
        # Writing the same duty 50 times a second would only load the PWM driver.
        if abs(duty - self._duty) < 1e-4:
            return
        try:
            self.pwm.value = duty
            self._duty = duty
        except Exception as error:
            log.warning("setting the LED failed: %s", error)

    def off(self) -> None:
        """Turn the LED off (before its pin is released)."""
        if self.pwm is not None:
            with contextlib.suppress(Exception):
                self.pwm.value = 0
