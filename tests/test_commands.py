"""The command vocabulary: what is accepted, what is refused, and the field named."""

from __future__ import annotations

import json

import pytest

from sleepsound.commands import (
    Command,
    parse_command,
    parse_plain,
    reply_error,
    reply_ok,
    transaction_of,
)
from sleepsound.errors import CommandError

ACCEPTED = [
    ({"action": "play"}, Command(action="play")),
    (
        {"action": "play", "sound": "rain", "volume": 30, "sleep_timer": 45, "fade": 5},
        Command(action="play", sound="rain", volume=30.0, sleep_timer=45.0, fade=5.0),
    ),
    ({"action": "stop", "fade": 0}, Command(action="stop", fade=0.0)),
    ({"action": "toggle", "fade": 2.5}, Command(action="toggle", fade=2.5)),
    ({"action": "next"}, Command(action="next")),
    ({"action": "previous"}, Command(action="previous")),
    ({"action": "timer_cycle"}, Command(action="timer_cycle")),
    ({"action": "status"}, Command(action="status")),
    ({"volume": 0}, Command(volume=0.0)),
    ({"volume": 100}, Command(volume=100.0)),
    ({"volume": 42.5}, Command(volume=42.5)),
    ({"volume_step": -5}, Command(volume_step=-5.0)),
    ({"volume_step": 100}, Command(volume_step=100.0)),
    ({"sleep_timer": 0}, Command(sleep_timer=0.0)),
    ({"sleep_timer": 720}, Command(sleep_timer=720.0)),
    ({"sleep_timer": 1}, Command(sleep_timer=1.0)),
    ({"sound": "pink-noise"}, Command(sound="pink-noise")),
    ({"sound": "Regen über dem Zelt"}, Command(sound="Regen über dem Zelt")),
    ({"layer": "on"}, Command(layer="on")),
    ({"layer": "off", "layer_volume": 20}, Command(layer="off", layer_volume=20.0)),
    ({"layer": "brown-noise"}, Command(layer="brown-noise")),
    ({"volume": 10, "transaction": "abc"}, Command(volume=10.0, transaction="abc")),
    ({"volume": 10, "transaction": 7}, Command(volume=10.0, transaction=7)),
    ({"volume": 10, "transaction": None}, Command(volume=10.0)),
    ({"volume": 40, "action": "play"}, Command(action="play", volume=40.0)),
]


@pytest.mark.parametrize(("raw", "expected"), ACCEPTED)
def test_accepted(raw: dict, expected: Command) -> None:
    assert parse_command(raw) == expected


def test_a_command_survives_a_json_round_trip() -> None:
    raw = json.loads('{"action": "play", "sound": "rain", "volume": 35, "transaction": "t1"}')
    assert parse_command(raw) == Command(action="play", sound="rain", volume=35.0, transaction="t1")


REFUSED = [
    # (raw, field, words the message must contain)
    ([1, 2], None, "JSON object"),
    ("play", None, "JSON object"),
    ({}, None, "empty"),
    ({"transaction": 1}, None, "empty"),
    ({"voluem": 3}, "voluem", "did you mean 'volume'"),
    ({"sleeptimer": 3}, "sleeptimer", "did you mean 'sleep_timer'"),
    ({"action": "paly"}, "action", "did you mean 'play'"),
    ({"action": "dance"}, "action", "unknown action"),
    ({"action": 1}, "action", "action must be one of"),
    ({"volume": True}, "volume", "not a boolean"),
    ({"volume": "45"}, "volume", "not a string"),
    ({"volume": None}, "volume", "not null"),
    ({"volume": -1}, "volume", "from 0 to 100"),
    ({"volume": 100.5}, "volume", "from 0 to 100"),
    ({"volume": float("nan")}, "volume", "from 0 to 100"),
    ({"volume": float("inf")}, "volume", "from 0 to 100"),
    ({"volume_step": 101}, "volume_step", "-100 to 100"),
    ({"volume_step": -101}, "volume_step", "-100 to 100"),
    ({"volume": 5, "volume_step": 5}, "volume_step", "not both"),
    ({"sleep_timer": -1}, "sleep_timer", "minutes"),
    ({"sleep_timer": 721}, "sleep_timer", "minutes"),
    ({"sleep_timer": [45]}, "sleep_timer", "not an array"),
    ({"sleep_timer": 1e-300}, "sleep_timer", "at least 1 minute"),
    ({"sleep_timer": 5e-324}, "sleep_timer", "at least 1 minute"),
    ({"sleep_timer": 0.5}, "sleep_timer", "at least 1 minute"),
    ({"sleep_timer": 0.999}, "sleep_timer", "at least 1 minute"),
    ({"action": "play", "sleep_timer": 0.01}, "sleep_timer", "at least 1 minute"),
    ({"action": "stop", "fade": 3601}, "fade", "3600"),
    ({"action": "stop", "fade": -1}, "fade", "3600"),
    ({"fade": 3}, "fade", "only goes with"),
    ({"action": "next", "fade": 3}, "fade", "only goes with"),
    ({"layer_volume": 101}, "layer_volume", "0 to 100"),
    ({"sound": "/etc/passwd"}, "sound", "not a path"),
    ({"sound": "..\\x"}, "sound", "not a path"),
    ({"sound": "a/b"}, "sound", "not a path"),
    ({"sound": "rain.."}, "sound", "not a path"),
    ({"sound": ".hidden"}, "sound", "not a path"),
    ({"sound": ""}, "sound", "empty"),
    ({"sound": "   "}, "sound", "empty"),
    ({"sound": "x" * 65}, "sound", "too long"),
    ({"sound": "rain\n"}, "sound", "control"),
    ({"sound": 5}, "sound", "not a number"),
    ({"layer": "../x"}, "layer", "not a path"),
    ({"volume": 1, "transaction": {"a": 1}}, "transaction", "not an object"),
    ({"volume": 1, "transaction": "t" * 129}, "transaction", "too long"),
    ({"volume": 1, "transaction": float("nan")}, "transaction", "finite"),
]


