"""Helpers for the MQTT tests (no tests here): the real player core in a loop thread,
bridges wired to it, and a Home-Assistant-like client.

:class:`PlayerLoop` is the daemon's command loop in miniature, with no mocks: the
real :mod:`sleepsound.player` applies each command taken from one queue, and
PublishStatus / Event effects go to the listeners (the bridge), exactly the
interface the daemon offers (``submit(command, reply)``, ``on_status``, ``on_event``).
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from sleepsound import config, player
from sleepsound.commands import Command
from sleepsound.config import MqttConfig
from sleepsound.mqtt.bridge import MqttBridge
from sleepsound.mqtt.settings import MqttSettings, resolve
from support.broker import MosquittoBroker, MqttProbe

CATALOGUE = ("pink-noise", "rain", "white-noise", "brown-noise")
STATE_KEYS = frozenset(
    {
        "state",
        "sound",
        "volume",
        "max_volume",
        "sleep_timer",
        "timer_ends_at",
        "layer",
        "last_error",
        "output",
        "preset",
        "presets",
        "program",
        "next_program",
        "next_wake",
        "programs",
        "clock_synced",
    }
)
"""The keys of the state document, as Home Assistant's templates read them."""
WAIT_S = 15.0
"""Generous bound on waiting for a message on a loaded machine; not a performance check."""


