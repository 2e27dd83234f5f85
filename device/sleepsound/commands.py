"""The command vocabulary: one parser for every adapter (button, MQTT, socket, CLI).

A command arrives as a JSON object (a ``dict``). :func:`parse_command` checks it and
returns a frozen :class:`Command`; anything wrong raises :class:`CommandError` whose
``field`` names the offending key, so a bad command never reaches the player and
never changes state. Keys may be combined; the setters apply first, then the
optional ``action``::

    {"action": "play", "sound": "rain", "volume": 30, "sleep_timer": 45, "fade": 5}
    {"action": "stop", "fade": 10}      {"action": "toggle"}
    {"action": "next"}  {"action": "previous"}  {"action": "timer_cycle"}
    {"volume": 40}  {"volume_step": -5}  {"sleep_timer": 0}  {"sound": "rain"}
    {"layer": "on" | "off" | "<sound id>"}  {"layer_volume": 25}
    {"output": "headphones"}  {"action": "next_output"}   # named outputs ([outputs.NAME])
    {"action": "status"}                # a query: the state, no change, not a "touch"
    {"action": "snooze"}  {"action": "dismiss"}   # while a wake program runs
    {"preset": "rainy-night"}  {"preset_save": "rainy-night"}  {"preset_remove": "old"}
    {"action": "next_preset"}  {"action": "preset_toggle"}    # presets: sleepsound.favourites
    {"program_add": {"name": "weekday", "kind": "wake", "at": "07:00", ...}}
    {"program_remove": "weekday"}  {"program_enable": "weekday"}  {"program_disable": ...}
    {"program_skip": "weekday"}  {"program_unskip": "weekday"}  {"program_list": true}
    {"skip_next_wake": true}            # whichever wake program is next

A preset key stands alone (with ``transaction``; ``preset`` also takes ``fade``).
A ``program_*`` key goes alone too (with ``transaction`` at most): the daemon's schedule
answers it, with the programs in force in the reply; ``program_add``'s object is
checked by :func:`sleepsound.schedule.parse_program` (here only its shape).

``transaction`` (any JSON scalar) is echoed in the reply. Home Assistant's MQTT
entities send bare values on ``<base>/set/<key>`` (``45``, ``45.0``, ``rain``,
``ON``): :func:`parse_plain` turns one of those into the same :class:`Command`.

Replies are built with :func:`reply_ok` and :func:`reply_error`; when parsing fails,
:func:`transaction_of` still recovers the transaction to echo.

Sounds are named by library id or generator name, never by path: this module only
checks the shape of a name (no ``/``, ``\\``, ``..``, leading ``.``); whether the id
exists is the player's business (it knows the catalogue).
"""

from __future__ import annotations

import difflib
import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

from sleepsound.errors import CommandError

Action = Literal[
    "play",
    "stop",
    "toggle",
    "next",
    "previous",
    "timer_cycle",
    "next_preset",
    "preset_toggle",
    "status",
    "next_output",
    "snooze",
    "dismiss",
]
Transaction = str | int | float | bool

ACTIONS: Final[tuple[Action, ...]] = get_args(Action)
"""Every value ``action`` may take. ``next_preset`` plays the next preset by name;
``preset_toggle`` (the knob's push) is ``next_preset`` while stopped, else ``toggle``."""

FADE_ACTIONS: Final = frozenset({"play", "stop", "toggle"})
"""Actions that accept ``fade`` (fade-in for play, fade-out for stop)."""

SETTERS: Final[tuple[str, ...]] = (
    "sound",
    "volume",
    "volume_step",
    "sleep_timer",
    "layer",
    "layer_volume",
    "output",
)
"""Keys that change a setting; they apply before the action, in this order (``output``
first of all, in fact: the daemon switches, then applies the rest to the new output)."""

PRESET_KEYS: Final[tuple[str, ...]] = ("preset", "preset_save", "preset_remove")
"""Keys naming a preset: play it, save what plays as it, remove it. Each stands alone."""

