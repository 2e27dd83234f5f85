"""The gpiozero adapter: pins in, commands and events out; no policy of its own.

:class:`Controls` builds gpiozero devices on a pin factory, feeds every edge (with
the time the pin factory stamped on it) into the pure core, and runs a small tick
thread that lets time pass in the core (long presses, the double-press window),
polls the potentiometer, animates the LED and hands results to the daemon::

    controls = Controls(config.section("controls"), config.section("led"),
                        submit=daemon.submit, emit_event=mqtt.publish_event)
    for problem in controls.problems:      # wiring mistakes, one line each
        log.error(problem)
    controls.start()
    ...
    controls.show_state(state_document)    # the LED follows playback and the timer
    controls.close()

``submit(command)`` gets one command dict per mapped gesture (default: single
``{"action": "toggle"}``, double ``{"action": "next"}``, long
``{"action": "timer_cycle"}``), ``{"volume_step": n}`` per encoder detent and
``{"volume": v}`` when the potentiometer moves. ``emit_event`` gets
``{"event_type": "single" | "double" | "long", "button": name}`` for every gesture,
mapped or not. Both are called from the tick thread, never from a GPIO callback,
and an exception they raise is logged and does not stop the controls.

Pin factory: when none is injected, gpiozero's default is used, which prefers
lgpio (``GPIOZERO_PIN_FACTORY`` overrides it). lgpio talks to the kernel's GPIO
character device, so it works on Raspberry Pi OS Bookworm and on the Pi 5, where
RPi.GPIO does not. Tests and the simulator inject
``MockFactory(pin_class=MockPWMPin)`` (see :mod:`sleepsound.controls.finger`).

Nothing here stops the sound: a pin that does not exist on this board, a pin two
keys share, a pin another program holds, a command that does not parse or a
missing GPIO driver each becomes one line in :attr:`Controls.problems` naming the
config key and the fix, and every control that is fine is built anyway.

The jobs are split: :mod:`~sleepsound.controls.wiring` builds the devices and reports
wiring problems, :mod:`~sleepsound.controls.led_output` drives the LED's pin, and
:class:`Controls` here turns edges and time into commands and events.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from gpiozero.pins import Factory

from sleepsound.controls.gestures import Gesture
from sleepsound.controls.led import TIMER_PRESETS
from sleepsound.controls.led_output import LedOutput, led_core
from sleepsound.controls.schema import ControlsConfig, LedConfig
from sleepsound.controls.wiring import ButtonInput, ButtonPin, EncoderInput, Wiring
from sleepsound.errors import SleepsoundError

__all__ = ["TICK_S", "ButtonPin", "Controls"]

log = logging.getLogger(__name__)

Command = dict[str, Any]
Submit = Callable[[Command], object]
EmitEvent = Callable[[dict[str, Any]], object]

TICK_S: Final = 0.02
"""How often time passes in the core: long-press and double-press timing resolution,
and the LED's frame rate (50 Hz)."""


