"""Programs in Home Assistant, on a real Mosquitto with a real daemon (``sleepsound run``):
the Next wake sensor, a switch per program, the Skip next wake button, runtime programs
coming and going with their switches."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon_helpers import DaemonProcess, daemons_in, mqtt_section
from test_mqtt_helpers import WAIT_S, HomeAssistant

pytestmark = pytest.mark.slow

PROGRAMS = """
[schedule]
timezone = "UTC"

[[programs]]
name = "weekday"
kind = "wake"
at = "07:00"
days = "daily"
sound = "brown-noise"
volume = 40
"""
SWITCH = "homeassistant/switch/+/program_{}/config"


@pytest.fixture
def daemon(tmp_path: Path, mosquitto) -> Iterator[tuple[DaemonProcess, object]]:
    broker = mosquitto()
    with daemons_in(tmp_path) as make:
        yield make(mqtt_section(broker) + PROGRAMS).start(), broker


def test_programs_are_switches_and_the_next_wake_a_timestamp(daemon, mqtt_probe) -> None:
    _, broker = daemon
    ha = HomeAssistant(mqtt_probe(broker), "sleepsound/bedroom")
    ha.wait_online()
    watcher = mqtt_probe(broker)
    watcher.subscribe("homeassistant/#")
    sensor = watcher.wait_for("homeassistant/sensor/+/next_wake/config", None, WAIT_S)
    assert json.loads(sensor.payload)["device_class"] == "timestamp"
    switch = json.loads(watcher.wait_for(SWITCH.format("weekday"), None, WAIT_S).payload)
    doc = ha.state(lambda d: d.get("next_wake") is not None)
    assert doc["next_wake"].endswith("T07:00:00Z")
    assert doc["programs"][0]["enabled"] is True

    # The switch turned off in Home Assistant: its payload_off on its command topic.
    ha.probe.publish(switch["command_topic"], switch["payload_off"].encode())
    doc = ha.state(lambda d: d["programs"][0]["enabled"] is False)
    assert doc["next_wake"] is None and doc["next_program"] is None
    ha.probe.publish(switch["command_topic"], switch["payload_on"].encode())
    first = ha.state(lambda d: d["programs"][0]["enabled"] is True)["next_wake"]

    # The Skip next wake button: the next one is passed over, the program stays on.
    assert ha.ask("PRESS", key="skip_next_wake")["status"] == "ok"
    doc = ha.state(lambda d: d["programs"][0]["skip_next"] is True)
    assert doc["next_wake"] > first and doc["programs"][0]["enabled"] is True

    # A runtime program (e.g. from a phone's next alarm) gets its switch, and loses it.
    nap = {"name": "Sunday nap", "kind": "bedtime", "at": "14:00", "days": ["sun"]}
    assert ha.ask({"program_add": {**nap, "sound": "rain"}})["status"] == "ok"
    added = watcher.wait_for(SWITCH.format("sunday_nap"), lambda m: bool(m.payload), WAIT_S)
    assert json.loads(added.payload)["name"] == "Program Sunday nap"
    assert ha.ask({"program_remove": "Sunday nap"})["status"] == "ok"
    watcher.wait_for(SWITCH.format("sunday_nap"), lambda m: not m.payload, WAIT_S)
    # Home Assistant coming back later finds the programs' switches retained.
    late = mqtt_probe(broker)
    late.subscribe(SWITCH.format("weekday"))
    assert late.wait_for(SWITCH.format("weekday"), None, WAIT_S).retain