KEYS: Final[tuple[str, ...]] = ("action", *SETTERS, *PRESET_KEYS, "fade", "transaction")
"""Every key a command object may hold."""

PROGRAM_KEYS: Final[tuple[str, ...]] = (
    "program_add",
    "program_remove",
    "program_enable",
    "program_disable",
    "program_skip",
    "program_unskip",
    "program_list",
    "skip_next_wake",
)
"""Keys of the schedule's edits (each alone in its command): the programs' vocabulary."""

VOLUME_RANGE: Final = (0.0, 100.0)
VOLUME_STEP_RANGE: Final = (-100.0, 100.0)
SLEEP_TIMER_RANGE_MIN: Final = (0.0, 720.0)
MIN_SLEEP_TIMER_MIN: Final = 1.0
TIMER_PRESETS_MIN: Final[tuple[float, ...]] = (15.0, 30.0, 45.0, 60.0, 90.0)
"""What ``timer_cycle`` steps through (then off) unless ``[sleep] presets_min`` says
otherwise: the one owner of that default (the config's default and the LED's count
refer to it)."""
"""The shortest timer: below it (``1e-300``) a timer would end every play at once."""
FADE_RANGE_S: Final = (0.0, 3600.0)
MAX_NAME_CHARS: Final = 64
MAX_TRANSACTION_CHARS: Final = 128

LAYER_ON: Final = "on"
LAYER_OFF: Final = "off"

PLAIN_STATE: Final[Mapping[str, Action]] = {"ON": "play", "OFF": "stop", "TOGGLE": "toggle"}
"""``set/state`` payloads (what a Home Assistant switch sends) and the action each means."""

_OUTPUT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


@dataclass(frozen=True)
class Command:
    """One checked command. ``None`` means "key absent"; numbers are finite floats.

    ``transaction`` is ``None`` when the command had none (a JSON ``null``
    transaction counts as none: there is nothing to match a reply against).
    """

    action: Action | None = None
    sound: str | None = None
    volume: float | None = None
    volume_step: float | None = None
    sleep_timer: float | None = None
    """Minutes; 0 switches the timer off."""
    layer: str | None = None
    """``"on"``, ``"off"`` or a sound id to layer under the main sound."""
    layer_volume: float | None = None
    output: str | None = None
    """A named output (``[outputs.NAME]``) to move the sound to."""
    fade: float | None = None
    """Seconds: fade-in for ``play``, fade-out for ``stop`` (and ``toggle`` either way)."""
    transaction: Transaction | None = None
    preset: str | None = None
    """Play the preset of this name (its settings, then ``play``)."""
    preset_save: str | None = None
    """Save what plays now (or is selected) as the preset of this name."""
    preset_remove: str | None = None
    """Remove the saved preset of this name."""
    program_edit: tuple[str, Any] | None = None
    """A schedule edit: ``(key, value)`` of one of :data:`PROGRAM_KEYS` (the daemon's
    schedule applies it; the player never sees one)."""

    @property
    def is_query(self) -> bool:
        """True for a pure status query: it changes nothing and is no "touch" of a control."""
        return (
            self.action in (None, "status")
            and not self.has_setters
            and not self.names_preset
            and not self.program_edit
        )

    @property
    def names_preset(self) -> bool:
        """True when the command plays, saves or removes a preset."""
        return any(getattr(self, key) is not None for key in PRESET_KEYS)

    def as_object(self) -> dict[str, Any]:
        """The command as the JSON object it came from: its keys in vocabulary order, absent
        ones left out (what a log line or a relay shows, whichever adapter sent it)."""
        values = {key: getattr(self, key) for key in KEYS}
        if self.program_edit is not None:
            values[self.program_edit[0]] = self.program_edit[1]
        return {key: value for key, value in values.items() if value is not None}

    @property
    def has_setters(self) -> bool:
        """True when the command changes at least one setting."""
        return any(getattr(self, key) is not None for key in SETTERS)


