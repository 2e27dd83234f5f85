"""The pure parts of the MQTT adapter: topic routing, payload translation (with a
hypothesis fuzz), identity, settings, and the ``[mqtt]`` config keys."""

from __future__ import annotations

import json
import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sleepsound.commands import Command
from sleepsound.config import MqttConfig, parse_toml
from sleepsound.errors import ConfigError
from sleepsound.mqtt.connection import PAHO_LOGGER
from sleepsound.mqtt.identity import hostname_slug, node_id, read_machine_id
from sleepsound.mqtt.payloads import (
    MAX_PAYLOAD_BYTES,
    PAYLOAD_FIELD,
    encode,
    nesting,
    translate,
)
from sleepsound.mqtt.settings import resolve
from sleepsound.mqtt.topics import Route, Topics

TOPICS = Topics("sleepsound", "bedroom", "homeassistant", ("upstairs", "all"))


# -- topics ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "route"),
    [
        ("sleepsound/bedroom/set", Route("set")),
        ("sleepsound/bedroom/set/volume", Route("set_key", key="volume")),
        ("sleepsound/bedroom/set/state", Route("set_key", key="state")),
        ("sleepsound/bedroom/get", Route("get")),
        ("homeassistant/status", Route("ha_status")),
        ("sleepsound/group/upstairs/set", Route("set", group="upstairs")),
        ("sleepsound/group/all/set/sound", Route("set_key", key="sound", group="all")),
        ("sleepsound/group/downstairs/set", None),
        ("sleepsound/bedroom/set/volume/extra", None),
        ("sleepsound/bedroom/set/", None),
        ("sleepsound/bedroom/state", None),  # our own output is never a command
        ("sleepsound/kitchen/set", None),
    ],
)
def test_routing(topic: str, route: Route | None) -> None:
    assert TOPICS.route(topic) == route


def test_subscriptions_cover_every_route() -> None:
    import paho.mqtt.client as mqtt

    filters = TOPICS.subscriptions()
    for topic in (
        "sleepsound/bedroom/set",
        "sleepsound/bedroom/set/volume",
        "sleepsound/bedroom/get",
        "homeassistant/status",
        "sleepsound/group/upstairs/set",
        "sleepsound/group/all/set/volume",
    ):
        assert any(mqtt.topic_matches_sub(f, topic) for f in filters), topic
    assert not any(f.startswith("sleepsound/bedroom/state") for f in filters)


# -- payloads ------------------------------------------------------------------------------------


def test_json_commands_translate_to_commands() -> None:
    result = translate(Route("set"), b'{"action": "play", "sound": "rain", "volume": 25}')
    assert result.reply is None
    assert result.command == Command(action="play", sound="rain", volume=25.0)


@pytest.mark.parametrize(
    ("key", "payload", "command"),
    [
        ("volume", b"45", Command(volume=45.0)),
        ("volume", b"45.0", Command(volume=45.0)),
        ("volume", b" 45 \n", Command(volume=45.0)),
        ("sleep_timer", b"30", Command(sleep_timer=30.0)),
        ("sound", b"rain", Command(sound="rain")),
        ("state", b"ON", Command(action="play")),
        ("state", b"OFF", Command(action="stop")),
        ("state", b"TOGGLE", Command(action="toggle")),
        ("action", b"next", Command(action="next")),
    ],
)
def test_plain_values_as_home_assistant_sends_them(key, payload, command) -> None:
    assert translate(Route("set_key", key=key), payload).command == command


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (b"\xc3\x28", PAYLOAD_FIELD),
        (b'{"a": 1', PAYLOAD_FIELD),
        (b"x" * (MAX_PAYLOAD_BYTES + 1), PAYLOAD_FIELD),
        (b'{"volume": [[[1]]]}', "volume"),
        (b'{"volume": Infinity}', PAYLOAD_FIELD),
        (b'{"sound": 1, "sound": 2}', "sound"),
        (b'{"' + b"k" * 500 + b'": 1}', "k" * 63 + "…"),
    ],
)
def test_bad_payloads_name_the_field(payload: bytes, field: str) -> None:
    reply = translate(Route("set"), payload).reply
    assert reply is not None and reply["status"] == "error"
    assert reply["field"] == field


def test_nesting_is_measured_without_recursion() -> None:
    assert nesting('{"a": 1}') == (1, None)
    assert nesting('{"a": "[[[", "b": [1]}') == (2, "b")  # brackets inside strings do not count
    assert nesting('{"a\\"": {"x": {"y": 1}}}') == (3, 'a\\"')
    deep = "[" * 100_000 + "]" * 100_000
    assert nesting(deep)[0] == 100_000


def test_encode_is_compact_utf8_json() -> None:
    doc = {"sound": "pluie d’été", "volume": 20}
    assert json.loads(encode(doc)) == doc
    assert b" " not in encode({"a": 1, "b": [1, 2]})


@pytest.mark.parametrize("text", ["caf\udce9", "\ud800", "a\udfffb", "\udc80\udc81"])
def test_encode_never_fails_on_a_lone_surrogate(text: str) -> None:
    # A file name's undecodable byte (surrogateescape) can reach a state document.
    doc = {"sound": text, "error": f"cannot play {text}"}
    data = encode(doc)
    data.decode("utf-8")  # strict: valid UTF-8 on the wire
    assert json.loads(data) == doc  # and the same text for a reader


