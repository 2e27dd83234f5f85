"""Pure: what a program is, and the one parser that checks one.

A program is a ``[[programs]]`` table in the config or the object of a runtime
``program`` command; both go through :func:`parse_program`, so a key means the same
and is refused with the same words wherever it is written. Every problem of a table
is collected (each naming its key) before :class:`~sleepsound.errors.ProgramError`
is raised.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time
from typing import Any, Final, Literal

from sleepsound.commands import check_sound_name, did_you_mean, type_name
from sleepsound.errors import CommandError, ProgramError

Kind = Literal["bedtime", "wake"]
KINDS: Final = ("bedtime", "wake")

DAY_NAMES: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Weekday names in ``days``, in :meth:`datetime.date.weekday` order (0 = Monday)."""
DAY_SETS: Final[Mapping[str, frozenset[int]]] = {
    "daily": frozenset(range(7)),
    "weekdays": frozenset(range(5)),
    "weekends": frozenset({5, 6}),
}

DEFAULT_BEDTIME_FADE_MIN: Final = 1.0
"""A bedtime program fades in over a minute: slow enough not to startle, short enough
that the sound is there when the sleeper lies down."""
DEFAULT_WAKE_FADE_MIN: Final = 20.0
"""A wake rises over 20 minutes (sunrise lamps use 20–60): gentle, still short enough
that a sleeper in light sleep is not kept in a half-wake for an hour."""
MAX_FADE_MIN: Final = 120.0
MAX_TIMER_MIN: Final = 720.0
MAX_THEN_AFTER_MIN: Final = 120.0
MAX_SNOOZE_MIN: Final = 60.0
MAX_NAME_CHARS: Final = 40

_DAY_WORDS: Final[Mapping[str, int]] = {
    **{name: index for index, name in enumerate(DAY_NAMES)},
    **{
        name: index
        for index, name in enumerate(
            ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
        )
    },
}
"""What ``days`` accepts for one day: ``"mon"`` or ``"monday"``, any case."""

_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _-]*$")
_AT: Final = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")

KEYS: Final = (
    "name",
    "kind",
    "at",
    "days",
    "preset",
    "sound",
    "volume",
    "layer",
    "layer_volume",
    "fade_min",
    "timer_min",
    "enabled",
    "snooze_min",
    "then_after_min",
    "then_volume",
    "then_sound",
)
"""Every key a program takes (the config's ``[[programs]]`` and the command's object)."""


@dataclass(frozen=True)
class Program:
    """One bedtime or wake program, checked. Build it with :func:`parse_program`."""

    name: str
    """Unique among programs; what commands, events and Home Assistant call it."""
    kind: Kind
    """``"bedtime"``: starts at ``at`` with a fade-in and a sleep timer. ``"wake"``:
    rises over ``fade_min`` so that it reaches ``volume`` exactly at ``at``."""
    at: time
    """Local wall-clock time (``"HH:MM"``), in ``[schedule] timezone``."""
    days: frozenset[int]
    """Weekdays it runs on (0 = Monday); for a wake, the day of ``at``."""
    preset: str | None = None
    """A preset to play (exactly one of ``preset`` and ``sound``)."""
    sound: str | None = None
    """A sound id to play (exactly one of ``preset`` and ``sound``)."""
    volume: float | None = None
    """0–100; for a wake the volume reached at ``at``. Unset: the preset's, or the
    device's current volume. Never above ``[audio] max_volume``."""
    layer: str | None = None
    """A second sound under the first (with ``sound``)."""
    layer_volume: float | None = None
    """The layer's level 0–100."""
    fade_min: float = DEFAULT_BEDTIME_FADE_MIN
    """Bedtime: the fade-in; wake: the rise before ``at`` (defaults: 1 and 20)."""
    timer_min: float | None = None
    """Bedtime only: its sleep timer (0 = none; unset = the preset's or ``[sleep]``)."""
    enabled: bool = True
    """A disabled program never fires (and is kept)."""
    snooze_min: float | None = None
    """Wake only: how long a snooze lasts; unset = ``[schedule] snooze_min``."""
    then_after_min: float | None = None
    """Wake only: minutes after ``at`` for the "get up" phase (with ``then_volume``
    and/or ``then_sound``)."""
    then_volume: float | None = None
    then_sound: str | None = None

    def snooze_or(self, default_min: float) -> float:
        """The snooze length: this program's, else ``default_min`` (``[schedule]``)."""
        return self.snooze_min if self.snooze_min is not None else default_min


