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
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from gpiozero import MCP3008, PWMLED, Device, InputDevice
from gpiozero.pins import Factory

from sleepsound.commands import parse_command
from sleepsound.controls.encoder import RotaryVolume
from sleepsound.controls.gestures import Gesture, GestureRecognizer
from sleepsound.controls.led import TIMER_PRESETS, Breathing, StatusLed, duty_for
from sleepsound.controls.pot import PotVolume
from sleepsound.controls.schema import (
    ButtonConfig,
    ControlsConfig,
    LedConfig,
    Pin,
)
from sleepsound.errors import CommandError, SleepsoundError

log = logging.getLogger(__name__)

Command = dict[str, Any]
Submit = Callable[[Command], object]
EmitEvent = Callable[[dict[str, Any]], object]

TICK_S: Final = 0.02
"""How often time passes in the core: long-press and double-press timing resolution,
and the LED's frame rate (50 Hz)."""

SPI_PINS: Final[tuple[tuple[str, str], ...]] = (
    ("GPIO11", "SCLK"),
    ("GPIO10", "MOSI"),
    ("GPIO9", "MISO"),
)
"""SPI0's fixed pins, which the MCP3008 takes along with its chip select."""

MAX_EDGE_DELAY_S: Final = 2.0
"""An edge stamped longer ago than this (or in the future) is dated on arrival."""


def _with_default_factory(factory: Factory | None, make: Callable[..., Any], **kwargs: Any) -> Any:
    """Build a gpiozero SPI device on ``factory``.

    gpiozero 2.0's software SPI bus passes the injected factory to its pins but builds
    itself on ``Device.pin_factory``, loading the default driver (and failing where
    there is none, e.g. under MockFactory off a Pi). Lend it ours while it is built.
    """
    if Device.pin_factory is not None or factory is None:
        return make(**kwargs)
    Device.pin_factory = factory
    try:
        return make(**kwargs)
    finally:
        Device.pin_factory = None


def _led_core(config: LedConfig, timer_presets: Iterable[float]) -> StatusLed:
    breathing = config.breathing
    return StatusLed(
        brightness=config.brightness,
        blink_level=config.blink.level,
        blink_period_s=config.blink.period_s,
        timer_presets=timer_presets,
        breathing=(
            Breathing(
                start_bpm=breathing.start_bpm,
                end_bpm=breathing.end_bpm,
                ramp_s=breathing.ramp_s,
                duration_s=breathing.duration_s,
                level=breathing.level,
            )
            if breathing.enabled
            else None
        ),
    )


@dataclass(frozen=True)
class ButtonPin:
    """A working button as wired: what a simulator or a test needs to press it."""

    name: str
    pin: str
    """The GPIO name (``"GPIO23"``)."""
    pull_up: bool
    """True: pressing pulls the pin low."""
    hold_time_s: float


class _ButtonInput:
    """One button: its gpiozero input, its gesture recogniser and its commands."""

    def __init__(
        self,
        owner: Controls,
        key: str,
        config: ButtonConfig,
        commands: dict[Gesture, Command],
        device: InputDevice,
    ) -> None:
        self.owner = owner
        self.key = key
        self.name = config.name
        self.pull_up = config.pull_up
        self.commands = commands
        self.device = device
        # Starting from the pin's level: a button held at start-up is no press.
        self.recognizer = GestureRecognizer(
            bounce_time=config.bounce_time_s,
            hold_time=config.hold_time_s,
            double_time=config.double_time_s,
            pressed=bool(device.value),
        )
        # Raw edges: the core does the debouncing (and dates presses from the first touch).
        device.pin.bounce = None
        device.pin.edges = "both"
        device.pin.when_changed = self.changed

    def changed(self, ticks: float, state: bool) -> None:
        """gpiozero's pin callback: ``state`` is the pin level at ``ticks``."""
        pressed = bool(state) != self.pull_up
        self.owner._button_edge(self, pressed, ticks)


