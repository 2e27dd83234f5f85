"""The one command decoder every adapter uses: hostile bytes in, a command or a clear
refusal out, never another exception, and a reply that always encodes as UTF-8 JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sleepsound.command_decoder import (
    MAX_COMMAND_BYTES,
    MAX_INT_DIGITS,
    PAYLOAD_FIELD,
    decode_command,
    error_reply,
)
from sleepsound.commands import KEYS, Command
from sleepsound.errors import CommandError

PYTHON_TEXT = ("Traceback", "sys.", "set_int_max_str_digits", "utf-8-sig", "Error:", "object at")
"""Words that would mean Python's own exception text leaked into a reply."""


def refusal(data: bytes | str) -> dict[str, Any]:
    """The reply to ``data``, which must be refused; checks it is safe to send."""
    with pytest.raises(CommandError) as caught:
        decode_command(data)
    reply = error_reply(caught.value)
    # Strict: no surrogate may survive into the bytes a client receives.
    wire = json.dumps(reply, ensure_ascii=False).encode("utf-8")
    assert json.loads(wire) == reply
    assert reply["status"] == "error" and reply["error"] and reply["field"]
    assert not any(word in reply["error"] for word in PYTHON_TEXT), reply
    assert len(wire) < 600, reply  # nothing hostile is echoed at length
    return reply


# -- depth -----------------------------------------------------------------------------


def _nest(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


@pytest.mark.parametrize("depth", [10, 100, 1000, 2000, 5000, 100_000])
@pytest.mark.parametrize(
    ("shape", "field"),
    [
        (lambda d: '{"volume": ' + _nest(d) + "}", "volume"),  # in a value
        (lambda d: _nest(d), PAYLOAD_FIELD),  # the whole command an array
        (lambda d: '{"action": "play", "sound": ' + "{" + '"a":{' * d + "}" * (d + 1) + "}", None),
        (lambda d: '{"transaction": 1, "layer": [' + _nest(d) + "]}", "layer"),
        (lambda d: "{" * d, PAYLOAD_FIELD),  # unbalanced: never closed
    ],
    ids=["value", "array", "objects", "in-array", "unclosed"],
)
def test_deep_nesting_is_refused_at_any_depth(depth: int, shape, field: str | None) -> None:
    text = shape(depth)
    reply = refusal(text.encode())
    if len(text.encode()) > MAX_COMMAND_BYTES:
        assert "at most" in reply["error"] and reply["field"] == PAYLOAD_FIELD
    else:
        assert "nested too deeply" in reply["error"]
        assert reply["field"] == (field or "sound")


def test_brackets_inside_keys_and_strings_are_not_nesting() -> None:
    assert decode_command(b'{"sound": "rain[[[{{{", "volume": 3}') == Command(
        sound="rain[[[{{{", volume=3.0
    )
    reply = refusal(b'{"[[[[[[[[": 1}')
    assert reply["field"] == "[[[[[[[[" and "unknown key" in reply["error"]


# -- each hostile class at several positions ---------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '{"volume": NaN}',
        '{"volume": Infinity}',
        '{"volume": -Infinity}',
        '{"transaction": NaN, "volume": 3}',
        '{"action": "play", "fade": [Infinity]}',
        "NaN",
        "[1, -Infinity]",
        '{"sound": {"a": NaN}}',
    ],
)
def test_nan_and_infinity_are_refused_while_parsing(text: str) -> None:
    reply = refusal(text.encode())
    assert "not a number JSON allows" in reply["error"]


@pytest.mark.parametrize(
    "text",
    [
        '{"volume": 10, "volume": 90}',
        '{"action": "play", "sound": "rain", "action": "stop"}',
        '{"layer": {"a": 1, "a": 2}}',
        '[{"x": 1, "x": 1}]',
        '{"transaction": 1, "transaction": 1}',
    ],
)
def test_duplicate_keys_are_refused_at_any_depth(text: str) -> None:
    assert "given twice" in refusal(text.encode())["error"]


@pytest.mark.parametrize("digits", [MAX_INT_DIGITS + 1, 100, 4000, 4095 - 12])
@pytest.mark.parametrize("template", ['{"volume": %s}', '{"transaction": %s, "volume": 1}', "%s"])
def test_huge_integers_are_refused_without_python_hints(digits: int, template: str) -> None:
    text = template % ("9" * digits)
    reply = refusal(text.encode())
    if len(text) <= MAX_COMMAND_BYTES:
        assert f"{digits} digits" in reply["error"]


def test_a_long_but_allowed_integer_transaction_is_echoed() -> None:
    big = int("9" * MAX_INT_DIGITS)
    reply = refusal(f'{{"volume": 500, "transaction": {big}}}'.encode())
    assert reply["transaction"] == big and reply["field"] == "volume"


