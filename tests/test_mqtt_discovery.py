"""Home Assistant discovery: payloads checked against Home Assistant's rules, published
retained at QoS 1 on a real broker, re-published on HA's birth, removed by
``sleepsound mqtt unregister``."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import jsonschema
import pytest

from sleepsound.cli import main as cli_main
from sleepsound.commands import parse_plain
from sleepsound.config import MqttConfig, load_config
from sleepsound.mqtt.discovery import (
    ENTITIES,
    EVENT_TYPES,
    PLAYER_STATES,
    DeviceInfo,
    discovery_messages,
    program_switches,
    removal_topics,
)
from sleepsound.mqtt.settings import load_settings, resolve
from sleepsound.mqtt.topics import Topics
from test_mqtt_helpers import (
    CATALOGUE,
    STATE_KEYS,
    WAIT_S,
    HomeAssistant,
    PlayerLoop,
    running_device,
)

TOPICS = Topics("sleepsound", "bedroom")
DEVICE = DeviceInfo("sleepsound_0123456789ab", "Sleepsound bedroom", "0.1.0")

# The keys of Home Assistant's MQTT device schema (MQTT_ENTITY_DEVICE_INFO_SCHEMA): it
# rejects any other key, and with it the whole entity.
DEVICE_KEYS = {
    "identifiers",
    "connections",
    "manufacturer",
    "model",
    "model_id",
    "name",
    "hw_version",
    "serial_number",
    "sw_version",
    "via_device",
    "suggested_area",
    "configuration_url",
}
# Unknown top-level keys are silently dropped by Home Assistant, so a typo fails
# silently: every key used must be one the component knows.
COMMON_KEYS = {
    "name",
    "unique_id",
    "availability_topic",
    "payload_available",
    "payload_not_available",
    "qos",
    "device",
    "origin",
    "icon",
    "entity_category",
    "enabled_by_default",
    "json_attributes_topic",
    "json_attributes_template",
    "encoding",
    "default_entity_id",
}
COMPONENT_KEYS = {
    "switch": {
        "command_topic",
        "state_topic",
        "value_template",
        "payload_on",
        "payload_off",
        "state_on",
        "state_off",
        "optimistic",
        "retain",
        "device_class",
    },
    "number": {
        "command_topic",
        "command_template",
        "state_topic",
        "value_template",
        "min",
        "max",
        "step",
        "mode",
        "unit_of_measurement",
        "device_class",
        "optimistic",
        "retain",
    },
    "select": {"command_topic", "command_template", "state_topic", "value_template", "options"},
    "sensor": {
        "state_topic",
        "value_template",
        "device_class",
        "state_class",
        "unit_of_measurement",
        "options",
        "expire_after",
    },
    "event": {"state_topic", "value_template", "event_types", "device_class"},
    "button": {"command_topic", "command_template", "payload_press", "device_class", "retain"},
    "binary_sensor": {
        "state_topic",
        "value_template",
        "payload_on",
        "payload_off",
        "device_class",
        "expire_after",
        "off_delay",
    },
}
TOPIC = {"type": "string", "pattern": r"^[^#+\s]+$", "not": {"pattern": r"^homeassistant/"}}
COMMON_SCHEMA = {
    "type": "object",
    "required": ["unique_id", "device", "origin", "availability_topic", "name"],
    "properties": {
        "name": {"type": ["string", "null"]},
        "unique_id": {"type": "string", "pattern": r"^sleepsound_[0-9a-f]{12}_[a-z_]+$"},
        "availability_topic": TOPIC,
        "state_topic": TOPIC,
        "command_topic": TOPIC,
        "json_attributes_topic": TOPIC,
        "icon": {"type": "string", "pattern": r"^mdi:[a-z0-9-]+$"},
        "qos": {"enum": [0, 1, 2]},
        "device": {
            "type": "object",
            "required": ["identifiers", "name"],
            "additionalProperties": False,
            "properties": {
                **{key: {"type": "string"} for key in DEVICE_KEYS},
                "identifiers": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"type": "string", "minLength": 1},
                },
            },
        },
        "origin": {
            "type": "object",
            "required": ["name"],
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string"},
                "sw_version": {"type": "string"},
                "support_url": {"type": "string", "format": "uri"},
            },
        },
    },
}
NUMBER = {"type": "number"}  # a JSON number, never "0"
COMPONENT_SCHEMA = {
    "switch": {"required": ["command_topic", "state_topic"]},
    "number": {
        "required": ["command_topic", "state_topic", "min", "max", "step"],
        "properties": {
            "min": NUMBER,
            "max": NUMBER,
            "step": {"type": "number", "exclusiveMinimum": 0},
            "mode": {"enum": ["auto", "box", "slider"]},
        },
    },
    "select": {
        "required": ["command_topic", "state_topic", "options"],
        "properties": {"options": {"type": "array", "minItems": 1, "items": {"type": "string"}}},
    },
    "sensor": {"required": ["state_topic"]},
    "event": {
        "required": ["state_topic", "event_types"],
        "properties": {"event_types": {"type": "array", "minItems": 1}},
    },
    "button": {"required": ["command_topic"]},
    "binary_sensor": {"required": ["state_topic"]},
}


def _component(topic: str) -> str:
    return topic.split("/")[1]


def _by_object(messages: list[tuple[str, dict]]) -> dict[str, dict]:
    return {topic.split("/")[3]: payload for topic, payload in messages}


# -- the payloads against Home Assistant's rules ------------------------------------------------


def test_every_entity_is_valid_by_home_assistants_rules() -> None:
    # (With no preset the preset select's options are [], which Home Assistant's own
    # schema, cv.ensure_list, accepts; the schema here asks for one, so give one.)
    messages = discovery_messages(TOPICS, DEVICE, CATALOGUE, ("bath",))
    assert [(_component(t), t.split("/")[3]) for t, _ in messages] == list(ENTITIES)
    for topic, payload in messages:
        component = _component(topic)
        assert re.fullmatch(r"homeassistant/[a-z_]+/[A-Za-z0-9_-]+/[A-Za-z0-9_-]+/config", topic)
        jsonschema.validate(payload, COMMON_SCHEMA)
        jsonschema.validate(payload, COMPONENT_SCHEMA[component])
        unknown = set(payload) - COMMON_KEYS - COMPONENT_KEYS[component]
        assert not unknown, f"{topic}: keys Home Assistant would drop: {unknown}"
        template = payload.get("value_template", "")
        assert set(re.findall(r"value_json\.(\w+)", template)) <= STATE_KEYS, template
        json.dumps(payload, allow_nan=False)  # plain JSON, nothing Python-only


def test_home_assistant_shows_whether_anyone_hears_the_output() -> None:
    audible = _by_object(discovery_messages(TOPICS, DEVICE, CATALOGUE))["audible"]
    assert audible["state_topic"] == "sleepsound/bedroom/state"
    assert audible["entity_category"] == "diagnostic" and audible["device_class"] == "sound"
    template = audible["value_template"]
    assert "value_json.output.audible" in template
    assert (audible["payload_on"], audible["payload_off"]) == ("ON", "OFF")
    assert "value_json.output" in audible["json_attributes_template"]
    assert "homeassistant/binary_sensor/sleepsound_x/audible/config" in [
        t.replace(DEVICE.node_id, "sleepsound_x") for t in removal_topics(TOPICS, DEVICE.node_id)
    ]


def test_the_model_of_the_device() -> None:
    entities = _by_object(discovery_messages(TOPICS, DEVICE, CATALOGUE))
    switch = entities["playback"]
    assert switch["name"] is None  # the device's main entity
    assert switch["command_topic"] == "sleepsound/bedroom/set/state"
    assert {switch["payload_on"], switch["payload_off"]} == {"ON", "OFF"}
    volume = entities["volume"]
    assert (volume["min"], volume["max"], volume["mode"]) == (0, 100, "slider")
    assert volume["unit_of_measurement"] == "%"
    assert entities["sound"]["options"] == list(CATALOGUE)
    assert entities["sound"]["command_topic"] == "sleepsound/bedroom/set/sound"
    timer = entities["sleep_timer"]
    assert (timer["device_class"], timer["unit_of_measurement"], timer["min"]) == (
        "duration",
        "min",
        0,
    )
    assert entities["timer_ends"]["device_class"] == "timestamp"
    assert entities["state"]["device_class"] == "enum"
    assert entities["state"]["options"] == list(PLAYER_STATES)
    assert entities["events"]["state_topic"] == "sleepsound/bedroom/event"
    assert set(entities["events"]["event_types"]) == {
        "single",
        "double",
        "long",
        "timer_expired",
        "playback_error",
        "program_started",
        "snoozed",
        "dismissed",
        "program_skipped",
    }
    assert entities["next_sound"]["command_topic"] == "sleepsound/bedroom/set/action"
    assert entities["next_sound"]["payload_press"] == "next"
    preset = entities["preset"]
    assert preset["command_topic"] == "sleepsound/bedroom/set/preset"
    assert preset["options"] == []  # no preset yet: the select is there, empty
    assert "value_json.preset" in preset["value_template"]


def test_unique_ids_are_unique_and_never_collide_between_devices() -> None:
    def ids(machine: str, device_id: str) -> set[str]:
        settings = resolve(
            MqttConfig(host="h", device_id=device_id), machine_id=machine, hostname_device_id="x"
        )
        device = DeviceInfo(settings.node_id, settings.name, "1")
        messages = discovery_messages(settings.topics, device, CATALOGUE)
        unique = {payload["unique_id"] for _, payload in messages}
        assert len(unique) == len(ENTITIES)
        return unique

    bedroom = ids("machine-a", "bedroom")
    assert bedroom == ids("machine-a", "bedroom")  # stable
    assert not bedroom & ids("machine-a", "nursery")  # two device ids on one machine
    assert not bedroom & ids("machine-b", "bedroom")  # two machines, same (host) name
    # A new display name changes nothing: ids come from the machine, not the name.
    renamed = resolve(
        MqttConfig(host="h", device_id="bedroom", name="Kid's room"),
        machine_id="machine-a",
        hostname_device_id="x",
    )
    assert {f"{renamed.node_id}_{o}" for _, o in ENTITIES} == bedroom


def test_event_types_cover_what_the_device_publishes() -> None:
    gestures = {"single", "double", "long", "timer_expired", "playback_error"}
    programs = {"program_started", "snoozed", "dismissed", "program_skipped"}
    assert set(EVENT_TYPES) == gestures | programs


def test_a_switch_per_program_valid_by_home_assistants_rules() -> None:
    messages = program_switches(TOPICS, DEVICE, ["weekday", "School days"])
    assert [topic.split("/")[3] for topic, _ in messages] == [
        "program_weekday",
        "program_school_days",
    ]
    for topic, payload in messages:
        assert _component(topic) == "switch"
        jsonschema.validate(payload, COMMON_SCHEMA)
        jsonschema.validate(payload, COMPONENT_SCHEMA["switch"])
        assert not set(payload) - COMMON_KEYS - COMPONENT_KEYS["switch"]
        assert payload["command_topic"] == "sleepsound/bedroom/set"  # JSON commands
        assert (payload["state_on"], payload["state_off"]) == ("ON", "OFF")
        assert set(re.findall(r"value_json\.(\w+)", payload["value_template"])) <= STATE_KEYS
    school = messages[1][1]
    assert json.loads(school["payload_on"]) == {"program_enable": "School days"}
    assert json.loads(school["payload_off"]) == {"program_disable": "School days"}
    assert '"School days"' in school["value_template"]
    assert removal_topics(TOPICS, DEVICE.node_id, ["School days"])[-1] == messages[1][0]


def test_next_wake_skip_snooze_and_dismiss() -> None:
    entities = _by_object(discovery_messages(TOPICS, DEVICE, CATALOGUE))
    assert entities["next_wake"]["device_class"] == "timestamp"
    assert entities["next_wake"]["value_template"] == "{{ value_json.next_wake }}"
    skip = entities["skip_next"]
    assert skip["command_topic"] == "sleepsound/bedroom/set/skip_next_wake"
    assert parse_plain("skip_next_wake", skip["payload_press"]).program_edit == (
        "skip_next_wake",
        True,
    )
    for name in ("snooze", "dismiss"):
        button = entities[name]
        assert parse_plain("action", button["payload_press"]).action == name


# -- on the broker ----------------------------------------------------------------------------


def test_configs_are_retained_qos1_and_state_is_not_under_the_prefix(mosquitto, mqtt_probe) -> None:
    broker = mosquitto()
    with running_device(broker) as (bridge, _):
        ha = HomeAssistant(mqtt_probe(broker), "sleepsound/bedroom")
        ha.wait_online()
        ha.state()
        late = mqtt_probe(broker)
        late.subscribe("homeassistant/#", qos=1)
        configs = [late.wait_for("homeassistant/+/+/+/config", None, WAIT_S) for _ in ENTITIES]
    node = bridge.settings.node_id
    assert {m.topic for m in configs} == set(removal_topics(bridge.topics, node))
    assert all(m.retain and m.qos == 1 for m in configs)
    select = next(json.loads(m.payload) for m in configs if "/select/" in m.topic)
    assert select["options"] == list(CATALOGUE)
    assert not [m for m in late.received if not m.topic.endswith("/config")]


def test_home_assistant_birth_republishes_after_a_delay(mosquitto, mqtt_probe) -> None:
    broker = mosquitto()
    with running_device(broker) as (_, _loop):
        ha = HomeAssistant(mqtt_probe(broker), "sleepsound/bedroom")
        ha.wait_online()
        ha.state()
        watcher = mqtt_probe(broker)
        watcher.subscribe("homeassistant/+/+/+/config")
        for _ in ENTITIES:  # the retained ones
            watcher.wait_for("homeassistant/+/+/+/config", None, WAIT_S)
        ha.probe.clear()
        sent = time.monotonic()
        ha.probe.publish("homeassistant/status", "online")
        again = watcher.wait_for("homeassistant/switch/+/playback/config", None, WAIT_S)
        waited = time.monotonic() - sent
        state = ha.probe.wait_for("sleepsound/bedroom/state", None, WAIT_S)
    assert not again.retain  # a live re-publish, not the retained copy
    assert waited >= 0.9  # never at once: HA must be ready, and devices spread out
    assert json.loads(state.payload)["state"] == "stopped"


def test_library_change_republishes_the_select(mosquitto, mqtt_probe) -> None:
    broker = mosquitto()
    with running_device(broker) as (bridge, _):
        ha = HomeAssistant(mqtt_probe(broker), "sleepsound/bedroom")
        ha.wait_online()
        watcher = mqtt_probe(broker)
        watcher.subscribe("homeassistant/select/+/sound/config")
        watcher.wait_for(None, None, WAIT_S)
        bridge.set_sounds([*CATALOGUE, "ocean-waves"])
        message = watcher.wait_for("homeassistant/select/+/sound/config", None, WAIT_S)
    assert json.loads(message.payload)["options"][-1] == "ocean-waves"


def test_discovery_off_publishes_no_configs(mosquitto, mqtt_probe) -> None:
    from test_mqtt_helpers import settings_for

    broker = mosquitto()
    settings = settings_for(broker, discovery=False)
    with running_device(broker, settings=settings):
        ha = HomeAssistant(mqtt_probe(broker), "sleepsound/bedroom")
        ha.probe.subscribe("homeassistant/#")
        ha.wait_online()
        ha.settle()
    assert not [m for m in ha.probe.received if m.topic.startswith("homeassistant/")]


def test_unregister_removes_the_device(mosquitto, mqtt_probe, tmp_path: Path, capsys) -> None:
    broker = mosquitto()
    config = tmp_path / "config.toml"
    config.write_text(
        f'[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\ndevice_id = "bedroom"\n'
    )

    settings = load_settings(load_config(str(config)).mqtt)  # this machine's real id
    with running_device(broker, settings=settings, loop=PlayerLoop()):
        HomeAssistant(mqtt_probe(broker), "sleepsound/bedroom").wait_online()
    watcher = mqtt_probe(broker)
    watcher.subscribe("homeassistant/#")
    for _ in ENTITIES:
        watcher.wait_for(None, lambda m: m.retain and m.payload != b"", WAIT_S)

    assert cli_main(["mqtt", "unregister", "--config", str(config)]) == 0
    assert settings.node_id in capsys.readouterr().out
    removals = [watcher.wait_for(None, lambda m: m.payload == b"", WAIT_S) for _ in ENTITIES]
    assert {m.topic for m in removals} == set(removal_topics(settings.topics, settings.node_id))

    # A fresh subscriber (Home Assistant starting) finds nothing retained any more;
    # the marker, subscribed after, proves everything retained has been delivered.
    fresh = mqtt_probe(broker)
    mqtt_probe(broker).publish("test/marker", "m", retain=True)
    fresh.subscribe("homeassistant/#")
    fresh.subscribe("sleepsound/#")
    fresh.subscribe("test/marker")
    fresh.wait_for("test/marker", None, WAIT_S)
    assert [m.topic for m in fresh.received] == ["test/marker"]


def test_unregister_without_a_broker_says_so(tmp_path: Path, capsys) -> None:
    from support.broker import free_port

    config = tmp_path / "config.toml"
    config.write_text(f'[mqtt]\nhost = "127.0.0.1"\nport = {free_port()}\n')
    assert cli_main(["mqtt", "unregister", "--config", str(config), "--timeout", "3"]) == 1
    assert "cannot reach the MQTT broker" in capsys.readouterr().err


def test_show_prints_the_configs(tmp_path: Path, capsys) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[mqtt]\nhost = "broker"\ndevice_id = "nursery"\ngroups = ["upstairs"]\n')
    assert cli_main(["mqtt", "show", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "sleepsound/nursery/state" in out and "sleepsound/group/upstairs/set" in out
    lines = [line for line in out.splitlines() if line.startswith("homeassistant/")]
    assert len(lines) == len(ENTITIES)
    for line in lines:
        _, payload = line.split(" ", 1)
        jsonschema.validate(json.loads(payload), COMMON_SCHEMA)


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_both_protocol_versions_work(mosquitto, mqtt_probe, protocol) -> None:
    from test_mqtt_helpers import settings_for

    broker = mosquitto()
    with running_device(broker, settings=settings_for(broker, protocol=protocol)):
        ha = HomeAssistant(mqtt_probe(broker), "sleepsound/bedroom")
        ha.wait_online()
        assert ha.ask({"volume": 12}) == {"status": "ok"}
        assert ha.state(lambda d: d["volume"] == 12)["volume"] == 12
