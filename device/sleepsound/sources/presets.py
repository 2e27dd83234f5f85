"""Built-in sounds, each described by a preset file ``sounds/<id>.toml``.

A preset carries the same descriptive fields as a user sidecar (title, category,
triggers, spatial, ...) plus what renders it::

    title = "Rain"
    category = "nature"
    triggers = ["rain", "water"]
    description = "Steady rain on leaves, drops left and right."
    texture = "rain"            # a procedural texture engine ...
    # generator = "pink-noise"  # ... or one of the noise/binaural generators

    [parameters]                # read by the texture engine
    drops_per_s = 90

The id is the file name without ``.toml``. The files live in ``sounds/`` at the top
of the checkout; the package reaches them as ``sleepsound/builtin_sounds`` (a link
to that folder, copied into wheels as package data), found through
:mod:`importlib.resources`, so source checkouts, editable installs and wheels all
have them. ``SLEEPSOUND_PRESETS_DIR`` points elsewhere (tests, packagers).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from sleepsound.errors import UnknownSoundError
from sleepsound.sources.metadata import SoundMeta, apply_fields, split_known
from sleepsound.sources.slug import is_valid_id

GENERATORS: tuple[str, ...] = (
    "white-noise",
    "pink-noise",
    "brown-noise",
    "binaural-delta",
    "binaural-theta",
)
"""Generator names the engine opens itself (the ids `sleepsound sounds` lists for them)."""

BUILTIN_SOUNDS = "builtin_sounds"
"""The presets' folder inside the ``sleepsound`` package."""

EngineKind = Literal["texture", "generator"]
_PRESET_KEYS = {"texture", "generator", "parameters", "description"}


@dataclass(frozen=True)
class Preset:
    """One built-in sound: its metadata and how to render it."""

    id: str
    meta: SoundMeta
    kind: EngineKind
    engine: str
    """Texture engine (``rain``, ``surf`` ...) or generator name (``pink-noise``)."""
    parameters: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    path: Path | None = None

    @property
    def spec(self) -> str:
        """The source spec the engine opens: the generator name or the texture id."""
        return self.engine if self.kind == "generator" else self.id


@dataclass(frozen=True)
class PresetSet:
    """Every built-in preset that loaded, and why any did not."""

    presets: tuple[Preset, ...]
    problems: tuple[str, ...] = ()

    def by_id(self) -> dict[str, Preset]:
        """The presets keyed by id."""
        return {p.id: p for p in self.presets}


def presets_dir() -> Path:
    """The folder holding the built-in presets (``SLEEPSOUND_PRESETS_DIR`` if set)."""
    override = os.environ.get("SLEEPSOUND_PRESETS_DIR")
    if override:
        return Path(override)
    return Path(str(resources.files("sleepsound").joinpath(BUILTIN_SOUNDS)))


def parse_preset(text: str, preset_id: str, name: str) -> tuple[Preset, tuple[str, ...]]:
    """Parse one preset's TOML ``text``; ``name`` is used in messages.

    Raises :class:`UnknownSoundError` when the preset cannot describe a sound at
    all (bad TOML, no engine); metadata problems degrade to defaults and are
    returned alongside.
    """
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise UnknownSoundError(f"{name}: not valid TOML ({error})") from error
    fields, rest = split_known(document)
    unknown = sorted(set(rest) - _PRESET_KEYS)
    problems = [f"{name}: unknown key '{k}' ignored" for k in unknown]
    texture, generator = rest.get("texture"), rest.get("generator")
    if (texture is None) == (generator is None):
        raise UnknownSoundError(f"{name}: give exactly one of 'texture' or 'generator'")
    if generator is not None and generator not in GENERATORS:
        raise UnknownSoundError(
            f"{name}: unknown generator {generator!r}; known: {', '.join(GENERATORS)}"
        )
    parameters = rest.get("parameters", {})
    if not isinstance(parameters, dict):
        raise UnknownSoundError(f"{name}: [parameters] must be a table")
    defaults = SoundMeta(title=preset_id.replace("-", " ").capitalize(), category="builtin")
    parsed = apply_fields(fields, name, defaults)
    kind: EngineKind = "texture" if texture is not None else "generator"
    engine = str(texture if texture is not None else generator)
    preset = Preset(
        id=preset_id,
        meta=parsed.meta,
        kind=kind,
        engine=engine,
        parameters=dict(parameters),
        description=str(rest.get("description", "")),
    )
    return preset, tuple(problems) + parsed.problems


def load_preset_file(path: Path) -> tuple[Preset, tuple[str, ...]]:
    """Read and parse the preset at ``path`` (its id is the file stem)."""
    preset_id = path.stem
    if not is_valid_id(preset_id):
        raise UnknownSoundError(f"{path}: preset file names must be ids like 'ocean-surf'")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UnknownSoundError(f"{path}: cannot read preset ({error})") from error
    preset, problems = parse_preset(text, preset_id, str(path))
    return replace(preset, path=path), problems


def load_presets(directory: Path | None = None) -> PresetSet:
    """Load every ``*.toml`` preset in ``directory`` (default :func:`presets_dir`)."""
    directory = directory or presets_dir()
    presets: list[Preset] = []
    problems: list[str] = []
    for path in sorted(directory.glob("*.toml")):
        try:
            preset, found = load_preset_file(path)
        except UnknownSoundError as error:
            problems.append(f"{error}; preset skipped")
            continue
        presets.append(preset)
        problems.extend(found)
    return PresetSet(tuple(presets), tuple(problems))


def find_preset(preset_id: str, directory: Path | None = None) -> Preset:
    """Return the built-in preset called ``preset_id`` or raise :class:`UnknownSoundError`."""
    directory = directory or presets_dir()
    path = directory / f"{preset_id}.toml"
    if not is_valid_id(preset_id) or not path.is_file():
        known = ", ".join(p.stem for p in sorted(directory.glob("*.toml")))
        raise UnknownSoundError(f"no built-in sound {preset_id!r}; built-in sounds: {known}")
    return load_preset_file(path)[0]