SURROGATES = ["\\ud800", "\\udfff", "\\udc00\\ud800", "x\\ud83d", "\\ud83dy"]


@pytest.mark.parametrize("surrogate", SURROGATES)
@pytest.mark.parametrize(
    ("template", "field"),
    [
        ('{"volume": 33, "transaction": "%s"}', "transaction"),
        ('{"transaction": "%s", "volume": 33}', "transaction"),
        ('{"sound": "%s"}', "sound"),
        ('{"%s": 1}', PAYLOAD_FIELD),
        ('{"volume": 1, "%s": 1}', PAYLOAD_FIELD),
        ('{"layer": ["ok", "%s"]}', "layer"),
        ('{"layer": {"%s": 1}}', "layer"),
        ('"%s"', PAYLOAD_FIELD),
        ('["%s"]', PAYLOAD_FIELD),
    ],
)
def test_lone_surrogates_get_a_reply_naming_the_problem(
    surrogate: str, template: str, field: str
) -> None:
    reply = refusal((template % surrogate).encode())
    assert "lone surrogate" in reply["error"] and reply["field"] == field


def test_a_duplicated_surrogate_key_is_echoed_as_its_escape() -> None:
    reply = refusal(b'{"\\ud800": 1, "\\ud800": 2}')
    assert reply["field"] == "\\ud800" and "given twice" in reply["error"]


def test_a_real_surrogate_pair_is_text() -> None:
    assert decode_command(b'{"sound": "\\ud83c\\udf27 rain"}').sound == "\U0001f327 rain"


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "empty"),
        (b"   \t \r ", "empty"),
        (b"\xef\xbb\xbf" + b'{"action": "play"}', "byte-order mark"),
        ("\ufeff" + '{"action": "play"}', "byte-order mark"),
        (b'{"action": "play"}\xff', "not UTF-8"),
        (b"\xc3\x28", "not UTF-8"),
        (b'{"sound": "\xed\xa0\x80"}', "not UTF-8"),  # a surrogate encoded in UTF-8 bytes
        (b'{"action": "play"', "not valid JSON"),
        (b'{"volume": 30}{"volume": 40}', "not valid JSON"),
        (b'{"volume": 0x10}', "not valid JSON"),
        (b"x" * (MAX_COMMAND_BYTES + 1), "at most"),
        (b"[1, 2]", "JSON object"),
        (b"{}", "empty"),
    ],
)
def test_other_hostile_text_is_refused_clearly(data: bytes | str, words: str) -> None:
    assert words in refusal(data)["error"]


@pytest.mark.parametrize("timer", [1e-300, 0.5, 0.999, 5e-324])
def test_a_timer_below_a_minute_is_refused(timer: float) -> None:
    reply = refusal(json.dumps({"sleep_timer": timer, "transaction": "t"}).encode())
    assert reply == {
        "status": "error",
        "error": "sleep_timer must be 0 (off) or at least 1 minute",
        "field": "sleep_timer",
        "transaction": "t",
    }


def test_good_commands_decode_from_bytes_and_text() -> None:
    line = b'{"action": "play", "sound": "rain", "volume": 30, "sleep_timer": 0}\r'
    expected = Command(action="play", sound="rain", volume=30.0, sleep_timer=0.0)
    assert decode_command(line) == expected
    assert decode_command(line.decode()) == expected
    assert decode_command(b'{"action": "get"}', action_aliases={"get": "status"}).is_query
    assert "unknown action" in refusal(b'{"action": "get"}')["error"]


# -- fuzz: nothing but CommandError, and every reply encodes --------------------------------

_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=8,
)
_hostile = st.sampled_from(
    ["NaN", "-Infinity", '"\\ud800"', "9" * 30, "[[[[[[", "{", '"\\udc00"', "\ufeff", "\x00"]
)


@st.composite
def _texts(draw: st.DrawFn) -> bytes:
    text = json.dumps(
        draw(st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), _values, max_size=4))
    )
    for _ in range(draw(st.integers(0, 3))):  # splice hostile pieces in anywhere
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(_hostile) + text[at:]
    return text.encode("utf-8", "surrogatepass")


@settings(max_examples=600, deadline=None)
@given(st.one_of(_texts(), st.binary(max_size=300)))
def test_fuzz_only_command_errors_and_every_reply_encodes(data: bytes) -> None:
    try:
        command = decode_command(data)
    except CommandError as error:
        reply = error_reply(error)
        json.dumps(reply, ensure_ascii=False).encode("utf-8")
        assert not any(word in reply["error"] for word in PYTHON_TEXT), reply
    else:
        assert isinstance(command, Command)
