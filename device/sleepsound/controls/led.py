"""The status LED's brightness over time (pure: ``level(now_s) -> 0..1``).

Light disturbs sleep, so the LED is dim by default (``brightness``, down to 0 = off)
and everything it does is soft: no hard on/off edges.

Levels are *perceived* brightness; the gpiozero adapter turns them into PWM duty
(``duty = level ** 2.2``) so 0.5 looks half as bright, not nearly full.

What it shows, highest priority first:

1. Confirmation blinks (:meth:`StatusLed.blink`): after a short dark pause, N slow
   soft blinks (raised-cosine pulses, ``blink_period_s`` apart) at ``blink_level``;
   the sleep timer shows as its position in ``[sleep] presets_min`` (15/30/45/60/90
   by default: 1-5 blinks) and "timer off" as one long glow
   (:meth:`StatusLed.confirm_timer`).
2. The breathing pacer (:class:`Breathing`), when started: a slow pulse to breathe
   with, brightening on the in-breath (40 % of a cycle) and dimming on the longer
   out-breath, slowing from ``start_bpm`` to ``end_bpm`` breaths a minute over
   ``ramp_s`` and stopping (dark, at the end of a breath) after ``duration_s``.
3. The steady level: ``brightness`` while :attr:`StatusLed.steady` is on (while
   playing), else dark.

Above the breathing and the steady level, a wake program's **sunrise**
(:meth:`StatusLed.follow_program`): while the wake rises the LED brightens from dark
to ``wake_level``, reaching it when the sound reaches its volume; it stays there
while the wake rings and goes dark when it is snoozed or over. With ``[led]
wake_pin`` the sunrise is on that brighter light instead (:meth:`StatusLed.sunrise`,
0-1) and the status LED keeps its dim ways (``wake_level`` 0).

:meth:`StatusLed.follow` turns the daemon's state documents into all of the above.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from sleepsound.commands import TIMER_PRESETS_MIN
from sleepsound.errors import ParameterError

TIMER_PRESETS: Final = TIMER_PRESETS_MIN
"""The default ``[sleep] presets_min`` (owned by :data:`sleepsound.commands.TIMER_PRESETS_MIN`),
used when the controls are built without the configured presets."""

DEFAULT_BRIGHTNESS: Final = 0.08
DEFAULT_BLINK_LEVEL: Final = 0.4
DEFAULT_BLINK_PERIOD_S: Final = 0.8
DEFAULT_WAKE_LEVEL: Final = 0.6
"""The status LED's brightness at the end of a wake's sunrise (a wake is meant to be seen)."""
LONG_BLINK_PERIODS: Final = 3
"""A long blink lasts this many blink periods."""

BLINK_ON_FRACTION: Final = 0.6
"""Part of each blink period the light is rising and falling; the rest is dark."""

INHALE_FRACTION: Final = 0.4
"""Part of a breathing cycle spent brightening (in-breath); the rest dims (out-breath)."""

GAMMA: Final = 2.2
"""Exponent from perceived brightness to PWM duty."""

PLAYING_STATES: Final = frozenset({"playing", "fading_out"})
"""The daemon's states in which the LED shows its steady level."""


def duty_for(level: float) -> float:
    """The PWM duty cycle (0-1) that looks like ``level`` (0-1) to the eye."""
    return min(1.0, max(0.0, level)) ** GAMMA


def blinks_for_timer(minutes: float, presets: Iterable[float] = TIMER_PRESETS) -> int:
    """How many blinks confirm a sleep timer of ``minutes``: 0 for off, else the
    preset's position in ``presets`` (any order), counting from 1.

    A value between presets (set over MQTT, say) counts the presets it reaches.
    """
    if minutes <= 0:
        return 0
    return max(1, sum(1 for preset in presets if minutes >= preset))


def _check(name: str, value: float, low: float, high: float) -> float:
    value = float(value)
    if not (math.isfinite(value) and low <= value <= high):
        raise ParameterError(f"{name} must be from {low:g} to {high:g}; got {value!r}")
    return value


