"""The adapter host: starts the adapters after READY, restarts them on a reload, stops them.

Each adapter comes from a factory ``start_adapter(host)`` that gets an
:class:`~sleepsound.adapter_host.AdapterHost` (submit, emit_event, add_listener,
config, sound ids, and what tests inject), never the daemon. A failing factory is
logged and skipped, at start-up and on reload: the player still plays.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from sleepsound.adapter_host import AdapterHost
from sleepsound.config import Config
from sleepsound.daemon.listeners import Listener, Listeners

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AdapterFactory:
    """One adapter the daemon starts after READY, and the config it is built from."""

    name: str
    """What the log calls it (``"MQTT"``)."""
    target: str
    """``"module:function"``; ``function(host)`` starts the adapter from ``host.config``
    and returns an object with ``stop()``, or ``None`` when it is switched off."""
    depends_on: tuple[str, ...]
    """Everything of the config the factory reads: whole sections (``"mqtt"``) or single
    keys (``"sleep.presets_min"``). A reload that changes one of them stops the adapter
    and starts it again from the factory; any other change leaves it running."""

    def changed(self, old: Config, new: Config) -> list[str]:
        """The parts of ``depends_on`` that differ between two configs, as the log names
        them (``["[mqtt]"]``, ``["[sleep] presets_min"]``); empty when none does."""
        return [
            _config_name(part)
            for part in self.depends_on
            if _config_part(old, part) != _config_part(new, part)
        ]


ADAPTER_FACTORIES: list[AdapterFactory] = [
    # [outputs]: the Output select's options are the output names.
    AdapterFactory("MQTT", "sleepsound.mqtt.adapter:start_adapter", ("mqtt", "outputs")),
    AdapterFactory(
        "controls",
        "sleepsound.controls.adapter:start_adapter",
        ("controls", "led", "sleep.presets_min"),
    ),
    AdapterFactory("web", "sleepsound.web.adapter:start_adapter", ("web", "sounds.dir")),
]
"""The adapters, started in this order after READY and stopped in reverse."""


def _config_part(config: Config, part: str) -> object:
    section, _, key = part.partition(".")
    value = config.section(section)
    return getattr(value, key) if key else value


def _config_name(part: str) -> str:
    section, _, key = part.partition(".")
    return f"[{section}] {key}" if key else f"[{section}]"


class Adapter(Protocol):
    """A started adapter the daemon stops on shutdown (or on a reload that changed its
    config, before the factory starts a new one)."""

    def stop(self) -> None:
        """Stop and release everything; called once."""


@dataclass
class Running:
    """What one factory started: the adapter (``None`` when off or failed) and the
    listeners it added, which go when it stops."""

    factory: AdapterFactory
    adapter: Adapter | None
    listeners: list[Listener] = field(default_factory=list)


class Adapters:
    """The running adapters, each with the listeners it added."""

    def __init__(self, listeners: Listeners, host: Callable[[], AdapterHost]) -> None:
        self._listeners = listeners
        self._host = host  # a new host per start: it carries the config in force
        self.running: list[Running] = []

    def start_all(self) -> None:
        """Start every factory, in order."""
        for factory in ADAPTER_FACTORIES:
            self.running.append(self._start(factory))

    def restart(self, index: int, failure: str, *, stop_first: bool) -> None:
        """Start the adapter at ``index`` again (after stopping it, when it runs)."""
        running = self.running[index]
        if stop_first:
            # Stopped first: the new one may need the same pins or the same client id.
            self._stop(running)
        self.running[index] = self._start(running.factory, failure)

    def stop_all(self) -> None:
        """Stop every adapter, in reverse order, and drop their listeners."""
        running, self.running = self.running, []
        for one in reversed(running):
            self._stop(one)

    def _start(self, factory: AdapterFactory, failure: str | None = None) -> Running:
        """Run one factory, noting the listeners it adds; a failure is logged, never raised."""
        # Listeners are only appended while a factory runs: its own are the new tail.
        before = len(self._listeners)
        try:
            module_name, _, function_name = factory.target.partition(":")
            start = getattr(importlib.import_module(module_name), function_name)
            adapter: Adapter | None = start(self._host())
        except Exception:
            log.exception(
                "%s; carrying on without it (fix it, then reload)",
                failure or f"could not start {factory.name}",
            )
            self._listeners.remove(self._listeners.since(before))
            return Running(factory, None)
        return Running(factory, adapter, self._listeners.since(before))

    def _stop(self, running: Running) -> None:
        self._listeners.remove(running.listeners)
        if running.adapter is None:
            return
        try:
            running.adapter.stop()
        except Exception:
            log.exception("stopping %s failed", running.factory.name)
