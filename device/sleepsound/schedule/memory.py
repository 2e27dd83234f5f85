"""Pure: the scheduler's memory of judged occurrences, as the programs store keeps it.

A restart must not fire again what already fired, nor report as missed what ran: the
``(program name, due instant)`` pairs of :attr:`SchedulerState.judged` are stored with
the runtime programs (:mod:`sleepsound.program_store`) and put back into the state at
start. Only what can still matter is kept: occurrences due in the last
:data:`~sleepsound.schedule.scheduler.FORGET_AFTER` (the scheduler never looks further
back), so the file stays a few lines long.

The stored form is a list of ``{"program": NAME, "due": "2026-11-23T07:00:00Z"}``
(:func:`~sleepsound.schedule.times.iso_utc`: whole seconds, which every due instant is).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sleepsound.schedule.scheduler import FORGET_AFTER
from sleepsound.schedule.times import iso_utc

Judged = frozenset[tuple[str, datetime]]
"""``(program name, due instant in UTC)`` of occurrences fired, missed or skipped."""


def prune(judged: Iterable[tuple[str, datetime]], now_utc: datetime) -> Judged:
    """The occurrences still worth remembering at ``now_utc`` (due within
    :data:`FORGET_AFTER`; one due in the future, after a clock stepped back, is kept)."""
    horizon = now_utc.astimezone(UTC) - FORGET_AFTER
    return frozenset(item for item in judged if item[1] >= horizon)


def judged_to_list(judged: Iterable[tuple[str, datetime]]) -> list[dict[str, str]]:
    """The stored form of ``judged``, sorted by due time then name (a stable file)."""
    return [
        {"program": name, "due": iso_utc(due)}
        for name, due in sorted(judged, key=lambda item: (item[1], item[0]))
    ]


def judged_from_list(raw: Any) -> tuple[Judged, tuple[str, ...]]:
    """Read the stored form back: the occurrences, and one line per entry dropped
    (not an object with a text ``program`` and an ISO 8601 UTC ``due``)."""
    if not isinstance(raw, list):
        return frozenset(), ("judged is not a list; forgotten (programs may fire again)",)
    judged: set[tuple[str, datetime]] = set()
    problems: list[str] = []
    for index, entry in enumerate(raw):
        due = _instant(entry.get("due")) if isinstance(entry, dict) else None
        name = entry.get("program") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not name or due is None:
            problems.append(f"judged[{index}] dropped: not {{program, due}}: {entry!r:.80}")
            continue
        judged.add((name, due))
    return frozenset(judged), tuple(problems)


def _instant(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text.endswith("Z"):
        return None
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00")
    except ValueError:
        return None
    return parsed.astimezone(UTC)


__all__ = ["Judged", "judged_from_list", "judged_to_list", "prune"]
