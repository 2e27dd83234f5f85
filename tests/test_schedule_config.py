"""[schedule] and [[programs]] in the config, the stored runtime programs, the clock
and time zone adapters: what a user writing programs sees when they get one wrong."""

from __future__ import annotations

import json
import os
import stat
from datetime import time
from pathlib import Path

import pytest

from sleepsound import clock_sync, local_time, program_store
from sleepsound.config import ScheduleConfig, parse_toml
from sleepsound.errors import ConfigError, ProgramError
from sleepsound.schedule import parse_program

WAKE = """
[[programs]]
name = "school days"
kind = "wake"
at = "07:00"
days = "weekdays"
sound = "ocean-surf"
volume = 45
"""

BEDTIME = """
[[programs]]
name = "wind down"
kind = "bedtime"
at = "22:30"
days = ["fri", "sat"]
preset = "rain and fan"
timer_min = 45
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_toml(text, "test.toml")
    return caught.value.problems


# -- [schedule] -----------------------------------------------------------------------------


def test_schedule_defaults() -> None:
    loaded = parse_toml("")
    assert loaded.schedule == ScheduleConfig()
    assert loaded.schedule.timezone is None  # the system's local time
    assert loaded.schedule.require_clock_sync is True
    assert loaded.schedule.grace_min == 15.0 and loaded.schedule.snooze_min == 9.0
    assert loaded.programs == ()


def test_schedule_values_are_read() -> None:
    loaded = parse_toml(
        '[schedule]\ntimezone = "America/New_York"\nrequire_clock_sync = false\n'
        "grace_min = 30\nsnooze_min = 5\n"
    )
    assert loaded.schedule == ScheduleConfig("America/New_York", False, 30.0, 5.0)


def test_an_unknown_time_zone_is_refused_with_the_nearest_name() -> None:
    assert problems('[schedule]\ntimezone = "Europe/Londn"\n') == [
        "schedule.timezone: 'Europe/Londn' is not a time zone (did you mean 'Europe/London'?); "
        'use an IANA name such as "Europe/London" or "America/New_York", or leave it unset '
        "for the system's"
    ]


def test_a_path_for_a_time_zone_is_refused() -> None:
    (problem,) = problems('[schedule]\ntimezone = "../../etc/passwd"\n')
    assert problem.startswith("schedule.timezone: '../../etc/passwd' is not a time zone")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[schedule]\ngrace_min = -1\n",
            "schedule.grace_min: must be a number of minutes from 0 to 720, not -1",
        ),
        (
            "[schedule]\nsnooze_min = 0\n",
            "schedule.snooze_min: must be a number of minutes from 1 to 60, not 0",
        ),
        (
            '[schedule]\nrequire_clock_sync = "no"\n',
            'schedule.require_clock_sync: must be true or false (without quotes), not "no"',
        ),
        ("[schedule]\ngrace = 5\n", "schedule.grace: unknown key (did you mean 'grace_min'?)"),
    ],
)
def test_schedule_mistakes_name_their_key(text: str, expected: str) -> None:
    assert problems(text) == [expected]


# -- [[programs]] ---------------------------------------------------------------------------


def test_programs_are_read_in_order() -> None:
    loaded = parse_toml(WAKE + BEDTIME)
    wake, bedtime = loaded.programs
    assert (wake.name, wake.kind, wake.at, wake.days) == (
        "school days",
        "wake",
        time(7),
        {0, 1, 2, 3, 4},
    )
    assert wake.sound == "ocean-surf" and wake.volume == 45.0 and wake.fade_min == 20.0
    assert (bedtime.kind, bedtime.days, bedtime.preset) == ("bedtime", {4, 5}, "rain and fan")
    assert bedtime.timer_min == 45.0 and bedtime.fade_min == 1.0 and bedtime.enabled


def test_every_program_problem_is_reported_with_its_place() -> None:
    text = (
        WAKE
        + BEDTIME
        + """
