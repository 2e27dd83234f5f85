"""Presets (favourites): named mixes a user saves and plays again by name. Pure.

A :class:`Preset` is what the ``sound`` command key takes (a library id, or a built-in
with parameters such as ``rain:spells=true``), a volume, a layer (sound and level, or
none) and a sleep timer. Users say "preset"; the module is named ``favourites``
because :mod:`sleepsound.sources.presets` already means built-in sound descriptions.

Two places hold presets:

* the config's ``[presets.NAME]`` tables (:func:`from_table`, checked by
  :mod:`sleepsound.config`): fixed while the daemon runs; a runtime remove refuses them;
* runtime saves (``{"preset_save": "NAME"}``), kept in the player's state and written
  to ``presets.json`` beside the state file by the shell (:class:`StorePresets`, then
  :mod:`sleepsound.favourites_store`). A runtime save may take a config preset's
  name: it overrides it until removed.

:func:`merged` is the one view every reader uses (names sorted, the runtime preset
winning a tie); :func:`find`, :func:`following` and :func:`snapshot` are the rules the
player calls; :func:`dumps` / :func:`loads` the file format (``loads`` never raises).
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from sleepsound.commands import check_sound_name, did_you_mean, shorten, type_name
from sleepsound.errors import CommandError

MAX_PRESET_NAME_CHARS: Final = 32
MAX_PRESETS: Final = 64
"""A select of more than this is no use on a phone; a save past it is refused."""
NAME_PATTERN: Final = r"^[a-z0-9]+(-[a-z0-9]+)*$"
"""Like the library's ids: lower-case letters and digits, words joined by single dashes."""
FILE_FORMAT_VERSION: Final = 1
PRESET_KEYS: Final = ("sound", "volume", "layer", "layer_volume", "sleep_timer")
"""The keys of a ``[presets.NAME]`` table and of a stored preset."""
PRESET_TOGGLE: Final = "preset_toggle"
NEXT_PRESET: Final = "next_preset"

_NAME = re.compile(NAME_PATTERN)
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class Preset:
    """One named mix. ``None`` keeps the current setting, except ``layer``: none = no layer."""

    sound: str
    """What the ``sound`` command key takes: ``rain``, ``rain:spells=true``."""
    volume: float | None = None
    layer: str | None = None
    """The layer's sound; ``None`` plays without a layer."""
    layer_volume: float | None = None
    sleep_timer: float | None = None
    """Minutes, 0 = off."""

    def as_command(self) -> dict[str, Any]:
        """The command object that plays this preset (setters, then ``play``)."""
        command: dict[str, Any] = {"action": "play", "sound": self.sound}
        command["layer"] = self.layer if self.layer is not None else "off"
        for key in ("volume", "layer_volume", "sleep_timer"):
            value = getattr(self, key)
            if value is not None:
                command[key] = value
        return command

    def as_table(self) -> dict[str, Any]:
        """The preset as a JSON/TOML table: its keys, unset ones left out."""
        values = {key: getattr(self, key) for key in PRESET_KEYS}
        return {key: _plain(value) for key, value in values.items() if value is not None}


Presets = tuple[tuple[str, Preset], ...]
"""Named presets as sorted (name, preset) pairs: immutable, comparable, JSON-free."""


# -- names -------------------------------------------------------------------------------


def check_name(value: object, field: str = "preset") -> str:
    """Return ``value`` if it is a valid preset name; else raise :class:`CommandError`."""
    if not isinstance(value, str):
        raise CommandError(
            f"{field} must be a preset name (a string), not {type_name(value)}", field
        )
    if not value:
        raise CommandError(f"{field} must not be empty", field)
    if len(value) > MAX_PRESET_NAME_CHARS:
        raise CommandError(
            f"{field} {shorten(value)!r} is too long (at most {MAX_PRESET_NAME_CHARS} characters)",
            field,
        )
    if not _NAME.match(value):
        suggestion = suggest_name(value)
        hint = f" (e.g. {suggestion!r})" if suggestion else ""
        raise CommandError(
            f"{field} {shorten(value)!r} is not a preset name: use lower-case letters, digits "
            f"and single dashes{hint}",
            field,
        )
    return value


