"""Beds (a noise or binaural layer under the main sound) and channel decisions (pure).

Binaural beats only work when each ear gets its own tone: on a mono output the
two tones mix into one wavering tone. There a binaural generator plays as its
monaural variant (the generator does this itself at one channel) or, if the
configuration says so, is refused; a binaural *recording* has no monaural variant
and is always refused as a bed on a mono output. Stereo material is never
downmixed on a stereo output: the file source maps channels only for a mono one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sleepsound.errors import CommandError
from sleepsound.library.catalog import SoundEntry

MonoBinaural = Literal["monaural", "refuse"]


@dataclass(frozen=True)
class BedPlan:
    """What to play as the bed, and a warning for the reply if something was adapted."""

    spec: str
    warning: str | None = None


def is_binaural(entry: SoundEntry) -> bool:
    """True for binaural generators and sounds tagged ``spatial = "binaural"``."""
    return entry.meta.spatial == "binaural" or (
        entry.kind == "generator" and entry.spec.startswith("binaural")
    )


def plan_bed(
    entry: SoundEntry, out_channels: int, mono_binaural: MonoBinaural = "monaural"
) -> BedPlan:
    """Decide how ``entry`` may play as a bed on an output of ``out_channels``.

    Raises :class:`CommandError` (field ``layer``) with the reason when it may not.
    """
    if out_channels >= 2 or not is_binaural(entry):
        return BedPlan(entry.spec)
    if entry.kind == "generator" and mono_binaural == "monaural":
        return BedPlan(
            entry.spec,
            warning=(
                f"the output is mono, so {entry.id} plays as a monaural beat "
                "(binaural beats need headphones)"
            ),
        )
    if entry.kind == "generator":
        reason = '[sounds] mono_binaural is "refuse"; set it to "monaural" to allow it'
    else:
        reason = "a binaural recording has no monaural version"
    raise CommandError(
        f"{entry.id} is binaural and the output is mono: {reason}. "
        "Choose a noise bed (pink-noise, brown-noise) or use a stereo output with headphones.",
        field="layer",
    )


def playback_warning(entry: SoundEntry, out_channels: int) -> str | None:
    """A warning for the reply when the main sound loses something on this output."""
    if out_channels == 1 and entry.kind == "file" and entry.meta.spatial == "binaural":
        return f"{entry.id} is a binaural recording; on a mono output it loses its effect"
    return None
