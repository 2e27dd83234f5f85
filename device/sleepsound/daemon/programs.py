"""The daemon's schedule: the programs in force, the scheduler's state, the store, the clocks.

The imperative shell around the pure scheduler (:mod:`sleepsound.schedule`). The
command loop asks it to :meth:`~DaemonSchedule.step` at :attr:`~DaemonSchedule.due_s`
(at the next program's start, and at least every :data:`STEP_S`, so a wall clock
stepped by NTP is followed within seconds); it reads the wall clock (``time.time``)
and whether the clock is synchronised (:mod:`sleepsound.clock_sync`) and turns each
decision into something for the player:

* :class:`StartProgram`: a :class:`~sleepsound.program_run.ProgramStart` and its due
  time converted to the monotonic clock once (the fades run on that clock);
* :class:`SkipProgram`: a ``program_skipped`` event (missed while the clock was
  unsynchronised or the device was off, skipped by request, or not playable).

Runtime edits (``program_add`` …, one vocabulary with every other command) change the
stored programs and the skip-next set, saved atomically beside the state file
(:mod:`sleepsound.program_store`). The occurrences the scheduler has judged (fired,
missed, skipped) are saved there too whenever a step changes them, and read back at
start: a restart within ``grace_min`` of a wake does not ring it again, and one later
does not report it missed. A reload (SIGHUP) keeps the state as it is.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from sleepsound import clock_sync, favourites, local_time, program_store, schedule
from sleepsound.commands import Transaction, reply_ok
from sleepsound.config import Config
from sleepsound.errors import ProgramError
from sleepsound.program_run import Kind, ProgramStart
from sleepsound.schedule import Fire, Missed, Program, SchedulerState

log = logging.getLogger(__name__)

STEP_S: Final = 2.0
"""The scheduler is stepped at least this often (and exactly at a program's start)."""
SYNC_CHECK_S: Final = 30.0
"""How often the clock's synchronisation is asked again (cheap once it is synced)."""


@dataclass(frozen=True)
class StartProgram:
    """Start ``start`` now; it is due at ``due_s`` on the monotonic clock."""

    start: ProgramStart
    due_s: float


@dataclass(frozen=True)
class SkipProgram:
    """A program's occurrence will not play (a ``program_skipped`` event)."""

    name: str
    kind: str
    reason: str
    at: str
    """Its due time, ISO 8601 UTC."""


class DaemonSchedule:
    """Programs, their scheduler state and store, read on the wall clock."""

    def __init__(
        self,
        config: Config,
        programs_path: str,
        *,
        wall_clock: Callable[[], float],
        synced: Callable[[], bool | None] = clock_sync.is_synchronised,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._path = programs_path
        self._wall = wall_clock
        self._synced_fn = synced
        self._synced: bool | None = None
        self._synced_at_s = -math.inf
        self._said_untold = False
        self.due_s = 0.0
        """When the loop should call :meth:`step` next (monotonic)."""
        self.resolve_preset: Callable[[str], Mapping[str, Any]] | None = None
        """A preset's settings by name (``sound``, ``volume``, ``layer``…), when presets
        exist; raises ``CommandError`` for an unknown one."""
        stored = program_store.load(programs_path)
        for warning in stored.warnings:
            log.warning("programs: %s", warning)
        self._stored = stored.programs
        now_utc = dt.datetime.fromtimestamp(wall_clock(), dt.UTC)
        self.state = SchedulerState(
            judged=schedule.prune(stored.judged, now_utc), skip_next=stored.skip_next
        )
        self.reconfigure(config, environ)

    def reconfigure(self, config: Config, environ: Mapping[str, str] | None = None) -> None:
        """Follow a (re)loaded config: ``[schedule]``, ``[[programs]]`` and the zone."""
        self._settings = config.schedule
        self._config_programs = config.programs
        self._tz = local_time.zone(config.schedule.timezone, environ)
        self.due_s = 0.0  # step at once: programs may have changed

    @property
    def programs(self) -> tuple[Program, ...]:
        """The programs in force: the config's, overlaid by the stored ones."""
        return schedule.merged(self._config_programs, self._stored)

    # -- the tick ---------------------------------------------------------------------------

    def step(self, now_s: float) -> list[StartProgram | SkipProgram]:
        """One scheduler step at monotonic ``now_s``: what to start and what was missed."""
        wall = self._wall()
        now_utc = dt.datetime.fromtimestamp(wall, dt.UTC)
        synced = self._clock_synced(now_s)
        trusted = synced is not False or not self._settings.require_clock_sync
        before = (self.state.skip_next, self.state.judged)
        programs = self.programs
        self.state, decisions = schedule.step(
            self.state, programs, now_utc, self._tz, trusted, self._settings.grace_min
        )
        if (self.state.skip_next, self.state.judged) != before:
            self._save()  # fired, missed, a skip-next used up, or an old one forgotten
        self.due_s = now_s + self._seconds_to_next_start(programs, now_utc)
        return [self._translate(decision, wall, now_s) for decision in decisions]

    def _seconds_to_next_start(self, programs: tuple[Program, ...], now_utc: dt.datetime) -> float:
        upcoming = schedule.next_program(self.state, programs, now_utc, self._tz)
        if upcoming is None:
            return STEP_S
        ahead = (schedule.start_of(upcoming[0], upcoming[1]) - now_utc).total_seconds()
        # A start already passed is one that could not fire (an unsynchronised clock):
        # ask again at the ordinary pace, never in a busy loop.
        return min(STEP_S, ahead + 0.001) if ahead > 0 else STEP_S

    def _translate(
        self, decision: Fire | Missed, wall: float, now_s: float
    ) -> StartProgram | SkipProgram:
        program = decision.program
        at = schedule.iso_utc(decision.due_utc)
        if isinstance(decision, Missed):
            log.info("program %s (due %s) skipped: %s", program.name, at, decision.reason)
            return SkipProgram(program.name, program.kind, decision.reason, at)
        try:
            start = self._start_of(program)
        except Exception as error:  # an unknown preset: said in the event, not a crash
            if program.kind != Kind.WAKE:
                return SkipProgram(program.name, program.kind, str(error), at)
            # A wake must ring: without its preset it plays its own keys or the last sound.
            log.warning("wake %s: %s; it rings without the preset", program.name, error)
            start = self._start_of(replace(program, preset=None))
        due_s = now_s + (decision.due_utc.timestamp() - wall)
        log.info("program %s starts (due %s, %.0f s late)", program.name, at, decision.late_s)
        return StartProgram(start, due_s)

    def _start_of(self, program: Program) -> ProgramStart:
        """The player's view of ``program`` (a preset resolved into its settings)."""
        values: dict[str, Any] = {
            "sound": program.sound,
            "volume": program.volume,
            "layer": program.layer,
            "layer_volume": program.layer_volume,
            "timer_min": program.timer_min,
        }
        if program.preset is not None:
            if self.resolve_preset is None:
                raise LookupError(f"preset {program.preset!r}: this daemon has no presets")
            preset = self.resolve_preset(program.preset)
            for key in values:
                if values[key] is None and preset.get(key) is not None:
                    values[key] = preset[key]
        return ProgramStart(
            name=program.name,
            kind=Kind(program.kind),
            fade_min=program.fade_min,
            then_after_min=program.then_after_min,
            then_volume=program.then_volume,
            then_sound=program.then_sound,
            snooze_min=program.snooze_or(self._settings.snooze_min),
            **values,
        )

    def _clock_synced(self, now_s: float) -> bool | None:
        # Once synchronised a clock stays so: ask far less often then.
        interval = SYNC_CHECK_S * (10 if self._synced is True else 1)
        if now_s - self._synced_at_s >= interval:
            self._synced_at_s = now_s
            self._synced = self._synced_fn()
            if self._synced is None and not self._said_untold:
                self._said_untold = True
                log.info(
                    "programs: this system cannot tell whether its clock is synchronised "
                    "(no systemd-timesyncd); trusting the clock"
                )
        return self._synced

    # -- the document ---------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """The status document's ``next_program`` and ``clock_synced``."""
        now_utc = dt.datetime.fromtimestamp(self._wall(), dt.UTC)
        upcoming = schedule.next_program(self.state, self.programs, now_utc, self._tz)
        next_program = None
        if upcoming is not None:
            program, due = upcoming
            next_program = {"name": program.name, "kind": program.kind, "at": schedule.iso_utc(due)}
        wake = self._next_wake(self.programs)
        return {
            "next_program": next_program,
            "next_wake": schedule.iso_utc(wake[1]) if wake else None,
            "programs": [
                {
                    "name": p.name,
                    "kind": p.kind,
                    "at": p.at.strftime("%H:%M"),
                    "enabled": p.enabled,
                    "skip_next": p.name in self.state.skip_next,
                }
                for p in self.programs
            ],
            "clock_synced": self._synced,
        }

    def _next_wake(self, programs: tuple[Program, ...]) -> tuple[Program, dt.datetime] | None:
        """The wake program due next (its skipped occurrence passed over) and when."""
        now_utc = dt.datetime.fromtimestamp(self._wall(), dt.UTC)
        wakes = [p for p in programs if p.kind == "wake"]
        return schedule.next_program(self.state, wakes, now_utc, self._tz)

    # -- edits ------------------------------------------------------------------------------

    def edit(
        self,
        key: str,
        value: Any,
        transaction: Transaction | None = None,
        check: Callable[[schedule.Program], str | None] | None = None,
    ) -> dict[str, Any]:
        """Apply one ``program_*`` edit; the reply, with the programs in force.

        ``check`` says why an added program could not play what it names (the player
        knows the sounds and presets), so a typo is refused now, not met at wake time.
        Raises :class:`~sleepsound.errors.ProgramError` (a ``CommandError``) naming what
        was wrong; nothing changes then.
        """
        stored, skip = self._stored, self.state.skip_next
        programs = self.programs
        warnings = []
        if key == "program_add":
            added = schedule.parse_program(value)
            problem = check(added) if check is not None else None
            if problem:
                raise ProgramError([(key, problem)])
            if any(program.name == added.name for program in programs):
                warnings.append(f"program {added.name!r} replaced by the one just added")
            stored = schedule.add_program(stored, added)
        elif key == "program_remove":
            stored = schedule.remove_program(stored, self._config_programs, value)
            skip = skip - {value}
        elif key in ("program_enable", "program_disable"):
            enabled = key == "program_enable"
            stored = schedule.set_enabled(stored, self._config_programs, value, enabled)
        elif key == "program_skip":
            skip = schedule.skip_next(skip, programs, value)
        elif key == "program_unskip":
            skip = schedule.unskip(skip, programs, value)
        elif key == "skip_next_wake":
            upcoming = self._next_wake(programs)
            if upcoming is None:
                raise ProgramError([("skip_next_wake", "no wake program is enabled")])
            skip = skip | {upcoming[0].name}
        if (stored, skip) != (self._stored, self.state.skip_next):
            self._stored = stored
            self.state = replace(self.state, skip_next=skip)
            self.due_s = 0.0
            problem = self._save()
            if problem:
                warnings.append(problem)
        return {**reply_ok(warnings=warnings, transaction=transaction), "programs": self.listing()}

    def listing(self) -> list[dict[str, Any]]:
        """Every program in force as its table, with ``skip_next`` and ``stored``."""
        stored = {p.name for p in self._stored}
        return [
            {
                **schedule.program_to_dict(program),
                "skip_next": program.name in self.state.skip_next,
                "stored": program.name in stored,
            }
            for program in self.programs
        ]

    def _save(self) -> str | None:
        try:
            program_store.save(self._path, self._stored, self.state.skip_next, self.state.judged)
        except OSError as error:
            message = f"cannot save the programs to {self._path} ({error}); kept until a restart"
            log.error("%s", message)
            return message
        return None


def preset_settings(
    name: str, config: Mapping[str, favourites.Preset], runtime: favourites.Presets
) -> dict[str, Any]:
    """Preset ``name``'s settings as a program takes them (``CommandError`` if unknown)."""
    preset = favourites.find(name, config, runtime)
    return {
        "sound": preset.sound,
        "volume": preset.volume,
        "layer": preset.layer if preset.layer is not None else "off",
        "layer_volume": preset.layer_volume,
        "timer_min": preset.sleep_timer,
    }


__all__ = ["STEP_S", "DaemonSchedule", "SkipProgram", "StartProgram", "preset_settings"]