def suggest_name(text: str) -> str | None:
    """A valid name close to ``text`` (``Rainy Night`` -> ``rainy-night``), or ``None``."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = _NOT_ALNUM.sub("-", folded.lower()).strip("-")[:MAX_PRESET_NAME_CHARS].rstrip("-")
    return slug or None


# -- the merged view and the rules the player uses -------------------------------------------


def merged(config: Mapping[str, Preset], runtime: Presets) -> dict[str, Preset]:
    """Every preset by name, sorted; a runtime save overrides a config preset's name."""
    everything = {**config, **dict(runtime)}
    return {name: everything[name] for name in sorted(everything)}


def names(config: Mapping[str, Preset], runtime: Presets) -> list[str]:
    """The presets' names, sorted (the status document's ``presets``)."""
    return list(merged(config, runtime))


def find(name: str, config: Mapping[str, Preset], runtime: Presets) -> Preset:
    """The preset ``name``; unknown raises :class:`CommandError` with a did-you-mean."""
    known = merged(config, runtime)
    if name in known:
        return known[name]
    raise CommandError(f"unknown preset {name!r}{did_you_mean(name, list(known))}", "preset")


def following(current: str | None, config: Mapping[str, Preset], runtime: Presets) -> str:
    """The preset after ``current`` in name order (the first after the last, or from none)."""
    known = names(config, runtime)
    if not known:
        raise CommandError(
            "there are no presets yet: save one with `sleepsound ctl preset save NAME` "
            "(or add [presets.NAME] to the config)",
            "action",
        )
    later = [name for name in known if current is not None and name > current]
    return later[0] if later else known[0]


def snapshot(
    sound: str | None,
    volume: float,
    layer_sound: str | None,
    layer_on: bool,
    layer_volume: float,
    sleep_timer: float,
) -> Preset:
    """What a save stores: the selected sound and its settings (the layer only while on)."""
    if sound is None:
        raise CommandError(
            "there is nothing to save: no sound is selected (the library is empty)", "preset_save"
        )
    return Preset(
        sound=sound,
        volume=volume,
        layer=layer_sound if layer_on else None,
        layer_volume=layer_volume,
        sleep_timer=sleep_timer,
    )


def save(name: str, preset: Preset, runtime: Presets) -> Presets:
    """``runtime`` with ``name`` set to ``preset`` (refused past :data:`MAX_PRESETS`)."""
    current = dict(runtime)
    if name not in current and len(current) >= MAX_PRESETS:
        raise CommandError(
            f"there are already {MAX_PRESETS} saved presets; remove one first", "preset_save"
        )
    current[name] = preset
    return tuple(sorted(current.items()))


def save_as(
    name: str, mix: Preset, config: Mapping[str, Preset], runtime: Presets
) -> tuple[Presets, list[str]]:
    """``runtime`` with ``mix`` saved as ``name`` (checked), and a warning when it
    overrides a config preset of that name."""
    presets = save(check_name(name, "preset_save"), mix, runtime)
    return presets, [f"overrides the config's [presets.{name}]"] if name in config else []


def remove(name: str, config: Mapping[str, Preset], runtime: Presets) -> tuple[Presets, list[str]]:
    """``runtime`` without ``name``, and a warning when a config preset shows again.

    A preset that only the config has cannot be removed at runtime; an unknown name is
    refused with a did-you-mean.
    """
    current = dict(runtime)
    if name not in current:
        if name in config:
            raise CommandError(
                f"preset {name!r} is written in the config ([presets.{name}]); "
                "remove it there and reload (`systemctl reload sleepsound`)",
                "preset_remove",
            )
        known = merged(config, runtime)
        raise CommandError(
            f"unknown preset {name!r}{did_you_mean(name, list(known))}", "preset_remove"
        )
    del current[name]
    warnings = (
        [f"the saved preset {name!r} is removed; the config's [presets.{name}] applies again"]
        if name in config
        else []
    )
    return tuple(sorted(current.items())), warnings


