"""A program while it runs: a bedtime start, or a wake's rise, ring, snooze and second phase.

Pure: monotonic seconds in, a new :class:`ProgramRun` out. The player holds one run
(``PlayerState.program``) while a program plays; :mod:`sleepsound.program_player`
turns its steps into the player's state and scenes. The wall clock never enters
here: the scheduler decides *when* (wall clock, on every tick), the shell converts
the due time to monotonic seconds once, and every deadline below is monotonic, so
NTP stepping the clock mid-rise moves nothing.

A wake, step by step::

    start (due - fade) --rise--> due: RINGING --then_after_min--> SECOND_PHASE
          |                       |                                   |
          +------- press: snooze (fade out over SNOOZE_FADE_S) -------+
                    SNOOZED --snooze_min--> RISING again (over the snooze rise)
    hold: dismiss (fade out, the run ends); any other control: awake (the run ends,
    the sound keeps playing at the level it had reached)
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Final

from sleepsound.dsp.taper import FLOOR_DB, VOLUME_RANGE_DB, volume_to_db

LATE_RISE_S: Final = 60.0
"""A wake started late (the clock synced, the device came up within the grace) still
rises over at least this long (or its own rise, when that is shorter)."""
SNOOZE_FADE_S: Final = 5.0
"""A snooze fades the wake sound out over this long."""
SNOOZE_RISE_S: Final = 60.0
"""After a snooze the sound rises again over this long (or the program's own rise,
when that is shorter): the sleeper was awake a few minutes ago."""
DISMISS_FADE_S: Final = 5.0
"""A dismiss fades the wake sound out over this long."""
SECOND_PHASE_CROSSFADE_S: Final = 10.0
"""The second phase's new sound crossfades in over this long (a new volume glides at
the engine's pace, 20 dB/s up)."""
ON_TIME_SLACK_S: Final = 5.0
"""A wake started up to this late (a busy loop turn) still reaches its volume exactly at
the due time: its rise is this much shorter rather than late."""
MIN_RISE_S: Final = 0.5
"""Even a program with ``fade_min = 0`` rises over this long: no jump from silence."""
DEFAULT_SNOOZE_MIN: Final = 9.0
"""``[schedule] snooze_min``'s default (the one the player uses when none is given)."""


class Kind(StrEnum):
    """What a program does."""

    BEDTIME = "bedtime"
    WAKE = "wake"


class Phase(StrEnum):
    """Where a running program is (the status document's ``program.phase``)."""

    PLAYING = "playing"
    """A bedtime program: playing with its sleep timer."""
    RISING = "rising"
    RINGING = "ringing"
    """A wake at its volume, until snoozed or dismissed (or the second phase)."""
    SNOOZED = "snoozed"
    SECOND_PHASE = "second_phase"
    """A wake's "get up" call: ``then_volume`` and/or ``then_sound``."""


@dataclass(frozen=True)
class ProgramStart:
    """A program the scheduler fired, as the player needs it (presets already resolved).

    ``None`` means "as the player has it now" (the user's sound, volume, layer).
    """

    name: str
    kind: Kind
    fade_min: float
    sound: str | None = None
    volume: float | None = None
    layer: str | None = None
    """``"off"``, ``"on"`` or a sound id (the command vocabulary's ``layer``)."""
    layer_volume: float | None = None
    timer_min: float | None = None
    """Bedtime: the sleep timer (``None``: the player's preset)."""
    then_after_min: float | None = None
    then_volume: float | None = None
    then_sound: str | None = None
    snooze_min: float = DEFAULT_SNOOZE_MIN


