"""The daemon's listeners: who is told about each state document, event and catalogue.

Called on the command loop's thread, so a listener must not block (hand off to your
own thread). One broken listener is logged and never takes the others down.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

log = logging.getLogger("sleepsound.daemon")


class Listener(Protocol):
    """Something told about every status change and event (MQTT, the LED)."""

    def on_status(self, document: Mapping[str, Any]) -> None:
        """The state document changed; called on the loop's thread."""

    def on_event(self, event: Mapping[str, Any]) -> None:
        """An event happened (``timer_expired``, ``playback_error``, button gestures)."""


class Listeners:
    """The listeners in the order they were added, and the calls that reach them."""

    def __init__(self) -> None:
        self._items: list[Listener] = []

    def __len__(self) -> int:
        return len(self._items)

    def add(self, listener: Listener) -> None:
        """Tell ``listener`` from now on."""
        self._items.append(listener)

    def since(self, count: int) -> list[Listener]:
        """The listeners added after the first ``count`` (what one adapter factory added)."""
        return self._items[count:]

    def remove(self, listeners: Sequence[Listener]) -> None:
        """Forget these listeners (an adapter stopped)."""
        gone = {id(listener) for listener in listeners}
        self._items = [item for item in self._items if id(item) not in gone]

    def clear(self) -> None:
        """Forget every listener (shutdown)."""
        self._items.clear()

    def status(self, document: Mapping[str, Any]) -> None:
        """Every listener's ``on_status``."""
        for listener in list(self._items):
            call(listener.on_status, document)

    def event(self, event: Mapping[str, Any]) -> None:
        """Every listener's ``on_event``."""
        for listener in list(self._items):
            call(listener.on_event, event)

    def sounds(self, ids: tuple[str, ...], listener: Listener | None = None) -> None:
        """The optional ``on_sounds(ids)`` hook (MQTT's sound select), of one or all."""
        for item in [listener] if listener is not None else list(self._items):
            on_sounds = getattr(item, "on_sounds", None)
            if on_sounds is not None:
                call(on_sounds, ids)

    def command(self, raw: object, reply: Mapping[str, Any]) -> None:
        """The optional ``on_command(raw, reply)`` hook: the simulator's log shows each
        command from ctl, MQTT or the controls (the journal does not: a knob is chatty)."""
        for listener in list(self._items):
            on_command = getattr(listener, "on_command", None)
            if on_command is not None:
                try:
                    on_command(raw, reply)
                except Exception:
                    log.exception("a listener failed")


def call(function: Callable[[Any], None], argument: Any) -> None:
    """Call one listener's hook; a failure is logged, never raised."""
    try:
        function(argument)
    except Exception:  # one broken listener must not take the others down
        log.exception("a listener failed")
