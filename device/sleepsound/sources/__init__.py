"""Where samples come from: sound files and generators, as endless float32 block streams.

The package's modules load what they need themselves: importing one light module
(``sources.slug``, ``sources.file_checks``: the library model's helpers) must not
pull in the decoders (soundfile, soxr) and every texture, so :func:`open_source`
and :func:`looks_like_path` import them when called.
"""

from __future__ import annotations

import difflib
import os
from typing import TYPE_CHECKING, Any

from sleepsound.errors import UnknownSoundError

if TYPE_CHECKING:
    from sleepsound.sources.base import Source

__all__ = ["Source", "looks_like_path", "open_source"]


def __getattr__(name: str) -> Any:
    """``sources.Source`` on first use (the protocol lives in :mod:`sources.base`)."""
    if name == "Source":
        from sleepsound.sources.base import Source

        return Source
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def looks_like_path(spec: str) -> bool:
    """True when ``spec`` names a file rather than a generator or library id."""
    from sleepsound.sources.soundfiles import AUDIO_EXTENSIONS

    return (
        os.sep in spec
        or spec.startswith(".")
        or spec.lower().endswith(AUDIO_EXTENSIONS)
        or os.path.exists(spec)
    )


def open_source(spec: str, rate: int, channels: int) -> Source:
    """Open a generator (``pink-noise``), a texture (``rain``) or a sound file."""
    from sleepsound.sources.filesource import open_file
    from sleepsound.sources.generators import GENERATOR_NAMES, is_generator, open_generator
    from sleepsound.sources.texture_engines import find_texture, open_texture, texture_ids

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
