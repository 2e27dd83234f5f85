"""Pure: the scheduler's step. Wall time in, decisions out.

The daemon calls :func:`step` on every turn of its loop with the wall clock (UTC), the
time zone and whether the clock is synchronised; it gets back the new
:class:`SchedulerState` and what to do: :class:`Fire` a program, or report one as
:class:`Missed`. Nothing here reads a clock, so every rule is tested on a fake one.

The rules:

* nothing fires while the clock is not synchronised (a Pi without a clock battery
  boots with a stale clock until NTP syncs); the occurrences that came due meanwhile
  are judged once it is;
* an occurrence whose start has passed fires on the first step that can, unless it is
  ``grace_min`` (at least :data:`ON_TIME`) or more past its due time: then it is
  :class:`Missed` ("clock was not synchronised" if the clock was unsynchronised until
  now, else "device was off or asleep"). Only occurrences due in the last
  :data:`LOOKBACK_MIN` (or ``grace_min`` if longer) are judged: a program missed last
  night is not reported at noon;
* each occurrence is judged once: its ``(name, due)`` is remembered, so a wall clock
  stepped back by hours does not fire it again, and a clock stepped forward judges
  what it jumped over instead of silently dropping it. Due times are recomputed from
  the wall clock on every step; the monotonic clock is the caller's, for fades;
* ``skip_next`` consumes the next occurrence of a program (reported as Missed
  "skipped by request") and then is gone;
* a disabled program never fires;
* a program added or changed while running is judged from the moment it is first
  seen: setting a wake for 07:00 at 07:05 does not fire it at once.

Keep one :class:`SchedulerState` for the daemon's life (also across config reloads),
and store its ``judged`` set across restarts (:mod:`sleepsound.schedule.memory`): a
fresh state would fire again, or call missed, what already ran.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Final

from sleepsound.schedule.program import Program
from sleepsound.schedule.times import local_due, occurrences, start_of

LOOKBACK_MIN: Final = 120.0
"""How far back a step looks for occurrences it has not judged yet (minutes)."""
ON_TIME: Final = timedelta(minutes=1)
"""Less late than this is on time, whatever ``grace_min`` (0 included): the daemon's
loop turns every second or so, and a busy Pi may take a few."""
FORGET_AFTER: Final = timedelta(days=2)
"""Judged occurrences are remembered this long past their due time (a clock stepped
back by up to this much never fires one twice)."""

REASON_UNSYNCED: Final = "clock was not synchronised"
REASON_OFF: Final = "device was off or asleep"
REASON_SKIPPED: Final = "skipped by request"

_BEFORE_TIME: Final = datetime.min.replace(tzinfo=UTC)
"""'Seen since the beginning': programs present at the first step may fire late."""


@dataclass(frozen=True)
class Fire:
    """Start ``program`` now: it is due at ``due_utc`` and should have begun at
    ``start_utc`` (a wake's rise; a bedtime's start equals its due time)."""

    program: Program
    due_utc: datetime
    start_utc: datetime
    late_s: float
    """How far past ``start_utc`` this step is (0 on time; a wake can join its rise
    this far along, or compress the rest to still reach the volume at ``due_utc``)."""


@dataclass(frozen=True)
class Missed:
    """``program``'s occurrence due at ``due_utc`` will not play, and why (an event)."""

    program: Program
    due_utc: datetime
    reason: str
    """One of :data:`REASON_UNSYNCED`, :data:`REASON_OFF`, :data:`REASON_SKIPPED`."""


Decision = Fire | Missed


@dataclass(frozen=True)
class SchedulerState:
    """What the scheduler remembers between steps (immutable; :func:`step` returns a new one)."""

    judged: frozenset[tuple[str, datetime]] = frozenset()
    """``(program name, due instant)`` of every occurrence fired or missed lately."""
    skip_next: frozenset[str] = frozenset()
    """Programs whose next occurrence is skipped (stored with the runtime programs)."""
    last_wall_utc: datetime | None = None
    """The wall time of the last step (None before the first)."""
    last_synced: bool | None = None
    """Whether the clock was synchronised at the last step (None before the first)."""
    seen_since: Mapping[Program, datetime] = field(default_factory=dict)
    """When each program (by value: an edit is a new one) was first seen."""


