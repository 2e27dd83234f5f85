"""Pure: bedtime and wake programs, and when they fire (issue 14).

No I/O and no clock reads: the wall time, the time zone and whether the clock is
synchronised are passed in. The API the daemon and the CLI use:

* :class:`Program` (frozen) and :func:`parse_program` (a ``[[programs]]`` table or a
  command's JSON object -> Program, or :class:`~sleepsound.errors.ProgramError`
  naming every bad key); :func:`program_to_dict` is its inverse (the store, replies).
* :func:`next_occurrence` (program, after_utc, tz) -> the next due instant (aware
  UTC; :func:`iso_utc` writes one as the status document does); :func:`start_of`
  (program, due) -> when it must begin (a wake's rise starts ``fade_min`` before
  ``at``). DST: wall-clock time; a time in the spring-forward gap fires at the gap's
  end; a repeated hour fires once, the first time.
* :class:`SchedulerState` + :func:`step` (state, programs, now_utc, tz, clock_synced,
  grace_min) -> (new state, decisions): :class:`Fire` (program, due_utc, start_utc,
  late_s) and :class:`Missed` (program, due_utc, reason). Keep one state for the
  daemon's life; put the stored skip-next set in it with
  ``dataclasses.replace(state, skip_next=...)`` (and read it back after a step: a
  skip is consumed by the occurrence it skips).
* :func:`next_program` (state, programs, now_utc, tz) -> (program, due_utc) | None:
  the status document's ``next_program``. :func:`upcoming` (programs, start_date,
  days, tz) -> [:class:`Upcoming`]: ``sleepsound programs``.
* Edits, each returning new values: :func:`merged` (config programs overlaid by the
  stored ones: the programs in force), :func:`add_program`, :func:`remove_program`,
  :func:`set_enabled`, :func:`skip_next`, :func:`unskip`, :func:`find_program`.
* The state's memory across restarts: :func:`judged_to_list` / :func:`judged_from_list`
  (the programs store's form of ``SchedulerState.judged``), :func:`prune` (keep what
  can still matter). Put the stored set in the state with
  ``replace(state, judged=...)``, store it again whenever a step changes it.
"""

from __future__ import annotations

from sleepsound.schedule.edits import (
    add_program,
    find_program,
    merged,
    remove_program,
    set_enabled,
    skip_next,
    unskip,
)
from sleepsound.schedule.memory import judged_from_list, judged_to_list, prune
from sleepsound.schedule.program import (
    DAY_NAMES,
    DEFAULT_BEDTIME_FADE_MIN,
    DEFAULT_WAKE_FADE_MIN,
    KEYS,
    Program,
    days_text,
    parse_program,
    program_to_dict,
)
from sleepsound.schedule.scheduler import (
    LOOKBACK_MIN,
    REASON_OFF,
    REASON_SKIPPED,
    REASON_UNSYNCED,
    Decision,
    Fire,
    Missed,
    SchedulerState,
    Upcoming,
    next_program,
    step,
    upcoming,
)
from sleepsound.schedule.times import iso_utc, next_occurrence, occurrences, start_of, wall_to_utc

__all__ = [
    "DAY_NAMES",
    "DEFAULT_BEDTIME_FADE_MIN",
    "DEFAULT_WAKE_FADE_MIN",
    "KEYS",
    "LOOKBACK_MIN",
    "REASON_OFF",
    "REASON_SKIPPED",
    "REASON_UNSYNCED",
    "Decision",
    "Fire",
    "Missed",
    "Program",
    "SchedulerState",
    "Upcoming",
    "add_program",
    "days_text",
    "find_program",
    "iso_utc",
    "judged_from_list",
    "judged_to_list",
    "merged",
    "next_occurrence",
    "next_program",
    "occurrences",
    "parse_program",
    "program_to_dict",
    "prune",
    "remove_program",
    "set_enabled",
    "skip_next",
    "start_of",
    "step",
    "unskip",
    "upcoming",
    "wall_to_utc",
]