def parse_command(raw: object) -> Command:
    """Check a command object (a decoded JSON value) and return it as a :class:`Command`.

    Raises :class:`CommandError` naming the first offending key. Strings are never
    accepted for numbers here (use :func:`parse_plain` for bare MQTT values).
    """
    if not isinstance(raw, Mapping):
        raise CommandError(
            f'a command must be a JSON object such as {{"action": "play"}}, not {type_name(raw)}'
        )
    for key in raw:
        if not isinstance(key, str) or (key not in KEYS and key not in PROGRAM_KEYS):
            hint = did_you_mean(str(key), KEYS + PROGRAM_KEYS)
            raise CommandError(
                f"unknown key {shorten(str(key))!r}{hint}; known: {', '.join(KEYS)}, "
                "and the program_* keys (program_add, program_skip, ...)",
                str(key),
            )
    transaction = _transaction(raw.get("transaction"))
    edits = [key for key in PROGRAM_KEYS if key in raw]
    if edits:
        return Command(program_edit=_program_edit(raw, edits), transaction=transaction)
    action = _action(raw["action"]) if "action" in raw else None
    values: dict[str, Any] = {
        "sound": _name(raw, "sound"),
        "volume": _number(raw, "volume", VOLUME_RANGE, "a number from 0 to 100"),
        "volume_step": _number(raw, "volume_step", VOLUME_STEP_RANGE, "a number from -100 to 100"),
        "sleep_timer": _number(
            raw, "sleep_timer", SLEEP_TIMER_RANGE_MIN, "a number of minutes from 0 (off) to 720"
        ),
        "layer": _name(raw, "layer"),
        "layer_volume": _number(raw, "layer_volume", VOLUME_RANGE, "a number from 0 to 100"),
        "output": _output_name(raw),
        "fade": _number(raw, "fade", FADE_RANGE_S, "a number of seconds from 0 to 3600"),
    }
    presets = {key: _preset_name(raw, key) for key in PRESET_KEYS}
    given = [key for key in (*PRESET_KEYS, "action", *SETTERS) if key in raw]
    if any(presets.values()) and len(given) > 1:
        raise CommandError(
            f"{given[0]} stands alone: send it without {', '.join(given[1:])}", given[1]
        )
    if presets["preset"] is not None and values["fade"] is not None:
        action = "play"  # a preset fades in like play, and takes play's fade
    if values["sleep_timer"] is not None and 0 < values["sleep_timer"] < MIN_SLEEP_TIMER_MIN:
        raise CommandError(
            f"sleep_timer must be 0 (off) or at least {MIN_SLEEP_TIMER_MIN:g} minute",
            "sleep_timer",
        )
    if values["volume"] is not None and values["volume_step"] is not None:
        raise CommandError("give volume or volume_step, not both", "volume_step")
    if values["fade"] is not None and action not in FADE_ACTIONS:
        raise CommandError('fade only goes with "action": "play", "stop" or "toggle"', "fade")
    empty = all(v is None for v in (*values.values(), *presets.values()))
    if not raw or (action is None and empty):
        raise CommandError(
            'the command is empty: give an action (e.g. {"action": "play"}) or a setting '
            f"({', '.join(SETTERS)})"
        )
    if presets["preset"] is not None:
        action = None  # play is implied; kept out so the command reads as it was sent
    return Command(action=action, transaction=transaction, **values, **presets)


