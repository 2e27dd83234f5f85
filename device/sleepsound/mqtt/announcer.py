"""What the device announces on the bus, and when it says it all again.

Availability, Home Assistant discovery and the retained state document go out in
full after every (re)connect and when Home Assistant announces itself (its birth
message, answered after a random 1-5 s so a house full of devices does not answer at
once). While disconnected nothing is kept for them: the next connect says it whole.
The state goes through the outbox's one-slot state, so the retained state always ends
at the latest document; the sound select's options are re-published when the library
changes, the preset select's when the document's ``presets`` do.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from sleepsound.commands import Command
from sleepsound.mqtt.discovery import (
    DeviceInfo,
    discovery_messages,
    program_switch_topic,
    program_switches,
)
from sleepsound.mqtt.outbox import Outbox
from sleepsound.mqtt.payloads import encode
from sleepsound.mqtt.topics import AVAILABLE

if TYPE_CHECKING:
    from sleepsound.mqtt.connection import MqttConnection
    from sleepsound.mqtt.inbox import Submit

# The bridge's journal lines keep the name they had when it was one module.
log = logging.getLogger("sleepsound.mqtt.bridge")

STATUS_QUERY: Final = Command(action="status")
REBIRTH_DELAY_S: Final = (1.0, 5.0)
"""Home Assistant's birth message is answered after a random delay in this range, so a
house full of devices does not answer all at once."""
_REPLY_KEYS: Final = frozenset({"status", "warning", "transaction"})


class Announcer:
    """Availability, discovery and the state: kept current, re-published in full on demand.

    ``on_status`` and ``set_sounds`` may be called from any thread.
    """

    def __init__(
        self,
        connection: MqttConnection,
        outbox: Outbox,
        submit: Submit,
        *,
        device: DeviceInfo,
        sounds: Sequence[str] = (),
        rebirth_delay_s: tuple[float, float] = REBIRTH_DELAY_S,
        rng: random.Random | None = None,
    ) -> None:
        """Nothing is published until :meth:`republish` (the connection calls it)."""
        self.topics = connection.topics
        self._settings = connection.settings
        self._connection = connection
        self._outbox = outbox
        self._submit = submit
        self._device = device
        self._rebirth_delay_s = rebirth_delay_s
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._status: Mapping[str, Any] | None = None
        self._sounds: tuple[str, ...] = tuple(sounds)
        self._published_sounds: tuple[str, ...] | None = None
        self._presets: tuple[str, ...] = ()
        self._published_presets: tuple[str, ...] | None = None
        self._programs: tuple[str, ...] = ()
        self._published_programs: tuple[str, ...] | None = None
        self._rebirth: threading.Timer | None = None

    def on_status(self, doc: Mapping[str, Any]) -> None:
        """The state document changed (or was asked for): publish it, retained."""
        presets = doc.get("presets")
        programs = doc.get("programs")
        with self._lock:
            self._status = dict(doc)
            if isinstance(presets, list):
                self._presets = tuple(str(name) for name in presets)
            if isinstance(programs, list):
                self._programs = tuple(
                    str(p["name"]) for p in programs if isinstance(p, Mapping) and "name" in p
                )
            republish = self._published_presets is not None and (
                self._presets != self._published_presets
            )
            new_programs = self._published_programs is not None and (
                self._programs != self._published_programs
            )
        if self._connection.connected:
            if republish:
                self._publish_discovery(only="preset")
            if new_programs:
                self._publish_program_switches()
            self._outbox.set_state(self.topics.state, encode(doc))

    def set_sounds(self, sounds: Sequence[str]) -> None:
        """The library changed: re-publish the sound select's options if they differ."""
        with self._lock:
            self._sounds = tuple(sounds)
            changed = self._sounds != self._published_sounds
        if changed and self._connection.connected:
            self._publish_discovery(only="sound")

    def republish(self) -> None:
        """Publish availability, discovery and state now (what every connect does)."""
        if not self._connection.up:
            return
        self._publish(self.topics.availability, AVAILABLE.encode(), retain=True)
        self._publish_discovery()
        self.republish_state()
        self._outbox.pump()  # replies that waited out a reconnect

    def republish_state(self) -> None:
        """Publish the last state document again (``<base>/get``), or ask the daemon for it."""
        with self._lock:
            status = self._status
        if status is None:
            self._submit(STATUS_QUERY, self._status_reply)  # no state yet: ask the daemon
        elif self._connection.connected:
            self._outbox.set_state(self.topics.state, encode(status))

    def schedule_rebirth(self) -> None:
        """Home Assistant came online: re-publish everything after a random short delay."""
        low, high = self._rebirth_delay_s
        with self._lock:
            if self._rebirth is not None and self._rebirth.is_alive():
                return
            timer = threading.Timer(self._rng.uniform(low, high), self._rebirth_now)
            timer.daemon = True
            self._rebirth = timer
        timer.start()

    def cancel_rebirth(self) -> None:
        """Drop a pending re-publish for Home Assistant (the bridge is stopping)."""
        with self._lock:
            if self._rebirth is not None:
                self._rebirth.cancel()
                self._rebirth = None

    def _status_reply(self, reply: Mapping[str, Any]) -> None:
        # The daemon answers a status query with the document merged into the reply;
        # it calls on_status only when the document changed.
        if reply.get("status") == "ok" and "state" in reply:
            self.on_status({k: v for k, v in reply.items() if k not in _REPLY_KEYS})

    def _rebirth_now(self) -> None:
        try:
            self.republish()
        except Exception:
            log.exception("mqtt: error re-publishing for Home Assistant")

    def _publish_discovery(self, only: str | None = None) -> None:
        if not self._settings.discovery:
            return
        with self._lock:
            sounds, presets = self._sounds, self._presets
            self._published_sounds = sounds
            self._published_presets = presets
        for topic, config in discovery_messages(self.topics, self._device, sounds, presets):
            if only is None or topic.endswith(f"/{only}/config"):
                self._publish(topic, encode(config), retain=True)
        if only is None:
            self._publish_program_switches()

    def _publish_program_switches(self) -> None:
        """A switch per program; a program gone since the last time has its switch removed."""
        if not self._settings.discovery:
            return
        with self._lock:
            programs, before = self._programs, self._published_programs or ()
            self._published_programs = programs
        for topic, config in program_switches(self.topics, self._device, programs):
            self._publish(topic, encode(config), retain=True)
        node = self._device.node_id
        kept = {program_switch_topic(self.topics, node, name) for name in programs}
        for name in before:
            topic = program_switch_topic(self.topics, node, name)
            if topic not in kept:
                self._publish(topic, b"", retain=True)

    def _publish(self, topic: str, payload: bytes, *, retain: bool) -> None:
        """Availability and discovery: few, and never dropped for a full outbox."""
        if not self._connection.up:
            return  # re-published in full on the next connect
        self._outbox.put(topic, payload, retain=retain, droppable=False)


__all__ = ["REBIRTH_DELAY_S", "STATUS_QUERY", "Announcer"]