def parse_program(raw: object) -> Program:
    """Check one program (a TOML table or a command's JSON object) and build it.

    Raises :class:`~sleepsound.errors.ProgramError` listing every problem, each with
    its key (``at``, ``days[1]``, ``volume``...).
    """
    if not isinstance(raw, Mapping):
        raise ProgramError([("", f"a program must be a table/object, not {type_name(raw)}")])
    problems: list[tuple[str, str]] = []
    for key in raw:
        if key not in KEYS:
            hint = did_you_mean(str(key), KEYS)
            problems.append(
                (str(key), f"unknown key{hint or '; programs take ' + ', '.join(KEYS)}")
            )
    reader = _Reader(raw, problems)
    name = reader.name()
    kind = reader.kind()
    at = reader.at()
    days = reader.days()
    preset = reader.sound_name("preset")
    sound = reader.sound_name("sound")
    if "preset" not in raw and "sound" not in raw:
        problems.append(("sound", 'give a sound ("rain") or a preset to play'))
    elif "preset" in raw and "sound" in raw:
        problems.append(("preset", "give a preset or a sound, not both"))
    volume = reader.number("volume", 0, 100)
    layer = reader.sound_name("layer")
    layer_volume = reader.number("layer_volume", 0, 100)
    fade_min = reader.number("fade_min", 0, MAX_FADE_MIN)
    timer_min = reader.number("timer_min", 0, MAX_TIMER_MIN)
    if timer_min is not None and 0 < timer_min < 1:
        problems.append(
            ("timer_min", f"{timer_min:g} is below 1 minute; use 0 (no timer) or 1 to 720")
        )
    enabled = reader.boolean("enabled")
    snooze_min = reader.number("snooze_min", 1, MAX_SNOOZE_MIN)
    then_after_min = reader.number("then_after_min", 1, MAX_THEN_AFTER_MIN)
    then_volume = reader.number("then_volume", 0, 100)
    then_sound = reader.sound_name("then_sound")
    if kind == "wake":
        if "timer_min" in raw:
            problems.append(("timer_min", "only bedtime programs take a sleep timer; remove it"))
        if "then_after_min" in raw and "then_volume" not in raw and "then_sound" not in raw:
            problems.append(
                ("then_after_min", "give then_volume and/or then_sound for the second phase")
            )
        if "then_after_min" not in raw and ("then_volume" in raw or "then_sound" in raw):
            key = "then_volume" if "then_volume" in raw else "then_sound"
            problems.append((key, "the second phase needs then_after_min (minutes after at)"))
    elif kind == "bedtime":
        for key in ("snooze_min", "then_after_min", "then_volume", "then_sound"):
            if key in raw:
                problems.append((key, 'only wake programs take it; remove it or make kind "wake"'))
    if "layer_volume" in raw and "layer" not in raw:
        problems.append(("layer_volume", "goes with layer (the sound to layer); add it"))
    if problems:
        raise ProgramError(problems)
    assert name is not None and kind is not None and at is not None and days is not None
    default_fade = DEFAULT_WAKE_FADE_MIN if kind == "wake" else DEFAULT_BEDTIME_FADE_MIN
    return Program(
        name=name,
        kind=kind,
        at=at,
        days=days,
        preset=preset,
        sound=sound,
        volume=volume,
        layer=layer,
        layer_volume=layer_volume,
        fade_min=default_fade if fade_min is None else fade_min,
        timer_min=timer_min,
        enabled=True if enabled is None else enabled,
        snooze_min=snooze_min,
        then_after_min=then_after_min,
        then_volume=then_volume,
        then_sound=then_sound,
    )


def program_to_dict(program: Program) -> dict[str, Any]:
    """The program as the table :func:`parse_program` reads back (store, JSON replies)."""
    days = sorted(program.days)
    named = next((word for word, group in DAY_SETS.items() if group == program.days), None)
    out: dict[str, Any] = {
        "name": program.name,
        "kind": program.kind,
        "at": program.at.strftime("%H:%M"),
        "days": named or [DAY_NAMES[d] for d in days],
        "fade_min": program.fade_min,
        "enabled": program.enabled,
    }
    for key in KEYS:
        if key in out:
            continue
        value = getattr(program, key)
        if value is not None:
            out[key] = value
    return out


def days_text(days: frozenset[int]) -> str:
    """``"daily"``, ``"weekdays"``, ``"weekends"`` or ``"mon,thu"``: for listings."""
    named = next((word for word, group in DAY_SETS.items() if group == days), None)
    return named or ",".join(DAY_NAMES[d] for d in sorted(days))


