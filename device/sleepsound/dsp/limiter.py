"""A look-ahead peak limiter: a hard ceiling no sample passes, transparent below it.

How it works, per frame ``n`` (all vectorised over the block, state carried):

1. ``r[n]``: the gain the frame needs, ``min(1, ceiling / max_ch |x[n]|)``. Channels
   are linked (one gain for all) so the stereo image does not shift.
2. ``m[n] = min(r[n-W+1 .. n])`` with ``W = L + 1 + H`` (``L`` lookahead frames, ``H``
   hold frames): a running minimum (van Herk/Gil-Werman, below) that catches a
   peak as soon as it enters and holds the reduction for ``H`` frames afterwards.
3. ``e[n] = min(m[n], e[n-1] + δ)``: the release, a ramp back up of at most
   ``release_db_per_s`` (a cumulative minimum, so still vectorised). ``e <= m``.
4. ``g[n] = mean(e[n-L+1 .. n])``: a moving average over the lookahead, which turns
   every step of ``e`` into a ramp of ``L`` frames: gain never jumps. The linear
   attenuation ``1 - e`` is averaged in fixed point (integer units of 2^-40, rounded
   up, so never less reduction) as a difference of integer running sums.
5. ``y[n] = g[n] · x[n-L]``: the output is the input delayed by ``L`` frames.

Why no sample exceeds the ceiling: frame ``k = n - L`` is in the minimum window of
every ``p`` in ``[n-L+1, n]`` (since ``p - W + 1 <= n - W + 1 = n - L - H <= k`` and
``k = n - L < p``),
so ``m[p] <= r[k]`` and ``e[p] <= r[k]`` for all ``L`` terms averaged into ``g[n]``;
a mean of values ``<= r[k]`` is ``<= r[k]``, so ``|y[n]| <= r[k]·|x[k]| <= ceiling``.
Floating-point rounding can overshoot that by an ulp; a final clip at the ceiling
removes it (it only ever acts at rounding level).

Why quiet material passes bit-identical: gains are kept as integer micro-decibels,
so "no reduction" is exactly 0, the release lands exactly on 0, and the moving
average of exactly-zero attenuation is exactly zero; the gain is then exactly 1.0
and ``1.0 · x == x``. Integer arithmetic throughout (minimum, release, and the sums
of the average, each with its history carried between blocks) also makes the output
independent of the block size.

The running minimum over ``W`` frames, van Herk/Gil-Werman: cut the frames into
segments of ``W``; a window ``[j, j+W-1]`` then spans the tail of one segment and
the head of the next, so its minimum is ``min(suffix_min[j], prefix_min[j+W-1])``,
both cumulative minima over the segments: O(n) whatever ``W``, numpy only (this is
on the live audio path, where importing scipy costs a Pi Zero tens of MB and about
a second).

Latency: :attr:`PeakLimiter.latency_frames` (``= L``, 96 frames = 2 ms at 48 kHz);
the engine accounts for it (e.g. when timing fades or stopping).
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np

__all__ = ["PeakLimiter"]

_MAX: Final = np.maximum.reduce
_MIN: Final = np.minimum.reduce

_UDB: Final[float] = 1e6
"""Gains are integers in micro-decibels: exact, and far finer than anyone can hear."""

_FLOOR_UDB: Final[int] = -400 * 1_000_000
"""The deepest reduction applied (-400 dB), so absurd inputs cannot overflow."""

_FIXED_ONE: Final[int] = 1 << 40
"""Fixed-point unit of the averaged attenuation: 2^-40, far below float32 resolution.
Sums of up to 2^23 such values fit int64; longer running sums wrap around, which the
window sums (differences of two running sums, each below 2^63) do not notice."""

_MAX_LOOKAHEAD_FRAMES: Final[int] = 1 << 22
"""Window sums of ``L`` attenuations below 2^40 each stay below 2^62."""


class PeakLimiter:
    """Linked-channel look-ahead limiter with a guaranteed ceiling.

    ``ceiling_db`` is the highest sample magnitude out (dBFS; -1 dB leaves room for
    the inter-sample overs a DAC's reconstruction filter can make). ``lookahead_s``
    is both the latency and the attack ramp; ``hold_s`` keeps the reduction after a
    peak so sustained loud material is not modulated at audio rate;
    ``release_db_per_s`` is how fast the gain recovers after the hold.
    Non-finite input samples are treated as silence.
    """

    def __init__(
        self,
        rate: int,
        channels: int,
        ceiling_db: float = -1.0,
        lookahead_s: float = 0.002,
        hold_s: float = 0.05,
        release_db_per_s: float = 40.0,
    ) -> None:
        if rate <= 0 or channels < 1:
            raise ValueError(f"rate and channels must be positive, got {rate}, {channels}")
        if not ceiling_db <= 0.0:
            raise ValueError(f"ceiling_db must be <= 0 dBFS, got {ceiling_db}")
        if lookahead_s < 0.0 or hold_s < 0.0 or not release_db_per_s > 0.0:
            raise ValueError("lookahead_s and hold_s must be >= 0, release_db_per_s > 0")
        self.rate = rate
        self.channels = channels
        # The float32 ceiling at or below the requested one: outputs are float32.
        ceiling = np.float32(10.0 ** (ceiling_db / 20.0))
        if float(ceiling) > 10.0 ** (ceiling_db / 20.0):
            ceiling = np.nextafter(ceiling, np.float32(0.0))
        self.ceiling: float = float(ceiling)
        """The ceiling as a linear magnitude; ``|output| <= ceiling`` always."""
        self.latency_frames: int = max(1, round(lookahead_s * rate))
        """Output frame ``n`` is input frame ``n - latency_frames`` (times the gain)."""
        self._hold_frames = max(0, round(hold_s * rate))
        self._window = self.latency_frames + 1 + self._hold_frames
        if self.latency_frames > _MAX_LOOKAHEAD_FRAMES:
            raise ValueError(f"lookahead_s must be under {_MAX_LOOKAHEAD_FRAMES / rate:g} s")
        self._release_udb = max(1, round(release_db_per_s * _UDB / rate))
        self.reset()

    def reset(self) -> None:
        """Forget all history: as if freshly made (silence in the delay line, no reduction)."""
        self._delay = np.zeros((self.latency_frames, self.channels), dtype=np.float32)
        self._needed_history = np.zeros(self._window - 1, dtype=np.int64)
        self._envelope_udb = 0
        self._attenuation_history = np.zeros(self.latency_frames - 1, dtype=np.int64)
        self._resting = True

    def process(self, block: np.ndarray) -> np.ndarray:
        """Limit one ``(frames, channels)`` block; returns float32 of the same shape.

        The output is delayed by :attr:`latency_frames` relative to the input.
        """
        x = np.asarray(block, dtype=np.float32)
        # The usual case, a safety net at rest: the signal only passes the delay. Two
        # reductions tell, with no temporary; NaN makes both comparisons false. (The
        # ufuncs' own reduce skips the Python layer of ndarray.max: half its time.)
        if (
            self._resting
            and x.ndim == 2
            and x.shape[1] == self.channels
            and len(x)
            and _MAX(x, axis=None) <= self.ceiling
            and _MIN(x, axis=None) >= -self.ceiling
        ):
            delayed = np.concatenate([self._delay, x])
            self._delay = delayed[len(x) :]
            return delayed[: len(x)]
        out = self._process_unclipped(x)
        self._resting = self._at_rest()
        # The bound is proved above; this only catches float rounding (an ulp).
        return np.clip(out, -self.ceiling, self.ceiling, out=out)

    def _process_unclipped(self, block: np.ndarray) -> np.ndarray:
        """:meth:`process` without the final safety clip (tests check it is not needed)."""
        block = np.asarray(block)
        if block.ndim != 2 or block.shape[1] != self.channels:
            raise ValueError(f"expected a (frames, {self.channels}) block, got {block.shape}")
        frames = block.shape[0]
        if frames == 0:
            return np.zeros((0, self.channels), dtype=np.float32)
        x = block.astype(np.float32, copy=False)
        if not np.isfinite(x).all():
            x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)

        needed = self._needed_udb(x)
        delayed = np.concatenate([self._delay, x])
        self._delay = delayed[frames:].copy()
        held = self._hold(needed)
        envelope = self._release(held)
        gain = self._smooth(envelope)
        return (delayed[:frames] * gain[:, None]).astype(np.float32)

    def _at_rest(self) -> bool:
        """True when no reduction is pending, held, releasing or being averaged."""
        return (
            self._envelope_udb == 0
            and not self._needed_history.any()
            and not self._attenuation_history.any()
        )

    def _needed_udb(self, x: np.ndarray) -> np.ndarray:
        """Integer µdB gain each frame needs to stay at the ceiling (0 = none)."""
        peak = np.abs(x).max(axis=1).astype(np.float64)
        needed = np.zeros(len(peak), dtype=np.int64)
        over = peak > self.ceiling
        if over.any():
            # Floor: round towards more reduction, never less.
            udb = np.floor(20.0 * np.log10(self.ceiling / peak[over]) * _UDB)
            needed[over] = np.maximum(udb, _FLOOR_UDB).astype(np.int64)
        return needed

    def _hold(self, needed: np.ndarray) -> np.ndarray:
        """Running minimum over the last ``W`` frames (lookahead + 1 + hold)."""
        extended = np.concatenate([self._needed_history, needed])
        self._needed_history = extended[len(needed) :].copy()
        window = self._window
        if window == 1:
            return needed
        # Output j is min(extended[j : j + W]); see the module docstring for the method.
        segments = -(-len(extended) // window)
        padded = np.zeros(segments * window, dtype=np.int64)  # 0 = no reduction: neutral
        padded[: len(extended)] = extended
        blocks = padded.reshape(segments, window)
        prefix = np.minimum.accumulate(blocks, axis=1).ravel()
        suffix = np.minimum.accumulate(blocks[:, ::-1], axis=1)[:, ::-1].ravel()
        frames = len(needed)
        return np.minimum(suffix[:frames], prefix[window - 1 : window - 1 + frames])

    def _release(self, held: np.ndarray) -> np.ndarray:
        """``e[n] = min(held[n], e[n-1] + δ)``, unrolled as a cumulative minimum."""
        # e[n] = min over k <= n of (v[k] + δ(n-k)) with v[-1] = previous e; in integers
        # this is exact, so the result does not depend on where blocks start.
        step = self._release_udb
        ramp = step * np.arange(len(held) + 1, dtype=np.int64)
        values = np.concatenate([[self._envelope_udb], held])
        envelope = np.minimum.accumulate(values - ramp) + ramp
        envelope = np.minimum(envelope, 0)[1:]
        self._envelope_udb = int(envelope[-1])
        return envelope

    def _smooth(self, envelope_udb: np.ndarray) -> np.ndarray:
        """Moving average of the linear gain over the lookahead, as 1 - attenuation."""
        attenuation = 1.0 - np.power(10.0, envelope_udb / (20.0 * _UDB))
        # Rounded up: the averaged gain can only come out lower (safer), never higher.
        fixed = np.ceil(attenuation * _FIXED_ONE).astype(np.int64)
        extended = np.concatenate([self._attenuation_history, fixed])
        keep = self.latency_frames - 1
        self._attenuation_history = extended[len(extended) - keep :].copy()
        running = np.zeros(len(extended) + 1, dtype=np.int64)
        np.cumsum(extended, out=running[1:])
        sums = running[self.latency_frames :] - running[: len(fixed)]
        return 1.0 - sums / (self.latency_frames * _FIXED_ONE)

    def __repr__(self) -> str:
        return (
            f"PeakLimiter(rate={self.rate}, channels={self.channels}, "
            f"ceiling={20 * math.log10(self.ceiling):.2f} dB, latency={self.latency_frames})"
        )
