"""The preset select on a real Mosquitto: its options follow saves and removals, and
choosing one in Home Assistant (a bare name on ``set/preset``) plays it."""

from __future__ import annotations

import json

from test_mqtt_helpers import WAIT_S, HomeAssistant, running_device


def test_the_preset_select_follows_the_presets_and_plays_one(mosquitto, mqtt_probe) -> None:
    broker = mosquitto()
    with running_device(broker):
        ha = HomeAssistant(mqtt_probe(broker), "sleepsound/bedroom")
        ha.wait_online()
        watcher = mqtt_probe(broker)
        watcher.subscribe("homeassistant/select/+/preset/config")
        first = watcher.wait_for("homeassistant/select/+/preset/config", None, WAIT_S)
        assert json.loads(first.payload)["options"] == []

        assert ha.ask({"sound": "rain", "volume": 25})["status"] == "ok"
        assert ha.ask({"preset_save": "bath"})["status"] == "ok"
        assert ha.ask({"sound": "brown-noise"})["status"] == "ok"
        assert ha.ask({"preset_save": "deep"})["status"] == "ok"
        watcher.wait_for(
            "homeassistant/select/+/preset/config",
            lambda m: json.loads(m.payload)["options"] == ["bath", "deep"],
            WAIT_S,
        )
        # Home Assistant's select sends the bare option on <base>/set/preset.
        assert ha.ask("bath", key="preset") == {"status": "ok", "preset": "bath"}
        doc = ha.state(lambda d: d["preset"] == "bath" and d["state"] == "playing")
        assert (doc["state"], doc["sound"], doc["volume"]) == ("playing", "rain", 25)
        assert doc["presets"] == ["bath", "deep"]

        refused = ha.ask("bth", key="preset")
        assert refused["status"] == "error" and "did you mean 'bath'" in refused["error"]
        assert ha.settle()["sound"] == "rain"  # nothing changed

        assert ha.ask({"preset_remove": "deep"})["status"] == "ok"
        removed = watcher.wait_for(
            "homeassistant/select/+/preset/config",
            lambda m: json.loads(m.payload)["options"] == ["bath"],
            WAIT_S,
        )
        assert removed.qos == 1
