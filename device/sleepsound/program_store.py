"""The runtime programs (``ctl program add …``), the skip-next set and the occurrences
already fired or skipped (``judged``: a restart must not fire a wake again), kept across
reboots in ``programs.json`` beside the state file. An adapter: file I/O, no policy.

Saved atomically (temp file, fsync, rename: :func:`sleepsound.statefile.write_atomic`),
so a power cut leaves the old list or the new one. :func:`load` never raises: a missing
file is an empty list; a corrupt one is renamed aside (``programs.json.corrupt``) and
an empty list returned, with a warning; a single bad entry is dropped with a warning.
A file without ``judged`` (written before it existed) loads with nothing judged.
Each entry is checked by :func:`sleepsound.schedule.parse_program`, like the config's.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from sleepsound.errors import ProgramError
from sleepsound.schedule import (
    Program,
    judged_from_list,
    judged_to_list,
    parse_program,
    program_to_dict,
)
from sleepsound.schedule.memory import Judged
from sleepsound.statefile import set_aside, write_atomic

FILE_NAME: Final = "programs.json"
FORMAT_VERSION: Final = 1
MAX_BYTES: Final = 1024 * 1024
"""A real file is a few KiB; more is not ours."""


@dataclass(frozen=True)
class StoredPrograms:
    """What :func:`load` read: the programs, the skip-next set, the judged occurrences,
    and what went wrong."""

    programs: tuple[Program, ...] = ()
    skip_next: frozenset[str] = frozenset()
    judged: Judged = frozenset()
    """``(program name, due UTC)`` of occurrences fired or skipped lately."""
    warnings: tuple[str, ...] = ()
    """One line each, for the log (a renamed corrupt file, a dropped entry)."""


def path_beside(state_file: str) -> str:
    """``programs.json`` in the state file's folder (``[state] file``)."""
    return os.path.join(os.path.dirname(os.path.abspath(state_file)), FILE_NAME)


def load(path: str | os.PathLike[str]) -> StoredPrograms:
    """Read the stored programs; never raises (see the module's rules)."""
    target = os.fspath(path)
    try:
        with open(target, "rb") as file:
            data = file.read(MAX_BYTES + 1)
    except FileNotFoundError:
        return StoredPrograms()
    except OSError as error:
        return StoredPrograms(warnings=(f"cannot read {target} ({error}); no stored programs",))
    try:
        document = json.loads(data.decode("utf-8")) if len(data) <= MAX_BYTES else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        document = None
    if (
        not isinstance(document, dict)
        or document.get("version") != FORMAT_VERSION
        or not isinstance(document.get("programs"), list)
    ):
        return StoredPrograms(warnings=(_set_aside(target),))
    warnings: list[str] = []
    programs: list[Program] = []
    for index, raw in enumerate(document["programs"]):
        try:
            program = parse_program(raw)
        except ProgramError as error:
            warnings.append(f"{target}: programs[{index}] dropped: {error}")
            continue
        if any(p.name == program.name for p in programs):
            warnings.append(f"{target}: programs[{index}] dropped: {program.name!r} twice")
            continue
        programs.append(program)
    skip = document.get("skip_next", [])
    names = frozenset(n for n in skip if isinstance(n, str)) if isinstance(skip, list) else None
    if names is None:
        warnings.append(f"{target}: skip_next is not a list of names; nothing skipped")
    judged: Judged = frozenset()
    if "judged" in document:
        judged, problems = judged_from_list(document["judged"])
        warnings.extend(f"{target}: {problem}" for problem in problems)
    return StoredPrograms(tuple(programs), names or frozenset(), judged, tuple(warnings))


def save(
    path: str | os.PathLike[str],
    programs: Iterable[Program],
    skip_next: Iterable[str] = (),
    judged: Iterable[tuple[str, dt.datetime]] = (),
) -> None:
    """Write the runtime programs, the skip-next set and the judged occurrences (the
    caller prunes them: :func:`sleepsound.schedule.prune`) atomically, creating the folder.

    Raises :class:`OSError` when it cannot be written (the caller logs it and carries on).
    """
    document = {
        "version": FORMAT_VERSION,
        "programs": [program_to_dict(program) for program in programs],
        "skip_next": sorted(skip_next),
        "judged": judged_to_list(judged),
    }
    target = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
    write_atomic(target, (json.dumps(document, indent=2) + "\n").encode("utf-8"))


def _set_aside(target: str) -> str:
    try:
        aside = set_aside(target, ".corrupt")
    except OSError as error:
        return f"{target} is not a programs file and cannot be moved aside ({error}); ignored"
    return f"{target} is not a programs file; moved to {aside}, starting with no stored programs"


__all__ = ["FILE_NAME", "StoredPrograms", "load", "path_beside", "save"]
