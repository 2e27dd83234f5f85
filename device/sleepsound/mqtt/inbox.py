"""The bridge's incoming command path: route, decode, admit, submit, reply.

* Callbacks never block: a message is routed and translated (pure, bounded by the
  size cap) and the command put on the daemon's queue; bad payloads are answered
  here, at once, and never reach the player.
* Commands that arrive retained are ignored, with a warning saying how to clear
  them: a stale retained "play" must not start the sound at 3 a.m.
* A :class:`~sleepsound.mqtt.burst.BurstGuard` refuses a new command as busy at once
  when too many are still unanswered, so the backlog stays bounded, and the log gets a
  few lines and a count instead of a line per command.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from sleepsound.commands import Command, reply_error
from sleepsound.mqtt.burst import BUSY_ERROR, BurstGuard
from sleepsound.mqtt.outbox import Outbox
from sleepsound.mqtt.payloads import PAYLOAD_FIELD, encode, translate
from sleepsound.mqtt.topics import AVAILABLE, Route, Topics

# The bridge's journal lines keep the name they had when it was one module.
log = logging.getLogger("sleepsound.mqtt.bridge")

Reply = Callable[[dict[str, Any]], None]
"""Called (from any thread) with the reply to a submitted command."""


class Submit(Protocol):
    """The daemon's command entry point: thread-safe, puts on the one command queue."""

    def __call__(self, command: Command | Mapping[str, Any], reply: Reply, /) -> None:
        """Queue ``command``; ``reply`` gets the reply dict once it has run."""


class Inbox:
    """Messages from the broker, turned into commands on the daemon's queue and replies.

    ``on_birth()`` is called when Home Assistant says it is online, ``on_get()`` for
    ``<base>/get`` (re-publish the state). :meth:`handle` runs in paho's thread,
    replies come back from the daemon's.
    """

    def __init__(
        self,
        topics: Topics,
        submit: Submit,
        outbox: Outbox,
        *,
        on_birth: Callable[[], None],
        on_get: Callable[[], None],
    ) -> None:
        """Ready at once; nothing is sent until a message is handled."""
        self.topics = topics
        self._submit = submit
        self._outbox = outbox
        self._on_birth = on_birth
        self._on_get = on_get
        self._lock = threading.Lock()
        self._burst = BurstGuard()

    def handle(self, topic: str, payload: bytes, retained: bool) -> None:
        """One message from the broker: route it, and run or answer what it says."""
        route = self.topics.route(topic)
        if route is None:
            return
        if route.kind == "ha_status":
            if payload.strip() == AVAILABLE.encode():
                self._on_birth()
            return
        if retained:
            log.warning(
                "mqtt: ignored a retained command on %s (commands must not be retained); "
                "clear it with: mosquitto_pub -r -n -t '%s'",
                topic,
                topic,
            )
            return
        if route.kind == "get":
            self._on_get()
            return
        self._command(route, payload)

    def after_publish(self) -> None:
        """The broker took a message: once a burst's backlog is out, log its summary."""
        with self._lock:
            summary = self._burst.over(self._outbox.settled, self._outbox.dropped)
            if summary is not None:
                self._outbox.dropped = 0
        if summary is not None:
            log.warning("%s", summary)

    def _command(self, route: Route, payload: bytes) -> None:
        translation = translate(route, payload)
        if translation.reply is not None:
            where = route.group or route.key or "set"
            with self._lock:
                lines = self._burst.refused(time.monotonic(), where, translation.reply["error"])
            for line in lines:
                log.info("%s", line)
            self._send_reply(translation.reply)
        elif translation.command is not None:
            self._run(translation.command)

    def _run(self, command: Command) -> None:
        """Submit a command, or refuse it as busy when too much is still unanswered."""
        with self._lock:
            admitted, line = self._burst.admit(self._outbox.backlog)
        if line is not None:
            log.warning("%s", line)
        if admitted:
            self._submit(command, self._command_reply)
        else:
            busy = reply_error(BUSY_ERROR, PAYLOAD_FIELD, transaction=command.transaction)
            self._send_reply(busy)

    def _command_reply(self, reply: dict[str, Any]) -> None:
        with self._lock:
            self._burst.answered()
        self._send_reply(reply)

    def _send_reply(self, reply: dict[str, Any]) -> None:
        try:
            payload = encode(reply)
        except UnicodeEncodeError:
            # Text echoed from the command (a transaction, a key) held a lone surrogate,
            # which UTF-8 cannot carry; JSON's \u escapes can: still the one true reply.
            payload = json.dumps(reply, separators=(",", ":")).encode("ascii")
        # Kept while disconnected: the broker gets it after the reconnect.
        self._outbox.put(self.topics.response, payload, retain=False)


__all__ = ["Inbox", "Reply", "Submit"]
