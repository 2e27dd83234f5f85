"""``sleepsound programs``: when will the programs fire? ("Will it wake me on Monday
after the clock change?")

Lists every occurrence of the programs in force (the config's ``[[programs]]``
overlaid by the runtime ones stored beside the state file) on the coming days, in
local time and UTC, with a wake's rise start, the next occurrence a skip-next will
pass over, and the days the clocks change. Reads the config and the store only: no
daemon needed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any, Final, TextIO

from sleepsound import local_time, program_store, runpaths
from sleepsound.config import load_config
from sleepsound.schedule import Upcoming, days_text, iso_utc, merged, upcoming

MAX_DAYS: Final = 366


def register(subparsers: Any) -> None:
    """Add ``programs``."""
    parser = subparsers.add_parser(
        "programs",
        help="list when the bedtime and wake programs fire next",
        description=(
            "List the upcoming fire times of the configured and stored programs, in local "
            "time and UTC (a wake also shows when its rise starts)."
        ),
    )
    parser.add_argument("--config", metavar="PATH", help="config file")
    parser.add_argument(
        "--from",
        dest="start",
        type=_day,
        metavar="YYYY-MM-DD",
        help="first day to list (default: today, in the programs' time zone)",
    )
    parser.add_argument(
        "--days", type=_day_count, default=7, metavar="N", help="how many days (default 7)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """List the upcoming occurrences; exit status 0."""
    out = out or sys.stdout
    config = load_config(args.config)
    tz = local_time.zone(config.schedule.timezone)
    store = program_store.load(
        program_store.path_beside(runpaths.state_file_path(config.state.file, os.environ))
    )
    for warning in store.warnings:
        print(f"sleepsound: warning: {warning}", file=sys.stderr)
    programs = merged(config.programs, store.programs)
    start = args.start or datetime.now(UTC).astimezone(tz).date()
    listed = upcoming(programs, start, args.days, tz, store.skip_next)
    disabled = [p.name for p in programs if not p.enabled]
    changes = _clock_changes(start, args.days, tz)
    if args.json:
        document = {
            "timezone": str(tz),
            "from": start.isoformat(),
            "days": args.days,
            "occurrences": [_entry(item, tz) for item in listed],
            "disabled": disabled,
            "clock_changes": [
                {"at": iso_utc(when), "before": before, "after": after}
                for when, before, after in changes
            ],
        }
        print(json.dumps(document, indent=2), file=out)
        return 0
    _print_table(listed, programs, disabled, changes, start, args.days, tz, out)
    return 0


def _entry(item: Upcoming, tz: tzinfo) -> dict[str, Any]:
    wake = item.program.kind == "wake"
    return {
        "name": item.program.name,
        "kind": item.program.kind,
        "at": iso_utc(item.due_utc),
        "local": item.due_utc.astimezone(tz).isoformat(),
        "rise_start": iso_utc(item.start_utc) if wake else None,
        "rise_start_local": item.start_utc.astimezone(tz).isoformat() if wake else None,
        "skipped": item.skipped,
        "note": _gap_note(item, item.due_utc.astimezone(tz)) or None,
    }


def _print_table(
    listed: list[Upcoming],
    programs: tuple[Any, ...],
    disabled: list[str],
    changes: list[tuple[datetime, str, str]],
    start: date,
    days: int,
    tz: tzinfo,
    out: TextIO,
) -> None:
    last = start + timedelta(days=days - 1)
    print(f"Programs in {tz} from {start:%a %Y-%m-%d} to {last:%a %Y-%m-%d}:", file=out)
    if not programs:
        print("  no programs: add [[programs]] to the config (see README, Programs)", file=out)
        return
    if listed:
        header = ("LOCAL", "UTC", "KIND", "NAME", "RISE STARTS", "")
        rows = [header] + [_row(item, tz) for item in listed]
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        for row in rows:
            print(
                "  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip(),
                file=out,
            )
    else:
        print("  nothing fires on these days", file=out)
    for when, before, after in changes:
        local = when.astimezone(tz)
        print(
            f"  clocks change {local:%a %Y-%m-%d} at {iso_utc(when)} ({before} -> {after}): "
            "programs keep their wall-clock time",
            file=out,
        )
    if disabled:
        print(f"  disabled: {', '.join(disabled)}", file=out)
    named = {p.name: days_text(p.days) for p in programs if p.enabled}
    if named:
        print("  days: " + "; ".join(f"{n}: {d}" for n, d in named.items()), file=out)


def _row(item: Upcoming, tz: tzinfo) -> tuple[str, str, str, str, str, str]:
    local = item.due_utc.astimezone(tz)
    rise = ""
    if item.program.kind == "wake":
        rise = item.start_utc.astimezone(tz).strftime("%H:%M %Z")
    return (
        local.strftime("%a %Y-%m-%d %H:%M %Z"),
        iso_utc(item.due_utc),
        item.program.kind,
        item.program.name,
        rise,
        "; ".join(note for note in (_gap_note(item, local), _skip_note(item)) if note),
    )


def _gap_note(item: Upcoming, local: datetime) -> str:
    at = item.program.at
    if (local.hour, local.minute) == (at.hour, at.minute):
        return ""
    return f"{at:%H:%M} does not exist that day (clocks go forward)"


def _skip_note(item: Upcoming) -> str:
    return "skipped (skip next)" if item.skipped else ""


def _clock_changes(start: date, days: int, tz: tzinfo) -> list[tuple[datetime, str, str]]:
    """The instants the zone's offset changes in the listed days, with the names around."""
    changes = []
    begin = datetime.combine(start, datetime.min.time(), tz).astimezone(UTC)
    hour = timedelta(hours=1)
    previous = begin.astimezone(tz)
    for step in range(1, days * 24 + 1):
        moment = (begin + step * hour).astimezone(tz)
        if moment.utcoffset() != previous.utcoffset():
            # Offsets change on the hour or half hour in every zone this lists: find the minute.
            low = begin + (step - 1) * hour
            when = next(
                low + m * timedelta(minutes=1)
                for m in range(1, 61)
                if (low + m * timedelta(minutes=1)).astimezone(tz).utcoffset() == moment.utcoffset()
            )
            changes.append((when, previous.tzname() or "", moment.tzname() or ""))
        previous = moment
    return changes


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None


def _day_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of days") from None
    if not 1 <= value <= MAX_DAYS:
        raise argparse.ArgumentTypeError(f"--days must be from 1 to {MAX_DAYS}, not {value}")
    return value
