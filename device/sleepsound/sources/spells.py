"""Triggers that come and go: a few minutes of a texture, a quiet pause, then more.

ASMR wears off when one trigger runs unchanged all night ("ASMR fatigue"); with
``spells=true`` a texture arrives in spells instead: each lasts a few minutes, eases
in and out over tens of seconds (a raised cosine: smooth, never sudden, no startle),
swells and ebbs a little while it lasts, and is followed by a quiet pause.
``density`` (0.1-1) is the share of the night spent in spells: 1 means no pauses,
only the ebb and flow.

Pure: :meth:`Spells.envelope` turns frame numbers into gains; the random draws come
from the generator it is given, one per spell or pause, so the envelope depends only
on the seed and the chunk grid, never on block sizes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final

import numpy as np

from sleepsound.errors import ParameterError

SPELL_S: Final[tuple[float, float]] = (120.0, 300.0)
"""How long a spell lasts (seconds, drawn afresh for each)."""
FADE_S: Final[float] = 25.0
"""Seconds a spell takes to arrive or leave (at most a quarter of the spell)."""
PAUSE_FLOOR_DB: Final[float] = -40.0
"""How quiet a pause is, relative to a spell: a hush, not a dead stop."""
DENSITY_RANGE: Final[tuple[float, float]] = (0.1, 1.0)
DEFAULT_DENSITY: Final[float] = 0.6


class Spells:
    """Gain envelope of a texture that comes and goes (see the module doc)."""

    def __init__(
        self,
        rng: np.random.Generator,
        rate: int,
        density: float,
        ebb_db: Callable[[], np.ndarray],
    ) -> None:
        """``ebb_db()`` gives the next chunk's slow swell in dB (one value per frame)."""
        low, high = DENSITY_RANGE
        if not (math.isfinite(density) and low <= density <= high):
            raise ParameterError(f"density must be from {low:g} to {high:g}, not {density!r}")
        self.rng = rng
        self.rate = rate
        self.density = density
        self.ebb_db = ebb_db
        self.floor = 10.0 ** (PAUSE_FLOOR_DB / 20.0)
        # The night starts in a spell, at full strength (the player fades in anyway).
        self.start = 0
        self.length = self._frames(rng.uniform(*SPELL_S))
        self.in_spell = True
        self.first = True

    def _frames(self, seconds: float) -> int:
        return max(1, round(seconds * self.rate))

    def _advance(self) -> None:
        """Move on to the next spell or pause."""
        self.start += self.length
        self.first = False
        if self.in_spell and self.density < 1.0:
            mean_pause_s = sum(SPELL_S) / 2.0 * (1.0 - self.density) / self.density
            self.length = self._frames(mean_pause_s * self.rng.uniform(0.5, 1.5))
            self.in_spell = False
        else:
            self.length = self._frames(self.rng.uniform(*SPELL_S))
            self.in_spell = True

    def envelope(self, start: int, frames: int) -> np.ndarray:
        """Gains for frames ``start .. start + frames`` (call with consecutive ranges)."""
        out = np.empty(frames)
        pos = 0
        while pos < frames:
            at = start + pos - self.start
            if at >= self.length:
                self._advance()
                continue
            take = min(frames - pos, self.length - at)
            out[pos : pos + take] = self._shape(at + np.arange(take))
            pos += take
        ebb = 10.0 ** (self.ebb_db() / 20.0)
        return out * ebb

    def _shape(self, at: np.ndarray) -> np.ndarray:
        """Gain within the current spell or pause, ``at`` frames into it."""
        if not self.in_spell:
            return np.full(len(at), self.floor)
        if self.density >= 1.0:  # spells back to back: only the ebb and flow
            return np.ones(len(at))
        fade = min(self._frames(FADE_S), self.length // 4)
        rise = np.ones(len(at)) if self.first else np.clip(at / fade, 0.0, 1.0)
        fall = np.clip((self.length - at) / fade, 0.0, 1.0)
        u = np.minimum(rise, fall)
        # Raised cosine on a dB scale: ears hear level in dB, so it eases evenly.
        ease = 0.5 - 0.5 * np.cos(math.pi * u)
        return 10.0 ** (PAUSE_FLOOR_DB * (1.0 - ease) / 20.0)
