"""``sleepsound programs``: a user checks "will it wake me on Monday after the clock
change?" from the config and the stored programs, in local time and UTC."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sleepsound import program_store
from sleepsound.cli import main
from sleepsound.schedule import parse_program

CONFIG = """
[state]
file = "{state}"

[schedule]
timezone = "America/New_York"

[[programs]]
name = "school days"
kind = "wake"
at = "07:00"
days = "weekdays"
sound = "ocean-surf"
volume = 45

[[programs]]
name = "night owl"
kind = "bedtime"
at = "01:30"
days = "daily"
sound = "rain"
timer_min = 30
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    state = tmp_path / "state" / "state.json"
    path = tmp_path / "config.toml"
    path.write_text(CONFIG.format(state=state))
    stored = parse_program(
        {"name": "nap", "kind": "bedtime", "at": "14:00", "days": ["sun"], "sound": "fan"}
    )
    program_store.save(program_store.path_beside(str(state)), [stored], {"school days"})
    return path


def test_json_listing_across_new_yorks_fall_back(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Sat 31 Oct to Mon 2 Nov 2026: the clocks go back on Sunday at 02:00 EDT.
    argv = [
        "programs",
        "--config",
        str(config_file),
        "--from",
        "2026-10-31",
        "--days",
        "3",
        "--json",
    ]
    assert main(argv) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["timezone"] == "America/New_York"
    rows = [
        (o["name"], o["at"], o["local"], o["rise_start"], o["skipped"])
        for o in listing["occurrences"]
    ]
    assert rows == [
        ("night owl", "2026-10-31T05:30:00Z", "2026-10-31T01:30:00-04:00", None, False),
        # 01:30 happens twice on Sunday: it fires once, the first time (EDT).
        ("night owl", "2026-11-01T05:30:00Z", "2026-11-01T01:30:00-04:00", None, False),
        ("nap", "2026-11-01T19:00:00Z", "2026-11-01T14:00:00-05:00", None, False),
        ("night owl", "2026-11-02T06:30:00Z", "2026-11-02T01:30:00-05:00", None, False),
        # Monday's wake, after the change: still 07:00 on the wall, an hour later in UTC,
        # and skipped once (skip next is stored).
        (
            "school days",
            "2026-11-02T12:00:00Z",
            "2026-11-02T07:00:00-05:00",
            "2026-11-02T11:40:00Z",
            True,
        ),
    ]
    assert listing["clock_changes"] == [
        {"at": "2026-11-01T06:00:00Z", "before": "EDT", "after": "EST"}
    ]


def test_table_listing_across_spring_forward(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["programs", "--config", str(config_file), "--from", "2026-03-08", "--days", "2"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "Programs in America/New_York from Sun 2026-03-08 to Mon 2026-03-09:"
    assert lines[1].split() == ["LOCAL", "UTC", "KIND", "NAME", "RISE", "STARTS"]
    # 01:30 exists on the 8th (the gap is 02:00-03:00); the nap and Monday's wake follow.
    assert "Sun 2026-03-08 01:30 EST  2026-03-08T06:30:00Z  bedtime  night owl" in out
    assert "Sun 2026-03-08 14:00 EDT  2026-03-08T18:00:00Z  bedtime  nap" in out
    assert "Mon 2026-03-09 07:00 EDT  2026-03-09T11:00:00Z  wake     school days  06:40 EDT" in out
    assert "skipped (skip next)" in out
    assert "clocks change Sun 2026-03-08 at 2026-03-08T07:00:00Z (EST -> EDT)" in out


def test_a_time_in_the_gap_is_listed_at_the_end_of_the_gap(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[state]\nfile = "{tmp_path}/state.json"\n[schedule]\ntimezone = "Europe/London"\n'
        '[[programs]]\nname = "late"\nkind = "bedtime"\nat = "01:30"\nsound = "rain"\n'
    )
    assert main(["programs", "--config", str(path), "--from", "2026-03-29", "--days", "1"]) == 0
    out = capsys.readouterr().out
    assert "Sun 2026-03-29 02:00 BST  2026-03-29T01:00:00Z  bedtime  late" in out
    assert "01:30 does not exist that day (clocks go forward)" in out


def test_no_programs_says_how_to_add_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f'[state]\nfile = "{tmp_path}/state.json"\n')
    assert main(["programs", "--config", str(path), "--days", "1"]) == 0
    assert "no programs: add [[programs]] to the config" in capsys.readouterr().out


def test_a_bad_program_in_the_config_is_an_error_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[[programs]]\nname = "x"\nkind = "wake"\nat = "7 am"\nsound = "rain"\n')
    assert main(["programs", "--config", str(path)]) == 1
    assert "programs[0].at: '7 am' is not a time of day \"HH:MM\"" in capsys.readouterr().err


def test_bad_arguments_are_refused(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["programs", "--config", str(config_file), "--from", "2026-02-30"])
    assert exited.value.code == 2
    assert "'2026-02-30' is not a date YYYY-MM-DD" in capsys.readouterr().err
