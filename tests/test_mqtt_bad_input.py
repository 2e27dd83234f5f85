"""Hostile and mistaken payloads over a real broker: each gets an error reply naming the
field, the state stays as it was, and the sound keeps playing. Plus a hypothesis fuzz of
``/set`` through the whole path (broker, bridge, real player core)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sleepsound.commands import KEYS
from test_mqtt_helpers import HomeAssistant, running_device

BAD_JSON = [
    (b'{"action": "play"', "payload"),  # invalid JSON
    (b"not json at all", "payload"),
    (b'{"volume": NaN}', "payload"),  # not JSON either
    (b"\xff\xfe\x00garbage\x80\x81", "payload"),  # binary garbage
    (bytes(range(256)), "payload"),
    (b"[1, 2, 3]", "payload"),  # not an object
    (b"", "payload"),
    (b"{}", "payload"),  # empty command
    (b'{"volume": "loud"}', "volume"),  # wrong types
    (b'{"volume": true}', "volume"),
    (b'{"sleep_timer": [45]}', "sleep_timer"),
    (b'{"volume": 101}', "volume"),  # out of range
    (b'{"volume": -1}', "volume"),
    (b'{"sleep_timer": 100000}', "sleep_timer"),
    (b'{"fade": 30, "action": "next"}', "fade"),
    (b'{"sound": "no-such-sound"}', "sound"),  # unknown sound (the player's catalogue)
    (b'{"action": "play", "sound": "thunder"}', "sound"),
    (b'{"sound": "/etc/passwd"}', "sound"),  # a path where a sound id belongs
    (b'{"sound": "../../secret.flac"}', "sound"),
    (b'{"layer": "C:\\\\x.wav"}', "layer"),
    (b'{"action": "explode"}', "action"),  # unknown action
    (b'{"action": "plya"}', "action"),
    (b'{"colour": "red"}', "colour"),  # unknown key
    (b'{"volume": 10, "volume": 90}', "volume"),  # duplicate key
    (b'{"volume": ' + b"[" * 50 + b"]" * 50 + b"}", "volume"),  # deeply nested
    (b"[" * 3000 + b"]" * 3000, "payload"),
    (b'{"sound": "' + b"a" * 5000 + b'"}', "payload"),  # oversized
    (b" " * 1_000_000, "payload"),
    # issue 11: each of these once got no reply, a Python hint, or a traceback in the log
    (b'{"volume": 33, "transaction": "\\ud800"}', "transaction"),
    (b'{"\\udfff": 33}', "payload"),
    (b'{"layer": ["x\\ud83d"]}', "layer"),
    (b'{"volume": ' + b"9" * 4000 + b"}", "payload"),
    (b"\xef\xbb\xbf" + b'{"action": "play"}', "payload"),
    (b'{"sleep_timer": 1e-300}', "sleep_timer"),
]

BAD_PLAIN = [
    ("volume", b"loud", "volume"),
    ("volume", b"150", "volume"),
    ("volume", b"nan", "volume"),
    ("volume", b"1e999", "volume"),
    ("volume", b"", "volume"),
    ("volume", b"\xff\xfe", "volume"),
    ("sleep_timer", b"-5", "sleep_timer"),
    ("sound", b"../../etc/passwd", "sound"),
    ("sound", b"nope", "sound"),
    ("state", b"MAYBE", "state"),
    ("action", b"dance", "action"),
    ("colour", b"red", "colour"),
    ("transaction", b"1", "transaction"),
    ("volume", b"4" * 1000, "volume"),
]


@pytest.fixture
def playing(mosquitto, mqtt_probe):
    """A device playing "rain" at volume 40 without a sleep timer."""
    broker = mosquitto()
    with running_device(broker, "bedroom") as (_, loop):
        ha = HomeAssistant(mqtt_probe(broker), "sleepsound/bedroom")
        ha.wait_online()
        assert ha.ask({"action": "play", "sound": "rain", "volume": 40, "sleep_timer": 0}) == {
            "status": "ok"
        }
        ha.state(lambda d: d["state"] == "playing")
        yield ha, loop


def _assert_refused(ha: HomeAssistant, loop, before: dict, reply: dict, field: str) -> None:
    assert reply["status"] == "error", reply
    assert reply["field"] == field, reply
    assert reply["error"]
    assert ha.settle() == before  # the state stays...
    assert loop.state.state.value == "playing"  # ...and the sound keeps playing


@pytest.mark.parametrize(("payload", "field"), BAD_JSON, ids=lambda v: repr(v)[:30])
def test_bad_json_command_is_refused_and_changes_nothing(playing, payload, field) -> None:
    ha, loop = playing
    before = ha.settle()
    reply = ha.ask(payload)
    _assert_refused(ha, loop, before, reply, field)


@pytest.mark.parametrize(("key", "payload", "field"), BAD_PLAIN, ids=lambda v: repr(v)[:30])
def test_bad_plain_value_is_refused_and_changes_nothing(playing, key, payload, field) -> None:
    ha, loop = playing
    before = ha.settle()
    reply = ha.ask(payload, key=key)
    _assert_refused(ha, loop, before, reply, field)


def test_transaction_survives_a_refusal(playing) -> None:
    ha, _ = playing
    reply = ha.ask({"volume": 500, "transaction": "abc"})
    assert reply == {
        "status": "error",
        "error": "volume must be a number from 0 to 100",
        "field": "volume",
        "transaction": "abc",
    }


def test_error_replies_never_echo_a_huge_input(playing) -> None:
    ha, _ = playing
    reply = ha.ask({"k" * 3000: 1})
    assert reply["status"] == "error"
    assert len(json.dumps(reply)) < 400


# -- fuzz ------------------------------------------------------------------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)
_command_like = st.dictionaries(
    st.sampled_from(KEYS) | st.text(max_size=8), _json_values, max_size=4
).map(lambda d: json.dumps(d).encode())
_payloads = st.one_of(
    _command_like,
    st.binary(max_size=200),
    st.text(max_size=60).map(str.encode),
    st.builds(
        lambda action, rest: json.dumps({"action": action, **rest}).encode(),
        st.sampled_from(["play", "stop", "toggle", "next", "previous", "timer_cycle", "x"]),
        st.dictionaries(st.sampled_from(["volume", "sound", "fade"]), _json_values, max_size=2),
    ),
)


def test_fuzz_set_every_payload_gets_one_reply_and_errors_change_nothing(
    mosquitto, mqtt_probe
) -> None:
    broker = mosquitto()
    with running_device(broker, "bedroom") as (_, loop):
        ha = HomeAssistant(mqtt_probe(broker), "sleepsound/bedroom")
        ha.wait_online()

        @settings(
            max_examples=80,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
            database=None,
        )
        @given(payload=_payloads)
        def one(payload: bytes) -> None:
            before = ha.settle()
            reply = ha.ask(payload)
            assert reply["status"] in ("ok", "error"), reply
            if reply["status"] == "error":
                assert reply.get("field"), reply
                assert ha.settle() == before
            else:
                # Back to a still, timer-free state so the next example compares cleanly.
                ha.ask({"action": "stop", "fade": 0, "sleep_timer": 0})
                assert ha.settle_until(lambda d: d["state"] == "stopped")["state"] == "stopped"

        one()
        assert ha.ask({"action": "play", "sound": "rain"}) == {"status": "ok"}
        assert loop.state.state.value == "playing"
