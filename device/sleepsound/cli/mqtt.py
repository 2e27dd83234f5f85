"""``sleepsound mqtt ...``: the device's MQTT topics and its Home Assistant entry.

* ``sleepsound mqtt show``: the topics and the discovery configs the daemon would
  publish (no broker needed).
* ``sleepsound mqtt unregister``: remove the device from Home Assistant (empty
  retained configs); stop the daemon or set ``[mqtt] discovery = false`` first, or
  it announces itself again on its next connect.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from sleepsound import __version__
from sleepsound.config import Config, load_config
from sleepsound.errors import ConfigError, MqttError
from sleepsound.mqtt.discovery import DeviceInfo, discovery_messages
from sleepsound.mqtt.settings import MqttSettings, load_settings


def register(subparsers: Any) -> None:
    """Add ``mqtt show`` and ``mqtt unregister``."""
    parser = subparsers.add_parser("mqtt", help="MQTT topics and Home Assistant discovery")
    commands = parser.add_subparsers(dest="mqtt_command", metavar="ACTION", required=True)

    show = commands.add_parser("show", help="print the topics and discovery configs")
    show.add_argument("--config", metavar="PATH", help="config file")
    show.set_defaults(func=run_show)

    unregister = commands.add_parser(
        "unregister", help="remove this device from Home Assistant (clears its retained configs)"
    )
    unregister.add_argument("--config", metavar="PATH", help="config file")
    unregister.add_argument(
        "--timeout", type=float, default=10.0, metavar="S", help="seconds to wait for the broker"
    )
    unregister.set_defaults(func=run_unregister)


def run_show(args: argparse.Namespace) -> int:
    """Print the device's topics and, one per line, each discovery topic and payload."""
    config = load_config(args.config)
    settings = _settings(config, need_host=False)
    topics = settings.topics
    print(f"# state:        {topics.state} (retained)")
    print(f"# availability: {topics.availability} (retained, will: offline)")
    print(f"# commands:     {topics.set} (JSON), {topics.set}/<key> (plain), {topics.get}")
    print(f"# replies:      {topics.response}   events: {topics.event}")
    for group in topics.groups:
        print(f"# group:        {topics.group_set(group)}")
    device = DeviceInfo(settings.node_id, settings.name, __version__)
    for topic, payload in discovery_messages(topics, device, _sound_ids(config)):
        print(topic, json.dumps(payload, ensure_ascii=False))
    return 0


def run_unregister(args: argparse.Namespace) -> int:
    """Clear the retained discovery configs, state and availability on the broker."""
    from sleepsound.mqtt.admin import unregister  # paho only when talking to a broker

    config = load_config(args.config)
    settings = _settings(config, need_host=True)
    cleared = unregister(settings, timeout_s=args.timeout)
    print(f"removed {settings.name!r} ({settings.node_id}) from Home Assistant:")
    for topic in cleared:
        print(f"  cleared {topic}")
    if config.mqtt.discovery:
        print(
            "note: a running daemon announces itself again on its next connect; "
            "set [mqtt] discovery = false to keep it out of Home Assistant",
            file=sys.stderr,
        )
    return 0


def _settings(config: Config, *, need_host: bool) -> MqttSettings:
    if need_host and not config.mqtt.host:
        raise MqttError(
            f"no broker configured: set [mqtt] host in {config.path or 'the config file'}"
        )
    try:
        return load_settings(config.mqtt)
    except ConfigError as error:
        raise MqttError("; ".join(error.problems)) from None


def _sound_ids(config: Config) -> list[str]:
    """The sound select's options: what the daemon would offer (the library)."""
    from sleepsound.daemon.sounds import DaemonSounds  # the library only for ``show``

    sounds = DaemonSounds(config.sounds.dir)
    sounds.refresh()
    return sounds.ids()