def effective_action(action: str | None, audible: bool, has_presets: bool) -> str | None:
    """What ``preset_toggle`` (the knob's push) means now; other actions are themselves.

    Stopped (or fading out) with presets: the next preset. Playing, or with no preset at
    all: the plain ``toggle``, so the push works the same on a box nobody set up.
    """
    if action != PRESET_TOGGLE:
        return action
    return NEXT_PRESET if has_presets and not audible else "toggle"


# -- tables: the config and the file share one reading ----------------------------------------


def from_table(name: str, table: object, where: str) -> Preset:
    """Read one preset table; raise :class:`CommandError` naming ``where.key`` on a fault."""
    check_name(name, where)
    if not isinstance(table, Mapping):
        raise CommandError(f"{where}: must be a table of {', '.join(PRESET_KEYS)}", where)
    for key in table:
        if key not in PRESET_KEYS:
            raise CommandError(
                f"{where}.{key}: unknown key{did_you_mean(str(key), PRESET_KEYS)}; "
                f"a preset takes {', '.join(PRESET_KEYS)}",
                where,
            )
    if "sound" not in table:
        raise CommandError(f'{where}.sound: a preset needs a sound (e.g. sound = "rain")', where)
    return Preset(
        sound=_sound(table["sound"], f"{where}.sound"),
        volume=_number(table, "volume", where, 0.0, 100.0),
        layer=_sound(table["layer"], f"{where}.layer") if "layer" in table else None,
        layer_volume=_number(table, "layer_volume", where, 0.0, 100.0),
        sleep_timer=_timer(table, where),
    )


def dumps(runtime: Presets) -> str:
    """The ``presets.json`` text of the runtime presets."""
    document = {
        "version": FILE_FORMAT_VERSION,
        "presets": {name: preset.as_table() for name, preset in runtime},
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def loads(data: bytes | str) -> tuple[Presets, list[str]]:
    """Read ``presets.json``: the presets and a warning per fault; never raises.

    A file that is not a presets document gives no presets and one warning (the shell
    sets the file aside); one bad preset is dropped, the others kept.
    """
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:
        return (), [f"not valid JSON ({error})"]
    if not isinstance(document, Mapping) or not isinstance(document.get("presets"), Mapping):
        return (), ['not a presets file (no "presets" object)']
    found: dict[str, Preset] = {}
    warnings: list[str] = []
    for name, table in document["presets"].items():
        try:
            found[name] = from_table(name, table, f"presets.{name}")
        except CommandError as error:
            warnings.append(f"{error}; that preset is dropped")
    return tuple(sorted(found.items())), warnings


# -- helpers ---------------------------------------------------------------------------------


def _sound(value: object, where: str) -> str:
    return check_sound_name(value, where)  # the shape check every command's sound gets


def _number(
    table: Mapping[str, Any], key: str, where: str, low: float, high: float
) -> float | None:
    if key not in table:
        return None
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CommandError(f"{where}.{key}: must be a number from {low:g} to {high:g}", where)
    number = float(value)
    if not math.isfinite(number) or not low <= number <= high:
        raise CommandError(f"{where}.{key}: must be a number from {low:g} to {high:g}", where)
    return number


def _timer(table: Mapping[str, Any], where: str) -> float | None:
    minutes = _number(table, "sleep_timer", where, 0.0, 720.0)
    if minutes is not None and 0 < minutes < 1:
        raise CommandError(f"{where}.sleep_timer: use 0 (off) or 1 to 720 minutes", where)
    return minutes


def _plain(value: object) -> object:
    return int(value) if isinstance(value, float) and value.is_integer() else value


@dataclass(frozen=True)
class StorePresets:
    """Effect: the runtime presets changed; write them to ``presets.json`` now."""

    presets: Presets


__all__ = [
    "MAX_PRESETS",
    "MAX_PRESET_NAME_CHARS",
    "NAME_PATTERN",
    "NEXT_PRESET",
    "PRESET_KEYS",
    "PRESET_TOGGLE",
    "Preset",
    "Presets",
    "StorePresets",
    "check_name",
    "dumps",
    "effective_action",
    "find",
    "following",
    "from_table",
    "loads",
    "merged",
    "names",
    "remove",
    "save",
    "save_as",
    "snapshot",
    "suggest_name",
]