def step(
    state: SchedulerState,
    programs: Iterable[Program],
    now_utc: datetime,
    tz: tzinfo,
    clock_synced: bool,
    grace_min: float,
) -> tuple[SchedulerState, tuple[Decision, ...]]:
    """One turn: which occurrences start now, which are missed; see the module rules.

    ``clock_synced`` is the caller's judgement: True also when the system cannot tell
    (a container) or ``[schedule] require_clock_sync`` is false.
    """
    now = now_utc.astimezone(UTC)
    programs = tuple(programs)
    first_step = state.last_wall_utc is None
    # A program first seen "later" than now was seen before a backward clock step: it
    # counts as seen now, so an occurrence still ahead on the corrected clock fires.
    seen = {
        program: min(state.seen_since.get(program, _BEFORE_TIME if first_step else now), now)
        for program in programs
    }
    if not clock_synced:
        return replace(state, last_wall_utc=now, last_synced=False, seen_since=seen), ()
    late_reason = REASON_UNSYNCED if state.last_synced is False else REASON_OFF
    grace = max(timedelta(minutes=grace_min), ON_TIME)
    lookback = timedelta(minutes=max(LOOKBACK_MIN, grace_min + 1))
    judged = set(state.judged)
    skip = set(state.skip_next)
    decisions: list[Decision] = []
    due_order = sorted(
        (
            (due, program)
            for program in programs
            if program.enabled
            for due in occurrences(
                program, now - lookback, now + timedelta(minutes=program.fade_min, seconds=1), tz
            )
        ),
        key=lambda pair: (pair[0], pair[1].name),
    )
    for due, program in due_order:
        start = start_of(program, due)
        key = (program.name, due)
        if start > now or key in judged or start < seen[program]:
            continue
        judged.add(key)
        if program.name in skip:
            skip.discard(program.name)
            decisions.append(Missed(program, due, REASON_SKIPPED))
        elif now - due >= grace:
            decisions.append(Missed(program, due, late_reason))
        else:
            decisions.append(Fire(program, due, start, (now - start).total_seconds()))
    kept = frozenset(item for item in judged if item[1] >= now - FORGET_AFTER)
    new_state = SchedulerState(
        judged=kept,
        skip_next=frozenset(skip),
        last_wall_utc=now,
        last_synced=True,
        seen_since=seen,
    )
    return new_state, tuple(decisions)


def next_program(
    state: SchedulerState, programs: Iterable[Program], now_utc: datetime, tz: tzinfo
) -> tuple[Program, datetime] | None:
    """The enabled program due next after ``now_utc`` and its due instant (status
    ``next_program``); a skipped occurrence and one already started are passed over."""
    now = now_utc.astimezone(UTC)
    best: tuple[Program, datetime] | None = None
    for program in programs:
        if not program.enabled:
            continue
        skipping = program.name in state.skip_next
        for due in occurrences(program, now, now + timedelta(days=16), tz):
            if due <= now or (program.name, due) in state.judged:
                continue
            if skipping:
                skipping = False
                continue
            if best is None or (due, program.name) < (best[1], best[0].name):
                best = (program, due)
            break
    return best


@dataclass(frozen=True)
class Upcoming:
    """One listed occurrence (``sleepsound programs``)."""

    program: Program
    due_utc: datetime
    start_utc: datetime
    """A wake's rise start; equal to ``due_utc`` for a bedtime."""
    skipped: bool = False
    """The first listed occurrence of a program in the skip-next set."""


def upcoming(
    programs: Iterable[Program],
    start_date: date,
    days: int,
    tz: tzinfo,
    skip_next: frozenset[str] = frozenset(),
) -> list[Upcoming]:
    """Every occurrence of the enabled programs on ``days`` local days from
    ``start_date``, in due order."""
    listed: list[Upcoming] = []
    for program in programs:
        if not program.enabled:
            continue
        skipping = program.name in skip_next
        for offset in range(days):
            due = local_due(program, start_date + timedelta(days=offset), tz)
            if due is None:
                continue
            listed.append(Upcoming(program, due, start_of(program, due), skipping))
            skipping = False
    listed.sort(key=lambda item: (item.due_utc, item.program.name))
    return listed


__all__ = [
    "FORGET_AFTER",
    "LOOKBACK_MIN",
    "ON_TIME",
    "REASON_OFF",
    "REASON_SKIPPED",
    "REASON_UNSYNCED",
    "Decision",
    "Fire",
    "Missed",
    "SchedulerState",
    "Upcoming",
    "next_program",
    "step",
    "upcoming",
]