class _EncoderInput:
    """The encoder's A and B contacts and their decoder; listens to both contacts
    (closed = pulled low = True) from the start."""

    def __init__(
        self, owner: Controls, core: RotaryVolume, a_device: InputDevice, b_device: InputDevice
    ) -> None:
        self.owner = owner
        self.core = core
        self.a, self.b = bool(a_device.value), bool(b_device.value)
        self.core.decoder.update(self.a, self.b)
        for device, handler in ((a_device, self.a_changed), (b_device, self.b_changed)):
            device.pin.bounce = None
            device.pin.edges = "both"
            device.pin.when_changed = handler

    def a_changed(self, ticks: float, state: bool) -> None:
        """Pin callback for A; B keeps the level its own last edge reported."""
        self.a = not state
        self.owner._encoder_edge(self, ticks)

    def b_changed(self, ticks: float, state: bool) -> None:
        """Pin callback for B."""
        self.b = not state
        self.owner._encoder_edge(self, ticks)


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
        self.factory: Factory | None = None
        self._lock = threading.RLock()
        self._outbox: deque[tuple[str, dict[str, Any]]] = deque()
        self._buttons: list[_ButtonInput] = []
        self._encoder: _EncoderInput | None = None
        self._pot: PotVolume | None = None
        self._adc: MCP3008 | None = None
        self._pot_next_s = 0.0
        self._pwm: PWMLED | None = None
        self._pwm_duty = -1.0
        self._pins: dict[str, str] = {}
        """Config key -> the GPIO it claimed (``{"led.pin": "GPIO26"}``)."""
        self._devices: list[Device] = []
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._t0: float = time.monotonic()
        self._board: Any = None
        try:
            self.led = _led_core(self.led_config, timer_presets)
        except SleepsoundError as error:
            self.problems.append(f"led: {error}; using the default LED settings")
            self.led = _led_core(LedConfig(), timer_presets)
        """The LED's pure core; :attr:`led_level` reads it at the current time."""
        if self.controls_config.enabled:
            self._build(pin_factory)
        for problem in self.problems:
            log.error("%s", problem)

    # -- public API --------------------------------------------------------------------

    @property
    def button_pins(self) -> dict[str, str]:
        """Each working button's name and pin (``{"main": "GPIO23"}``)."""
        return {b.name: self._pins[b.key] for b in self._buttons}

    @property
    def buttons(self) -> tuple[ButtonPin, ...]:
        """Every working button, in config order (the encoder's push switch last)."""
        return tuple(
            ButtonPin(b.name, self._pins[b.key], b.pull_up, b.recognizer.hold_time)
            for b in self._buttons
        )

    @property
    def encoder_pins(self) -> tuple[str, str] | None:
        """The working encoder's (A, B) pins, or None."""
        if self._encoder is None:
            return None
        return self._pins["controls.encoder.a_pin"], self._pins["controls.encoder.b_pin"]

    @property
    def led_pin(self) -> str | None:
        """The LED's pin when its PWM output works, else None."""
        return self._pins.get("led.pin") if self._pwm is not None else None

    @property
    def led_level(self) -> float:
        """The LED's perceived brightness 0-1 now (also when no LED is wired)."""
        with self._lock:
            return self.led.level(self.now_s())

    def now_s(self) -> float:
        """Seconds since the controls were built, on the pin factory's clock (the one
        edges are stamped with), or the monotonic clock when there is no GPIO."""
        if self.factory is None:
            return time.monotonic() - self._t0
        return self.factory.ticks_diff(self.factory.ticks(), self._t0)

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
        if self._pwm is not None:
            with contextlib.suppress(Exception):
                self._pwm.value = 0
        for device in reversed(self._devices):
            with contextlib.suppress(Exception):
                device.close()
        self._devices.clear()

    def __enter__(self) -> Controls:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def tick(self) -> None:
        """Let time pass: gesture timers, potentiometer, LED; then deliver the results.

        The tick thread calls this every :attr:`tick_s`; call it yourself only when
        the thread is not running.
        """
        if self.factory is None:
            return
        now = self.now_s()
        reading = None
        if self._adc is not None and now >= self._pot_next_s:
            self._pot_next_s = now + self.controls_config.pot.poll_s
            try:
                reading = float(self._adc.value)
            except Exception as error:  # a flaky SPI read must not stop the tick
                log.warning("reading the MCP3008 failed: %s", error)
        with self._lock:
            for button in self._buttons:
                self._queue_gestures(button, button.recognizer.tick(now))
            if reading is not None and self._pot is not None:
                first = self._pot.volume is None
                volume = self._pot.update(reading, now)
                # The first reading only anchors the knob: the saved volume stands
                # until someone turns it (a missing ADC then never sets the volume).
                if volume is not None and not first:
                    self._outbox.append(("command", {"volume": volume}))
            level = self.led.level(now)
        self._set_led(level)
        self._deliver()

    def show_state(self, state: Mapping[str, Any]) -> None:
        """Follow a state document: steady light while playing, the breathing pacer
        from the start of play, and blinks confirming a new sleep timer."""
        now = self.now_s()
        with self._lock:
            self.led.follow(state.get("state"), state.get("sleep_timer"), now)

    # -- building ------------------------------------------------------------------------

    def _build(self, pin_factory: Factory | None) -> None:
        factory = pin_factory
        if factory is None:
            try:
                Device.ensure_pin_factory()
                factory = Device.pin_factory
            except Exception as error:
                self.problems.append(
                    f"controls: no GPIO driver could be loaded ({error}); the buttons, knob "
                    "and LED are off. On a Raspberry Pi install lgpio (sudo apt install "
                    "python3-lgpio); elsewhere try `sleepsound run --simulate`"
                )
                return
        self.factory = factory
        self._t0 = factory.ticks()
        try:
            board = factory.board_info
        except Exception as error:
            self.problems.append(
                f"controls: cannot tell which board this is ({error}); the buttons, knob "
                "and LED are off"
            )
            return
        self._board = board
        config = self.controls_config
        for index, button in enumerate(config.buttons):
            self._build_button(f"controls.buttons[{index}]", button)
        if config.encoder.enabled:
            self._build_encoder()
            if config.encoder.button.enabled:
                self._build_button("controls.encoder.button", config.encoder.button)
        if config.pot.enabled:
            self._build_pot()
        if self.led_config.enabled:
            self._build_led()

    def _claim(self, key: str, pin: Pin) -> str | None:
        """Resolve ``pin`` to its GPIO name and reserve it for ``key``; None if it can't be."""
        try:
            name = str(self._board.to_gpio(pin))
        except Exception as error:
            self.problems.append(
                f"{key}: {error} on this Raspberry Pi {self._board.model}; use a BCM GPIO "
                f'number ({self._gpio_range()}) such as 17, or a name such as "GPIO17" '
                "(see the pin table in hardware/README.md)"
            )
            return None
        other = next((k for k, claimed in self._pins.items() if claimed == name), None)
        if other is not None:
            self.problems.append(
                f"{key}: {name} is already used by {other}; give each its own pin "
                "(see the pin table in hardware/README.md)"
            )
            return None
        self._pins[key] = name
        return name

    def _gpio_range(self) -> str:
        numbers = sorted(
            int(info.name[4:])
            for header in self._board.headers.values()
            for info in header.pins.values()
            if "gpio" in info.interfaces and info.name.startswith("GPIO")
        )
        return f"{numbers[0]}-{numbers[-1]}" if numbers else "none on this board"

    def _commands(self, key: str, button: ButtonConfig) -> dict[Gesture, Command]:
        commands: dict[Gesture, Command] = {}
        for gesture in Gesture:
            mapping = getattr(button, gesture.value)
            if not mapping:
                continue
            try:
                parse_command(mapping)
            except CommandError as error:
                self.problems.append(
                    f"{key}.{gesture.value}: {error}; this gesture only sends its event "
                    "until the command is fixed"
                )
                continue
            commands[gesture] = dict(mapping)
        return commands

    def _build_button(self, key: str, config: ButtonConfig) -> None:
        if not config.enabled:
            return
        if any(b.name == config.name for b in self._buttons):
            self.problems.append(
                f"{key}.name: another button is already called {config.name!r}; "
                "give each a name of its own so their events can be told apart"
            )
            return
        name = self._claim(f"{key}.pin", config.pin)
        if name is None:
            return
        commands = self._commands(key, config)
        device = self._device(
            f"{key}.pin",
            lambda: InputDevice(name, pull_up=config.pull_up, pin_factory=self.factory),
        )
        if device is None:
            return
        try:
            button = _ButtonInput(self, f"{key}.pin", config, commands, device)
        except SleepsoundError as error:
            self.problems.append(f"{key}: {error}; this button is off")
            return
        self._buttons.append(button)

    def _build_encoder(self) -> None:
        config = self.controls_config.encoder
        a = self._claim("controls.encoder.a_pin", config.a_pin)
        b = self._claim("controls.encoder.b_pin", config.b_pin)
        if a is None or b is None:
            return
        try:
            core = RotaryVolume(
                step=config.step,
                half_step=config.half_step,
                reverse=config.reverse,
                acceleration_max=config.acceleration_max,
            )
        except SleepsoundError as error:
            self.problems.append(f"controls.encoder: {error}")
            return
        a_device = self._device(
            "controls.encoder.a_pin",
            lambda: InputDevice(a, pull_up=True, pin_factory=self.factory),
        )
        b_device = self._device(
            "controls.encoder.b_pin",
            lambda: InputDevice(b, pull_up=True, pin_factory=self.factory),
        )
        if a_device is None or b_device is None:
            return
        self._encoder = _EncoderInput(self, core, a_device, b_device)

    def _build_pot(self) -> None:
        config = self.controls_config.pot
        select = self._claim("controls.pot.select_pin", config.select_pin)
        spi = [self._claim(f"controls.pot (SPI {role})", pin) for pin, role in SPI_PINS]
        if select is None or None in spi:
            return
        try:
            core = PotVolume(
                hysteresis=config.hysteresis,
                smoothing_s=config.smoothing_s,
                dead_zone=config.dead_zone,
                reverse=config.reverse,
            )
        except SleepsoundError as error:
            self.problems.append(f"controls.pot: {error}")
            return
        adc = self._device(
            "controls.pot",
            lambda: _with_default_factory(
                self.factory,
                MCP3008,
                channel=config.channel,
                clock_pin=SPI_PINS[0][0],
                mosi_pin=SPI_PINS[1][0],
                miso_pin=SPI_PINS[2][0],
                select_pin=select,
                pin_factory=self.factory,
            ),
        )
        if adc is None:
            return
        self._adc, self._pot = adc, core

    def _build_led(self) -> None:
        name = self._claim("led.pin", self.led_config.pin)
        if name is None:
            return
        self._pwm = self._device(
            "led.pin", lambda: PWMLED(name, initial_value=0, pin_factory=self.factory)
        )

    def _device(self, key: str, make: Callable[[], Any]) -> Any:
        try:
            device = make()
        except Exception as error:
            self.problems.append(
                f"{key}: cannot use the pin ({type(error).__name__}: {error}); is another "
                "program (or a HAT's overlay) using it? That control is off"
            )
            return None
        self._devices.append(device)
        return device

    # -- running -------------------------------------------------------------------------

    def _ticks_s(self, ticks: float) -> float:
        """An edge's time on our clock: the driver's stamp when it is plausible."""
        now = self.now_s()
        assert self.factory is not None
        at = self.factory.ticks_diff(ticks, self._t0)
        # lgpio stamps edges with the kernel's clock, which gpiozero takes to be its
        # own monotonic one; lgpio's own clock is the wall clock (joan2937/lg#19).
        # Should a driver ever hand us a stamp from another clock, use the arrival time.
        if not now - MAX_EDGE_DELAY_S <= at <= now + 0.001:
            return now
        return at

    def _button_edge(self, button: _ButtonInput, pressed: bool, ticks: float) -> None:
        now = self._ticks_s(ticks)
        with self._lock:
            self._queue_gestures(button, button.recognizer.edge(pressed, now))

    def _encoder_edge(self, encoder: _EncoderInput, ticks: float) -> None:
        now = self._ticks_s(ticks)
        with self._lock:
            command = encoder.core.update(encoder.a, encoder.b, now)
            if command is not None:
                self._outbox.append(("command", command))

    def _queue_gestures(self, button: _ButtonInput, gestures: list[Gesture]) -> None:
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

    def _set_led(self, level: float) -> None:
        if self._pwm is None:
            return
        duty = duty_for(level)
        if abs(duty - self._pwm_duty) < 1e-4:
            return
        try:
            self._pwm.value = duty
            self._pwm_duty = duty
        except Exception as error:
            log.warning("setting the LED failed: %s", error)

    def _run(self) -> None:
        while not self._stop.wait(self.tick_s):
            try:
                self.tick()
            except Exception:
                log.exception("controls tick failed; carrying on")
