"""The scheduler's memory across restarts (issue 14's follow-up): what fired or was
skipped is stored with the runtime programs and never fires (or is reported missed)
again after a restart. Pure round trips through the store's form, pruning, and the
store itself (old files without the key, corrupt entries)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from pathlib import Path
from zoneinfo import ZoneInfo

from sleepsound import program_store
from sleepsound.schedule import (
    Fire,
    Missed,
    SchedulerState,
    judged_from_list,
    judged_to_list,
    parse_program,
    prune,
    step,
)

UTC = ZoneInfo("UTC")
WAKE = parse_program(
    {"name": "wake", "kind": "wake", "at": "07:00", "days": "daily", "sound": "rain"}
)
DUE = dt.datetime(2026, 11, 23, 7, 0, tzinfo=dt.UTC)


def restarted(state: SchedulerState) -> SchedulerState:
    """A fresh daemon's state holding what ``state`` judged, through the stored form."""
    judged, problems = judged_from_list(json.loads(json.dumps(judged_to_list(state.judged))))
    assert problems == ()
    return replace(SchedulerState(), judged=judged)


def first_run(now: dt.datetime) -> tuple[SchedulerState, tuple]:
    return step(SchedulerState(), [WAKE], now, UTC, True, 15)


def test_a_restart_within_grace_does_not_fire_the_wake_again() -> None:
    state, decisions = first_run(DUE + dt.timedelta(seconds=5))
    assert [type(d) for d in decisions] == [Fire]
    again = DUE + dt.timedelta(minutes=3)
    assert step(restarted(state), [WAKE], again, UTC, True, 15)[1] == ()
    # The counter-test: without the memory the same restart fires it again.
    assert [type(d) for d in first_run(again)[1]] == [Fire]


def test_a_restart_later_does_not_report_a_wake_that_ran_as_missed() -> None:
    state, _ = first_run(DUE + dt.timedelta(seconds=5))
    later = DUE + dt.timedelta(minutes=50)
    assert step(restarted(state), [WAKE], later, UTC, True, 15)[1] == ()
    assert [type(d) for d in first_run(later)[1]] == [Missed]


def test_a_missed_occurrence_is_reported_once_across_restarts() -> None:
    state, decisions = first_run(DUE + dt.timedelta(minutes=30))
    assert [type(d) for d in decisions] == [Missed]
    assert step(restarted(state), [WAKE], DUE + dt.timedelta(minutes=31), UTC, True, 15)[1] == ()


def test_tomorrow_s_occurrence_still_fires_after_a_restart() -> None:
    state, _ = first_run(DUE + dt.timedelta(seconds=5))
    tomorrow = DUE + dt.timedelta(days=1, seconds=-20 * 60 + 1)  # the rise's start
    _, decisions = step(restarted(state), [WAKE], tomorrow, UTC, True, 15)
    assert [(type(d), d.due_utc) for d in decisions] == [(Fire, DUE + dt.timedelta(days=1))]


def test_the_stored_form_is_sorted_whole_seconds_utc() -> None:
    other = DUE.astimezone(ZoneInfo("Europe/London")) + dt.timedelta(hours=1)
    assert judged_to_list({("b", other), ("a", DUE), ("c", DUE)}) == [
        {"program": "a", "due": "2026-11-23T07:00:00Z"},
        {"program": "c", "due": "2026-11-23T07:00:00Z"},
        {"program": "b", "due": "2026-11-23T08:00:00Z"},
    ]


def test_pruning_keeps_two_days_and_a_future_one() -> None:
    now = DUE + dt.timedelta(days=2, minutes=1)
    old = ("wake", DUE)
    recent = ("wake", DUE + dt.timedelta(days=1))
    ahead = ("wake", DUE + dt.timedelta(days=3))  # judged before the clock stepped back
    assert prune({old, recent, ahead}, now) == {recent, ahead}
    # The scheduler's own step prunes the same way, so the file never grows.
    state = replace(SchedulerState(), judged=frozenset({old, recent}))
    assert step(state, [], now, UTC, True, 15)[0].judged == {recent}


def test_bad_stored_entries_are_dropped_with_why() -> None:
    raw = [
        {"program": "wake", "due": "2026-11-23T07:00:00Z"},
        {"program": "wake", "due": "07:00"},
        {"program": "", "due": "2026-11-23T07:00:00Z"},
        {"due": "2026-11-23T07:00:00Z"},
        {"program": "wake", "due": "2026-11-23T07:00:00"},  # no zone: not ours
        "wake",
    ]
    judged, problems = judged_from_list(raw)
    assert judged == {("wake", DUE)}
    assert [p.split(" dropped")[0] for p in problems] == [f"judged[{i}]" for i in range(1, 6)]
    assert judged_from_list({"wake": 1})[0] == frozenset()


# -- the store ------------------------------------------------------------------------------


def test_the_store_round_trips_the_judged_occurrences(tmp_path: Path) -> None:
    path = tmp_path / "programs.json"
    judged = {("wake", DUE), ("nap", DUE - dt.timedelta(hours=5))}
    program_store.save(path, [WAKE], {"wake"}, judged)
    loaded = program_store.load(path)
    assert loaded.judged == judged and loaded.warnings == ()
    assert loaded.programs == (WAKE,) and loaded.skip_next == {"wake"}


def test_an_old_store_without_judged_loads_with_nothing_judged(tmp_path: Path) -> None:
    path = tmp_path / "programs.json"
    old = {
        "version": 1,
        "programs": [{"name": "nap", "kind": "bedtime", "at": "14:00", "sound": "rain"}],
        "skip_next": ["nap"],
    }
    path.write_text(json.dumps(old))
    loaded = program_store.load(path)
    assert [p.name for p in loaded.programs] == ["nap"] and loaded.skip_next == {"nap"}
    assert loaded.judged == frozenset() and loaded.warnings == ()
    assert path.exists()  # read, not moved aside


def test_corrupt_judged_entries_are_dropped_and_the_rest_kept(tmp_path: Path) -> None:
    path = tmp_path / "programs.json"
    judged = [{"program": "wake", "due": "2026-11-23T07:00:00Z"}, {"program": 3, "due": None}]
    path.write_text(json.dumps({"version": 1, "programs": [], "judged": judged}))
    loaded = program_store.load(path)
    assert loaded.judged == {("wake", DUE)}
    (warning,) = loaded.warnings
    assert "judged[1] dropped" in warning and str(path) in warning
    path.write_text(json.dumps({"version": 1, "programs": [], "judged": "yesterday"}))
    loaded = program_store.load(path)
    assert loaded.judged == frozenset() and "judged is not a list" in loaded.warnings[0]