@settings(max_examples=400, deadline=None)
@given(
    payload=st.one_of(
        st.binary(max_size=300),
        st.text(max_size=200).map(str.encode),
        st.recursive(
            st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=10),
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(st.text(max_size=12), inner, max_size=4)
            ),
            max_leaves=12,
        ).map(lambda v: json.dumps(v).encode()),
    ),
    key=st.none() | st.sampled_from(["volume", "sound", "state", "action", "fade", "x"]),
)
def test_translate_fuzz_never_raises_and_always_decides(payload: bytes, key) -> None:
    route = Route("set") if key is None else Route("set_key", key=key)
    result = translate(route, payload)
    assert (result.command is None) != (result.reply is None)
    if result.reply is not None:
        assert result.reply["status"] == "error"
        assert result.reply["field"] and len(result.reply["field"]) <= 64
        assert len(result.reply["error"]) < 400
        json.dumps(result.reply)


# -- identity and settings ---------------------------------------------------------------------


def test_node_id_is_stable_and_distinct() -> None:
    a = node_id("abc", "bedroom")
    assert a == node_id("abc\n", "bedroom")
    assert a.startswith("sleepsound_") and len(a) == len("sleepsound_") + 12
    assert len({a, node_id("abd", "bedroom"), node_id("abc", "nursery")}) == 3


@pytest.mark.parametrize(
    ("hostname", "slug"),
    [("Bedroom-Pi.local", "bedroom-pi"), ("raspberrypi", "raspberrypi"), ("ü.x", "sleepsound")],
)
def test_hostname_slug(hostname: str, slug: str) -> None:
    assert hostname_slug(hostname) == slug


def test_machine_id_from_the_first_file_that_has_one(tmp_path) -> None:
    empty, real = tmp_path / "empty", tmp_path / "real"
    empty.write_text("\n")
    real.write_text("0123abcd\n")
    assert read_machine_id([tmp_path / "missing", empty, real]) == "0123abcd"
    assert read_machine_id([tmp_path / "missing"])  # a fallback, never empty


def test_settings_defaults() -> None:
    s = resolve(MqttConfig(host="broker"), machine_id="m", hostname_device_id="bedroom-pi")
    assert s.topics.base == "sleepsound/bedroom-pi"
    assert s.client_id == "sleepsound-bedroom-pi"
    assert s.name == "Sleepsound bedroom-pi"
    assert s.node_id == node_id("m", "bedroom-pi")
    assert (s.username, s.password, s.tls, s.protocol) == (None, None, False, "3.1.1")
    tls = resolve(MqttConfig(host="b", ca_file="/ca.crt"), machine_id="m", hostname_device_id="x")
    assert tls.tls


# -- the [mqtt] config keys -------------------------------------------------------------------


def test_mqtt_keys_parse() -> None:
    config = parse_toml(
        """
[mqtt]
host = "broker.lan"
port = 8883
username = "bedroom"
password_file = "/etc/sleepsound/mqtt-password"
ca_file = "/etc/ssl/ca.crt"
certfile = "/etc/sleepsound/c.crt"
keyfile = "/etc/sleepsound/c.key"
client_id = "sleepsound-bedroom"
protocol = "5"
prefix = "home/sleep"
device_id = "bedroom"
name = "Bedroom"
groups = ["upstairs", "kids"]
discovery = false
discovery_prefix = "ha"
"""
    ).mqtt
    assert config.groups == ("upstairs", "kids")
    assert (config.port, config.protocol, config.prefix, config.discovery) == (
        8883,
        "5",
        "home/sleep",
        False,
    )


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ('protocol = "4"', "mqtt.protocol"),
        ('groups = ["up/stairs"]', "mqtt.groups[0]"),
        ('groups = ["#"]', "mqtt.groups[0]"),
        ('prefix = "sleep/+"', "mqtt.prefix"),
        ('prefix = "homeassistant/sleep"', "mqtt.prefix"),
        ('password = "x"', "mqtt.username"),
        ('username = "u"\npassword = "x"\npassword_file = "/p"', "mqtt.password_file"),
        ('keyfile = "/k"', "mqtt.keyfile"),
        ('device_id = "bed room"', "mqtt.device_id"),
        ("port = 0", "mqtt.port"),
        ('passwrd = "x"', "did you mean 'password'"),
    ],
)
def test_bad_mqtt_keys_are_reported(table: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_toml(f"[mqtt]\n{table}\n")
    assert any(problem in p for p in caught.value.problems), caught.value.problems


def test_the_password_never_shows_in_the_config_repr() -> None:
    config = parse_toml('[mqtt]\nusername = "u"\npassword = "hunter22"\n')
    assert config.mqtt.password == "hunter22"
    assert "hunter22" not in repr(config)


# -- paho's log ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "state",
    ["MQTT_CS_DISCONNECTED", "MQTT_CS_CONNECTING", "MQTT_CS_CONNECTION_LOST", "MQTT_CS_NEW"],
)
def test_pahos_not_connected_noise_is_debug_only_and_other_errors_stay(
    caplog: pytest.LogCaptureFixture, state: str
) -> None:
    # paho 2.2 logs this (its exact text) on every turn of its thread while there is no
    # socket: once after our own stop, and on every retry of an outage (CONNECTING).
    not_connected = f"Client is not connected. Socket: None). Last known Connection State: {state}"
    cause = "failed to receive on socket: [Errno 104] Connection reset by peer"
    with caplog.at_level(logging.INFO, logger=PAHO_LOGGER.name):
        PAHO_LOGGER.error(not_connected)
        PAHO_LOGGER.error(cause)
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [("ERROR", cause)]
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger=PAHO_LOGGER.name):  # -vv still shows it
        PAHO_LOGGER.error(not_connected)
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [("DEBUG", not_connected)]
