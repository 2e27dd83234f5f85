"""Commands over a real Mosquitto, as Home Assistant and scripts send them, driving the
real player core: the state after each command, plain values, /get, events, retained."""

from __future__ import annotations

import json

import pytest

from sleepsound.commands import Command
from test_mqtt_helpers import STATE_KEYS, WAIT_S, HomeAssistant, running_device


@pytest.fixture
def device(mosquitto, mqtt_probe):
    """A connected device ("bedroom") and a Home-Assistant-like client watching it."""
    broker = mosquitto()
    with running_device(broker, "bedroom") as (bridge, loop):
        ha = HomeAssistant(mqtt_probe(broker), "sleepsound/bedroom")
        ha.wait_online()
        ha.state()  # the state published on connect
        yield ha, bridge, loop


def test_connect_publishes_availability_and_retained_state(mosquitto, mqtt_probe) -> None:
    broker = mosquitto()
    with running_device(broker, "bedroom") as (bridge, _):
        assert bridge.wait_connected(WAIT_S)
        first = HomeAssistant(mqtt_probe(broker), "sleepsound/bedroom")
        first.wait_online()
        first.state()
        late = mqtt_probe(broker)  # subscribes after the fact: sees retained messages
        late.subscribe("sleepsound/bedroom/#")
        availability = late.wait_for("sleepsound/bedroom/availability", None, WAIT_S)
        state = late.wait_for("sleepsound/bedroom/state", None, WAIT_S)
    assert availability.retain and availability.text == "online"
    assert state.retain
    doc = json.loads(state.payload)
    assert doc["state"] == "stopped"
    assert set(doc) >= STATE_KEYS


def test_state_after_each_json_command(device) -> None:
    ha, _, _ = device
    assert ha.ask({"action": "play", "sound": "rain", "volume": 25, "sleep_timer": 45}) == {
        "status": "ok"
    }
    doc = ha.state(lambda d: d["state"] == "playing")
    assert doc["sound"] == "rain" and doc["volume"] == 25 and doc["sleep_timer"] == 45
    assert doc["timer_ends_at"] is not None and doc["timer_ends_at"].endswith("Z")

    assert ha.ask({"volume": 30})["status"] == "ok"
    assert ha.state(lambda d: d["volume"] == 30)["state"] == "playing"

    assert ha.ask({"volume_step": -5})["status"] == "ok"
    assert ha.state(lambda d: d["volume"] == 25)["sound"] == "rain"

    assert ha.ask({"layer": "white-noise", "layer_volume": 20})["status"] == "ok"
    assert ha.state(lambda d: d["layer"] is not None)["layer"] == {
        "sound": "white-noise",
        "volume": 20,
    }

    assert ha.ask({"action": "next"})["status"] == "ok"
    assert ha.state(lambda d: d["sound"] != "rain")["sound"] == "white-noise"

    assert ha.ask({"sleep_timer": 0})["status"] == "ok"
    assert ha.state(lambda d: d["sleep_timer"] == 0)["timer_ends_at"] is None

    assert ha.ask({"action": "stop", "fade": 0})["status"] == "ok"
    assert ha.state(lambda d: d["state"] == "stopped")["sound"] == "white-noise"


def test_transaction_is_echoed_and_clamp_warned(device) -> None:
    ha, _, loop = device
    reply = ha.ask({"volume": 95, "transaction": "t-1"})
    assert reply["status"] == "ok" and reply["transaction"] == "t-1"
    assert "clamped" in reply["warning"]
    assert ha.state(lambda d: d["volume"] == loop.ctx.max_volume)["max_volume"] == 80


@pytest.mark.parametrize(
    ("key", "value", "expect"),
    [
        ("volume", "45", {"volume": 45}),
        ("volume", "45.0", {"volume": 45}),  # what a Home Assistant number sends
        ("sound", "rain", {"sound": "rain"}),
        ("sleep_timer", "30", {"sleep_timer": 30}),
        ("sleep_timer", "30.0", {"sleep_timer": 30}),
        ("state", "ON", {"state": "playing"}),
        ("action", "next", {"sound": "rain"}),  # the "next sound" button
    ],
)
def test_home_assistant_plain_values(device, key, value, expect) -> None:
    ha, _, _ = device
    assert ha.ask(value, key=key) == {"status": "ok"}
    doc = ha.state(lambda d: all(d[k] == v for k, v in expect.items()))
    assert all(doc[k] == v for k, v in expect.items())


