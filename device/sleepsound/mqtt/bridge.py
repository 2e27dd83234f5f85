"""The MQTT adapter: a thin paho-mqtt 2.x shell around the pure topic, payload and
discovery modules. It holds no policy: commands go to the daemon's queue, state
and events come back through :meth:`MqttBridge.on_status` and
:meth:`MqttBridge.on_event`.

The bridge puts together four parts, each owning one job (the rules they keep are
in ``docs/mqtt.md`` and in each module's docstring):

* :class:`~sleepsound.mqtt.connection.MqttConnection`: the paho client, connected
  in the background (the sound never waits for MQTT), with its Last Will, reconnects,
  subscriptions and a clean ``offline`` on stop.
* :class:`~sleepsound.mqtt.inbox.Inbox`: the incoming command path (routing,
  decoding, ignoring retained commands, burst admission, replies).
* :class:`~sleepsound.mqtt.announcer.Announcer`: availability, discovery and the
  state, published in full after every (re)connect and on Home Assistant's birth.
* :class:`~sleepsound.mqtt.outbox.Outbox`: everything outgoing, metered into paho's
  bounded queue, so a burst never leaves a wrong state behind. While disconnected
  only replies wait in it; state is re-published whole on connect instead, and
  events, being of their moment, are dropped.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from sleepsound import __version__
from sleepsound.mqtt.announcer import REBIRTH_DELAY_S, Announcer
from sleepsound.mqtt.connection import (
    PAHO_ROOM,
    RECONNECT_DELAY_S,
    STOP_TIMEOUT_S,
    MqttConnection,
)
from sleepsound.mqtt.discovery import DeviceInfo
from sleepsound.mqtt.inbox import Inbox, Reply, Submit
from sleepsound.mqtt.outbox import Outbox
from sleepsound.mqtt.payloads import encode
from sleepsound.mqtt.settings import MqttSettings


class MqttBridge:
    """The device on the MQTT bus: state out, commands in, Home Assistant discovery.

    Typical use by the daemon (a listener of its status and events)::

        bridge = MqttBridge(settings, daemon.submit, sounds=catalogue_ids)
        bridge.start()                  # returns at once; connects in the background
        ...                             # daemon calls bridge.on_status / on_event
        bridge.stop()                   # offline, disconnect

    ``on_status``, ``on_event`` and ``set_sounds`` may be called from any thread.
    """

    def __init__(
        self,
        settings: MqttSettings,
        submit: Submit,
        *,
        sounds: Sequence[str] = (),
        outputs: Sequence[str] = ("default",),
        version: str = __version__,
        rebirth_delay_s: tuple[float, float] = REBIRTH_DELAY_S,
        reconnect_delay_s: tuple[int, int] = RECONNECT_DELAY_S,
        rng: random.Random | None = None,
    ) -> None:
        """Prepare the client; nothing touches the network until :meth:`start`."""
        self.settings = settings
        self.topics = settings.topics
        self._connection = MqttConnection(
            settings,
            on_connected=self.republish,
            on_message=self._message,
            on_published=self._published,
            reconnect_delay_s=reconnect_delay_s,
        )
        self._outbox = Outbox(self._connection.send, room=PAHO_ROOM)
        self._announcer = Announcer(
            self._connection,
            self._outbox,
            submit,
            device=DeviceInfo(settings.node_id, settings.name, version, tuple(outputs)),
            sounds=sounds,
            rebirth_delay_s=rebirth_delay_s,
            rng=rng,
        )
        self._inbox = Inbox(
            self.topics,
            submit,
            self._outbox,
            on_birth=self._announcer.schedule_rebirth,
            on_get=self._announcer.republish_state,
        )

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background; return at once. Never raises for network trouble.

        A TLS file that cannot be loaded is logged with the fix and leaves MQTT off
        (``error`` says why): the sound matters more than the broker.
        """
        self._connection.start()

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Say ``offline`` (a clean disconnect sends no will), disconnect, stop the thread."""
        self._connection.stop(timeout_s)
        self._announcer.cancel_rebirth()

    @property
    def connected(self) -> bool:
        """Whether the broker has accepted the connection (and it has not dropped)."""
        return self._connection.connected

    def wait_connected(self, timeout_s: float) -> bool:
        """Block until connected or ``timeout_s`` passed; for tools and tests, not callbacks."""
        return self._connection.wait_connected(timeout_s)

    @property
    def error(self) -> str | None:
        """Why MQTT could not start (bad TLS files), for the status; ``None`` when fine."""
        return self._connection.error

    @property
    def connections(self) -> int:
        """How many times a connection was accepted (tests and the benchmark read it)."""
        return self._connection.connections

    # -- the daemon's listener interface ------------------------------------------------------

    def on_status(self, doc: Mapping[str, Any]) -> None:
        """The state document changed (or was asked for): publish it, retained."""
        self._announcer.on_status(doc)

    def on_event(self, event: Mapping[str, Any] | Any) -> None:
        """Publish an event (``{"event_type": …}``, or an object with ``.payload``).

        Not retained, and dropped while disconnected: an event is of its moment.
        """
        payload = event if isinstance(event, Mapping) else event.payload
        if self.connected:
            self._outbox.put(self.topics.event, encode(payload), retain=False)

    def set_sounds(self, sounds: Sequence[str]) -> None:
        """The library changed: re-publish the sound select's options if they differ."""
        self._announcer.set_sounds(sounds)

    def republish(self) -> None:
        """Publish availability, discovery and state now (what every connect does)."""
        self._announcer.republish()

    def on_sounds(self, sounds: Sequence[str]) -> None:
        """Listener hook: the daemon's sound ids changed (same as :meth:`set_sounds`)."""
        self.set_sounds(sounds)

    # -- from the connection (paho's network thread: never block here) ----------------------

    def _message(self, topic: str, payload: bytes, retained: bool) -> None:
        self._inbox.handle(topic, payload, retained)

    def _published(self, mid: int) -> None:
        self._outbox.published(mid)
        self._inbox.after_publish()


__all__ = ["MqttBridge", "Reply", "Submit"]