def parse_plain(key: str, text: str | bytes) -> Command:
    """Turn a bare value sent on ``<base>/set/<key>`` into a :class:`Command`.

    ``key`` is a command key (``volume``, ``sleep_timer``, ``sound``, ``layer``,
    ``action`` …) or ``state`` with ``ON``/``OFF``/``TOGGLE`` (any case). Numbers may
    be written ``45``, ``45.0`` or ``+5``; NaN and infinity are refused.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise CommandError(f"{key}: the value is not UTF-8 text", key) from None
    value = text.strip()
    if key == "state":
        action = PLAIN_STATE.get(value.upper())
        if action is None:
            raise CommandError(f"state must be ON, OFF or TOGGLE, not {value!r}", "state")
        return parse_command({"action": action})
    if key in ("transaction", "fade"):
        raise CommandError(f"{key} cannot be sent on its own", key)
    if key == "program_add":
        raise CommandError("program_add takes a JSON object: send it on <base>/set", key)
    if key in ("program_list", "skip_next_wake"):
        return parse_command({key: True})  # a button: any payload presses it
    if key in PROGRAM_KEYS:
        return parse_command({key: value})  # a program's name
    if key not in KEYS:
        raise CommandError(_unknown("key", key, (*KEYS[:-2], "state")), key)
    if key in ("action", "sound", "layer", "output", *PRESET_KEYS):
        return parse_command({key: value.lower() if key == "action" else value})
    if not _PLAIN_NUMBER.fullmatch(value):
        raise CommandError(f"{key} must be a number, not {shorten(value)!r}", key)
    number = float(value)
    if not math.isfinite(number):  # 1e999 overflows to inf
        raise CommandError(f"{key} must be a finite number", key)
    return parse_command({key: int(number) if number.is_integer() else number})


def _program_edit(raw: Mapping[str, Any], edits: list[str]) -> tuple[str, Any]:
    """The one ``program_*`` key of ``raw`` and its value, shape-checked."""
    key = edits[0]
    others = [k for k in raw if k not in (key, "transaction")]
    if others:
        raise CommandError(f"{key} goes alone in a command; give {others[0]} in another", key)
    value = raw[key]
    if key == "program_add":
        if not isinstance(value, Mapping):
            raise CommandError(
                f'program_add takes a program object such as {{"name": "weekday", "kind": '
                f'"wake", "at": "07:00", "sound": "birds"}}, not {type_name(value)}',
                key,
            )
        return key, dict(value)
    if key in ("program_list", "skip_next_wake"):
        if value is not True:
            raise CommandError(f"{key} takes true", key)
        return key, True
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME_CHARS:
        raise CommandError(f"{key} takes a program's name (a string), not {type_name(value)}", key)
    return key, value


def transaction_of(raw: object) -> Transaction | None:
    """The valid ``transaction`` of a raw command, or ``None``; never raises.

    Lets an adapter echo the transaction in the error reply of a command that
    failed to parse.
    """
    if not isinstance(raw, Mapping):
        return None
    try:
        return _transaction(raw.get("transaction"))
    except CommandError:
        return None


def reply_ok(
    *, warnings: tuple[str, ...] | list[str] = (), transaction: Transaction | None = None
) -> dict[str, Any]:
    """The reply to an accepted command: ``{"status": "ok"}`` plus warnings and transaction.

    Several warnings are joined with ``"; "`` into the one ``warning`` string.
    """
    reply: dict[str, Any] = {"status": "ok"}
    if warnings:
        reply["warning"] = "; ".join(warnings)
    if transaction is not None:
        reply["transaction"] = transaction
    return reply


def reply_error(
    error: CommandError | str, field: str | None = None, *, transaction: Transaction | None = None
) -> dict[str, Any]:
    """The reply to a refused command: status, the reason, and the offending ``field``.

    ``field`` defaults to the error's own; it is left out when there is none.
    """
    if isinstance(error, CommandError):
        message, field = str(error), field if field is not None else error.field
    else:
        message = error
    reply: dict[str, Any] = {"status": "error", "error": message}
    if field is not None:
        reply["field"] = field
    if transaction is not None:
        reply["transaction"] = transaction
    return reply


def did_you_mean(word: str, choices: tuple[str, ...] | list[str]) -> str:
    """``" (did you mean 'x'?)"`` for the closest of ``choices``, or ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def type_name(value: object) -> str:
    """What a decoded JSON or TOML value is, for a message: ``"a number"``, ``"an array"``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def check_sound_name(value: object, field: str) -> str:
    """Return ``value`` if it is a plausible sound id; else raise :class:`CommandError`.

    Ids are short names, never paths: a command must not be able to make the
    daemon open an arbitrary file.
    """
    if not isinstance(value, str):
        raise CommandError(
            f"{field} must be a sound name (a string), not {type_name(value)}", field
        )
    if not value.strip():
        raise CommandError(f"{field} must not be empty", field)
    if len(value) > MAX_NAME_CHARS:
        raise CommandError(f"{field} is too long (at most {MAX_NAME_CHARS} characters)", field)
    if "/" in value or "\\" in value or ".." in value or value.startswith("."):
        raise CommandError(
            f"{field} names a sound by its id (e.g. 'rain' or 'pink-noise'), not a path",
            field,
        )
    if any(unicodedata.category(ch).startswith("C") for ch in value):
        raise CommandError(f"{field} contains control characters", field)
    return value


# -- helpers ---------------------------------------------------------------------------


def _action(value: object) -> Action:
    if not isinstance(value, str):
        raise CommandError(f"action must be one of {', '.join(ACTIONS)}", "action")
    if value not in ACTIONS:
        raise CommandError(
            f"unknown action {shorten(value)!r}{did_you_mean(value, ACTIONS)}; "
            f"actions are {', '.join(ACTIONS)}",
            "action",
        )
    return value  # type: ignore[return-value]  # narrowed by the membership test


def _name(raw: Mapping[str, object], key: str) -> str | None:
    if key not in raw:
        return None
    return check_sound_name(raw[key], key)


def _output_name(raw: Mapping[str, object]) -> str | None:
    if "output" not in raw:
        return None
    value = raw["output"]
    if not isinstance(value, str) or not _OUTPUT_NAME.fullmatch(value):
        shown = shorten(value) if isinstance(value, str) else type_name(value)
        raise CommandError(
            f"output must be an output name such as 'headphones' (lower-case letters, "
            f"digits, - and _), not {shown!r}",
            "output",
        )
    return value


def _preset_name(raw: Mapping[str, object], key: str) -> str | None:
    """The shape of a preset name; its rules are :func:`sleepsound.favourites.check_name`'s."""
    if key not in raw:
        return None
    value = raw[key]
    if not isinstance(value, str) or not value.strip():
        raise CommandError(f"{key} must be a preset name such as 'rainy-night'", key)
    if len(value) > MAX_NAME_CHARS:
        raise CommandError(f"{key} is too long (at most {MAX_NAME_CHARS} characters)", key)
    if any(unicodedata.category(ch).startswith("C") for ch in value):
        raise CommandError(f"{key} contains control characters", key)
    return value


