"""The built-in sounds by id: which engine renders a preset, and opening one as it is.

Kept apart from :mod:`sleepsound.sources.textures` (the engines) and
:mod:`sleepsound.sources.whispers` (the voices, built on those engines), so that
the registry imports both and neither imports the other back.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from sleepsound.errors import UnknownSoundError
from sleepsound.sources.base import Source
from sleepsound.sources.generators import is_generator, open_generator, parse_spec
from sleepsound.sources.presets import Preset, find_preset, load_presets, presets_dir
from sleepsound.sources.textures import Brushing, Fan, Paper, Rain, Surf, Tapping, Texture
from sleepsound.sources.whispers import Attention, Whispers

ENGINES: dict[str, type[Texture]] = {
    cls.engine: cls for cls in (Rain, Surf, Fan, Tapping, Brushing, Paper, Whispers, Attention)
}
"""Texture engines by the name presets use in ``texture = "..."``."""


def texture_ids(directory: Path | None = None) -> list[str]:
    """Ids of the built-in textures (presets whose ``texture`` is a known engine)."""
    found = load_presets(directory)
    return [p.id for p in found.presets if p.kind == "texture" and p.engine in ENGINES]


def builtin_sound_ids(directory: Path | None = None) -> list[str]:
    """Ids of every built-in sound: textures and the generator presets."""
    return [p.id for p in load_presets(directory).presets]


def find_texture(spec: str) -> Preset | None:
    """The built-in texture preset ``spec`` names, or None (parsed once, to be opened).

    ``spec`` is an id, optionally with parameters (``rain:move=ear-to-ear,speed=8``),
    which override the preset's (see :func:`with_spec_parameters`).
    """
    name = spec.partition(":")[0].strip()
    path = presets_dir() / f"{name}.toml"
    if "/" in name or not name or not path.is_file():
        return None
    try:
        preset = find_preset(name)
    except UnknownSoundError:
        return None
    return with_spec_parameters(preset, spec) if preset.kind == "texture" else None


def with_spec_parameters(preset: Preset, spec: str) -> Preset:
    """``preset`` with the ``key=value`` parameters of ``spec`` in place of its own.

    Values are read as TOML would type them: ``true``/``false``, numbers, else text.
    Messages about the result then name the spec, not the preset file. Raises
    :class:`ParameterError` for a malformed parameter list.
    """
    _, given = parse_spec(spec)
    if not given:
        return preset
    typed = {key: _typed(value) for key, value in given.items()}
    return replace(preset, parameters={**preset.parameters, **typed}, path=None)


def _typed(text: str) -> bool | float | str:
    """A spec value as TOML would have it: a bool, a number or the text itself."""
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        value = float(text)
    except ValueError:
        return text
    return value if math.isfinite(value) else text


def open_texture(
    preset_or_id: Preset | str, rate: int, channels: int, seed: int | None = None
) -> Texture:
    """Open a texture by preset id (``"rain"``) or :class:`Preset` as an endless source.

    ``seed`` makes the output reproducible (tests); ``None`` draws fresh entropy.
    Raises :class:`UnknownSoundError` for an unknown id and :class:`ParameterError`
    for bad parameters (the message names the preset file and the parameter).
    """
    preset = preset_or_id if isinstance(preset_or_id, Preset) else find_preset(preset_or_id)
    if preset.kind != "texture":
        raise UnknownSoundError(f"{preset.id} is a generator ({preset.engine}), not a texture")
    engine = ENGINES.get(preset.engine)
    if engine is None:
        raise UnknownSoundError(
            f"{preset.id}: unknown texture engine {preset.engine!r}; known: {', '.join(ENGINES)}"
        )
    return engine(preset, rate, channels, seed)


def open_builtin(spec: str, rate: int, channels: int) -> Source:
    """Open a texture id or generator spec as it is (no levelling).

    Reads the texture's preset file (once); :class:`BuiltinOpener` uses presets
    already parsed instead.
    """
    preset = find_texture(spec)
    if preset is not None:
        return open_texture(preset, rate, channels)
    return _open_generator(spec, rate, channels)


def _open_generator(spec: str, rate: int, channels: int) -> Source:
    if is_generator(spec):
        return open_generator(spec, rate, channels)
    raise UnknownSoundError(f"{spec!r} is neither a built-in texture nor a generator")


class BuiltinOpener:
    """``opener(spec, rate, channels)`` for built-in specs, from presets parsed once.

    A texture id among ``presets`` opens with that :class:`Preset` (and the spec's
    ``key=value`` parameters in place of the preset's), anything else as a
    generator spec; no preset file is read.
    """

    def __init__(self, presets: Iterable[Preset]) -> None:
        """Remember the texture presets by id."""
        self.textures = {p.id: p for p in presets if p.kind == "texture"}

    def __call__(self, spec: str, rate: int, channels: int) -> Source:
        """Open ``spec`` as it is (no levelling)."""
        preset = self.textures.get(spec.partition(":")[0].strip())
        if preset is not None:
            return open_texture(with_spec_parameters(preset, spec), rate, channels)
        return _open_generator(spec, rate, channels)
