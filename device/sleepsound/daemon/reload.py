"""What happens on SIGHUP: read the config again, then a pure plan says what re-applies.

The daemon's part (:meth:`Daemon._reload <sleepsound.daemon.root.Daemon>`) is::

    config = load_config(...)           # refused: log each problem, keep the running
                                        # config, but apply a lower max_volume anyway
                                        # (lowered_ceiling: safety never fails closed)
    plan = plan_reload(old, new, ...)   # pure, below
    sounds:   reopen the library when [sounds] changed, else rescan the folder
    player:   a new context from the config (clamp volume, re-scene, tell listeners)
    output:   reopen when a device key of [audio] changed or the card was missing
    later:    "[socket] path changed: takes effect at the next restart"
    adapters: restart those whose config changed; start again those not running
              (off, or failed: the user may have fixed what stopped them)

An adapter whose config did not change is left alone: no reconnect, no LED
flicker, no lost press.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from sleepsound.config import AudioConfig, Config
from sleepsound.daemon.adapters import AdapterFactory


@dataclass(frozen=True)
class AdapterStep:
    """Start one running adapter's factory again, and why."""

    index: int
    """Its place in the daemon's running adapters (the order of ADAPTER_FACTORIES)."""
    name: str
    changed: tuple[str, ...]
    """The parts of its config that changed (``("[mqtt]",)``); empty: it was not running."""

    @property
    def log_line(self) -> str | None:
        """What the log says before the restart (``None`` for a retry)."""
        if not self.changed:
            return None
        return f"reload: {' and '.join(self.changed)} changed; restarting {self.name}"

    @property
    def failure(self) -> str:
        """What the log says if the factory fails."""
        if not self.changed:
            return f"reload: could not start {self.name}"
        return f"reload: could not restart {self.name} after {' and '.join(self.changed)} changed"


@dataclass(frozen=True)
class ReloadPlan:
    """Everything a reload re-applies beyond the player's new context."""

    reopen_sounds: bool
    """``[sounds]`` changed: a new library (else the folder is only scanned again)."""
    reopen_output: bool
    """A device key of ``[audio]`` changed, or the card was missing: open the output again."""
    next_restart: tuple[str, ...]
    """Settings that changed but take effect at the next restart (``"[state] file"``)."""
    adapters: tuple[AdapterStep, ...]
    """The adapters to start again, in order."""


def plan_reload(
    old: Config,
    new: Config,
    *,
    output_missing: bool,
    adapters: Sequence[tuple[AdapterFactory, bool]],
) -> ReloadPlan:
    """What re-applies when ``new`` replaces ``old``.

    ``output_missing``: the clock stands in for a missing card (reopening may find it).
    ``adapters``: each running adapter's factory and whether it is running (started,
    not off or failed).
    """
    steps = []
    for index, (factory, running) in enumerate(adapters):
        changed = tuple(factory.changed(old, new))
        if changed or not running:
            steps.append(AdapterStep(index, factory.name, changed))
    return ReloadPlan(
        reopen_sounds=new.sounds != old.sounds,
        reopen_output=device_settings(new.audio) != device_settings(old.audio) or output_missing,
        next_restart=tuple(
            name
            for name, before, after in (
                ("[socket] path", old.socket.path, new.socket.path),
                ("[state] file", old.state.file, new.state.file),
            )
            if before != after
        ),
        adapters=tuple(steps),
    )


def lowered_ceiling(running: Config, ceiling: float | None) -> Config | None:
    """The running config with a refused config's lower ``max_volume``, or ``None``.

    ``ceiling`` is what :func:`~sleepsound.config.salvage_ceiling` read from the
    refused file; a ceiling that is not lower changes nothing.
    """
    if ceiling is None or ceiling >= running.audio.max_volume:
        return None
    return replace(running, audio=replace(running.audio, max_volume=ceiling))


def device_settings(audio: AudioConfig) -> tuple[object, ...]:
    """The [audio] keys that need the output reopened when they change."""
    return (
        audio.output,
        audio.device,
        audio.record,
        audio.rate,
        audio.channels,
        audio.period_frames,
        audio.periods,
        audio.format,
    )
