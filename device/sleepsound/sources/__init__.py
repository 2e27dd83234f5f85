"""Where samples come from: sound files and generators, as endless float32 block streams."""

from __future__ import annotations

import difflib
import os

from sleepsound.errors import UnknownSoundError
from sleepsound.sources.base import Source
from sleepsound.sources.filesource import open_file
from sleepsound.sources.generators import GENERATOR_NAMES, is_generator, open_generator
from sleepsound.sources.soundfiles import AUDIO_EXTENSIONS
from sleepsound.sources.textures import find_texture, open_texture, texture_ids

__all__ = ["Source", "looks_like_path", "open_source"]


def looks_like_path(spec: str) -> bool:
    """True when ``spec`` names a file rather than a generator or library id."""
    return (
        os.sep in spec
        or spec.startswith(".")
        or spec.lower().endswith(AUDIO_EXTENSIONS)
        or os.path.exists(spec)
    )


def open_source(spec: str, rate: int, channels: int) -> Source:
    """Open a generator (``pink-noise``), a texture (``rain``) or a sound file."""
    if is_generator(spec):
        return open_generator(spec, rate, channels)
    texture = find_texture(spec)
    if texture is not None:
        return open_texture(texture, rate, channels)
    if looks_like_path(spec):
        return open_file(spec, rate, channels)
    names = (*GENERATOR_NAMES, *texture_ids())
    close = difflib.get_close_matches(spec, names, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise UnknownSoundError(
        f"unknown sound {spec!r}: not a file, and not a built-in sound ({', '.join(names)}){hint}"
    )