class PlayerLoop:
    """One command queue, one thread, the real player core; listeners get status and events."""

    def __init__(self, catalogue: Sequence[str] = CATALOGUE, **context: Any) -> None:
        """Start stopped at the default volume; call :meth:`start`."""
        defaults = player.PlayerContext.from_config(config.defaults(), catalogue)
        self.ctx = replace(defaults, **context)
        self.state = player.initial_state(self.ctx)
        self.listeners: list[Any] = []
        self.applied: list[Command | Mapping[str, Any]] = []
        self._queue: queue.Queue[tuple[Any, Callable[[dict[str, Any]], None]] | None] = (
            queue.Queue()
        )
        self._thread = threading.Thread(target=self._run, name="player-loop", daemon=True)

    def submit(self, command: Command | Mapping[str, Any], reply: Callable[..., None]) -> None:
        """Thread-safe: queue a command (what ``daemon.submit`` does)."""
        self._queue.put((command, reply))

    def start(self) -> PlayerLoop:
        """Run the loop thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """End the loop thread."""
        self._queue.put(None)
        self._thread.join(5)

    def status(self) -> dict[str, Any]:
        """The state document now."""
        return player.status_document(self.state, time.monotonic(), time.time(), self.ctx)

    def _run(self) -> None:
        while True:
            deadline = player.next_deadline(self.state)
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                self._dispatch(player.tick(self.state, time.monotonic(), self.ctx))
                continue
            if item is None:
                return
            command, reply = item
            self.applied.append(command)
            now = time.monotonic()
            if isinstance(command, Command):
                outcome = player.apply(self.state, command, now, self.ctx)
            else:
                outcome = player.handle(self.state, command, now, self.ctx)
            self._dispatch(outcome)
            if outcome.reply is not None:
                reply(outcome.reply)

    def _dispatch(self, outcome: player.Outcome) -> None:
        self.state = outcome.state
        for effect in outcome.effects:
            if isinstance(effect, player.PublishStatus):
                doc = self.status()
                for listener in self.listeners:
                    listener.on_status(doc)
            elif isinstance(effect, player.Event):
                for listener in self.listeners:
                    listener.on_event(dict(effect.payload))


def settings_for(
    broker: MosquittoBroker,
    device_id: str = "bedroom",
    machine_id: str = "test-machine",
    **keys: Any,
) -> MqttSettings:
    """Resolved settings for ``broker`` (``keys`` are ``[mqtt]`` keys)."""
    config = MqttConfig(host=broker.host, port=broker.port, device_id=device_id, **keys)
    return resolve(config, machine_id=machine_id, hostname_device_id="unused")


@contextmanager
def running_device(
    broker: MosquittoBroker,
    device_id: str = "bedroom",
    *,
    settings: MqttSettings | None = None,
    loop: PlayerLoop | None = None,
    **bridge_options: Any,
) -> Iterator[tuple[MqttBridge, PlayerLoop]]:
    """A player loop and its bridge, connected to ``broker``; both stopped afterwards."""
    loop = loop or PlayerLoop()
    bridge = MqttBridge(
        settings or settings_for(broker, device_id),
        loop.submit,
        sounds=loop.ctx.catalogue,
        **bridge_options,
    )
    loop.listeners.append(bridge)
    loop.start()
    bridge.start()
    try:
        yield bridge, loop
    finally:
        bridge.stop()
        loop.stop()


class HomeAssistant:
    """Talks to the device as Home Assistant and Node-RED do: publish, then read topics.

    Wraps an :class:`MqttProbe` subscribed to the device's whole subtree.
    """

    def __init__(self, probe: MqttProbe, base: str) -> None:
        """Subscribe to ``<base>/#`` (retained state arrives at once)."""
        self.probe = probe
        self.base = base
        probe.subscribe(f"{base}/#")

    def wait_online(self) -> None:
        """Wait for ``online`` on availability."""
        self.probe.wait_for(f"{self.base}/availability", lambda m: m.text == "online", WAIT_S)

    def state(self, predicate: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any]:
        """The next state document satisfying ``predicate``; older ones are discarded.

        Documents are taken in arrival order, so a stale one never satisfies a later wait.
        """
        deadline = time.monotonic() + WAIT_S
        while True:
            remaining = max(0.01, deadline - time.monotonic())
            doc = json.loads(self.probe.wait_for(f"{self.base}/state", None, remaining).payload)
            if predicate is None or predicate(doc):
                return doc

    def reply(self) -> dict[str, Any]:
        """The next reply on ``/response``."""
        return json.loads(self.probe.wait_for(f"{self.base}/response", None, WAIT_S).payload)

    def command(self, payload: Mapping[str, Any] | str | bytes, key: str | None = None) -> None:
        """Publish on ``/set`` (JSON) or ``/set/<key>`` (a bare value, as HA does)."""
        topic = f"{self.base}/set" if key is None else f"{self.base}/set/{key}"
        data = json.dumps(payload) if isinstance(payload, Mapping) else payload
        self.probe.publish(topic, data)

    def ask(self, payload: Mapping[str, Any] | str | bytes, key: str | None = None) -> dict:
        """Send a command and return its reply."""
        self.command(payload, key)
        return self.reply()

    def settle(self) -> dict[str, Any]:
        """Wait until every earlier command has run; return the current state document.

        A ``/get`` with a unique marker cannot be tagged, so a status query with a
        transaction is used: its reply comes after everything queued before it.
        """
        marker = f"settle-{time.monotonic_ns()}"
        self.command({"action": "status", "transaction": marker})
        self.probe.wait_for(
            f"{self.base}/response",
            lambda m: json.loads(m.payload).get("transaction") == marker,
            WAIT_S,
        )
        self.drain_states()
        return self.latest_state()

    def settle_until(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """:meth:`settle` until the state satisfies ``predicate`` (e.g. a fade has ended)."""
        deadline = time.monotonic() + WAIT_S
        while True:
            doc = self.settle()
            if predicate(doc) or time.monotonic() > deadline:
                return doc
            time.sleep(0.05)

    def drain_states(self) -> None:
        """Forget the state documents not yet taken (later waits see only new ones)."""
        with contextlib.suppress(TimeoutError):
            while True:
                self.probe.wait_for(f"{self.base}/state", None, 0)

    def latest_state(self) -> dict[str, Any]:
        """The most recent state document received so far."""
        for message in reversed(self.probe.received):
            if message.topic == f"{self.base}/state":
                return json.loads(message.payload)
        raise AssertionError("no state received")
