"""Gains that change without clicks: the volume taper, fades, crossfades and ramps.

Every gain change in sleepsound is a per-sample curve, never a per-block step (block
steps are audible as "zipper" noise). Three kinds of curve exist:

* ``"db"`` — linear in decibels between the two levels, because the ear hears level
  logarithmically: a fade linear in amplitude is only -6 dB half-way and then seems to
  drop off a cliff. A path to or from silence runs linearly in dB down to
  :data:`FLOOR_DB` (-60 dB) and finishes with a short linear ramp to exact zero.
* ``"in"``/``"out"`` — equal-power (sine/cosine) halves of a crossfade between two
  unrelated sounds: their powers add, so the sum keeps its level.
* ``"linear"`` — straight amplitude ramps, for the loop seam of a sound with itself
  (see :func:`seam_gains`).

The volume taper (:func:`volume_to_db`) maps the 0–100 knob to decibels:
``0`` is true silence and ``1…100`` span :data:`VOLUME_RANGE_DB` linearly in dB, so
each step is the same audible change (0.5 dB per step; a 2-step detent is 1 dB).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from sleepsound.dsp.taper import (  # noqa: F401 (the taper's home; re-exported here)
    FLOOR_DB,
    VOLUME_RANGE_DB,
    db_to_gain,
    gain_to_db,
    volume_to_db,
    volume_to_gain,
)

MIN_RAMP_S = 0.02
"""No start, stop or jump is ever shorter than this, even when 0 is asked for."""

SILENCE_TAIL_MAX_S = 1.0
"""The final linear ramp from :data:`FLOOR_DB` to zero lasts at most this long."""

Shape = Literal["db", "in", "out", "linear"]

_FLOOR_GAIN = 10.0 ** (FLOOR_DB / 20.0)


def ceiling_scale(
    volume_gain: float | np.ndarray,
    ceiling_gain: float | np.ndarray,
    unrelated_gain: float | np.ndarray = 0.0,
    same_gain: float | np.ndarray = 0.0,
) -> float | np.ndarray:
    """The factor (≤ 1) that keeps main + layer at or below one sound at the ceiling.

    Every sound is levelled to the same loudness, so the main sound at ``volume_gain``
    with layers at ``unrelated_gain`` relative to it (0–1, the root of their summed
    squares) adds up in power: ``volume_gain² · (1 + unrelated_gain²)``. A layer that
    is the main sound itself, in step with it (``same_gain``), adds in amplitude
    instead. Where the mix would pass ``ceiling_gain`` (``max_volume`` on the taper:
    one sound at the ceiling), main and layer are scaled by the same factor so it
    lands exactly there; below it the factor is 1, so a layer changes nothing at
    ordinary volumes. Works on numbers or per-sample curves (pure): fed gliding gains,
    the factor glides with them, never a step.
    """
    spread = np.sqrt(np.square(np.add(1.0, same_gain)) + np.square(unrelated_gain))
    mixed = np.multiply(volume_gain, spread)
    scale = np.minimum(1.0, np.divide(ceiling_gain, np.maximum(mixed, 1e-12)))
    return float(scale) if np.ndim(scale) == 0 else scale.astype(np.float32)


def ramp_frames(duration_s: float, rate: int) -> int:
    """Return the length in frames of a ramp of ``duration_s``, never below the minimum."""
    return max(round(max(duration_s, MIN_RAMP_S) * rate), 1)


def shape_curve(t: np.ndarray, start: float, end: float, shape: Shape, tail: float) -> np.ndarray:
    """Evaluate a gain curve from ``start`` to ``end`` at positions ``t`` in [0, 1].

    ``tail`` is the fraction of the curve given to the linear ramp between
    :data:`FLOOR_DB` and silence when one end is zero (``"db"`` shape only).
    """
    if shape == "linear":
        return start + (end - start) * t
    if shape == "in":
        return start + (end - start) * np.sin(0.5 * np.pi * t)
    if shape == "out":
        return start + (end - start) * (1.0 - np.cos(0.5 * np.pi * t))
    start_db = 20.0 * math.log10(max(start, _FLOOR_GAIN))
    end_db = 20.0 * math.log10(max(end, _FLOOR_GAIN))
    curve = np.power(10.0, (start_db + (end_db - start_db) * t) / 20.0)
    if end <= 0.0:
        curve *= np.clip((1.0 - t) / tail, 0.0, 1.0)
    if start <= 0.0:
        curve *= np.clip(t / tail, 0.0, 1.0)
    return curve


@dataclass
class _Segment:
    start: float
    end: float
    frames: int
    shape: Shape
    tail: float
    position: int = 0


class Envelope:
    """A gain that moves from its current value to a target along a curve, per sample.

    Starting a new move while one is running continues from wherever the gain is now,
    so interrupting a fade never jumps.
    """

    def __init__(self, rate: int, value: float = 0.0) -> None:
        self.rate = rate
        self._value = float(value)
        self._segment: _Segment | None = None

    @property
    def value(self) -> float:
        """The gain the next sample starts from."""
        return self._value

    @property
    def target(self) -> float:
        """Where the gain is heading (its current value when settled)."""
        return self._segment.end if self._segment else self._value

    @property
    def is_moving(self) -> bool:
        """True while a move is in progress."""
        return self._segment is not None

    def move_to(self, target: float, frames: int, shape: Shape = "db") -> None:
        """Start moving from the current value to ``target`` over ``frames`` frames."""
        frames = max(int(frames), 1)
        tail_frames = min(frames * 0.1, SILENCE_TAIL_MAX_S * self.rate)
        tail = max(tail_frames / frames, 1.0 / frames)
        self._segment = _Segment(self._value, float(target), frames, shape, tail)

    def set(self, value: float) -> None:
        """Jump to ``value`` at once; only for initial states, never while audible."""
        self._value = float(value)
        self._segment = None

    def skip(self, frames: int) -> None:
        """Advance ``frames`` frames without rendering them (time that passed unheard).

        Costs the same for an hour as for a block: a sleep fade can catch up with an
        output that was away.
        """
        seg = self._segment
        if seg is None or frames <= 0:
            return
        seg.position = min(seg.frames, seg.position + int(frames))
        if seg.position >= seg.frames:
            self._value = seg.end
            self._segment = None
            return
        where = np.array([seg.position / seg.frames])
        self._value = float(shape_curve(where, seg.start, seg.end, seg.shape, seg.tail)[0])

    def render(self, frames: int) -> np.ndarray:
        """Return the next ``frames`` gains as float32 and advance."""
        seg = self._segment
        if seg is None:
            return np.full(frames, self._value, dtype=np.float32)
        gains = np.empty(frames, dtype=np.float32)
        moving = min(frames, seg.frames - seg.position)
        positions = np.arange(seg.position + 1, seg.position + moving + 1, dtype=np.float64)
        gains[:moving] = shape_curve(
            positions / seg.frames, seg.start, seg.end, seg.shape, seg.tail
        )
        seg.position += moving
        if seg.position >= seg.frames:
            self._value = seg.end
            self._segment = None
            gains[moving:] = seg.end
        else:
            self._value = float(gains[moving - 1])
        return gains


class SlewedGain:
    """A gain that follows a target in dB no faster than a set rate, per sample.

    Used for the volume: a knob turned fast, or a command jumping from 10 to 90, is
    heard as a quick swell rather than a bang. Going down is allowed to be faster
    than going up, because a sleeper asking for quiet wants it now.
    """

    def __init__(
        self,
        rate: int,
        gain: float,
        up_db_per_s: float = 20.0,
        down_db_per_s: float = 40.0,
        floor_db: float = FLOOR_DB - 10.0,
    ) -> None:
        self.rate = rate
        self.floor_db = floor_db
        self._up = up_db_per_s / rate
        self._down = down_db_per_s / rate
        self._db = self._to_db(gain)
        self._target_db = self._db

    def _to_db(self, gain: float) -> float:
        return max(gain_to_db(gain), self.floor_db)

    @property
    def gain(self) -> float:
        """The current gain (0 at or below the floor)."""
        return 0.0 if self._db <= self.floor_db else 10.0 ** (self._db / 20.0)

    @property
    def is_settled(self) -> bool:
        """True when the gain has reached its target."""
        return self._db == self._target_db

    def set_target(self, gain: float) -> None:
        """Head for ``gain`` at the allowed rate."""
        self._target_db = self._to_db(gain)

    def jump_to(self, gain: float) -> None:
        """Take ``gain`` at once: only before anything is audible."""
        self._db = self._target_db = self._to_db(gain)

    def settle(self) -> None:
        """Take the target at once: only while nothing is audible (an output away)."""
        self._db = self._target_db

    def render(self, frames: int) -> np.ndarray:
        """Return the next ``frames`` gains as float32 and advance."""
        if self._db == self._target_db:
            return np.full(frames, self.gain, dtype=np.float32)
        step = self._up if self._target_db > self._db else -self._down
        path = self._db + step * np.arange(1, frames + 1, dtype=np.float64)
        path = np.minimum(path, self._target_db) if step > 0 else np.maximum(path, self._target_db)
        self._db = float(path[-1])
        gains = np.power(10.0, path / 20.0)
        gains[path <= self.floor_db] = 0.0
        return gains.astype(np.float32)


def seam_gains(tail: np.ndarray, head: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (fade-out, fade-in) gains that join ``tail`` to ``head`` at a steady level.

    Equal-gain crossfades keep the level of identical material but dip 3 dB on
    unrelated material; equal-power ones swell 3 dB on identical material. The seam
    of a loop can be either, so the law is chosen from the measured correlation
    ``r`` of the two overlapping pieces: the summed power
    ``a² + b² + 2·r·a·b`` is held at 1 all the way across.
    """
    frames = min(len(tail), len(head))
    if frames == 0:
        return np.ones(0, np.float32), np.ones(0, np.float32)
    t = (np.arange(frames, dtype=np.float64) + 0.5) / frames
    fade_in = 0.5 - 0.5 * np.cos(np.pi * t)
    fade_out = 1.0 - fade_in
    correlation = _correlation(tail[:frames].reshape(-1), head[:frames].reshape(-1))
    correlation = min(max(correlation, 0.0), 1.0)
    norm = 1.0 / np.sqrt(fade_out**2 + fade_in**2 + 2.0 * correlation * fade_out * fade_in)
    return (fade_out * norm).astype(np.float32), (fade_in * norm).astype(np.float32)


_STATS_CHUNK = 1 << 16
"""Samples converted to float64 at a time by :func:`_correlation`."""


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two equally long signals, 1.0 when either is constant.

    Summed in float64 a chunk at a time: a one-second seam of a 192 kHz 8-channel file
    is 1.5 M samples, and whole float64 copies of it (and of it centred) took some
    50 MB at every loop, which the process then kept.
    """
    count = a.size
    sums = np.zeros(5)  # Σa, Σb, Σa², Σb², Σab
    for start in range(0, count, _STATS_CHUNK):
        x = a[start : start + _STATS_CHUNK].astype(np.float64)
        y = b[start : start + _STATS_CHUNK].astype(np.float64)
        sums += (x.sum(), y.sum(), x @ x, y @ y, x @ y)
    if count == 0:
        return 1.0
    sum_a, sum_b, sum_aa, sum_bb, sum_ab = sums
    var_a = sum_aa - sum_a * sum_a / count
    var_b = sum_bb - sum_b * sum_b / count
    denominator = math.sqrt(max(var_a, 0.0) * max(var_b, 0.0))
    return float((sum_ab - sum_a * sum_b / count) / denominator) if denominator > 0.0 else 1.0
