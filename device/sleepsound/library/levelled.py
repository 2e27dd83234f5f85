"""A source played at its loudness-matching gain, transients tamed.

The gain comes from a provider asked at every block (a dictionary look-up in the
:class:`~sleepsound.library.loudness_service.LoudnessService`); until the sound has been
measured the provider answers ``None`` and the safe provisional gain applies. When
the measured gain arrives the level glides to it, linearly in dB and per sample,
so the change is never a step.

Taming: after the gain every sound stands at the target loudness, so one look-ahead
peak limiter (:class:`~sleepsound.dsp.limiter.PeakLimiter`, vectorised, state
carried) with its ceiling :data:`CEILING_ABOVE_LOUDNESS_DB` above the target keeps
any tap or crinkle from standing more than that above the sound's loudness. Its
5 ms look-ahead is the attack (a glide, never a click), the 60 ms hold and slow
release (30 dB/s) keep it from pumping; material below the ceiling passes
untouched. While a sound is still unmeasured the ceiling applies to the
provisional level, which errs quiet.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sleepsound.dsp.limiter import PeakLimiter
from sleepsound.sources.base import Source

GainProvider = Callable[[], float | None]

CEILING_ABOVE_LOUDNESS_DB = 20.0
"""No sample peak may stand more than this above the sound's loudness."""
HIGHEST_CEILING_DB = -1.0
"""The tamer's ceiling never rises above this (dBFS), whatever the target."""


def make_tamer(
    rate: int,
    channels: int,
    target_lufs: float,
    ceiling_above_db: float = CEILING_ABOVE_LOUDNESS_DB,
) -> PeakLimiter:
    """The transient tamer for sounds levelled to ``target_lufs``."""
    ceiling_db = min(target_lufs + ceiling_above_db, HIGHEST_CEILING_DB)
    return PeakLimiter(
        rate,
        channels,
        ceiling_db=ceiling_db,
        lookahead_s=0.005,
        hold_s=0.06,
        release_db_per_s=30.0,
    )


class LevelledSource:
    """Apply a (possibly late-arriving) gain in dB, then limit transients."""

    def __init__(
        self,
        inner: Source,
        gain_provider: GainProvider,
        provisional_db: float,
        target_lufs: float,
        ramp_db_per_s: float = 6.0,
        ceiling_above_db: float = CEILING_ABOVE_LOUDNESS_DB,
    ) -> None:
        """Wrap ``inner``; peaks are kept within ``ceiling_above_db`` of ``target_lufs``."""
        self.inner = inner
        self.rate = inner.rate
        self.channels = inner.channels
        self.gain_provider = gain_provider
        self.provisional_db = provisional_db
        measured = gain_provider()
        self.gain_db = provisional_db if measured is None else measured
        """The gain applied at the end of the last block."""
        self.ramp_step_db = ramp_db_per_s / inner.rate
        self.tamer = make_tamer(inner.rate, inner.channels, target_lufs, ceiling_above_db)

    def read(self, frames: int) -> np.ndarray:
        """The next ``frames`` frames, levelled and tamed."""
        block = self.inner.read(frames)
        measured = self.gain_provider()
        target = self.provisional_db if measured is None else measured
        # The block is ours (see Source.read): scale it in place, no temporary.
        if target == self.gain_db:
            block *= np.float32(10.0 ** (self.gain_db / 20.0))
        else:
            steps = self.ramp_step_db * np.arange(1, frames + 1, dtype=np.float64)
            if target > self.gain_db:
                curve = np.minimum(self.gain_db + steps, target)
            else:
                curve = np.maximum(self.gain_db - steps, target)
            self.gain_db = float(curve[-1]) if frames else self.gain_db
            block *= (10.0 ** (curve / 20.0)).astype(np.float32)[:, None]
        return self.tamer.process(block)

    def close(self) -> None:
        """Close the wrapped source."""
        self.inner.close()