@dataclass(frozen=True)
class ProgramRun:
    """A program that plays now; replaced, never mutated. Times are monotonic seconds."""

    name: str
    kind: Kind
    phase: Phase
    sound: str | None = None
    """What the wake rises with (after the second phase: ``then_sound``)."""
    volume: float = 0.0
    """The wake volume, already under the ceiling (after the second phase: ``then_volume``)."""
    rise_token: int = 0
    """The engine's :class:`~sleepsound.scene.Rise` token; 0 for a bedtime program."""
    rise_start_s: float = 0.0
    rise_s: float = 0.0
    then_at_s: float | None = None
    """When the second phase begins; ``None`` when there is none (left)."""
    then_volume: float | None = None
    then_sound: str | None = None
    snooze_s: float = DEFAULT_SNOOZE_MIN * 60.0
    snooze_rise_s: float = SNOOZE_RISE_S
    snooze_ends_s: float | None = None

    @property
    def rise_ends_s(self) -> float:
        """When the rise reaches the wake volume."""
        return self.rise_start_s + self.rise_s

    @property
    def is_wake(self) -> bool:
        """True for a wake program."""
        return self.kind is Kind.WAKE

    def describe(self, now_s: float, wall_now_s: float) -> dict[str, Any]:
        """The status document's ``program`` object; ``until`` (when this phase ends:
        the rise reaches the volume, the snooze is over, the second phase begins) is
        ISO 8601 UTC, from ``wall_now_s`` (``time.time()`` at ``now_s``), or None."""
        ends = deadline_s(self)
        until = None
        if ends is not None:
            moment = dt.datetime.fromtimestamp(math.floor(wall_now_s + ends - now_s + 0.5), dt.UTC)
            until = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"name": self.name, "kind": str(self.kind), "phase": str(self.phase), "until": until}


def rise_length_s(now_s: float, due_s: float, fade_min: float) -> float:
    """How long a wake started at ``now_s`` rises so that it is up at ``due_s``.

    On time (``due_s - now_s`` is the program's rise, or up to :data:`ON_TIME_SLACK_S`
    less): exactly until ``due_s``. Late (the clock synced or the device came up within
    the grace): the time left, but never shorter than :data:`LATE_RISE_S` (or the
    program's own rise, when that is shorter), so the sound is up a little after ``due_s``.
    """
    fade_s = max(fade_min * 60.0, 0.0)
    shortest = min(fade_s, LATE_RISE_S)
    left = due_s - now_s
    if left >= shortest - ON_TIME_SLACK_S:
        return max(left, MIN_RISE_S)  # (nearly) on time: up exactly at the due time
    return max(left, shortest, MIN_RISE_S)


def begin_bedtime(start: ProgramStart) -> ProgramRun:
    """The run of a bedtime program that started playing."""
    return ProgramRun(name=start.name, kind=Kind.BEDTIME, phase=Phase.PLAYING)


def begin_wake(
    start: ProgramStart,
    *,
    sound: str,
    volume: float,
    token: int,
    now_s: float,
    due_s: float,
    max_volume: float,
) -> ProgramRun:
    """The run of a wake starting its rise at ``now_s`` to ``volume`` (under the ceiling)."""
    rise_s = rise_length_s(now_s, due_s, start.fade_min)
    then_at = None
    if start.then_after_min is not None and (
        start.then_volume is not None or start.then_sound is not None
    ):
        then_at = now_s + rise_s + start.then_after_min * 60.0
    then_volume = min(start.then_volume, max_volume) if start.then_volume is not None else None
    fade_s = max(start.fade_min * 60.0, MIN_RISE_S)
    return ProgramRun(
        name=start.name,
        kind=Kind.WAKE,
        phase=Phase.RISING,
        sound=sound,
        volume=min(volume, max_volume),
        rise_token=token,
        rise_start_s=now_s,
        rise_s=rise_s,
        then_at_s=then_at,
        then_volume=then_volume,
        then_sound=start.then_sound,
        snooze_s=max(start.snooze_min, 0.0) * 60.0,
        snooze_rise_s=min(SNOOZE_RISE_S, fade_s),
    )


