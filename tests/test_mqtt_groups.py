"""Group scenes: one command on ``<prefix>/group/<name>/set`` reaches every device in the
group (the broker does the fan-out), and only those."""

from __future__ import annotations

import json

from test_mqtt_helpers import WAIT_S, HomeAssistant, running_device, settings_for


def test_a_group_command_reaches_two_devices_and_not_a_third(mosquitto, mqtt_probe) -> None:
    broker = mosquitto()
    upstairs = ("upstairs",)
    with (
        running_device(
            broker, settings=settings_for(broker, "kids", machine_id="pi-1", groups=upstairs)
        ) as (_, kids),
        running_device(
            broker, settings=settings_for(broker, "guest", machine_id="pi-2", groups=upstairs)
        ) as (_, guest),
        running_device(broker, settings=settings_for(broker, "lounge", machine_id="pi-3")) as (
            _,
            lounge,
        ),
    ):
        devices = {
            name: HomeAssistant(mqtt_probe(broker), f"sleepsound/{name}")
            for name in ("kids", "guest", "lounge")
        }
        for ha in devices.values():
            ha.wait_online()
            ha.state()
        scene = {"action": "play", "sound": "rain", "volume": 20, "sleep_timer": 45}
        mqtt_probe(broker).publish("sleepsound/group/upstairs/set", json.dumps(scene))
        for name in ("kids", "guest"):
            doc = devices[name].state(lambda d: d["state"] == "playing")
            assert (doc["sound"], doc["volume"], doc["sleep_timer"]) == ("rain", 20, 45)
            assert devices[name].reply() == {"status": "ok"}  # each on its own /response
        # The lounge is not in the group: its state after a marker is still stopped.
        assert devices["lounge"].settle()["state"] == "stopped"
        assert lounge.state.state.value == "stopped"
        assert kids.state.state.value == guest.state.state.value == "playing"

        # Plain values work through the group too (a Home Assistant "group" number).
        mqtt_probe(broker).publish("sleepsound/group/upstairs/set/volume", "35")
        for name in ("kids", "guest"):
            assert devices[name].state(lambda d: d["volume"] == 35)["volume"] == 35


def test_a_bad_group_command_is_refused_by_each_device(mosquitto, mqtt_probe) -> None:
    broker = mosquitto()
    with (
        running_device(
            broker, settings=settings_for(broker, "a", machine_id="m1", groups=("all",))
        ),
        running_device(
            broker, settings=settings_for(broker, "b", machine_id="m2", groups=("all",))
        ),
    ):
        devices = [HomeAssistant(mqtt_probe(broker), f"sleepsound/{n}") for n in ("a", "b")]
        for ha in devices:
            ha.wait_online()
        mqtt_probe(broker).publish("sleepsound/group/all/set", '{"volume": 300}')
        for ha in devices:
            reply = json.loads(ha.probe.wait_for(f"{ha.base}/response", None, WAIT_S).payload)
            assert reply["field"] == "volume"
