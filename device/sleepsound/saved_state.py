"""The settings kept across restarts, as data: :class:`SavedState` and its JSON form.

Pure (text in, state and a warning out; state in, text out): reading and writing
the file is :mod:`sleepsound.statefile`'s business. A field that is missing or
invalid comes back as ``None`` ("use the default") with a warning; a corrupt
document means all defaults and a warning. :func:`loads` never raises.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Final

from sleepsound.commands import MIN_SLEEP_TIMER_MIN, check_sound_name
from sleepsound.errors import CommandError

FORMAT_VERSION: Final = 1
OUTPUT_NAME: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
"""What a named output's name looks like (the config's rule)."""


@dataclass(frozen=True)
class SavedState:
    """The settings worth keeping across restarts; ``None`` means "use the default"."""

    volume: float | None = None
    """The user's volume 0–100 (never the sleep fade's momentary level)."""
    sound: str | None = None
    """The selected sound id."""
    sleep_timer: float | None = None
    """The timer preset in minutes (0 = off)."""
    layer_sound: str | None = None
    layer_volume: float | None = None
    layer_on: bool = False
    output: str | None = None
    """The chosen named output (``volume`` is its volume); ``None``: the default."""
    output_volumes: tuple[tuple[str, float], ...] = ()
    """The other named outputs' volumes, (name, volume) pairs."""


def dumps(state: SavedState) -> str:
    """Serialise ``state`` as a small, human-readable JSON document."""
    document: dict[str, Any] = {
        "version": FORMAT_VERSION,
        "volume": state.volume,
        "sound": state.sound,
        "sleep_timer": state.sleep_timer,
        "layer": {
            "sound": state.layer_sound,
            "volume": state.layer_volume,
            "on": state.layer_on,
        },
        "output": state.output,
        "output_volumes": dict(state.output_volumes),
    }
    return json.dumps(document, indent=2, allow_nan=False) + "\n"


def loads(text: str | bytes) -> tuple[SavedState, str | None]:
    """Parse a saved document; return the state and a warning (``None`` when all was well).

    Never raises: unreadable JSON gives all defaults, an invalid field gives that
    field's default, and the warning says which.
    """
    try:
        document = json.loads(text)
    except (ValueError, UnicodeDecodeError) as error:
        return SavedState(), f"saved state is corrupt ({error}); starting with defaults"
    except RecursionError:  # deep brackets: "never raises" holds for any file
        return SavedState(), "saved state is corrupt (nested too deeply); starting with defaults"
    if not isinstance(document, dict):
        return SavedState(), "saved state is not a JSON object; starting with defaults"
    problems: list[str] = []
    if document.get("version") != FORMAT_VERSION:
        problems.append(f"unknown version {document.get('version')!r}")
    volume = _number(document, "volume", 0.0, 100.0, problems)
    sound = _name(document, "sound", problems)
    sleep_timer = _number(document, "sleep_timer", 0.0, 720.0, problems)
    if sleep_timer is not None and 0 < sleep_timer < MIN_SLEEP_TIMER_MIN:
        # Restored, a timer of 1e-300 minutes would end every later play at once.
        problems.append(f"sleep_timer {sleep_timer:g} is below {MIN_SLEEP_TIMER_MIN:g} minute")
        sleep_timer = None
    layer = document.get("layer")
    layer_sound = layer_volume = None
    layer_on = False
    if isinstance(layer, dict):
        layer_sound = _name(layer, "sound", problems, "layer.")
        layer_volume = _number(layer, "volume", 0.0, 100.0, problems, "layer.")
        on = layer.get("on", False)
        if isinstance(on, bool):
            layer_on = on and layer_sound is not None
        else:
            problems.append("layer.on is not true or false")
    elif layer is not None:
        problems.append("layer is not an object")
    output = _output_name(document.get("output"), "output", problems)
    output_volumes = _output_volumes(document.get("output_volumes"), problems)
    state = SavedState(
        volume, sound, sleep_timer, layer_sound, layer_volume, layer_on, output, output_volumes
    )
    if problems:
        return state, "saved state has problems (defaults used): " + "; ".join(problems)
    return state, None


# -- helpers ---------------------------------------------------------------------------


def _number(
    document: dict[str, Any],
    key: str,
    low: float,
    high: float,
    problems: list[str],
    prefix: str = "",
) -> float | None:
    value = document.get(key)
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        problems.append(f"{prefix}{key} {value!r} is not a number from {low:g} to {high:g}")
        return None
    return float(value)


def _name(document: dict[str, Any], key: str, problems: list[str], prefix: str = "") -> str | None:
    value = document.get(key)
    if value is None:
        return None
    try:
        return check_sound_name(value, prefix + key)
    except CommandError:
        problems.append(f"{prefix}{key} {value!r} is not a sound id")
        return None


_MAX_OUTPUTS: Final = 32


def _output_name(value: object, key: str, problems: list[str]) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and OUTPUT_NAME.fullmatch(value):
        return value
    problems.append(f"{key} {value!r} is not an output name")
    return None


def _output_volumes(value: object, problems: list[str]) -> tuple[tuple[str, float], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict) or len(value) > _MAX_OUTPUTS:
        problems.append("output_volumes is not an object of output names and volumes")
        return ()
    kept = []
    for name in value:
        checked = _output_name(name, "output_volumes name", problems)
        number = _number(value, name, 0.0, 100.0, problems, "output_volumes.")
        if checked is not None and number is not None:
            kept.append((checked, number))
    return tuple(sorted(kept))