def deadline_s(run: ProgramRun) -> float | None:
    """The monotonic time :func:`advance` has something to do, or ``None``."""
    if run.phase is Phase.RISING:
        return run.rise_ends_s
    if run.phase is Phase.RINGING:
        return run.then_at_s
    if run.phase is Phase.SNOOZED:
        return run.snooze_ends_s
    return None


class Step(StrEnum):
    """What :func:`advance` did, for the player to follow."""

    NOTHING = "nothing"
    RISEN = "risen"
    """The rise reached the volume: nothing audible changes."""
    SECOND_PHASE = "second_phase"
    """The sound and/or volume change: the player takes the run's new ones."""
    RISE_AGAIN = "rise_again"
    """The snooze is over: the player plays again with a new rise."""


def advance(run: ProgramRun, now_s: float, token: int) -> tuple[ProgramRun, Step]:
    """The run's next step if it is due at ``now_s`` (``token`` for a new rise)."""
    due = deadline_s(run)
    if due is None or now_s < due:
        return run, Step.NOTHING
    if run.phase is Phase.RISING:
        return replace(run, phase=Phase.RINGING), Step.RISEN
    if run.phase is Phase.RINGING:
        second = replace(
            run,
            phase=Phase.SECOND_PHASE,
            sound=run.then_sound or run.sound,
            volume=run.then_volume if run.then_volume is not None else run.volume,
            then_at_s=None,
        )
        return second, Step.SECOND_PHASE
    rising = replace(
        run,
        phase=Phase.RISING,
        rise_token=token,
        rise_start_s=now_s,
        rise_s=run.snooze_rise_s,
        snooze_ends_s=None,
    )
    return rising, Step.RISE_AGAIN


def snooze(run: ProgramRun, now_s: float) -> ProgramRun:
    """Snoozed at ``now_s``: the sound fades out and rises again after the snooze.

    A second phase still ahead waits until after the next rise; one already reached
    stays (the rise comes back at its volume and sound).
    """
    then_at = run.then_at_s
    if then_at is not None:
        then_at = now_s + run.snooze_s + run.snooze_rise_s + max(then_at - run.rise_ends_s, 0.0)
    return replace(run, phase=Phase.SNOOZED, snooze_ends_s=now_s + run.snooze_s, then_at_s=then_at)


def heard_volume(run: ProgramRun, now_s: float) -> float:
    """The volume (0–100 taper) the rise has reached at ``now_s``: where it stops.

    The engine's rise is linear in dB from :data:`~sleepsound.dsp.taper.FLOOR_DB` under
    the wake volume; below volume 1 (the taper's quietest step) this says 1.
    """
    if run.phase is not Phase.RISING or run.rise_s <= 0.0:
        return run.volume
    progress = min(max((now_s - run.rise_start_s) / run.rise_s, 0.0), 1.0)
    heard_db = volume_to_db(run.volume) + FLOOR_DB * (1.0 - progress)
    volume = 100.0 + heard_db * 100.0 / VOLUME_RANGE_DB
    return min(max(volume, 1.0), run.volume)


def event(event_type: str, name: str, kind: Kind | str, **extra: Any) -> dict[str, Any]:
    """An event payload about a program (``program_started``, ``snoozed``, ...)."""
    return {"event_type": event_type, "program": name, "kind": str(kind), **extra}


__all__ = [
    "DEFAULT_SNOOZE_MIN",
    "DISMISS_FADE_S",
    "LATE_RISE_S",
    "MIN_RISE_S",
    "ON_TIME_SLACK_S",
    "SECOND_PHASE_CROSSFADE_S",
    "SNOOZE_FADE_S",
    "SNOOZE_RISE_S",
    "Kind",
    "Phase",
    "ProgramRun",
    "ProgramStart",
    "Step",
    "advance",
    "begin_bedtime",
    "begin_wake",
    "deadline_s",
    "event",
    "heard_volume",
    "rise_length_s",
    "snooze",
]