@dataclass(frozen=True)
class Breathing:
    """A breathing pacer: a pulse whose rate glides from ``start_bpm`` to ``end_bpm``.

    The rate falls linearly over ``ramp_s`` then holds; the phase is the integral of
    the rate, so the pulse never jumps while it slows. It stops at the end of the
    breath under way when ``duration_s`` has passed.
    """

    start_bpm: float = 11.0
    end_bpm: float = 6.0
    ramp_s: float = 300.0
    duration_s: float = 600.0
    level: float = 0.25

    def __post_init__(self) -> None:
        _check("breathing start_bpm", self.start_bpm, 2, 30)
        _check("breathing end_bpm", self.end_bpm, 2, 30)
        _check("breathing ramp_s", self.ramp_s, 0, 7200)
        _check("breathing duration_s", self.duration_s, 1, 14400)
        _check("breathing level", self.level, 0, 1)

    def breaths(self, elapsed_s: float) -> float:
        """Breaths completed (fractional) ``elapsed_s`` after the start."""
        f0, f1 = self.start_bpm / 60.0, self.end_bpm / 60.0
        t = max(0.0, elapsed_s)
        if self.ramp_s == 0:
            return f1 * t
        if t <= self.ramp_s:
            return f0 * t + (f1 - f0) * t * t / (2.0 * self.ramp_s)
        return (f0 + f1) * self.ramp_s / 2.0 + f1 * (t - self.ramp_s)

    def rate_bpm(self, elapsed_s: float) -> float:
        """Breaths per minute at ``elapsed_s``."""
        if self.ramp_s == 0 or elapsed_s >= self.ramp_s:
            return self.end_bpm
        t = max(0.0, elapsed_s)
        return self.start_bpm + (self.end_bpm - self.start_bpm) * t / self.ramp_s

    def value(self, elapsed_s: float) -> float | None:
        """Level at ``elapsed_s`` after the start, or None once the pacer has finished."""
        done = self.breaths(elapsed_s)
        if done >= math.ceil(self.breaths(self.duration_s)):
            return None
        u = done - math.floor(done)
        if u < INHALE_FRACTION:
            shape = (1.0 - math.cos(math.pi * u / INHALE_FRACTION)) / 2.0
        else:
            shape = (1.0 + math.cos(math.pi * (u - INHALE_FRACTION) / (1 - INHALE_FRACTION))) / 2.0
        return self.level * shape