@pytest.mark.parametrize(("raw", "field", "words"), REFUSED)
def test_refused(raw: object, field: str | None, words: str) -> None:
    with pytest.raises(CommandError) as caught:
        parse_command(raw)
    assert caught.value.field == field
    assert words in str(caught.value)


def test_a_hostile_key_is_not_echoed_in_full() -> None:
    with pytest.raises(CommandError) as caught:
        parse_command({"x" * 10_000: 1})
    assert len(str(caught.value)) < 300


PLAIN = [
    ("volume", "45", Command(volume=45.0)),
    ("volume", "45.0", Command(volume=45.0)),
    ("volume", " 45 \n", Command(volume=45.0)),
    ("volume", b"12.5", Command(volume=12.5)),
    ("volume_step", "+5", Command(volume_step=5.0)),
    ("volume_step", "-5", Command(volume_step=-5.0)),
    ("sleep_timer", "30", Command(sleep_timer=30.0)),
    ("layer_volume", "10", Command(layer_volume=10.0)),
    ("sound", "rain", Command(sound="rain")),
    ("layer", "off", Command(layer="off")),
    ("action", "next", Command(action="next")),
    ("action", "PLAY", Command(action="play")),
    ("state", "ON", Command(action="play")),
    ("state", "off", Command(action="stop")),
    ("state", "TOGGLE", Command(action="toggle")),
]


@pytest.mark.parametrize(("key", "text", "expected"), PLAIN)
def test_plain_values(key: str, text: str | bytes, expected: Command) -> None:
    assert parse_plain(key, text) == expected


PLAIN_REFUSED = [
    ("volume", "nan", "volume", "must be a number"),
    ("volume", "inf", "volume", "must be a number"),
    ("volume", "1e999", "volume", "finite"),
    ("volume", "loud", "volume", "must be a number"),
    ("volume", "0x10", "volume", "must be a number"),
    ("volume", "", "volume", "must be a number"),
    ("volume", "150", "volume", "0 to 100"),
    ("volume", b"\xff", "volume", "UTF-8"),
    ("state", "MAYBE", "state", "ON, OFF or TOGGLE"),
    ("sound", "../../etc/shadow", "sound", "not a path"),
    ("voluem", "3", "voluem", "did you mean 'volume'"),
    ("fade", "3", "fade", "on its own"),
    ("transaction", "3", "transaction", "on its own"),
]


@pytest.mark.parametrize(("key", "text", "field", "words"), PLAIN_REFUSED)
def test_plain_refused(key: str, text: str | bytes, field: str, words: str) -> None:
    with pytest.raises(CommandError) as caught:
        parse_plain(key, text)
    assert caught.value.field == field
    assert words in str(caught.value)


def test_query_and_touch() -> None:
    assert parse_command({"action": "status"}).is_query
    assert not parse_command({"action": "status", "volume": 3}).is_query
    assert not parse_command({"action": "play"}).is_query
    assert not parse_command({"volume_step": 0}).is_query


def test_replies() -> None:
    assert reply_ok() == {"status": "ok"}
    assert reply_ok(warnings=["volume clamped to max_volume 80"], transaction=3) == {
        "status": "ok",
        "warning": "volume clamped to max_volume 80",
        "transaction": 3,
    }
    assert reply_ok(warnings=["a", "b"])["warning"] == "a; b"
    error = CommandError("volume must be a number from 0 to 100", "volume")
    assert reply_error(error, transaction="t") == {
        "status": "error",
        "error": "volume must be a number from 0 to 100",
        "field": "volume",
        "transaction": "t",
    }
    assert reply_error("broken") == {"status": "error", "error": "broken"}


def test_transaction_is_recovered_from_a_bad_command() -> None:
    raw = {"volume": "loud", "transaction": "t9"}
    with pytest.raises(CommandError):
        parse_command(raw)
    assert transaction_of(raw) == "t9"
    assert transaction_of({"transaction": [1]}) is None
    assert transaction_of("junk") is None


# -- wake and program commands ---------------------------------------------------------------


def test_snooze_and_dismiss_are_actions() -> None:
    assert parse_command({"action": "snooze"}).action == "snooze"
    assert parse_command({"action": "dismiss", "transaction": 3}).action == "dismiss"
    assert not parse_command({"action": "snooze"}).is_query


def test_program_edits_go_alone_and_keep_their_value() -> None:
    add = {"name": "weekday", "kind": "wake", "at": "07:00", "days": ["mon", "tue"]}
    command = parse_command({"program_add": add, "transaction": "t"})
    assert command.program_edit == ("program_add", add) and command.transaction == "t"
    assert not command.is_query
    assert command.as_object() == {"program_add": add, "transaction": "t"}
    assert parse_command({"program_skip": "weekday"}).program_edit == ("program_skip", "weekday")
    assert parse_command({"program_list": True}).program_edit == ("program_list", True)
    with pytest.raises(CommandError, match="goes alone") as caught:
        parse_command({"program_skip": "weekday", "volume": 3})
    assert caught.value.field == "program_skip"
    with pytest.raises(CommandError, match="program object"):
        parse_command({"program_add": "07:00"})
    with pytest.raises(CommandError, match="a program's name"):
        parse_command({"program_remove": 7})
    with pytest.raises(CommandError, match="did you mean 'program_skip'"):
        parse_command({"program_skp": "weekday"})
