"""The ``[controls]`` and ``[led]`` config sections: JSON schemas and typed results.

Registered in :data:`sleepsound.config.SECTIONS` as ``"sleepsound.controls.schema:
CONTROLS_SECTION"`` and ``"...:LED_SECTION"``; read back with
``config.section("controls")`` (a :class:`ControlsConfig`) and ``config.section("led")``
(a :class:`LedConfig`). Every key is optional; the defaults below match the pin table
in ``hardware/README.md``::

    [controls]                       # enabled = true
    [[controls.buttons]]             # name, pin, pull_up, *_time_s, single/double/long
    [controls.encoder]               # a_pin, b_pin, step, half_step, reverse, ...
    [controls.encoder.button]        # the encoder's push switch: a button like the others
    [controls.pot]                   # MCP3008 channel, select_pin, hysteresis, ...
    [led]                            # pin, brightness
    [led.blink]                      # level, period_s
    [led.breathing]                  # enabled, start_bpm, end_bpm, ramp_s, duration_s, level

Pins are BCM numbers (``23``) or gpiozero pin names (``"GPIO23"``, ``"BOARD16"``).
Whether a pin exists on this board, and whether two keys share one, is checked when
the controls start (:mod:`sleepsound.controls.wiring`), not here: a wiring mistake
must leave the sound and the other controls working, not stop the daemon.
A gesture maps to any command object (see ``sleepsound.commands``) or to ``{}`` for
none; the gesture is published as an event either way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Final

from sleepsound.commands import KEYS
from sleepsound.config import SectionSpec, integer_schema, number_schema
from sleepsound.controls import encoder, gestures, led, pot

Pin = int | str
"""A BCM GPIO number or a gpiozero pin name."""

DEFAULT_SINGLE: Final[Mapping[str, Any]] = {"action": "toggle"}
DEFAULT_DOUBLE: Final[Mapping[str, Any]] = {"action": "next"}
DEFAULT_LONG: Final[Mapping[str, Any]] = {"action": "timer_cycle"}
DEFAULT_ENCODER_SINGLE: Final[Mapping[str, Any]] = {"action": "preset_toggle"}
"""The knob's push: the next preset while stopped, else play/stop (a plain toggle on a
box without presets); see :func:`sleepsound.favourites.effective_action`."""

DEFAULT_BUTTON_PIN: Final = "GPIO23"
DEFAULT_ENCODER_A_PIN: Final = "GPIO17"
DEFAULT_ENCODER_B_PIN: Final = "GPIO27"
DEFAULT_ENCODER_BUTTON_PIN: Final = "GPIO22"
DEFAULT_POT_SELECT_PIN: Final = "GPIO8"
DEFAULT_LED_PIN: Final = "GPIO26"

MAX_BUTTONS: Final = 8

# -- typed results ------------------------------------------------------------------------


def _command(value: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(value or {})


@dataclass(frozen=True)
class ButtonConfig:
    """One button (``[[controls.buttons]]`` or ``[controls.encoder.button]``)."""

    name: str = "main"
    """Names the button in events: ``{"event_type": "single", "button": "main"}``."""
    pin: Pin = DEFAULT_BUTTON_PIN
    enabled: bool = True
    pull_up: bool = True
    """True: the button connects the pin to ground (the Pi's pull-up holds it high)."""
    bounce_time_s: float = gestures.DEFAULT_BOUNCE_TIME
    hold_time_s: float = gestures.DEFAULT_HOLD_TIME
    double_time_s: float = gestures.DEFAULT_DOUBLE_TIME
    """0 turns double presses off (a single press then fires on release)."""
    single: Mapping[str, Any] = field(default_factory=lambda: dict(DEFAULT_SINGLE))
    double: Mapping[str, Any] = field(default_factory=lambda: dict(DEFAULT_DOUBLE))
    long: Mapping[str, Any] = field(default_factory=lambda: dict(DEFAULT_LONG))

    def __post_init__(self) -> None:
        for key in ("bounce_time_s", "hold_time_s", "double_time_s"):
            object.__setattr__(self, key, float(getattr(self, key)))
        for key in ("single", "double", "long"):
            object.__setattr__(self, key, _command(getattr(self, key)))


@dataclass(frozen=True)
class EncoderConfig:
    """``[controls.encoder]``: a KY-040/EC11 rotary encoder for volume."""

    enabled: bool = True
    a_pin: Pin = DEFAULT_ENCODER_A_PIN
    """The encoder's A contact (KY-040: CLK)."""
    b_pin: Pin = DEFAULT_ENCODER_B_PIN
    """The encoder's B contact (KY-040: DT)."""
    step: int = encoder.DEFAULT_STEP
    """Volume points per detent, turning slowly."""
    half_step: bool = False
    """True for encoders that click twice per Gray cycle (a detent at 00 and at 11)."""
    reverse: bool = False
    """True if clockwise turns the volume down (swap of A and B in the wiring)."""
    acceleration_max: int = encoder.DEFAULT_ACCELERATION_MAX
    """Steps per detent multiply up to this when turned fast; 1 = no acceleration."""
    button: ButtonConfig = field(
        default_factory=lambda: ButtonConfig(
            name="encoder", pin=DEFAULT_ENCODER_BUTTON_PIN, single=dict(DEFAULT_ENCODER_SINGLE)
        )
    )
    """The push switch (KY-040: SW); its single press cycles presets while stopped."""

    def __post_init__(self) -> None:
        if isinstance(self.button, Mapping):
            table = {"single": dict(DEFAULT_ENCODER_SINGLE), **self.button}
            object.__setattr__(
                self, "button", _button(table, "encoder", DEFAULT_ENCODER_BUTTON_PIN)
            )


@dataclass(frozen=True)
class PotConfig:
    """``[controls.pot]``: a potentiometer on an MCP3008 ADC (hardware SPI0)."""

    enabled: bool = False
    channel: int = 0
    """MCP3008 input (0-7) the pot's wiper is on."""
    select_pin: Pin = DEFAULT_POT_SELECT_PIN
    """Chip select: GPIO8 (CE0) or GPIO7 (CE1)."""
    hysteresis: float = pot.DEFAULT_HYSTERESIS
    """Volume points the knob must move before the volume follows."""
    smoothing_s: float = pot.DEFAULT_SMOOTHING_S
    dead_zone: float = pot.DEFAULT_DEAD_ZONE
    """Fraction of travel at each end that reads as exactly 0 or 100."""
    reverse: bool = False
    poll_s: float = 0.05
    """How often the ADC is read."""

    def __post_init__(self) -> None:
        for key in ("hysteresis", "smoothing_s", "dead_zone", "poll_s"):
            object.__setattr__(self, key, float(getattr(self, key)))


@dataclass(frozen=True)
class ControlsConfig:
    """``[controls]``: buttons, an encoder or a potentiometer."""

    enabled: bool = True
    """False leaves the GPIO pins alone (no buttons, knob or LED)."""
    buttons: tuple[ButtonConfig, ...] = (ButtonConfig(),)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    pot: PotConfig = field(default_factory=PotConfig)

    def __post_init__(self) -> None:
        buttons = tuple(
            _button(b, "main" if i == 0 else f"button{i + 1}", DEFAULT_BUTTON_PIN)
            if isinstance(b, Mapping)
            else b
            for i, b in enumerate(self.buttons)
        )
        object.__setattr__(self, "buttons", buttons)
        if isinstance(self.encoder, Mapping):
            object.__setattr__(self, "encoder", EncoderConfig(**self.encoder))
        if isinstance(self.pot, Mapping):
            object.__setattr__(self, "pot", PotConfig(**self.pot))


@dataclass(frozen=True)
class BlinkConfig:
    """``[led.blink]``: confirmation blinks."""

    level: float = led.DEFAULT_BLINK_LEVEL
    """Peak brightness of a blink (0 = no blinks)."""
    period_s: float = led.DEFAULT_BLINK_PERIOD_S
    """Seconds from one blink to the next."""


@dataclass(frozen=True)
class BreathingConfig:
    """``[led.breathing]``: the breathing pacer, started with each play."""

    enabled: bool = False
    start_bpm: float = led.Breathing.start_bpm
    end_bpm: float = led.Breathing.end_bpm
    ramp_s: float = led.Breathing.ramp_s
    duration_s: float = led.Breathing.duration_s
    level: float = led.Breathing.level


@dataclass(frozen=True)
class LedConfig:
    """``[led]``: the status LED (PWM)."""

    enabled: bool = True
    pin: Pin = DEFAULT_LED_PIN
    brightness: float = led.DEFAULT_BRIGHTNESS
    """Steady brightness while playing, 0-1 as perceived (0 = off: a dark bedroom)."""
    wake_level: float = led.DEFAULT_WAKE_LEVEL
    """The status LED's brightness at the end of a wake's sunrise (0 = no sunrise)."""
    wake_pin: Pin | None = None
    """A brighter light (PWM) for the wake's sunrise instead of the status LED."""
    blink: BlinkConfig = field(default_factory=BlinkConfig)
    breathing: BreathingConfig = field(default_factory=BreathingConfig)

    def __post_init__(self) -> None:
        object.__setattr__(self, "brightness", float(self.brightness))
        object.__setattr__(self, "wake_level", float(self.wake_level))
        if isinstance(self.blink, Mapping):
            object.__setattr__(self, "blink", _floats(BlinkConfig, self.blink))
        if isinstance(self.breathing, Mapping):
            object.__setattr__(self, "breathing", _floats(BreathingConfig, self.breathing))


def _floats(cls: type, table: Mapping[str, Any]) -> Any:
    kinds = {f.name: f.type for f in fields(cls)}
    return cls(**{k: float(v) if kinds.get(k) == "float" else v for k, v in table.items()})


def _button(table: Mapping[str, Any], name: str, pin: Pin) -> ButtonConfig:
    return ButtonConfig(**{"name": name, "pin": pin, **table})


# -- schemas ---------------------------------------------------------------------------
# They only check: the defaults live in the dataclasses above (as in sleepsound.config),
# which take them from the pure cores so the two cannot drift apart.


BOOLEAN: Final = {"type": "boolean"}

PIN: Final = {
    "anyOf": [
        {"type": "integer", "minimum": 0, "maximum": 53},
        {"type": "string", "minLength": 1, "maxLength": 16},
    ],
    # config's annotation for its message: what the key takes, in words
    "x-means": 'a pin: a BCM GPIO number such as 23, or a name such as "GPIO23"',
}

COMMAND: Final = {
    # Only the shape here; the values are checked by sleepsound.commands.parse_command
    # when the controls start, so one bad mapping loses one gesture, not the daemon.
    "type": "object",
    "propertyNames": {"enum": list(KEYS)},
}


def _object(properties: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": dict(properties),
        "additionalProperties": False,
        **extra,
    }


BUTTON_PROPERTIES: Final[dict[str, Any]] = {
    "name": {"type": "string", "pattern": r"^[A-Za-z0-9_-]{1,32}$"},
    "pin": PIN,
    "enabled": BOOLEAN,
    "pull_up": BOOLEAN,
    "bounce_time_s": number_schema(0, 0.5),
    "hold_time_s": number_schema(0.1, 10),
    "double_time_s": number_schema(0, 2),
    "single": COMMAND,
    "double": COMMAND,
    "long": COMMAND,
}
"""JSON schema of one button's keys (``[[controls.buttons]]``, ``[controls.encoder.button]``)."""


ENCODER_PROPERTIES: Final[dict[str, Any]] = {
    "enabled": BOOLEAN,
    "a_pin": PIN,
    "b_pin": PIN,
    "step": integer_schema(1, 25),
    "half_step": BOOLEAN,
    "reverse": BOOLEAN,
    "acceleration_max": integer_schema(1, 10),
    "button": _object(BUTTON_PROPERTIES),
}

POT_PROPERTIES: Final[dict[str, Any]] = {
    "enabled": BOOLEAN,
    "channel": integer_schema(0, 7),
    "select_pin": PIN,
    "hysteresis": {"type": "number", "exclusiveMinimum": 0, "maximum": 20},
    "smoothing_s": number_schema(0, 5),
    "dead_zone": number_schema(0, 0.2),
    "reverse": BOOLEAN,
    "poll_s": number_schema(0.01, 1),
}

CONTROLS_PROPERTIES: Final[dict[str, Any]] = {
    "enabled": BOOLEAN,
    "buttons": {
        "type": "array",
        "items": _object(BUTTON_PROPERTIES, required=["pin"]),
        "maxItems": MAX_BUTTONS,
    },
    "encoder": _object(ENCODER_PROPERTIES),
    "pot": _object(POT_PROPERTIES),
}
"""JSON schema of each ``[controls]`` key."""

LED_PROPERTIES: Final[dict[str, Any]] = {
    "enabled": BOOLEAN,
    "pin": PIN,
    "brightness": number_schema(0, 1),
    "wake_level": number_schema(0, 1),
    "wake_pin": PIN,
    "blink": _object({"level": number_schema(0, 1), "period_s": number_schema(0.2, 5)}),
    "breathing": _object(
        {
            "enabled": BOOLEAN,
            "start_bpm": number_schema(2, 30),
            "end_bpm": number_schema(2, 30),
            "ramp_s": number_schema(0, 7200),
            "duration_s": number_schema(1, 14400),
            "level": number_schema(0, 1),
        }
    ),
}
"""JSON schema of each ``[led]`` key."""

CONTROLS_SECTION: Final = SectionSpec(CONTROLS_PROPERTIES, ControlsConfig)
"""The ``[controls]`` section for :data:`sleepsound.config.SECTIONS`."""

LED_SECTION: Final = SectionSpec(LED_PROPERTIES, LedConfig)
"""The ``[led]`` section for :data:`sleepsound.config.SECTIONS`."""