def _wall_seconds(iso: object) -> float | None:
    """``YYYY-MM-DDTHH:MM:SSZ`` as Unix seconds, or None."""
    if not isinstance(iso, str):
        return None
    try:
        return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class StatusLed:
    """The LED's behaviour; ask :meth:`level` for the brightness at any moment."""

    def __init__(
        self,
        *,
        brightness: float = DEFAULT_BRIGHTNESS,
        blink_level: float = DEFAULT_BLINK_LEVEL,
        blink_period_s: float = DEFAULT_BLINK_PERIOD_S,
        breathing: Breathing | None = None,
        timer_presets: Iterable[float] = TIMER_PRESETS,
        wake_level: float = DEFAULT_WAKE_LEVEL,
    ) -> None:
        self.brightness = _check("brightness", brightness, 0, 1)
        self.wake_level = _check("wake_level", wake_level, 0, 1)
        """The sunrise's final brightness here (0: the sunrise is on another light)."""
        self.blink_level = _check("blink level", blink_level, 0, 1)
        self.blink_period_s = _check("blink period_s", blink_period_s, 0.2, 5)
        self.breathing = breathing
        self.timer_presets = tuple(timer_presets)
        """The sleep-timer presets whose position :meth:`confirm_timer` blinks."""
        self.steady = False
        """True shows ``brightness`` when nothing else is showing (e.g. while playing)."""
        self._blink_start = -math.inf
        self._blink_count = 0
        self._blink_long = False
        self._breath_start: float | None = None
        self._state_seen = False
        self._last_state: object = None
        self._last_timer: float | None = None
        self._sunrise_start: float | None = None
        self._sunrise_s = 0.0
        self._wake_seen: tuple[object, object] = (None, None)

    def follow(self, state: object, sleep_timer: object, now_s: float) -> None:
        """Follow a state document's ``state`` and ``sleep_timer``: steady light while
        playing, the breathing pacer from the start of play, and blinks confirming a
        new sleep timer."""
        playing = state in PLAYING_STATES
        was_playing = self._last_state in PLAYING_STATES
        self.steady = playing
        if playing and not was_playing:
            self.start_breathing(now_s)
        elif not playing:
            self.stop_breathing()
        timer = float(sleep_timer) if isinstance(sleep_timer, int | float) else None
        # Blink for a newly chosen timer, but not for the first document (start-up)
        # nor when the sound fades or stops with it (the timer ran out: the sleeper
        # is asleep).
        stopping = state == "fading_out" or (was_playing and not playing)
        if self._state_seen and timer is not None and timer != self._last_timer and not stopping:
            self.confirm_timer(timer, now_s)
        self._state_seen = True
        self._last_state = state
        self._last_timer = timer

    def follow_program(self, program: object, now_s: float, wall_now_s: float) -> None:
        """Follow a state document's ``program``: the sunrise while a wake rises (until
        its ``until``, read on the wall clock ``wall_now_s`` at ``now_s``), full while it
        rings, dark when snoozed or over."""
        phase = until = None
        if isinstance(program, Mapping) and program.get("kind") == "wake":
            phase, until = program.get("phase"), program.get("until")
        if (phase, until) == self._wake_seen:
            return  # the same phase published again: the sunrise goes on
        self._wake_seen = (phase, until)
        if phase == "rising":
            ends = _wall_seconds(until)
            self._sunrise_start = now_s
            self._sunrise_s = max(ends - wall_now_s, 0.0) if ends is not None else 0.0
        elif phase in ("ringing", "second_phase"):
            self._sunrise_start, self._sunrise_s = -math.inf, 0.0
        else:
            self._sunrise_start = None

    def sunrise(self, now_s: float) -> float | None:
        """How far the sunrise is, 0-1 (1 while the wake rings), or None without one."""
        if self._sunrise_start is None:
            return None
        if self._sunrise_s <= 0.0:
            return 1.0
        return min(max((now_s - self._sunrise_start) / self._sunrise_s, 0.0), 1.0)

    def blink(self, count: int, now_s: float, *, long: bool = False) -> None:
        """Start ``count`` soft blinks (or one long glow) now, replacing any under way."""
        self._blink_start = now_s
        self._blink_count = 0 if long else max(0, int(count))
        self._blink_long = bool(long)

    def confirm_timer(self, minutes: float, now_s: float) -> None:
        """Show a sleep-timer setting: N blinks for the Nth preset, one long glow for off."""
        count = blinks_for_timer(minutes, self.timer_presets)
        self.blink(count, now_s, long=count == 0)

    def start_breathing(self, now_s: float) -> None:
        """Start the breathing pacer (if configured) from its first breath."""
        if self.breathing is not None:
            self._breath_start = now_s

    def stop_breathing(self) -> None:
        """Stop the breathing pacer."""
        self._breath_start = None

    def is_breathing(self, now_s: float) -> bool:
        """True while the breathing pacer is running."""
        return self._breathing_value(now_s) is not None

    def blink_end_s(self) -> float:
        """When the blinks under way end (in the past when there are none)."""
        periods = LONG_BLINK_PERIODS if self._blink_long else self._blink_count
        return self._blink_start + self.blink_period_s * (0.5 + periods)

    def level(self, now_s: float) -> float:
        """Perceived brightness 0-1 at ``now_s``."""
        if self._blink_start <= now_s < self.blink_end_s():
            return self._blink_value(now_s - self._blink_start)
        sunrise = self.sunrise(now_s)
        if sunrise is not None and self.wake_level > 0.0:
            return self.wake_level * sunrise
        breath = self._breathing_value(now_s)
        if breath is not None:
            return breath
        return self.brightness if self.steady else 0.0

    def _blink_value(self, elapsed_s: float) -> float:
        # A dark half period first, so the first blink stands out from the steady level.
        t = elapsed_s / self.blink_period_s - 0.5
        if t < 0:
            return 0.0
        if self._blink_long:
            return self.blink_level * math.sin(math.pi * t / LONG_BLINK_PERIODS) ** 2
        u = t - math.floor(t)
        if u >= BLINK_ON_FRACTION:
            return 0.0
        return self.blink_level * math.sin(math.pi * u / BLINK_ON_FRACTION) ** 2

    def _breathing_value(self, now_s: float) -> float | None:
        if self._breath_start is None or self.breathing is None:
            return None
        value = self.breathing.value(now_s - self._breath_start)
        if value is None:
            self._breath_start = None
        return value
