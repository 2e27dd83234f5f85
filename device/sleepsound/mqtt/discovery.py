"""Home Assistant MQTT discovery: the config messages that make the device appear. Pure.

One retained config per entity, on
``<discovery_prefix>/<component>/<node_id>/<object_id>/config`` (the per-entity
form, which every version of Home Assistant and openHAB understands). Home
Assistant has no MQTT media player, so the device is modelled as:

=============  ===========  ===============================================
component      object_id    what it is
=============  ===========  ===============================================
switch         playback     play/stop; ``name: null``: the device's main entity
number         volume       0–100 %, slider
select         sound        the library (re-published when it changes)
select         preset       the presets (re-published when one is saved or removed)
number         sleep_timer  minutes, ``device_class: duration``
sensor         timer_ends   ``device_class: timestamp``
sensor         state        ``device_class: enum``: stopped/playing/fading_out
event          events       button gestures, timer expiry, playback errors, programs
button         next_sound   one press: the next sound
select         output       the named outputs (``[outputs.NAME]``)
binary_sensor  audible      diagnostic: on while a person can hear the output
sensor         next_wake    ``device_class: timestamp``: the next wake program
button         skip_next    skips the next wake (once), the program stays on
button         snooze       snoozes the wake that rings
button         dismiss      ends the wake that rings
switch         program_<n>  one per program (:func:`program_switches`): enabled
=============  ===========  ===============================================

Every entity reads the one state document (``value_template``) and commands
through ``<base>/set/<key>`` with the bare values Home Assistant sends. Removing
the device (:func:`removal_topics`) is an empty retained payload on each topic.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from sleepsound.mqtt.topics import AVAILABLE, UNAVAILABLE, Topics

ORIGIN_NAME: Final = "sleepsound"
MANUFACTURER: Final = "sleepsound"
MODEL: Final = "Bedside sleep-sound player"

PLAYER_STATES: Final = ("stopped", "playing", "fading_out")
"""The ``state`` values of the state document (the enum sensor's options)."""
EVENT_TYPES: Final = (
    "single",
    "double",
    "long",
    "timer_expired",
    "playback_error",
    "program_started",
    "snoozed",
    "dismissed",
    "program_skipped",
)
"""Every ``event_type`` the device publishes on ``<base>/event``."""
SLEEP_TIMER_MAX_MIN: Final = 720

ENTITIES: Final[tuple[tuple[str, str], ...]] = (
    ("switch", "playback"),
    ("number", "volume"),
    ("select", "sound"),
    ("select", "preset"),
    ("number", "sleep_timer"),
    ("sensor", "timer_ends"),
    ("sensor", "state"),
    ("event", "events"),
    ("button", "next_sound"),
    ("binary_sensor", "audible"),
    ("select", "output"),
    ("sensor", "next_wake"),
    ("button", "skip_next"),
    ("button", "snooze"),
    ("button", "dismiss"),
)
"""(component, object_id) of every fixed entity, in publishing order (the programs'
switches come and go with the programs: :func:`program_switches`)."""
PROGRAM_SWITCH_PREFIX: Final = "program_"


@dataclass(frozen=True)
class DeviceInfo:
    """What Home Assistant shows about the device."""

    node_id: str
    """Stable, per machine: the device identifier and the unique-id stem."""
    name: str
    sw_version: str
    outputs: tuple[str, ...] = ("default",)
    """The named outputs (the "Output" select's options)."""


def config_topic(topics: Topics, node_id: str, component: str, object_id: str) -> str:
    """``<discovery_prefix>/<component>/<node_id>/<object_id>/config``."""
    return f"{topics.discovery_prefix}/{component}/{node_id}/{object_id}/config"


def discovery_messages(
    topics: Topics, device: DeviceInfo, sounds: Sequence[str], presets: Sequence[str] = ()
) -> list[tuple[str, dict[str, Any]]]:
    """Every entity's (config topic, config payload); publish them retained at QoS 1.

    ``presets`` are the preset names (the state document's ``presets``); with none the
    select is still there, empty (Home Assistant allows an empty ``options``), so it
    does not come and go."""
    specific = _specific(topics, sounds, device.outputs)
    specific["preset"] = {
        "name": "Preset",
        "command_topic": topics.set_key("preset"),
        "state_topic": topics.state,
        "value_template": "{{ value_json.preset }}",
        "options": list(presets),
        "icon": "mdi:star-outline",
    }
    return [
        (
            config_topic(topics, device.node_id, component, object_id),
            entity_config(topics, device, object_id, specific[object_id]),
        )
        for component, object_id in ENTITIES
    ]


def removal_topics(topics: Topics, node_id: str, programs: Sequence[str] = ()) -> list[str]:
    """The config topics to clear (empty retained payload) to remove the device (and the
    switches of ``programs``, by name)."""
    fixed = [config_topic(topics, node_id, c, o) for c, o in ENTITIES]
    return fixed + [program_switch_topic(topics, node_id, name) for name in programs]


def program_object_id(name: str) -> str:
    """The switch's object id for program ``name`` (``School days`` -> ``program_school_days``)."""
    return PROGRAM_SWITCH_PREFIX + re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def program_switch_topic(topics: Topics, node_id: str, name: str) -> str:
    """The config topic of program ``name``'s switch."""
    return config_topic(topics, node_id, "switch", program_object_id(name))


def program_switches(
    topics: Topics, device: DeviceInfo, programs: Sequence[str]
) -> list[tuple[str, dict[str, Any]]]:
    """A switch per program (on = enabled): JSON commands on ``<base>/set``, its state
    from the state document's ``programs``. Publish retained; clear the switch of a
    program that is gone (:func:`program_switch_topic`, empty payload)."""
    messages = []
    for name in programs:
        quoted = json.dumps(name)  # a JSON string is a Jinja string literal too
        specific = {
            "name": f"Program {name}",
            "command_topic": topics.set,
            "payload_on": json.dumps({"program_enable": name}),
            "payload_off": json.dumps({"program_disable": name}),
            "state_on": "ON",
            "state_off": "OFF",
            "state_topic": topics.state,
            "value_template": (
                "{% set p = value_json.programs | selectattr('name', 'eq', "
                + quoted
                + ") | list %}{{ 'ON' if p and p[0].enabled else 'OFF' }}"
            ),
            "icon": "mdi:alarm",
        }
        object_id = program_object_id(name)
        messages.append(
            (
                program_switch_topic(topics, device.node_id, name),
                entity_config(topics, device, object_id, specific),
            )
        )
    return messages


def entity_config(
    topics: Topics, device: DeviceInfo, object_id: str, specific: dict[str, Any]
) -> dict[str, Any]:
    """The discovery payload of one entity: its ``specific`` keys plus those all share."""
    return {
        **specific,
        "unique_id": f"{device.node_id}_{object_id}",
        "availability_topic": topics.availability,
        "payload_available": AVAILABLE,
        "payload_not_available": UNAVAILABLE,
        "qos": 1,
        "device": device_block(device),
        "origin": origin_block(device),
    }


def device_block(device: DeviceInfo) -> dict[str, Any]:
    """The ``device`` block: only keys Home Assistant's device schema knows."""
    return {
        "identifiers": [device.node_id],
        "name": device.name,
        "manufacturer": MANUFACTURER,
        "model": MODEL,
        "sw_version": device.sw_version,
    }


def origin_block(device: DeviceInfo) -> dict[str, Any]:
    """The ``origin`` block: the software that publishes the configs."""
    return {"name": ORIGIN_NAME, "sw_version": device.sw_version}


def _specific(
    topics: Topics, sounds: Sequence[str], outputs: Sequence[str]
) -> dict[str, dict[str, Any]]:
    state = topics.state
    return {
        "playback": {
            "name": None,  # the device's main entity: HA shows the device name
            "command_topic": topics.set_key("state"),
            "state_topic": state,
            "value_template": "{{ 'ON' if value_json.state == 'playing' else 'OFF' }}",
            "payload_on": "ON",
            "payload_off": "OFF",
            "json_attributes_topic": state,
            "icon": "mdi:weather-night",
        },
        "volume": {
            "name": "Volume",
            "command_topic": topics.set_key("volume"),
            "state_topic": state,
            "value_template": "{{ value_json.volume }}",
            "min": 0,
            "max": 100,
            "step": 1,
            "mode": "slider",
            "unit_of_measurement": "%",
            "icon": "mdi:volume-high",
        },
        "sound": {
            "name": "Sound",
            "command_topic": topics.set_key("sound"),
            "state_topic": state,
            # null renders as "None", which Home Assistant shows as unknown
            "value_template": "{{ value_json.sound }}",
            "options": list(sounds),
            "icon": "mdi:waveform",
        },
        "sleep_timer": {
            "name": "Sleep timer",
            "command_topic": topics.set_key("sleep_timer"),
            "state_topic": state,
            "value_template": "{{ value_json.sleep_timer }}",
            "min": 0,
            "max": SLEEP_TIMER_MAX_MIN,
            "step": 1,
            "mode": "box",
            "unit_of_measurement": "min",
            "device_class": "duration",
            "icon": "mdi:timer-outline",
        },
        "timer_ends": {
            "name": "Timer ends",
            "state_topic": state,
            "value_template": "{{ value_json.timer_ends_at }}",
            "device_class": "timestamp",
        },
        "state": {
            "name": "State",
            "state_topic": state,
            "value_template": "{{ value_json.state }}",
            "device_class": "enum",
            "options": list(PLAYER_STATES),
        },
        "events": {
            "name": "Events",
            "state_topic": topics.event,
            "event_types": list(EVENT_TYPES),
            "icon": "mdi:gesture-tap-button",
        },
        "next_sound": {
            "name": "Next sound",
            "command_topic": topics.set_key("action"),
            "payload_press": "next",
            "icon": "mdi:skip-next",
        },
        "audible": {
            # Off on the clock output (no sound card): "playing" alone would hide that
            # nobody hears it. The output's name is an attribute.
            "name": "Sound output heard",
            "state_topic": state,
            "value_template": (
                "{{ 'ON' if value_json.output is defined and value_json.output.audible "
                "else 'OFF' }}"
            ),
            "json_attributes_topic": state,
            "json_attributes_template": "{{ value_json.output | tojson }}",
            "payload_on": "ON",
            "payload_off": "OFF",
            "device_class": "sound",
            "entity_category": "diagnostic",
        },
        "output": {
            "name": "Output",
            "command_topic": topics.set_key("output"),
            "state_topic": state,
            "value_template": "{{ value_json.output.name }}",
            "options": list(outputs),
            "icon": "mdi:speaker-multiple",
        },
        "next_wake": {
            "name": "Next wake",
            "state_topic": state,
            "value_template": "{{ value_json.next_wake }}",
            "device_class": "timestamp",
            "icon": "mdi:alarm",
        },
        "skip_next": {
            "name": "Skip next wake",
            "command_topic": topics.set_key("skip_next_wake"),
            "payload_press": "PRESS",
            "icon": "mdi:alarm-off",
        },
        "snooze": {
            "name": "Snooze",
            "command_topic": topics.set_key("action"),
            "payload_press": "snooze",
            "icon": "mdi:alarm-snooze",
        },
        "dismiss": {
            "name": "Dismiss wake",
            "command_topic": topics.set_key("action"),
            "payload_press": "dismiss",
            "icon": "mdi:alarm-check",
        },
    }
