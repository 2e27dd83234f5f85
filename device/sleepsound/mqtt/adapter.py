"""The daemon's MQTT adapter: the bridge plugged into ``sleepsound run``.

Listed in the daemon's ``ADAPTER_FACTORIES`` as ``"sleepsound.mqtt.adapter:start_adapter"``
(started again, after a ``stop()``, when a reload changes ``[mqtt]``), which amounts to::

    bridge = create_bridge(host.config, host.submit, sounds=host.sound_ids)
    if bridge is not None:
        host.add_listener(bridge)   # on_status(doc), on_event(event), on_sounds(ids)
        bridge.start()              # returns at once; connects in the background
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sleepsound.adapter_host import AdapterHost
from sleepsound.errors import ConfigError
from sleepsound.mqtt.bridge import MqttBridge, Submit
from sleepsound.mqtt.settings import load_settings

log = logging.getLogger("sleepsound.mqtt")


def create_bridge(config: Any, submit: Submit, *, sounds: Sequence[str] = ()) -> MqttBridge | None:
    """The bridge for a :class:`~sleepsound.config.Config`, or ``None`` when MQTT is off.

    A password file that cannot be read is logged with the fix and leaves MQTT
    off rather than stopping the daemon: the sound matters more than the broker.
    """
    if not config.mqtt.host:
        return None
    try:
        settings = load_settings(config.mqtt)
    except ConfigError as error:
        log.error("MQTT is off: %s", "; ".join(error.problems))
        return None
    return MqttBridge(settings, submit, sounds=sounds, outputs=config.named_outputs().names)


def start_adapter(host: AdapterHost) -> MqttBridge | None:
    """The daemon's adapter factory: start the bridge when ``[mqtt] host`` is set.

    Returns the started bridge (the daemon calls its ``stop()``, which publishes
    ``offline``, on shutdown and on a reload that changed ``[mqtt]``), or ``None`` when
    MQTT is off.
    """
    bridge = create_bridge(host.config, host.submit, sounds=host.sound_ids)
    if bridge is None:
        return None
    host.add_listener(bridge)
    bridge.start()
    return bridge


__all__ = ["create_bridge", "start_adapter"]
