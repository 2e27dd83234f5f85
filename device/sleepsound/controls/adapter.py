"""The daemon's controls adapter: the button, knob and LED plugged into ``sleepsound run``.

Listed in the daemon's ``ADAPTER_FACTORIES`` as
``"sleepsound.controls.adapter:start_adapter"``. Wiring only::

    gesture / detent  --Controls(submit)-->      host.submit(command)
    gesture event     --Controls(emit_event)-->  host.emit_event  -> listeners (MQTT /event)
    state document    --on_status-->             controls.show_state (the LED)

Nothing here may stop the sound: wiring mistakes are one log line per config key (the
controls that are fine still work), a machine without GPIO logs one line and runs
without controls, and any other failure while building is logged and skipped.

The simulator and the tests build the controls on gpiozero's ``MockFactory`` by
handing the daemon a ``pin_factory`` (it reaches here as ``host.pin_factory``) and get
each started adapter through ``host.on_controls_started``.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from gpiozero.pins import Factory

from sleepsound.adapter_host import AdapterHost
from sleepsound.controls.hardware import Controls

log = logging.getLogger(__name__)

MODEL_FILE: Final = "/proc/device-tree/model"
"""Where the kernel names the board (``Raspberry Pi 4 Model B Rev 1.4``)."""


def gpio_present(environ: Mapping[str, str], model: str | None) -> bool:
    """Whether to try GPIO at all: on a Raspberry Pi, or when a pin driver was chosen.

    ``model`` is the text of :data:`MODEL_FILE` (``None`` when it is missing). A user
    who set ``GPIOZERO_PIN_FACTORY`` (a remote pigpio, another board) gets what they
    asked for; anywhere else gpiozero would only fail, after four warnings.
    """
    if environ.get("GPIOZERO_PIN_FACTORY"):
        return True
    return model is not None and "Raspberry Pi" in model


def _read_model() -> str | None:
    try:
        return Path(MODEL_FILE).read_text(errors="replace")
    except OSError:
        return None


class ControlsAdapter:
    """The daemon's controls: a listener (the LED follows the state) and an adapter."""

    def __init__(self, host: AdapterHost, factory: Factory | None = None) -> None:
        """Build (not start) the controls from ``host.config`` on ``factory``."""
        self.host = host
        config = host.config
        with warnings.catch_warnings():
            # gpiozero warns once per driver it falls back from; a missing driver is
            # already one problem line of its own.
            warnings.simplefilter("ignore")
            self.controls = Controls(
                config.section("controls"),
                config.section("led"),
                submit=self.submit,
                emit_event=host.emit_event,
                pin_factory=factory,
                timer_presets=config.section("sleep").presets_min,
            )
        """The gpiozero side (buttons, encoder, LED); the simulator reads and presses it."""

    def submit(self, command: dict[str, Any]) -> None:
        """Hand a gesture's or detent's command to the daemon (from the tick thread)."""
        self.host.submit(command, self._replied)

    @staticmethod
    def _replied(reply: Mapping[str, Any]) -> None:
        # On the loop's thread: only log. A refusal (no sounds to play, say) is worth a
        # line; a clamp warning at every detent past the maximum is not.
        if reply.get("status") != "ok":
            log.warning("controls: the daemon refused the command: %s", reply.get("error"))
        elif reply.get("warning"):
            log.debug("controls: %s", reply["warning"])

    def on_status(self, document: Mapping[str, Any]) -> None:
        """The LED follows playback and confirms a new sleep timer."""
        self.controls.show_state(document)

    def on_event(self, event: Mapping[str, Any]) -> None:
        """Events are the MQTT bridge's business; the LED has nothing to show for them."""

    def stop(self) -> None:
        """Turn the LED off and release every pin."""
        self.controls.close()


def _describe(controls: Controls) -> str:
    parts = [f"button {b.name} on {b.pin}" for b in controls.buttons]
    if controls.encoder_pins is not None:
        parts.append("encoder on {} and {}".format(*controls.encoder_pins))
    if controls.led_pin is not None:
        parts.append(f"LED on {controls.led_pin}")
    return ", ".join(parts) or "nothing working"


def start_adapter(host: AdapterHost) -> ControlsAdapter | None:
    """The daemon's adapter factory: start the controls, or ``None`` when they are off.

    Off when ``[controls] enabled = false`` or when this machine has no GPIO (one log
    line) and no ``host.pin_factory`` was given. Every wiring problem has already been
    logged by :class:`Controls`, one line per config key; the controls that work are
    started anyway.
    """
    if not host.config.section("controls").enabled:
        log.info("controls: off ([controls] enabled = false)")
        return None
    if host.pin_factory is None and not gpio_present(os.environ, _read_model()):
        log.info(
            "controls: off (no GPIO: this is not a Raspberry Pi); "
            "`sleepsound run --simulate` tries them in a terminal"
        )
        return None
    adapter = ControlsAdapter(host, host.pin_factory)
    controls = adapter.controls
    if controls.problems:
        log.warning(
            "controls: %d wiring problem(s), listed above by config key; the rest of the "
            "controls and the sound carry on",
            len(controls.problems),
        )
    if controls.factory is None:
        controls.close()
        return None
    host.add_listener(adapter)
    controls.start()
    log.info("controls: %s", _describe(controls))
    if host.on_controls_started is not None:
        host.on_controls_started(adapter)
    return adapter


__all__ = ["ControlsAdapter", "gpio_present", "start_adapter"]
