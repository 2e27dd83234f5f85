"""The status document's contract (docs/status.md, ``sleepsound/data/status.schema.json``).

Every document the device publishes, over the control socket and over MQTT, is checked
against the schema shipped in the package, across a sequence of commands that gives each
key each of its forms (a running timer and none, a layer and none, a whole and a
fractional timer, an error and none). The player's own documents are checked too, and
the schema is shown to refuse what breaks the contract, so these checks can fail.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from daemon_helpers import DaemonProcess, mqtt_section, wait_until
from sleepsound import config, player
from test_mqtt_helpers import HomeAssistant

SCHEMA = json.loads(
    resources.files("sleepsound").joinpath("data/status.schema.json").read_text("utf-8")
)
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
T0 = 1000.0


def problems(document: Any) -> list[str]:
    """What is wrong with ``document`` by the contract, one line each (empty: it is fine)."""
    return [f"{list(e.absolute_path)}: {e.message}" for e in VALIDATOR.iter_errors(document)]


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    documented = Path(__file__).parent.parent / "docs" / "status.md"
    text = documented.read_text("utf-8")
    # Every key is written down for people as well.
    assert all(f"`{key}`" in text for key in SCHEMA["properties"]), text


def test_the_players_documents_keep_the_contract() -> None:
    ctx = player.PlayerContext.from_config(config.defaults(), ("pink-noise", "rain"))
    state = player.initial_state(ctx)
    documents = [player.status_document(state, T0, 0.0, ctx)]
    for command in (
        {"action": "play", "sound": "rain", "volume": 95, "sleep_timer": 2.5},
        {"layer": "pink-noise", "layer_volume": 20},
        {"action": "timer_cycle"},
        {"action": "stop"},
    ):
        state = player.handle(state, command, T0, ctx).state
        documents.append(player.status_document(state, T0 + 1, 1.7e9, ctx))
    state = player.playback_failed(state, "rain.flac is corrupt", T0 + 2, ctx).state
    documents.append(player.status_document(state, T0 + 2, 1.7e9, ctx))
    for document in documents:
        assert problems(document) == [], document
    assert {type(d["sleep_timer"]) for d in documents} == {int, float}


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"volume": 30.5}, "a volume is whole"),
        ({"volume": 101}, "a volume is 0-100"),
        ({"state": "sleep_fading"}, "the internal state never shows"),
        ({"timer_ends_at": "23:41"}, "an end is a UTC timestamp"),
        ({"layer": {"sound": "rain"}}, "a layer has its volume"),
        ({"output": "clock"}, "the output is an object"),
        ({"output": {"name": "clock"}}, "the output says whether it is heard"),
        ({"last_error": ""}, "an error says something"),
        ({"mood": "sleepy"}, "a new key comes with the contract"),
    ],
)
def test_the_schema_refuses_documents_that_break_the_contract(
    change: dict[str, Any], why: str
) -> None:
    ctx = player.PlayerContext.from_config(config.defaults(), ("pink-noise",))
    good = player.status_document(player.initial_state(ctx), T0, 0.0, ctx)
    assert problems(good) == []
    assert problems({**good, **change}), why
    missing = dict(good)
    del missing["output"]
    assert problems(missing)


def _socket_document(daemon: DaemonProcess) -> dict[str, Any]:
    """The document as the socket publishes it: a status reply without its envelope."""
    reply = daemon.request({"action": "status", "transaction": 1})
    assert reply["status"] == "ok", reply
    return {k: v for k, v in reply.items() if k not in ("status", "transaction")}


@pytest.mark.slow
def test_every_published_document_keeps_the_contract(mosquitto, mqtt_probe, make_daemon) -> None:
    broker = mosquitto()
    daemon = make_daemon(mqtt_section(broker, "contract"), "contract").start()
    ha = HomeAssistant(mqtt_probe(broker), "sleepsound/contract")
    ha.wait_online()
    over_socket: list[dict[str, Any]] = [_socket_document(daemon), daemon.status()]

    def on_socket(command: dict[str, Any]) -> None:
        assert daemon.request(command)["status"] == "ok", command
        over_socket.extend((_socket_document(daemon), daemon.status()))

    def over_mqtt(payload: str, key: str | None = None) -> None:
        assert ha.ask(payload, key=key)["status"] == "ok", payload
        over_socket.append(_socket_document(daemon))

    on_socket({"action": "play", "sound": "brown-noise", "volume": 40, "sleep_timer": 45})
    over_mqtt(json.dumps({"layer": "pink-noise", "layer_volume": 20}))
    on_socket({"volume": 95})  # clamped to max_volume
    over_mqtt("2.5", key="sleep_timer")
    over_mqtt(json.dumps({"layer": "off", "volume_step": -5}))
    on_socket({"action": "stop"})
    wait_until(lambda: _socket_document(daemon)["state"] == "stopped", "the fade-out's end")
    ha.settle()
    over_socket.append(_socket_document(daemon))
    assert daemon.terminate() == 0

    # A second device whose sound card is missing: last_error and a silent output.
    nocard = make_daemon(name="nocard")
    text = nocard.config_text(mqtt_section(broker, "nocard"))
    text = text.replace('output = "clock"', 'output = "alsa"')
    text = text.replace(f'record = "{nocard.record}"', 'device = "sleepsound_no_such_card"')
    nocard.write_config(text=text)
    nocard.start()
    ha_nocard = HomeAssistant(mqtt_probe(broker), "sleepsound/nocard")
    ha_nocard.wait_online()
    over_socket.append(_socket_document(nocard))
    ha_nocard.settle()
    assert nocard.terminate() == 0

    over_mqtt_documents = [
        json.loads(m.payload)
        for probe in (ha.probe, ha_nocard.probe)
        for m in probe.received
        if m.topic.endswith("/state")
    ]
    published = over_socket + over_mqtt_documents
    for document in published:
        assert problems(document) == [], document
    # Each key was seen in each of its forms, on both ways out.
    for documents in (over_socket, over_mqtt_documents):
        seen = {key: {type(d[key]) for d in documents} for key in SCHEMA["required"]}
        assert {"stopped", "playing"} <= {d["state"] for d in documents}
        assert seen["timer_ends_at"] == {str, type(None)}, seen
        assert seen["layer"] == {dict, type(None)}, seen
        assert seen["sleep_timer"] == {int, float}, seen
        assert seen["last_error"] == {str, type(None)}, seen
        assert {d["volume"] for d in documents} >= {40, 80, 75}
    assert len(over_mqtt_documents) >= 6