def _number(
    raw: Mapping[str, object], key: str, bounds: tuple[float, float], expected: str
) -> float | None:
    if key not in raw:
        return None
    value = raw[key]
    # bool is an int in Python but never a number in JSON: true must not mean 1.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CommandError(f"{key} must be {expected}, not {type_name(value)}", key)
    number = float(value)
    low, high = bounds
    if not math.isfinite(number) or not low <= number <= high:
        raise CommandError(f"{key} must be {expected}", key)
    return number


def _transaction(value: object) -> Transaction | None:
    if value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        raise CommandError("transaction must be a finite number or a string", "transaction")
    if isinstance(value, str) and len(value) > MAX_TRANSACTION_CHARS:
        raise CommandError(
            f"transaction is too long (at most {MAX_TRANSACTION_CHARS} characters)",
            "transaction",
        )
    if not isinstance(value, str | int | float | bool):
        raise CommandError(
            f"transaction must be a string, number or boolean, not {type_name(value)}",
            "transaction",
        )
    return value


def _unknown(what: str, word: object, choices: tuple[str, ...]) -> str:
    shown = shorten(str(word))
    return (
        f"unknown {what} {shown!r}{did_you_mean(str(word), choices)}; known: {', '.join(choices)}"
    )


def shorten(text: str, limit: int = 40) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis: echoed input and table cells."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
