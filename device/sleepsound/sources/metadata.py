"""What we know about a sound besides its samples: sidecar TOML files, validated.

A user file ``Soft Whispers.flac`` may sit next to ``Soft Whispers.toml``::

    title = "Soft whispers by the fire"
    category = "asmr"
    triggers = ["whispering", "personal_attention"]
    voice = "whisper"          # none | whisper | soft_spoken
    spatial = "binaural"       # binaural | stereo | mono_safe
    loop = true
    licence = "CC-BY-4.0"
    author = "Someone"

Every key is optional. A broken sidecar never hides the sound: a field that fails
validation falls back to its default and the problem is reported naming the file.
Parsing is pure (text in, metadata and messages out); reading the file is the
caller's business.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import jsonschema

TRIGGERS: tuple[str, ...] = (
    "whispering",
    "soft_speaking",
    "personal_attention",
    "tapping",
    "scratching",
    "brushing",
    "crinkle",
    "page_turning",
    "typing",
    "mouth_sounds",
    "hair_play",
    "water",
    "rain",
    "waves",
    "wind",
    "fire",
    "fan",
    "noise",
    "binaural",
    "nature",
)
"""Triggers a sound may be tagged with (rotation can be limited to one of them)."""

VOICES: tuple[str, ...] = ("none", "whisper", "soft_spoken")
SPATIALS: tuple[str, ...] = ("binaural", "stereo", "mono_safe")

SIDECAR_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "title": {"type": "string", "minLength": 1, "maxLength": 200},
        "category": {
            "type": "string",
            "pattern": "^[a-z0-9][a-z0-9_-]*$",
            "maxLength": 64,
        },
        "triggers": {
            "type": "array",
            "items": {"enum": list(TRIGGERS)},
        },
        "voice": {"enum": list(VOICES)},
        "spatial": {"enum": list(SPATIALS)},
        "loop": {"type": "boolean"},
        "licence": {"type": "string", "maxLength": 200},
        "author": {"type": "string", "maxLength": 200},
    },
}
"""JSON Schema of a sidecar (TOML parses to the same data model as JSON)."""

_VALIDATOR = jsonschema.Draft202012Validator(SIDECAR_SCHEMA)
_ALIASES = {"license": "licence"}


@dataclass(frozen=True)
class SoundMeta:
    """Descriptive metadata of one sound; every field has a safe default."""

    title: str
    category: str = "user"
    triggers: tuple[str, ...] = ()
    voice: str | None = None
    """``None`` means nobody said (the default for files without a sidecar)."""
    spatial: str = "stereo"
    loop: bool = True
    licence: str | None = None
    author: str | None = None


@dataclass(frozen=True)
class ParsedSidecar:
    """The outcome of parsing a sidecar: the metadata and what was wrong with it."""

    meta: SoundMeta
    problems: tuple[str, ...] = field(default_factory=tuple)


def default_title(stem: str) -> str:
    """Title for a file without one: its stem with ``_`` read as spaces."""
    return " ".join(stem.replace("_", " ").split()) or stem


def parse_sidecar(text: str, name: str, defaults: SoundMeta) -> ParsedSidecar:
    """Parse sidecar TOML ``text`` (from the file called ``name``) over ``defaults``.

    Invalid TOML gives the defaults and one problem; an invalid field or trigger is
    dropped (the default stays) with a problem naming it; unknown keys are reported
    with a guess at what was meant.
    """
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        return ParsedSidecar(
            defaults,
            (f"{name}: not valid TOML ({error}); using defaults. Fix the file or delete it.",),
        )
    return apply_fields(document, name, defaults)


def apply_fields(document: Mapping[str, Any], name: str, defaults: SoundMeta) -> ParsedSidecar:
    """Validate the sidecar fields in ``document`` and lay the valid ones over ``defaults``.

    Keys that are not sidecar fields are reported as unknown; use
    :func:`split_known` first when the document legitimately carries more keys
    (built-in presets do).
    """
    problems: list[str] = []
    data: dict[str, Any] = {}
    for key, value in document.items():
        key = _ALIASES.get(key, key)
        if key in SIDECAR_SCHEMA["properties"]:
            data[key] = value
        else:
            guess = difflib.get_close_matches(key, list(SIDECAR_SCHEMA["properties"]), n=1)
            hint = f" (did you mean '{guess[0]}'?)" if guess else ""
            problems.append(f"{name}: unknown key '{key}' ignored{hint}")

    bad_fields: set[str] = set()
    bad_triggers: set[int] = set()
    for error in _VALIDATOR.iter_errors(data):
        path = list(error.absolute_path)
        if not path:
            continue
        key = str(path[0])
        if key == "triggers" and len(path) == 2 and isinstance(path[1], int):
            bad_triggers.add(path[1])
            problems.append(
                f"{name}: unknown trigger {data['triggers'][path[1]]!r} ignored; "
                f"known triggers: {', '.join(TRIGGERS)}"
            )
        else:
            bad_fields.add(key)
            problems.append(f"{name}: '{key}' {_describe(error)}; using the default")

    values: dict[str, Any] = {}
    for key, value in data.items():
        if key in bad_fields:
            continue
        if key == "triggers":
            kept = [t for i, t in enumerate(value) if i not in bad_triggers]
            value = tuple(dict.fromkeys(kept))  # drop duplicates, keep order
        values[key] = value
    return ParsedSidecar(replace(defaults, **values), tuple(problems))


def split_known(document: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split ``document`` into (sidecar fields, everything else)."""
    known = set(SIDECAR_SCHEMA["properties"]) | set(_ALIASES)
    fields = {k: v for k, v in document.items() if k in known}
    rest = {k: v for k, v in document.items() if k not in known}
    return fields, rest


def _describe(error: jsonschema.ValidationError) -> str:
    """A short human reason for a schema error."""
    if error.validator == "enum":
        return "must be one of " + ", ".join(repr(v) for v in error.validator_value)
    if error.validator == "type":
        return f"must be a {error.validator_value}, not {error.instance!r}"
    if error.validator == "pattern":
        return "must be lower-case letters, digits, '-' or '_'"
    return str(error.message)
