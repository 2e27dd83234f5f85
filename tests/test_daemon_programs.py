"""The daemon's schedule shell (sleepsound.daemon.programs) on a fake wall clock.

Real files (the programs store beside the state file), real config parsing; the wall
clock and the clock-sync answer are passed in, as the daemon passes the real ones.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path

import pytest

from sleepsound import favourites, program_store
from sleepsound.config import parse_config
from sleepsound.daemon.programs import (
    STEP_S,
    DaemonSchedule,
    SkipProgram,
    StartProgram,
    preset_settings,
)
from sleepsound.errors import CommandError, ProgramError
from sleepsound.program_run import Kind

MONDAY_0600 = dt.datetime(2026, 11, 23, 6, 0, tzinfo=dt.UTC).timestamp()
CONFIG = """
[schedule]
timezone = "UTC"
grace_min = 15
snooze_min = 7

[[programs]]
name = "weekday"
kind = "wake"
at = "07:00"
days = "weekdays"
sound = "birds"
volume = 45
fade_min = 20
then_after_min = 10
then_volume = 60
"""


class Clocks:
    """A wall clock and a monotonic one moving together (as real ones do)."""

    def __init__(self, wall: float) -> None:
        self.wall = wall
        self.mono = 100.0
        self.synced: bool | None = True

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


def make(tmp_path: Path, clocks: Clocks, text: str = CONFIG) -> DaemonSchedule:
    config = parse_config(tomllib.loads(text))
    return DaemonSchedule(
        config,
        str(tmp_path / "programs.json"),
        wall_clock=lambda: clocks.wall,
        synced=lambda: clocks.synced,
    )


def run_until(keeper: DaemonSchedule, clocks: Clocks, wall: float, most_s: float = 30.0) -> list:
    """Step the schedule as the loop does (at each due_s) until ``wall``; between
    programs the test strides up to ``most_s`` instead of the loop's STEP_S (the
    scheduler is judged on the wall clock, so only the speed differs)."""
    assert keeper.due_s - clocks.mono <= STEP_S
    steps = []
    while clocks.wall < wall:
        steps.extend(keeper.step(clocks.mono))
        wait = keeper.due_s - clocks.mono
        clocks.advance(min(max(wait, 0.001), most_s if wait >= STEP_S else wait))
    return steps


def test_a_wake_starts_at_its_rise_with_its_due_time_on_the_monotonic_clock(
    tmp_path: Path,
) -> None:
    clocks = Clocks(MONDAY_0600)
    keeper = make(tmp_path, clocks)
    assert keeper.status()["next_program"] == {
        "name": "weekday",
        "kind": "wake",
        "at": "2026-11-23T07:00:00Z",
    }
    steps = run_until(keeper, clocks, MONDAY_0600 + 40 * 60 + 1)
    assert len(steps) == 1 and isinstance(steps[0], StartProgram)
    start = steps[0].start
    assert (start.name, start.kind, start.sound, start.volume) == (
        "weekday",
        Kind.WAKE,
        "birds",
        45,
    )
    assert (start.then_after_min, start.then_volume, start.snooze_min) == (10, 60, 7)
    # Fired within a few ms of 06:40; due at 07:00, i.e. 20 min later on the monotonic clock.
    fired_mono = clocks.mono - (clocks.wall - (MONDAY_0600 + 40 * 60))
    assert steps[0].due_s == pytest.approx(fired_mono + 20 * 60, abs=0.01)
    assert keeper.status()["next_program"]["at"] == "2026-11-24T07:00:00Z"


def test_no_wake_on_an_unsynchronised_clock_and_a_late_one_is_reported(tmp_path: Path) -> None:
    clocks = Clocks(MONDAY_0600)
    clocks.synced = False
    keeper = make(tmp_path, clocks)
    assert run_until(keeper, clocks, MONDAY_0600 + 80 * 60) == []  # 07:20: 20 min late
    assert keeper.step(clocks.mono) == []
    assert keeper.due_s - clocks.mono == pytest.approx(STEP_S)  # asked again calmly, not busily
    assert keeper.status()["clock_synced"] is False
    clocks.synced = True
    steps = run_until(keeper, clocks, MONDAY_0600 + 82 * 60)  # asked again within 30 s
    assert steps == [
        SkipProgram("weekday", "wake", "clock was not synchronised", "2026-11-23T07:00:00Z")
    ]


def test_an_unsynchronised_clock_is_trusted_when_the_config_says_so(tmp_path: Path) -> None:
    clocks = Clocks(MONDAY_0600)
    clocks.synced = False
    keeper = make(
        tmp_path, clocks, CONFIG.replace("grace_min", "require_clock_sync = false\ngrace_min")
    )
    steps = run_until(keeper, clocks, MONDAY_0600 + 41 * 60)
    assert [type(s) for s in steps] == [StartProgram]


def test_edits_are_stored_beside_the_state_file_and_survive_a_restart(tmp_path: Path) -> None:
    clocks = Clocks(MONDAY_0600)
    keeper = make(tmp_path, clocks)
    nap = {"name": "nap", "kind": "bedtime", "at": "06:30", "days": "daily", "sound": "rain"}
    listing = keeper.edit("program_add", nap)["programs"]
    assert [(p["name"], p["stored"]) for p in listing] == [("weekday", False), ("nap", True)]
    keeper.edit("program_disable", "weekday")
    keeper.edit("program_skip", "nap")
    stored = program_store.load(tmp_path / "programs.json")
    assert [p.name for p in stored.programs] == ["nap", "weekday"]
    assert stored.skip_next == frozenset({"nap"})
    again = make(tmp_path, clocks)  # a restart
    assert [(p["name"], p["enabled"], p["skip_next"]) for p in again.listing()] == [
        ("weekday", False, False),
        ("nap", True, True),
    ]
    # The skipped nap and the disabled wake: nothing today; the nap tomorrow.
    assert again.status()["next_program"]["at"] == "2026-11-24T06:30:00Z"
    steps = run_until(again, clocks, MONDAY_0600 + 31 * 60)
    assert steps == [SkipProgram("nap", "bedtime", "skipped by request", "2026-11-23T06:30:00Z")]
    assert program_store.load(tmp_path / "programs.json").skip_next == frozenset()


def test_bad_edits_name_what_was_wrong_and_change_nothing(tmp_path: Path) -> None:
    clocks = Clocks(MONDAY_0600)
    keeper = make(tmp_path, clocks)
    with pytest.raises(ProgramError, match="weekday") as caught:
        keeper.edit("program_skip", "weekdya")
    assert caught.value.field == "name"
    with pytest.raises(ProgramError) as caught:
        keeper.edit("program_add", {"name": "x", "kind": "wake", "at": "25:00", "sound": "rain"})
    assert caught.value.field == "at"
    with pytest.raises(ProgramError, match="config file"):
        keeper.edit("program_remove", "weekday")
    assert not (tmp_path / "programs.json").exists()


def test_a_wake_naming_a_preset_that_is_gone_still_rings_without_it(tmp_path: Path) -> None:
    clocks = Clocks(MONDAY_0600)
    text = CONFIG.replace('sound = "birds"', 'preset = "dawn"')
    keeper = make(tmp_path, clocks, text)
    steps = run_until(keeper, clocks, MONDAY_0600 + 41 * 60)
    assert len(steps) == 1 and isinstance(steps[0], StartProgram)
    assert steps[0].start.sound is None and steps[0].start.volume == 45  # its own keys
    keeper.resolve_preset = lambda name: {"sound": "ocean-surf", "volume": 33}
    clocks.advance(24 * 3600)
    steps = run_until(keeper, clocks, clocks.wall + 3600)
    assert steps[0].start.sound == "ocean-surf" and steps[0].start.volume == 45


def test_a_bedtime_naming_a_preset_that_is_gone_is_skipped_with_why(tmp_path: Path) -> None:
    clocks = Clocks(MONDAY_0600)
    text = CONFIG.replace('kind = "wake"', 'kind = "bedtime"').replace(
        'sound = "birds"', 'preset = "dawn"'
    )
    text = "\n".join(line for line in text.splitlines() if not line.startswith("then_"))
    keeper = make(tmp_path, clocks, text)
    steps = run_until(keeper, clocks, MONDAY_0600 + 61 * 60)
    assert len(steps) == 1 and isinstance(steps[0], SkipProgram)
    assert "dawn" in steps[0].reason


def test_an_added_program_that_cannot_play_is_refused_and_a_replaced_one_is_said(
    tmp_path: Path,
) -> None:
    clocks = Clocks(MONDAY_0600)
    keeper = make(tmp_path, clocks)
    program = {"name": "x", "kind": "wake", "at": "07:30", "sound": "nightingale"}
    with pytest.raises(ProgramError, match="nightingale"):
        keeper.edit("program_add", program, check=lambda p: f"unknown sound {p.sound!r}")
    assert not (tmp_path / "programs.json").exists()
    reply = keeper.edit("program_add", {**program, "sound": "birds"}, check=lambda p: None)
    assert reply["status"] == "ok" and "warning" not in reply
    reply = keeper.edit("program_add", {**program, "sound": "birds", "at": "07:45"})
    assert "replaced" in reply["warning"]


def test_skip_next_wake_skips_whichever_wake_is_next_and_the_document_lists_programs(
    tmp_path: Path,
) -> None:
    clocks = Clocks(MONDAY_0600)
    keeper = make(tmp_path, clocks)
    nap = {"name": "nap", "kind": "bedtime", "at": "06:30", "days": "daily", "sound": "rain"}
    keeper.edit("program_add", nap)
    status = keeper.status()
    assert status["next_program"]["name"] == "nap"  # the bedtime comes first...
    assert status["next_wake"] == "2026-11-23T07:00:00Z"  # ...the wake after it
    keeper.edit("skip_next_wake", True)
    status = keeper.status()
    assert status["next_wake"] == "2026-11-24T07:00:00Z"
    assert status["programs"] == [
        {"name": "weekday", "kind": "wake", "at": "07:00", "enabled": True, "skip_next": True},
        {"name": "nap", "kind": "bedtime", "at": "06:30", "enabled": True, "skip_next": False},
    ]
    keeper.edit("program_disable", "weekday")
    assert keeper.status()["next_wake"] is None
    with pytest.raises(ProgramError, match="no wake program"):
        keeper.edit("skip_next_wake", True)


def test_a_preset_becomes_the_program_s_settings() -> None:
    morning = favourites.Preset(sound="ocean-surf", volume=40, layer=None, sleep_timer=0)
    runtime = (("morning", morning),)
    assert preset_settings("morning", {}, runtime) == {
        "sound": "ocean-surf",
        "volume": 40,
        "layer": "off",  # a preset without a layer plays without one
        "layer_volume": None,
        "timer_min": 0,
    }
    with pytest.raises(CommandError, match="morning"):
        preset_settings("mornin", {}, runtime)


def test_a_reload_brings_the_config_s_new_programs(tmp_path: Path) -> None:
    clocks = Clocks(MONDAY_0600)
    keeper = make(tmp_path, clocks)
    later = CONFIG.replace('at = "07:00"', 'at = "07:30"')
    keeper.reconfigure(parse_config(tomllib.loads(later)))
    assert keeper.status()["next_wake"] == "2026-11-23T07:30:00Z"
    assert keeper.due_s == 0.0  # stepped at once


def test_a_restart_after_a_wake_fired_neither_rings_it_again_nor_calls_it_missed(
    tmp_path: Path,
) -> None:
    clocks = Clocks(MONDAY_0600)
    keeper = make(tmp_path, clocks)
    assert [type(s) for s in run_until(keeper, clocks, MONDAY_0600 + 40 * 60 + 1)] == [StartProgram]
    stored = program_store.load(tmp_path / "programs.json")
    assert stored.judged == {("weekday", dt.datetime(2026, 11, 23, 7, 0, tzinfo=dt.UTC))}
    clocks.advance(3 * 60)  # a restart (power cut, systemctl restart) 3 min into the rise
    again = make(tmp_path, clocks)
    assert run_until(again, clocks, clocks.wall + 10) == []
    clocks.advance(60 * 60)  # a restart at 07:43, well past the grace
    assert run_until(make(tmp_path, clocks), clocks, clocks.wall + 10) == []
    assert again.status()["next_program"]["at"] == "2026-11-24T07:00:00Z"
    # Without the stored memory the same restart rings again (this test can fail).
    (tmp_path / "programs.json").unlink()
    clocks.advance(-60 * 60)
    forgetful = make(tmp_path, clocks)
    assert [type(s) for s in run_until(forgetful, clocks, clocks.wall + 10)] == [StartProgram]


def test_a_reload_keeps_what_fired(tmp_path: Path) -> None:
    clocks = Clocks(MONDAY_0600)
    keeper = make(tmp_path, clocks)
    run_until(keeper, clocks, MONDAY_0600 + 40 * 60 + 1)
    keeper.reconfigure(
        parse_config(tomllib.loads(CONFIG.replace("grace_min = 15", "grace_min = 30")))
    )
    assert run_until(keeper, clocks, clocks.wall + 10) == []
    assert program_store.load(tmp_path / "programs.json").judged != frozenset()
