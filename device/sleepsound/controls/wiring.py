"""The controls as wired: gpiozero devices built from config on one pin factory.

:class:`Wiring` loads (or is given) the pin factory, resolves each configured pin on
this board, claims it for one config key, builds the gpiozero device and hooks its
edges to the callbacks it was given. Every mistake (a pin this board lacks, a pin two
keys share, a pin another program holds, a gesture command that does not parse, a
missing GPIO driver) becomes one line in :attr:`Wiring.problems` naming the config key
and the fix; every control that is fine is built anyway. It also owns the pin
factory's clock, the one edges are stamped with.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from gpiozero import MCP3008, PWMLED, Device, InputDevice
from gpiozero.pins import Factory

from sleepsound.commands import parse_command
from sleepsound.controls.encoder import RotaryVolume
from sleepsound.controls.gestures import Gesture, GestureRecognizer
from sleepsound.controls.pot import PotVolume
from sleepsound.controls.schema import ButtonConfig, ControlsConfig, LedConfig, Pin
from sleepsound.errors import CommandError, SleepsoundError

Command = dict[str, Any]

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


def _gpio_range(board: Any) -> str:
    """The BCM GPIO numbers ``board`` has, as ``"0-27"``."""
    numbers = sorted(
        int(info.name[4:])
        for header in board.headers.values()
        for info in header.pins.values()
        if "gpio" in info.interfaces and info.name.startswith("GPIO")
    )
    return f"{numbers[0]}-{numbers[-1]}" if numbers else "none on this board"


@dataclass(frozen=True)
class ButtonPin:
    """A working button as wired: what a simulator or a test needs to press it."""

    name: str
    pin: str
    """The GPIO name (``"GPIO23"``)."""
    pull_up: bool
    """True: pressing pulls the pin low."""
    hold_time_s: float


class ButtonInput:
    """One button: its gpiozero input, its gesture recogniser and its commands."""

    def __init__(
        self,
        key: str,
        config: ButtonConfig,
        commands: dict[Gesture, Command],
        device: InputDevice,
        on_edge: Callable[[ButtonInput, bool, float], None],
    ) -> None:
        """Listen to ``device``; ``on_edge(button, pressed, ticks)`` gets every edge."""
        self.key = key
        self.name = config.name
        self.pull_up = config.pull_up
        self.commands = commands
        self.device = device
        self.on_edge = on_edge
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
        self.on_edge(self, pressed, ticks)


class EncoderInput:
    """The encoder's A and B contacts and their decoder; listens to both contacts
    (closed = pulled low = True) from the start."""

    def __init__(
        self,
        core: RotaryVolume,
        a_device: InputDevice,
        b_device: InputDevice,
        on_edge: Callable[[EncoderInput, float], None],
    ) -> None:
        """Listen to both contacts; ``on_edge(encoder, ticks)`` gets every edge."""
        self.core = core
        self.on_edge = on_edge
        self.a, self.b = bool(a_device.value), bool(b_device.value)
        self.core.decoder.update(self.a, self.b)
        for device, handler in ((a_device, self.a_changed), (b_device, self.b_changed)):
            device.pin.bounce = None
            device.pin.edges = "both"
            device.pin.when_changed = handler

    def a_changed(self, ticks: float, state: bool) -> None:
        """Pin callback for A; B keeps the level its own last edge reported."""
        self.a = not state
        self.on_edge(self, ticks)

    def b_changed(self, ticks: float, state: bool) -> None:
        """Pin callback for B."""
        self.b = not state
        self.on_edge(self, ticks)


def button_commands(key: str, button: ButtonConfig) -> tuple[dict[Gesture, Command], list[str]]:
    """The commands ``button``'s gestures send, and one problem per mapping that does
    not parse (that gesture then only sends its event)."""
    commands: dict[Gesture, Command] = {}
    problems: list[str] = []
    for gesture in Gesture:
        mapping = getattr(button, gesture.value)
        if not mapping:
            continue
        try:
            parse_command(mapping)
        except CommandError as error:
            problems.append(
                f"{key}.{gesture.value}: {error}; this gesture only sends its event "
                "until the command is fixed"
            )
            continue
        commands[gesture] = dict(mapping)
    return commands, problems


class Wiring:
    """The buttons, encoder, potentiometer and LED pin built on one pin factory."""

    def __init__(
        self,
        controls: ControlsConfig,
        led: LedConfig,
        *,
        on_button_edge: Callable[[ButtonInput, bool, float], None],
        on_encoder_edge: Callable[[EncoderInput, float], None],
    ) -> None:
        """Nothing is built until :meth:`build`; edges go to the two callbacks."""
        self.controls_config = controls
        self.led_config = led
        self._on_button_edge = on_button_edge
        self._on_encoder_edge = on_encoder_edge
        self.problems: list[str] = []
        """One line per control that could not be set up: the config key and the fix."""
        self.factory: Factory | None = None
        self.buttons: list[ButtonInput] = []
        self.encoder: EncoderInput | None = None
        self.pot: PotVolume | None = None
        self.adc: MCP3008 | None = None
        self.pwm: PWMLED | None = None
        self.wake_pwm: PWMLED | None = None
        """The wake light (``[led] wake_pin``), when one is configured and works."""
        self.pins: dict[str, str] = {}
        """Config key -> the GPIO it claimed (``{"led.pin": "GPIO26"}``)."""
        self._devices: list[Device] = []
        self._t0: float = time.monotonic()
        self._board: Any = None

    # -- the clock -----------------------------------------------------------------------

    def now_s(self) -> float:
        """Seconds since the wiring was built, on the pin factory's clock (the one
        edges are stamped with), or the monotonic clock when there is no GPIO."""
        if self.factory is None:
            return time.monotonic() - self._t0
        return self.factory.ticks_diff(self.factory.ticks(), self._t0)

    def edge_s(self, ticks: float) -> float:
        """An edge's time on :meth:`now_s`'s clock: the driver's stamp when plausible."""
        now = self.now_s()
        assert self.factory is not None
        at = self.factory.ticks_diff(ticks, self._t0)
        # lgpio stamps edges with the kernel's clock, which gpiozero takes to be its
        # own monotonic one; lgpio's own clock is the wall clock (joan2937/lg#19).
        # Should a driver ever hand us a stamp from another clock, use the arrival time.
        if not now - MAX_EDGE_DELAY_S <= at <= now + 0.001:
            return now
        return at

    # -- building ------------------------------------------------------------------------

    def build(self, pin_factory: Factory | None) -> None:
        """Build every enabled control on ``pin_factory`` (gpiozero's default if None)."""
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

    def close(self) -> None:
        """Release every pin, the last built first."""
        for device in reversed(self._devices):
            with contextlib.suppress(Exception):
                device.close()
        self._devices.clear()

    def _claim(self, key: str, pin: Pin) -> str | None:
        """Resolve ``pin`` to its GPIO name and reserve it for ``key``; None if it can't be."""
        try:
            name = str(self._board.to_gpio(pin))
        except Exception as error:
            self.problems.append(
                f"{key}: {error} on this Raspberry Pi {self._board.model}; use a BCM GPIO "
                f'number ({_gpio_range(self._board)}) such as 17, or a name such as "GPIO17" '
                "(see the pin table in hardware/README.md)"
            )
            return None
        other = next((k for k, claimed in self.pins.items() if claimed == name), None)
        if other is not None:
            self.problems.append(
                f"{key}: {name} is already used by {other}; give each its own pin "
                "(see the pin table in hardware/README.md)"
            )
            return None
        self.pins[key] = name
        return name

    def _build_button(self, key: str, config: ButtonConfig) -> None:
        if not config.enabled:
            return
        if any(b.name == config.name for b in self.buttons):
            self.problems.append(
                f"{key}.name: another button is already called {config.name!r}; "
                "give each a name of its own so their events can be told apart"
            )
            return
        name = self._claim(f"{key}.pin", config.pin)
        if name is None:
            return
        commands, problems = button_commands(key, config)
        self.problems.extend(problems)
        device = self._device(
            f"{key}.pin",
            lambda: InputDevice(name, pull_up=config.pull_up, pin_factory=self.factory),
        )
        if device is None:
            return
        try:
            button = ButtonInput(f"{key}.pin", config, commands, device, self._on_button_edge)
        except SleepsoundError as error:
            self.problems.append(f"{key}: {error}; this button is off")
            return
        self.buttons.append(button)

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
        self.encoder = EncoderInput(core, a_device, b_device, self._on_encoder_edge)

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
        self.adc, self.pot = adc, core

    def _build_led(self) -> None:
        name = self._claim("led.pin", self.led_config.pin)
        if name is None:
            return
        self.pwm = self._device(
            "led.pin", lambda: PWMLED(name, initial_value=0, pin_factory=self.factory)
        )
        if self.led_config.wake_pin is None:
            return
        wake = self._claim("led.wake_pin", self.led_config.wake_pin)
        if wake is not None:
            self.wake_pwm = self._device(
                "led.wake_pin", lambda: PWMLED(wake, initial_value=0, pin_factory=self.factory)
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