class _Reader:
    """Reads one key at a time from a raw table, noting problems instead of raising."""

    def __init__(self, raw: Mapping[str, Any], problems: list[tuple[str, str]]) -> None:
        self.raw = raw
        self.problems = problems

    def _fail(self, key: str, message: str) -> None:
        self.problems.append((key, message))

    def name(self) -> str | None:
        value = self.raw.get("name")
        if value is None:
            self._fail("name", 'every program needs a name, e.g. name = "school days"')
            return None
        if not isinstance(value, str):
            self._fail("name", f"must be text in quotes, not {type_name(value)}")
            return None
        if len(value) > MAX_NAME_CHARS or not _NAME.match(value):
            self._fail(
                "name",
                f"{value[: MAX_NAME_CHARS + 1]!r} is not a program name (1–{MAX_NAME_CHARS} "
                "letters, digits, spaces, - and _, starting with a letter or digit)",
            )
            return None
        return value

    def kind(self) -> Kind | None:
        value = self.raw.get("kind")
        if value is None:
            self._fail("kind", 'every program needs a kind: "bedtime" or "wake"')
            return None
        if value not in KINDS:
            shown = value if isinstance(value, str) else type_name(value)
            hint = did_you_mean(value, KINDS) if isinstance(value, str) else ""
            self._fail("kind", f'{shown!r} is not "bedtime" or "wake"{hint}')
            return None
        return value  # type: ignore[no-any-return]  # one of KINDS

    def at(self) -> time | None:
        value = self.raw.get("at")
        if value is None:
            self._fail("at", 'every program needs a time, e.g. at = "07:00"')
            return None
        if isinstance(value, time) and value.second == 0 and value.microsecond == 0:
            return value.replace(tzinfo=None)  # TOML's own time literal: at = 07:00:00
        match = _AT.match(value) if isinstance(value, str) else None
        if match is None:
            shown = repr(value) if isinstance(value, str) else type_name(value)
            self._fail("at", f'{shown} is not a time of day "HH:MM" (00:00 to 23:59)')
            return None
        return time(int(match.group(1)), int(match.group(2)))

    def days(self) -> frozenset[int] | None:
        value = self.raw.get("days", "daily")
        if isinstance(value, str):
            if value in DAY_SETS:
                return DAY_SETS[value]
            if value in DAY_NAMES:
                return frozenset({DAY_NAMES.index(value)})
            hint = did_you_mean(value, [*DAY_SETS, *DAY_NAMES])
            self._fail(
                "days",
                f'{value!r} is not "daily", "weekdays", "weekends" or a list of days '
                f'like ["mon", "thu"]{hint}',
            )
            return None
        if not isinstance(value, list | tuple) or not value:
            self._fail(
                "days",
                f'must be "daily", "weekdays", "weekends" or a non-empty list like '
                f'["mon", "thu"], not {type_name(value) if value != [] else "an empty list"}',
            )
            return None
        days: set[int] = set()
        for index, item in enumerate(value):
            day = _DAY_WORDS.get(item.lower()) if isinstance(item, str) else None
            if day is not None:
                days.add(day)
            else:
                shown = repr(item) if isinstance(item, str) else type_name(item)
                hint = did_you_mean(item, DAY_NAMES) if isinstance(item, str) else ""
                self._fail(f"days[{index}]", f"{shown} is not a day (mon … sun){hint}")
        return frozenset(days) if days else None

    def sound_name(self, key: str) -> str | None:
        if key not in self.raw:
            return None
        try:
            return check_sound_name(self.raw[key], key)
        except CommandError as error:
            message = str(error)
            self._fail(key, message[len(key) + 1 :] if message.startswith(key + " ") else message)
            return None

    def number(self, key: str, low: float, high: float) -> float | None:
        if key not in self.raw:
            return None
        value = self.raw[key]
        unit = " of minutes" if key.endswith("_min") else ""
        wanted = f"a number{unit} from {low:g} to {high:g}"
        if isinstance(value, bool) or not isinstance(value, int | float):
            self._fail(key, f"must be {wanted}, not {type_name(value)}")
            return None
        if not math.isfinite(value) or not low <= value <= high:
            self._fail(key, f"must be {wanted}, not {value}")
            return None
        return float(value)

    def boolean(self, key: str) -> bool | None:
        if key not in self.raw:
            return None
        value = self.raw[key]
        if not isinstance(value, bool):
            self._fail(key, f"must be true or false (without quotes), not {type_name(value)}")
            return None
        return value


__all__ = [
    "DAY_NAMES",
    "DAY_SETS",
    "DEFAULT_BEDTIME_FADE_MIN",
    "DEFAULT_WAKE_FADE_MIN",
    "KEYS",
    "KINDS",
    "Kind",
    "Program",
    "days_text",
    "parse_program",
    "program_to_dict",
]