[[programs]]
name = "bad"
kind = "wake"
at = "25:00"
days = ["mon", "fry"]
sound = "rain"
preset = "calm"
volume = 150
fade_min = 500
timer_min = 30
"""
    )
    assert problems(text) == [
        "programs[2].at: '25:00' is not a time of day \"HH:MM\" (00:00 to 23:59)",
        "programs[2].days[1]: 'fry' is not a day (mon … sun) (did you mean 'fri'?)",
        "programs[2].preset: give a preset or a sound, not both",
        "programs[2].volume: must be a number from 0 to 100, not 150",
        "programs[2].fade_min: must be a number of minutes from 0 to 120, not 500",
        "programs[2].timer_min: only bedtime programs take a sleep timer; remove it",
    ]


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        (
            'name = "a"\nat = "07:00"\nsound = "rain"',
            'programs[0].kind: every program needs a kind: "bedtime" or "wake"',
        ),
        (
            'name = "a"\nkind = "wake"\nsound = "rain"',
            'programs[0].at: every program needs a time, e.g. at = "07:00"',
        ),
        (
            'name = "a"\nkind = "wake"\nat = "07:00"',
            'programs[0].sound: give a sound ("rain") or a preset to play',
        ),
        (
            'name = "a"\nkind = "alarm"\nat = "07:00"\nsound = "rain"',
            'programs[0].kind: \'alarm\' is not "bedtime" or "wake"',
        ),
        (
            'name = "a"\nkind = "wake"\nat = "07:00"\nsound = "rain"\ndays = []',
            'programs[0].days: must be "daily", "weekdays", "weekends" or a non-empty list like '
            '["mon", "thu"], not an empty list',
        ),
        (
            'name = "a"\nkind = "wake"\nat = "07:00"\nsound = "rain"\ndays = "weekday"',
            'programs[0].days: \'weekday\' is not "daily", "weekdays", "weekends" or a list '
            'of days like ["mon", "thu"] (did you mean \'weekdays\'?)',
        ),
        (
            'name = "a"\nkind = "bedtime"\nat = "22:00"\nsound = "rain"\ntimer_min = 0.5',
            "programs[0].timer_min: 0.5 is below 1 minute; use 0 (no timer) or 1 to 720",
        ),
        (
            'name = "a"\nkind = "bedtime"\nat = "22:00"\nsound = "rain"\nthen_volume = 50',
            'programs[0].then_volume: only wake programs take it; remove it or make kind "wake"',
        ),
        (
            'name = "a"\nkind = "wake"\nat = "07:00"\nsound = "rain"\nthen_volume = 50',
            "programs[0].then_volume: the second phase needs then_after_min (minutes after at)",
        ),
        (
            'name = "a"\nkind = "wake"\nat = "07:00"\nsound = "../../etc/shadow"',
            "programs[0].sound: names a sound by its id (e.g. 'rain' or 'pink-noise'), not a path",
        ),
        (
            'name = "a"\nkind = "wake"\nat = "07:00"\nsound = "rain"\nvolum = 5',
            "programs[0].volum: unknown key (did you mean 'volume'?)",
        ),
        (
            'name = "a"\nkind = "wake"\nat = "07:00"\nsound = "rain"\nenabled = "yes"',
            "programs[0].enabled: must be true or false (without quotes), not a string",
        ),
        (
            'name = "a/b"\nkind = "wake"\nat = "07:00"\nsound = "rain"',
            "programs[0].name: 'a/b' is not a program name (1–40 letters, digits, spaces, - and _, "
            "starting with a letter or digit)",
        ),
    ],
)
def test_program_mistakes_name_their_key(table: str, expected: str) -> None:
    assert problems(f"[[programs]]\n{table}\n") == [expected]


def test_program_names_are_unique() -> None:
    assert problems(WAKE + WAKE) == [
        "programs[1].name: 'school days' is already the name of programs[0]; "
        "give each program its own name"
    ]


def test_programs_must_be_an_array_of_tables() -> None:
    assert problems("[programs]\nname = 'x'\n") == [
        "programs: must be an array of tables ([[programs]]), not an object"
    ]
    assert problems("[[program]]\nname = 'x'\n") == [
        "[program]: unknown section (did you mean [[programs]]?)"
    ]


def test_a_non_finite_number_is_reported_once() -> None:
    text = '[[programs]]\nname = "a"\nkind = "wake"\nat = "07:00"\nsound = "rain"\nvolume = nan\n'
    assert problems(text) == ["programs[0].volume: nan is not a finite number"]


def test_toml_time_literals_and_short_hours_are_accepted() -> None:
    loaded = parse_toml('[[programs]]\nname = "a"\nkind = "wake"\nat = 06:45:00\nsound = "rain"\n')
    assert loaded.programs[0].at == time(6, 45)
    assert parse_program({"name": "b", "kind": "wake", "at": "6:05", "sound": "rain"}).at == time(
        6, 5
    )


def test_a_command_object_is_checked_by_the_same_parser() -> None:
    with pytest.raises(ProgramError) as caught:
        parse_program({"name": "a", "kind": "wake", "at": "7am", "sound": "rain"})
    assert caught.value.field == "at"
    assert str(caught.value) == "at: '7am' is not a time of day \"HH:MM\" (00:00 to 23:59)"


# -- the stored runtime programs ------------------------------------------------------------


def test_stored_programs_round_trip(tmp_path: Path) -> None:
    path = program_store.path_beside(str(tmp_path / "state" / "state.json"))
    assert path == str(tmp_path / "state" / "programs.json")
    programs = parse_toml(WAKE + BEDTIME).programs
    program_store.save(path, programs, {"school days"})
    loaded = program_store.load(path)
    assert loaded.programs == programs
    assert loaded.skip_next == {"school days"} and loaded.warnings == ()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert not [name for name in os.listdir(tmp_path / "state") if name.endswith(".tmp")]


def test_a_missing_store_is_empty(tmp_path: Path) -> None:
    assert program_store.load(tmp_path / "programs.json") == program_store.StoredPrograms()


@pytest.mark.parametrize(
    "content", [b"{not json", b"\xff\xfe", b"[]", b'{"version": 99, "programs": []}']
)
def test_a_corrupt_store_is_moved_aside_and_empty(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "programs.json"
    path.write_bytes(content)
    loaded = program_store.load(path)
    assert loaded.programs == () and loaded.skip_next == frozenset()
    (warning,) = loaded.warnings
    assert "moved to" in warning and warning.endswith("starting with no stored programs")
    assert not path.exists() and (tmp_path / "programs.json.corrupt").read_bytes() == content


def test_a_bad_stored_entry_is_dropped_and_the_rest_kept(tmp_path: Path) -> None:
    path = tmp_path / "programs.json"
    good = {"name": "nap", "kind": "bedtime", "at": "14:00", "sound": "rain"}
    bad = {"name": "broken", "kind": "wake", "at": "99:00", "sound": "rain"}
    path.write_text(json.dumps({"version": 1, "programs": [bad, good], "skip_next": "x"}))
    loaded = program_store.load(path)
    assert [p.name for p in loaded.programs] == ["nap"]
    assert loaded.skip_next == frozenset()
    assert len(loaded.warnings) == 2 and "programs[0] dropped: at:" in loaded.warnings[0]


# -- the clock and the zone -----------------------------------------------------------------


def test_the_timesync_flag_file_means_synchronised(tmp_path: Path) -> None:
    flag = tmp_path / "synchronized"
    flag.touch()
    assert clock_sync.is_synchronised(str(flag)) is True


def _fake_timedatectl(tmp_path: Path, output: str, status: int = 0) -> str:
    script = tmp_path / "timedatectl"
    script.write_text(f"#!/bin/sh\necho '{output}'\nexit {status}\n")
    script.chmod(0o755)
    return str(script)


def test_timedatectl_answers_when_there_is_no_flag(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-flag")
    assert clock_sync.is_synchronised(missing, _fake_timedatectl(tmp_path, "no")) is False
    assert clock_sync.is_synchronised(missing, _fake_timedatectl(tmp_path, "yes")) is True


def test_no_way_to_tell_is_none(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-flag")
    # timedatectl without systemd (a container): it fails, so the system cannot tell.
    failing = _fake_timedatectl(tmp_path, "Failed to connect to bus: Host is down", 1)
    assert clock_sync.is_synchronised(missing, failing) is None
    assert clock_sync.is_synchronised(missing, str(tmp_path / "no-timedatectl")) is None


def test_the_configured_zone_wins_over_tz() -> None:
    assert str(local_time.zone("America/New_York", {"TZ": "Europe/London"})) == "America/New_York"


def test_tz_is_honoured_when_no_zone_is_configured(tmp_path: Path) -> None:
    assert str(local_time.zone(None, {"TZ": "Europe/London"})) == "Europe/London"
    assert str(local_time.zone(None, {"TZ": ":Asia/Tokyo"})) == "Asia/Tokyo"


def test_without_tz_the_system_zone_file_is_read(tmp_path: Path) -> None:
    zone = local_time.system_zone({}, "/usr/share/zoneinfo/Europe/Paris")
    assert str(zone) == "Europe/Paris"
    assert str(local_time.system_zone({}, str(tmp_path / "none"))) == "UTC"


def test_a_second_damaged_store_never_overwrites_the_first_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "programs.json"
    for content in (b"{first", b"{second", b"{third"):
        path.write_bytes(content)
        (warning,) = program_store.load(path).warnings
        assert "moved to" in warning
    kept = {p.name: p.read_bytes() for p in tmp_path.glob("programs.json.corrupt*")}
    assert kept == {
        "programs.json.corrupt": b"{first",
        "programs.json.corrupt.1": b"{second",
        "programs.json.corrupt.2": b"{third",
    }