class Controls:
    """Buttons, an encoder or a potentiometer, and the status LED on gpiozero."""

    def __init__(
        self,
        controls: ControlsConfig | None = None,
        led: LedConfig | None = None,
        *,
        submit: Submit,
        emit_event: EmitEvent | None = None,
        pin_factory: Factory | None = None,
        tick_s: float = TICK_S,
        timer_presets: Iterable[float] = TIMER_PRESETS,
    ) -> None:
        """Build the controls; ``timer_presets`` is ``[sleep] presets_min`` (the LED
        blinks a new timer's position among them)."""
        self.controls_config = controls if controls is not None else ControlsConfig()
        self.led_config = led if led is not None else LedConfig()
        self._submit = submit
        self._emit_event = emit_event
        self.tick_s = float(tick_s)
        self.problems: list[str] = []
        """One line per control that could not be set up: the config key and the fix."""
        self._lock = threading.RLock()
        self._outbox: deque[tuple[str, dict[str, Any]]] = deque()
        self._pot_next_s = 0.0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        # Assigned before anything is built, so that an early edge finds it.
        self._wiring = Wiring(
            self.controls_config,
            self.led_config,
            on_button_edge=self._button_edge,
            on_encoder_edge=self._encoder_edge,
        )
        try:
            self.led = led_core(self.led_config, timer_presets)
        except SleepsoundError as error:
            self.problems.append(f"led: {error}; using the default LED settings")
            self.led = led_core(LedConfig(), timer_presets)
        """The LED's pure core; :attr:`led_level` reads it at the current time."""
        if self.controls_config.enabled:
            self._wiring.build(pin_factory)
        self.problems.extend(self._wiring.problems)
        self._led_output = LedOutput(self._wiring.pwm)
        self._wake_output = LedOutput(self._wiring.wake_pwm)
        for problem in self.problems:
            log.error("%s", problem)

    # -- public API --------------------------------------------------------------------

    @property
    def factory(self) -> Factory | None:
        """The pin factory the controls are built on; None when there is no GPIO."""
        return self._wiring.factory

    @property
    def button_pins(self) -> dict[str, str]:
        """Each working button's name and pin (``{"main": "GPIO23"}``)."""
        return {b.name: self._wiring.pins[b.key] for b in self._wiring.buttons}

    @property
    def buttons(self) -> tuple[ButtonPin, ...]:
        """Every working button, in config order (the encoder's push switch last)."""
        return tuple(
            ButtonPin(b.name, self._wiring.pins[b.key], b.pull_up, b.recognizer.hold_time)
            for b in self._wiring.buttons
        )

    @property
    def encoder_pins(self) -> tuple[str, str] | None:
        """The working encoder's (A, B) pins, or None."""
        if self._wiring.encoder is None:
            return None
        pins = self._wiring.pins
        return pins["controls.encoder.a_pin"], pins["controls.encoder.b_pin"]

    @property
    def led_pin(self) -> str | None:
        """The LED's pin when its PWM output works, else None."""
        return self._wiring.pins.get("led.pin") if self._wiring.pwm is not None else None

    @property
    def led_level(self) -> float:
        """The LED's perceived brightness 0-1 now (also when no LED is wired)."""
        with self._lock:
            return self.led.level(self.now_s())

    def now_s(self) -> float:
        """Seconds since the controls were built, on the pin factory's clock (the one
        edges are stamped with), or the monotonic clock when there is no GPIO."""
        return self._wiring.now_s()

    def start(self) -> Controls:
        """Start the tick thread (idempotent); returns self."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="sleepsound-controls", daemon=True
            )
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop the tick thread, turn the LED off and release every pin."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        self._led_output.off()
        self._wake_output.off()
        self._wiring.close()

    def __enter__(self) -> Controls:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def tick(self) -> None:
        """Let time pass: gesture timers, potentiometer, LED; then deliver the results.

        The tick thread calls this every :attr:`tick_s`; call it yourself only when
        the thread is not running.
        """
        wiring = self._wiring
        if wiring.factory is None:
            return
        now = self.now_s()
        reading = None
        if wiring.adc is not None and now >= self._pot_next_s:
            self._pot_next_s = now + self.controls_config.pot.poll_s
            try:
                reading = float(wiring.adc.value)
            except Exception as error:  # a flaky SPI read must not stop the tick
                log.warning("reading the MCP3008 failed: %s", error)
        with self._lock:
            for button in wiring.buttons:
                self._queue_gestures(button, button.recognizer.tick(now))
            if reading is not None and wiring.pot is not None:
                first = wiring.pot.volume is None
                volume = wiring.pot.update(reading, now)
                # The first reading only anchors the knob: the saved volume stands
                # until someone turns it (a missing ADC then never sets the volume).
                if volume is not None and not first:
                    self._outbox.append(("command", {"volume": volume}))
            level = self.led.level(now)
            sunrise = self.led.sunrise(now)
        self._led_output.show(level)
        self._wake_output.show(sunrise or 0.0)
        self._deliver()

    def show_state(self, state: Mapping[str, Any]) -> None:
        """Follow a state document: steady light while playing, the breathing pacer
        from the start of play, and blinks confirming a new sleep timer."""
        now = self.now_s()
        with self._lock:
            self.led.follow(state.get("state"), state.get("sleep_timer"), now)
            self.led.follow_program(state.get("program"), now, time.time())

    # -- running -------------------------------------------------------------------------

    def _button_edge(self, button: ButtonInput, pressed: bool, ticks: float) -> None:
        now = self._wiring.edge_s(ticks)
        with self._lock:
            self._queue_gestures(button, button.recognizer.edge(pressed, now))

    def _encoder_edge(self, encoder: EncoderInput, ticks: float) -> None:
        now = self._wiring.edge_s(ticks)
        with self._lock:
            command = encoder.core.update(encoder.a, encoder.b, now)
            if command is not None:
                self._outbox.append(("command", command))

    def _queue_gestures(self, button: ButtonInput, gestures: list[Gesture]) -> None:
        for gesture in gestures:
            command = button.commands.get(gesture)
            if command is not None:
                self._outbox.append(("command", dict(command)))
            self._outbox.append(("event", {"event_type": gesture.value, "button": button.name}))

    def _deliver(self) -> None:
        while True:
            try:
                kind, payload = self._outbox.popleft()
            except IndexError:
                return
            target = self._submit if kind == "command" else self._emit_event
            if target is None:
                continue
            try:
                target(payload)
            except Exception:
                log.exception("the daemon refused %s %r", kind, payload)

    def _run(self) -> None:
        while not self._stop.wait(self.tick_s):
            try:
                self.tick()
            except Exception:
                log.exception("controls tick failed; carrying on")
