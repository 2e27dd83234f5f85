"""The state document in words: what `ctl` prints, systemd's STATUS= and the simulator share."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from sleepsound.status_text import document_of, output_silence, status_line

PLAYING: dict[str, Any] = {
    "state": "playing",
    "sound": "rain",
    "volume": 30,
    "max_volume": 80,
    "sleep_timer": 45,
    "timer_ends_at": "2030-01-01T22:41:00Z",
    "layer": {"sound": "pink-noise", "volume": 20},
    "last_error": None,
    "output": {"name": "default", "audible": True},
}


def test_status_line_reads_like_a_sentence() -> None:
    line = status_line(PLAYING, tz=dt.UTC)
    assert line == (
        "playing rain, volume 30 (max 80), timer 45 min, ends 22:41, layer pink-noise at 20"
    )
    stopped = {**PLAYING, "state": "stopped", "sleep_timer": 0, "timer_ends_at": None}
    stopped["layer"] = None
    assert status_line(stopped) == "stopped (rain), volume 30 (max 80), timer off"


def test_the_timer_end_is_shown_in_local_time() -> None:
    plus_two = dt.timezone(dt.timedelta(hours=2))
    assert "timer 45 min, ends 00:41" in status_line(PLAYING, tz=plus_two)


def test_a_silent_output_and_the_last_error_are_said() -> None:
    document = {
        **PLAYING,
        "output": {"name": "clock", "audible": False},
        "last_error": "sound 'x' failed",
    }
    line = status_line(document, tz=dt.UTC)
    assert line.endswith(
        "SILENT: playing to the clock output (no sound card), nobody hears it, "
        "last error: sound 'x' failed"
    )


@pytest.mark.parametrize(
    ("output", "said"),
    [
        ({"name": "clock", "audible": False}, "the clock output (no sound card)"),
        (
            {"name": "plughw:CARD=Headphones", "audible": False},
            "plughw:CARD=Headphones (not writing)",
        ),
        ({"audible": False}, "no output (not writing)"),
    ],
)
def test_output_silence_names_where_the_sound_goes(output: dict[str, Any], said: str) -> None:
    assert (
        output_silence({**PLAYING, "output": output})
        == f"SILENT: playing to {said}, nobody hears it"
    )


@pytest.mark.parametrize(
    "document",
    [PLAYING, {**PLAYING, "output": None}, {"state": "stopped"}, {**PLAYING, "output": "clock"}],
    ids=["heard", "output null", "older daemon", "not a table"],
)
def test_output_silence_is_quiet_unless_the_document_says_silent(document: Any) -> None:
    assert output_silence(document) is None


@pytest.mark.parametrize(
    "document",
    [{}, {"state": "paused", "timer_ends_at": "not a time", "sleep_timer": 5, "layer": "odd"}],
    ids=["empty", "odd values"],
)
def test_a_partial_or_odd_document_still_gives_a_line(document: dict[str, Any]) -> None:
    # The daemon's STATUS= and `ctl` must never fail on a document from another version.
    line = status_line(document, tz=dt.UTC)
    assert isinstance(line, str) and "timer" in line


def test_document_of_drops_the_reply_envelope() -> None:
    reply = {"status": "ok", "transaction": 7, **PLAYING}
    assert document_of(reply) == PLAYING


def test_a_running_program_says_its_phase_and_until_when() -> None:
    document = {
        "state": "playing",
        "sound": "ocean-surf",
        "volume": 45,
        "max_volume": 80,
        "sleep_timer": 0,
        "program": {
            "name": "school days",
            "kind": "wake",
            "phase": "snoozed",
            "until": "2026-11-23T07:09:00Z",
        },
    }
    line = status_line(document, dt.UTC)
    assert "wake program school days snoozed until 07:09" in line
    document["program"] = {"name": "nap", "kind": "bedtime", "phase": "playing", "until": None}
    assert status_line(document, dt.UTC).endswith("bedtime program nap playing")
