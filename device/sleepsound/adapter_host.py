"""What an adapter gets from the daemon: a narrow host, not the daemon itself.

An adapter factory (``start_adapter(host)``, listed in the daemon's
``ADAPTER_FACTORIES``) builds its adapter from ``host.config``, sends commands with
``host.submit``, announces events with ``host.emit_event`` and asks to be told about
the state with ``host.add_listener``. What tests and the simulator swap is injected
here explicitly (``pin_factory``, ``on_controls_started``), never through a module
global. This module imports nothing heavy: adapters and the daemon both depend on it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Reply = Callable[[Mapping[str, Any]], None]
"""Receives the answer to a submitted command, once, on the loop's thread."""


@dataclass(frozen=True)
class AdapterHost:
    """Everything an adapter may use of the running daemon."""

    config: Any
    """The :class:`~sleepsound.config.Config` in force when the adapter starts."""
    submit: Callable[[object, Reply | None], None]
    """Queue a command (raw JSON object or parsed Command) with its reply callback;
    thread-safe and never blocking."""
    emit_event: Callable[[Mapping[str, Any]], None]
    """Tell every listener about an event (a button gesture); thread-safe."""
    add_listener: Callable[[Any], None]
    """Be told ``on_status(doc)``, ``on_event(event)`` (and ``on_sounds(ids)`` if the
    listener has it) on the loop's thread; removed when the adapter stops."""
    sound_ids: tuple[str, ...] = ()
    """The playable sound ids in catalogue order when the adapter starts (a listener's
    ``on_sounds`` hears about later changes)."""
    sound_entries: Callable[[], Mapping[str, Any]] = dict
    """Id -> :class:`~sleepsound.library.catalog.SoundEntry` of the library now (title,
    category, triggers, file path); an immutable snapshot, safe from any thread."""
    links: Callable[[], Mapping[str, bool]] = dict
    """Adapter name -> whether its line to the outside is up now (``{"MQTT": True}``:
    connected to the broker); adapters that are off or have no such line are absent.
    For the device's health on the phone page."""
    pin_factory: Any = None
    """The gpiozero pin factory for the controls (``None``: the board's own driver)."""
    on_controls_started: Callable[[Any], None] | None = None
    """Told about every controls adapter started (the simulator's view, tests' fingers)."""


__all__ = ["AdapterHost", "Reply"]
