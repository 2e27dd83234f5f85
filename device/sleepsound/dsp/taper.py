"""The volume taper and decibel maths, without numpy (the pure core uses them too).

The 0–100 knob maps to decibels: ``0`` is true silence and ``1…100`` span
:data:`VOLUME_RANGE_DB` linearly in dB, so each step is the same audible change (0.5 dB
per step). :mod:`sleepsound.dsp.gain` builds the per-sample curves on these numbers.
"""

from __future__ import annotations

import math

VOLUME_RANGE_DB = 50.0
"""Volume 1 is this many dB below volume 100; volume 0 is silence."""

FLOOR_DB = -60.0
"""Fades to or from silence run linearly in dB down to here, then ramp to zero."""


def db_to_gain(level_db: float) -> float:
    """Return the amplitude factor for ``level_db`` (``-inf`` gives 0)."""
    return 0.0 if level_db == -math.inf else 10.0 ** (level_db / 20.0)


def gain_to_db(gain: float) -> float:
    """Return ``gain`` in dB (0 gives ``-inf``)."""
    return -math.inf if gain <= 0.0 else 20.0 * math.log10(gain)


def volume_to_db(
    volume: float, max_volume: float = 100.0, range_db: float = VOLUME_RANGE_DB
) -> float:
    """Map a 0–100 volume, capped at ``max_volume``, to dB on the perceptual taper.

    ``0`` (or a ceiling of 0) is ``-inf``: true silence, not merely quiet. Volume 1
    is ``range_db`` below volume 100 (an output may widen it for a quieter volume 1).
    """
    effective = min(max(volume, 0.0), max(min(max_volume, 100.0), 0.0))
    if effective <= 0.0:
        return -math.inf
    return -range_db * (100.0 - effective) / 100.0


def volume_to_gain(
    volume: float, max_volume: float = 100.0, range_db: float = VOLUME_RANGE_DB
) -> float:
    """Map a 0–100 volume, capped at ``max_volume``, to an amplitude factor."""
    return db_to_gain(volume_to_db(volume, max_volume, range_db))
