"""``sleepsound ctl program ...``: the schedule's edits, as sugar on the one vocabulary::

    sleepsound ctl program list
    sleepsound ctl program add NAME --kind wake --at 07:00 [--days weekdays]
        [--sound S | --preset P] [--volume V] [--fade MIN] [--timer MIN] [--snooze MIN]
        [--then-after MIN] [--then-volume V] [--then-sound S]
    sleepsound ctl program remove | enable | disable | skip | unskip NAME

Each sends one ``program_*`` command (``{"program_skip": "weekday"}``) and prints the
programs in force from the reply, one a line.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any, Final

from sleepsound.cli.args import finite_number

VERBS: Final = ("list", "add", "remove", "enable", "disable", "skip", "unskip")

_ADD_OPTIONS: Final = (
    # (option, program key, type)
    ("--kind", "kind", str),
    ("--at", "at", str),
    ("--days", "days", str),
    ("--sound", "sound", str),
    ("--preset", "preset", str),
    ("--volume", "volume", finite_number),
    ("--fade", "fade_min", finite_number),
    ("--timer", "timer_min", finite_number),
    ("--snooze", "snooze_min", finite_number),
    ("--then-after", "then_after_min", finite_number),
    ("--then-volume", "then_volume", finite_number),
    ("--then-sound", "then_sound", str),
)


def register(actions: Any, common: argparse.ArgumentParser) -> None:
    """Add ``ctl program`` to ``ctl``'s actions."""
    program = actions.add_parser(
        "program", parents=[common], help="list, add, remove, enable, disable or skip programs"
    )
    program.add_argument("verb", choices=VERBS, metavar="|".join(VERBS))
    program.add_argument("name", nargs="?", metavar="NAME", help="e.g. weekday")
    for option, key, kind in _ADD_OPTIONS:
        program.add_argument(
            option, dest=f"program_{key}", type=kind, metavar=key.upper(), help=f"add: {key}"
        )


def command(args: argparse.Namespace) -> dict[str, Any]:
    """The ``program_*`` command for ``ctl program VERB [NAME] ...``."""
    verb = args.verb
    if verb == "list":
        if args.name is not None:
            raise argparse.ArgumentTypeError("ctl program list takes no NAME")
        return {"program_list": True}
    if args.name is None:
        raise argparse.ArgumentTypeError(f"ctl program {verb} needs a NAME, e.g. weekday")
    if verb != "add":
        return {f"program_{verb}": args.name}
    program: dict[str, Any] = {"name": args.name}
    for _option, key, _kind in _ADD_OPTIONS:
        value = getattr(args, f"program_{key}")
        if value is not None:
            program[key] = int(value) if isinstance(value, float) and value.is_integer() else value
    if program.get("days") is not None and "," in program["days"]:
        program["days"] = [day.strip() for day in program["days"].split(",")]
    return {"program_add": program}


def lines(reply: Mapping[str, Any]) -> list[str]:
    """The programs of a ``program_*`` reply, one line each, for people."""
    programs = reply.get("programs") or []
    if not programs:
        return ["no programs yet: `sleepsound ctl program add NAME --kind wake --at 07:00 ...`"]
    out = []
    for program in programs:
        days = program.get("days")
        days_text = days if isinstance(days, str) else ",".join(days or [])
        what = program.get("preset") or program.get("sound") or "the current sound"
        flags = []
        if not program.get("enabled", True):
            flags.append("disabled")
        if program.get("skip_next"):
            flags.append("next one skipped")
        state = f" ({', '.join(flags)})" if flags else ""
        out.append(
            f"{program['name']}: {program['kind']} at {program['at']} {days_text}, {what}{state}"
        )
    return out


__all__ = ["VERBS", "command", "lines", "register"]
