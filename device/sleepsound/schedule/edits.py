"""Pure: the runtime edits of programs (``ctl program …``, MQTT, the phone page).

The programs in force are the config's ``[[programs]]`` overlaid by the stored
(runtime) ones: a stored program replaces the config's of the same name
(:func:`merged`). Each edit takes the current values and returns new ones, or raises
:class:`~sleepsound.errors.ProgramError` naming what was wrong; the shell stores the
result (:mod:`sleepsound.program_store`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from sleepsound.commands import did_you_mean
from sleepsound.errors import ProgramError
from sleepsound.schedule.program import Program


def merged(config_programs: Iterable[Program], stored: Iterable[Program]) -> tuple[Program, ...]:
    """The programs in force: the config's in order, each replaced by a stored one of
    the same name, then the stored ones the config does not have."""
    stored = tuple(stored)
    by_name = {program.name: program for program in stored}
    config_programs = tuple(config_programs)
    config_names = {program.name for program in config_programs}
    return tuple(by_name.get(p.name, p) for p in config_programs) + tuple(
        p for p in stored if p.name not in config_names
    )


def add_program(stored: Iterable[Program], program: Program) -> tuple[Program, ...]:
    """``stored`` with ``program`` added, replacing the stored one of the same name
    (in place, so listings keep their order)."""
    stored = tuple(stored)
    if any(p.name == program.name for p in stored):
        return tuple(program if p.name == program.name else p for p in stored)
    return (*stored, program)


def remove_program(
    stored: Iterable[Program], config_programs: Iterable[Program], name: str
) -> tuple[Program, ...]:
    """``stored`` without program ``name``. A program written in the config file cannot
    be removed at runtime (it would come back at the next start): disable it instead.
    Removing a stored change to a config program brings the config's version back."""
    stored = tuple(stored)
    if any(p.name == name for p in stored):
        return tuple(p for p in stored if p.name != name)
    config_programs = tuple(config_programs)
    if any(p.name == name for p in config_programs):
        raise ProgramError(
            [
                (
                    "name",
                    f"{name!r} is written in the config file; remove it there, "
                    "or disable it (enabled = false)",
                )
            ]
        )
    raise _unknown(name, stored + config_programs)


def set_enabled(
    stored: Iterable[Program], config_programs: Iterable[Program], name: str, enabled: bool
) -> tuple[Program, ...]:
    """``stored`` with program ``name`` enabled or disabled (a config program gets a
    stored copy carrying the change)."""
    current = find_program(merged(config_programs, stored), name)
    return add_program(stored, replace(current, enabled=enabled))


def skip_next(skip: frozenset[str], programs: Iterable[Program], name: str) -> frozenset[str]:
    """``skip`` with ``name`` added: its next occurrence will not play (once)."""
    return skip | {find_program(programs, name).name}


def unskip(skip: frozenset[str], programs: Iterable[Program], name: str) -> frozenset[str]:
    """``skip`` without ``name``: its next occurrence plays after all."""
    return skip - {find_program(programs, name).name}


def find_program(programs: Iterable[Program], name: str) -> Program:
    """The program called ``name``; :class:`ProgramError` with a did-you-mean if none."""
    programs = tuple(programs)
    for program in programs:
        if program.name == name:
            return program
    raise _unknown(name, programs)


def _unknown(name: str, programs: tuple[Program, ...]) -> ProgramError:
    names = [p.name for p in programs]
    known = f"; programs are {', '.join(names)}" if names else "; there are no programs yet"
    return ProgramError([("name", f"no program {name!r}{did_you_mean(name, names) or known}")])


__all__ = [
    "add_program",
    "find_program",
    "merged",
    "remove_program",
    "set_enabled",
    "skip_next",
    "unskip",
]