def test_switch_on_off_toggle(device) -> None:
    ha, _, _ = device
    ha.ask("ON", key="state")
    ha.state(lambda d: d["state"] == "playing")
    ha.ask("OFF", key="state")
    ha.state(lambda d: d["state"] in ("fading_out", "stopped"))
    ha.ask("TOGGLE", key="state")
    ha.state(lambda d: d["state"] == "playing")
    ha.ask("toggle", key="state")
    assert ha.state(lambda d: d["state"] != "playing")["state"] in ("fading_out", "stopped")


def test_get_republishes_the_state(device) -> None:
    ha, _, _ = device
    ha.ask({"volume": 33})
    ha.state(lambda d: d["volume"] == 33)
    ha.probe.publish("sleepsound/bedroom/get", "")
    again = ha.probe.wait_for("sleepsound/bedroom/state", None, WAIT_S)
    assert json.loads(again.payload)["volume"] == 33


def test_events_are_published_not_retained(device, mqtt_probe) -> None:
    ha, _, loop = device
    # A sleep timer shorter than a second ends on its own: the player emits timer_expired.
    # Commands refuse timers under a minute, so this checked one goes straight to the loop.
    loop.submit(Command(action="play", sleep_timer=0.01), lambda reply: None)
    event = ha.probe.wait_for("sleepsound/bedroom/event", None, WAIT_S)
    assert json.loads(event.payload) == {"event_type": "timer_expired"}
    assert not event.retain
    assert ha.state(lambda d: d["state"] == "stopped")["state"] == "stopped"
    late = mqtt_probe(ha.probe.broker)
    late.subscribe("sleepsound/bedroom/event")
    late.subscribe("sleepsound/bedroom/availability")  # a retained marker arrives...
    late.wait_for("sleepsound/bedroom/availability", None, WAIT_S)
    assert not [m for m in late.received if m.topic.endswith("/event")]  # ...no event


def test_bridge_events_from_the_daemon_reach_home_assistant(device) -> None:
    ha, bridge, _ = device
    bridge.on_event({"event_type": "double", "button": "main"})
    event = ha.probe.wait_for("sleepsound/bedroom/event", None, WAIT_S)
    assert json.loads(event.payload) == {"event_type": "double", "button": "main"}


def test_retained_command_is_ignored(mosquitto, mqtt_probe) -> None:
    broker = mosquitto()
    # A stale "play" left retained on the broker (by a misconfigured automation)...
    mqtt_probe(broker).publish("sleepsound/bedroom/set", '{"action": "play"}', retain=True)
    mqtt_probe(broker).publish("sleepsound/bedroom/set/volume", "70", retain=True)
    with running_device(broker, "bedroom") as (_, loop):
        ha = HomeAssistant(mqtt_probe(broker), "sleepsound/bedroom")
        ha.wait_online()
        doc = ha.settle()  # everything delivered before the marker has been handled
        # ...does not start the sound (or change anything) when the device connects.
        assert doc["state"] == "stopped" and doc["volume"] == 30
        assert all(isinstance(c, Command) and c.action == "status" for c in loop.applied)
        # One response only: the marker's; the retained commands got none.
        responses = [m for m in ha.probe.received if m.topic.endswith("/response")]
        assert len(responses) == 1


def test_commands_before_the_broker_exists_are_not_needed_for_sound(mosquitto, mqtt_probe) -> None:
    # The broker is down at start: the loop (the sound) runs, the bridge keeps trying.
    broker = mosquitto()
    broker.stop()
    with running_device(broker, "bedroom", reconnect_delay_s=(1, 2)) as (bridge, loop):
        loop.submit({"action": "play"}, lambda reply: None)
        assert not bridge.connected
        broker.start()
        assert bridge.wait_connected(WAIT_S)
        ha = HomeAssistant(mqtt_probe(broker), "sleepsound/bedroom")
        assert ha.state(lambda d: d["state"] == "playing")["state"] == "playing"
