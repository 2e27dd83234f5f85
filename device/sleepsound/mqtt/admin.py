"""One-shot broker jobs for the command line: remove the device from Home Assistant.

Uses its own client id (``<client_id>-admin-<pid>``): borrowing the daemon's
would throw the running daemon off the broker.
"""

from __future__ import annotations

import os
import ssl
import threading
from typing import Any

import paho.mqtt.client as mqtt

from sleepsound.errors import MqttError
from sleepsound.mqtt.connection import new_client
from sleepsound.mqtt.discovery import removal_topics
from sleepsound.mqtt.settings import MqttSettings

TIMEOUT_S = 10.0


def unregister(settings: MqttSettings, *, timeout_s: float = TIMEOUT_S) -> list[str]:
    """Clear the device's discovery configs (and its retained state and availability).

    An empty retained payload on a config topic makes Home Assistant remove the
    entity; once all are gone, the device goes too. Returns the cleared topics.
    Raises :class:`MqttError` when the broker cannot be reached or refuses us.
    """
    topics = settings.topics
    cleared = [
        *removal_topics(topics, settings.node_id),
        topics.state,
        topics.availability,
    ]
    client = _connect(settings, timeout_s)
    try:
        infos = [client.publish(topic, b"", qos=1, retain=True) for topic in cleared]
        for info in infos:
            info.wait_for_publish(timeout_s)
            if not info.is_published():
                raise MqttError(f"the broker did not confirm within {timeout_s:g} s; try again")
    finally:
        client.disconnect()
        client.loop_stop()
    return cleared


def _connect(settings: MqttSettings, timeout_s: float) -> mqtt.Client:
    where = f"{settings.host}:{settings.port}"
    try:
        client = new_client(settings, client_id=f"{settings.client_id}-admin-{os.getpid()}")
    except (OSError, ssl.SSLError, ValueError) as error:
        raise MqttError(f"cannot set up TLS: {error}; check [mqtt] ca_file, certfile") from None
    answered = threading.Event()
    outcome: dict[str, Any] = {}

    def on_connect(client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        outcome["reason"] = reason
        answered.set()

    client.on_connect = on_connect
    client.connect_timeout = timeout_s
    try:
        client.connect(settings.host, settings.port, keepalive=30)
    except (OSError, ValueError) as error:  # ssl.SSLError is an OSError
        raise MqttError(
            f"cannot reach the MQTT broker at {where}: {error}; check [mqtt] host and port"
        ) from None
    client.loop_start()
    if not answered.wait(timeout_s):
        client.loop_stop()
        raise MqttError(f"the MQTT broker at {where} did not answer within {timeout_s:g} s")
    reason = outcome["reason"]
    if reason.is_failure:
        client.loop_stop()
        raise MqttError(
            f"the MQTT broker at {where} refused the connection: {reason}; "
            "check [mqtt] username and password or password_file"
        )
    return client
