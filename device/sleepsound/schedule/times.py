"""Pure: when a program is due, in UTC, from its local wall-clock time (zoneinfo).

The rules, for every time zone ``zoneinfo`` knows:

* a program is due once per allowed local day, at ``at`` on that day's wall clock;
* a time that does not exist that day (02:30 on a spring-forward night) is due at the
  first instant after the gap (03:00 new time, the moment the clocks change);
* a time that happens twice (the repeated hour at fall-back) is due once, the first
  time (``fold=0``);
* a wake's *due* instant is ``at`` (when the sound must reach the wake volume); its
  rise starts ``fade_min`` earlier (:func:`start_of`). A bedtime starts at ``at``.

No clock is read: every function takes the instant it reasons from.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, tzinfo

from sleepsound.schedule.program import Program

_DAY = timedelta(days=1)


def local_due(program: Program, day: date, tz: tzinfo) -> datetime | None:
    """The UTC instant ``program`` is due on local ``day``, or None if it does not run then."""
    if day.weekday() not in program.days:
        return None
    return wall_to_utc(datetime.combine(day, program.at), tz)


def wall_to_utc(wall: datetime, tz: tzinfo) -> datetime:
    """A naive local wall-clock time as an aware UTC instant, by the rules above."""
    first = wall.replace(tzinfo=tz, fold=0)
    instant = first.astimezone(UTC)
    if instant.astimezone(tz).replace(tzinfo=None) == wall:
        return instant  # exists (once, or the first of two when repeated)
    # In a gap: fold=0 reads it with the offset before the change, fold=1 with the one
    # after; the change itself lies between the two readings. Find it to the second.
    # Offsets change on whole seconds: search those, in epoch seconds.
    low = int(wall.replace(tzinfo=tz, fold=1).timestamp())
    high = int(instant.timestamp())
    if low > high:
        low, high = high, low
    after = _offset(high, tz)
    while high - low > 1:
        middle = (low + high) // 2
        if _offset(middle, tz) == after:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def _offset(epoch_s: int, tz: tzinfo) -> timedelta | None:
    return datetime.fromtimestamp(epoch_s, UTC).astimezone(tz).utcoffset()


def start_of(program: Program, due_utc: datetime) -> datetime:
    """When the program must begin: a wake's rise starts ``fade_min`` before it is due."""
    if program.kind == "wake":
        return due_utc - timedelta(minutes=program.fade_min)
    return due_utc


def occurrences(
    program: Program, from_utc: datetime, until_utc: datetime, tz: tzinfo
) -> Iterator[datetime]:
    """Every due instant of ``program`` with ``from_utc <= due < until_utc``, in order."""
    # A local day's due instant lies within a day of its UTC date (offsets are < 24 h).
    day = from_utc.astimezone(tz).date() - _DAY
    last = until_utc.astimezone(tz).date() + _DAY
    while day <= last:
        due = local_due(program, day, tz)
        if due is not None and from_utc <= due < until_utc:
            yield due
        day += _DAY


def next_occurrence(program: Program, after_utc: datetime, tz: tzinfo) -> datetime:
    """The first due instant of ``program`` strictly after ``after_utc`` (aware UTC).

    Whether the program is enabled is not looked at: this is the calendar alone.
    """
    after = after_utc.astimezone(UTC)
    # Every program runs at least one weekday, so eight days always hold one.
    for due in occurrences(program, after + timedelta(microseconds=1), after + 9 * _DAY, tz):
        return due
    raise AssertionError("a program with no days")  # parse_program refuses empty days


def iso_utc(instant: datetime) -> str:
    """``2026-03-29T06:00:00Z``: the status document's form of an instant (whole seconds)."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


__all__ = ["iso_utc", "local_due", "next_occurrence", "occurrences", "start_of", "wall_to_utc"]
