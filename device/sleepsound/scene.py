"""The immutable snapshot the audio thread follows.

The command loop owns all state. Whenever something audible changes it hands the
audio thread a new :class:`Scene`; the engine compares it with the one it follows and
ramps towards it, sample by sample. Nothing in a scene is ever mutated.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Layer:
    """A second source mixed under the main one (pink noise under a whisper track)."""

    sound: str
    volume: float = 30.0
    """Relative level 0–100 on the same taper as the main volume."""


@dataclass(frozen=True)
class SleepFade:
    """A long fade to silence, linear in dB, that the engine runs sample-accurately.

    ``token`` identifies one fade: a new token restarts the fade from the current
    level; the same token keeps the running fade going.
    """

    token: int
    duration_s: float
    elapsed_s: float = 0.0
    """How far the fade had got when this engine first sees its token: an engine opened
    mid-fade (a switch of output) starts there, never back at the top."""


@dataclass(frozen=True)
class Rise:
    """A wake rise: the sound comes up from silence, linear in dB, over ``duration_s``.

    The mirror of :class:`SleepFade`: a short linear ramp from exact zero to -60 dB,
    then linear in dB, so that the scene's volume is reached exactly at the end.
    ``token`` identifies one rise: a new token starts it (whatever still plays fades
    out over the scene's ``transition_s`` meanwhile, at the level it had); the same
    token keeps it going; a scene without a rise while one runs stops it where it is
    (the volume then glides to the scene's).
    """

    token: int
    duration_s: float


@dataclass(frozen=True)
class Scene:
    """What should be heard now.

    ``sound`` is a source spec that the engine's source factory understands (a
    generator name such as ``pink-noise`` or a resolved file path); ``None`` means
    silence. When ``sound`` changes the engine crossfades over ``transition_s``
    (fading in from silence, out to silence, or across between two sounds);
    ``restart_token`` lets the same sound be restarted on purpose.
    """

    sound: str | None = None
    volume: float = 30.0
    max_volume: float = 100.0
    transition_s: float = 3.0
    layer: Layer | None = None
    sleep_fade: SleepFade | None = None
    restart_token: int = 0
    range_db: float = 50.0
    """The output's volume taper: volume 1 is this many dB below volume 100."""
    keep_alive: bool = False
    """Mix the sub-audible keep-alive tone (:mod:`sleepsound.sources.keep_alive`): a
    Bluetooth headband that hears digital silence switches itself off. Its level does not
    follow ``volume`` or the sleep fade; it fades in and out on its own, without a click."""
    rise: Rise | None = None
