"""Sound that moves around the head: a spherical-head model for headphones.

A mono stream is placed at an azimuth that may change every sample (0 in front,
+90° at the right ear, -90° at the left, ±180° behind) and rendered as two ears:

* **Interaural time difference** (Woodworth): ``ITD = a/c·(φ + sin φ)`` for the
  lateral angle ``φ``, up to :data:`MAX_ITD_S` (0.656 ms) beside an ear. The far
  ear reads the stream at a fractional delay, interpolated per sample with a
  4-point cubic (Lagrange), so a delay that glides gives no zipper and no clicks.
* **Head shadow** (Brown & Duda's one-pole/one-zero model):
  ``H(ω) = (1 + jαω/2ω₀) / (1 + jω/2ω₀)`` with ``ω₀ = c/a``; ``α`` runs from 2 (the
  ear facing the sound: +6 dB of treble) to 0.1 (the shadowed ear: -20 dB). ``H`` is
  linear in ``α``, ``H = LP + α·HP`` with ``LP + HP = 1``, so one fixed low-pass
  serves every position and a moving ``α`` is exact, not an approximation.
* **Level difference** at all frequencies: a close source (ASMR is close) is a few
  dB louder at the near ear even in the bass, where the head casts no shadow.
* **Constant loudness**: the treble lift of the near ear and the shadow of the far
  one do not cancel, so a gain computed from the signal's own low/high balance,
  measured through BS.1770's K-weighting (tracked over about a second, per chunk),
  keeps both ears' summed loudness where a centred sound has it: no louder in the
  middle, no dip at the side (within 0.2 LU on noise, speech or a fan).

The geometry (delays, ``α``, gains) is worked out every :data:`_CONTROL` samples and
interpolated linearly in between; everything is evaluated per chunk on whole arrays.
The only state is the filter memories, the delay lines' last samples and the tracked
balance, so a caller that renders fixed chunks gets the same samples whatever block
size it is read with.
Mono outputs never use this (the caller keeps the sound centred): summed ears
with different delays would comb-filter.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np

from sleepsound.dsp import iir
from sleepsound.errors import ParameterError

HEAD_RADIUS_M: Final[float] = 0.0875
SPEED_OF_SOUND_M_S: Final[float] = 343.0
MAX_ITD_S: Final[float] = HEAD_RADIUS_M / SPEED_OF_SOUND_M_S * (math.pi / 2.0 + 1.0)
"""Woodworth's ITD for a sound right beside one ear: 0.656 ms."""

MOVES: Final[tuple[str, ...]] = ("still", "ear-to-ear", "around")
"""The ``move=`` values textures accept."""

SPEED_RANGE_S: Final[tuple[float, float]] = (2.0, 600.0)
"""Allowed ``speed=`` values: seconds per pass (ear to ear, or once around)."""

DEFAULT_SPEED_S: Final[float] = 10.0

_NEAR_FIELD_DB: Final[float] = 4.0
"""Broadband level lift of the near ear (and cut of the far one) beside the head."""
_EAR_AZIMUTH: Final[float] = math.radians(100.0)
"""Brown & Duda place the ears slightly behind the head's axis."""
_ALPHA_MIN: Final[float] = 0.1
_THETA_MIN: Final[float] = math.radians(150.0)
_BACK_DULLING: Final[float] = 0.3
"""Behind the head the pinnae shade the treble a little (both ears' ``α`` times 0.7)."""
_BALANCE_TAU_S: Final[float] = 1.0
_CONTROL: Final[int] = 32
"""Samples between the points where the geometry is worked out (0.7 ms at 48 kHz)."""
_FRACTIONS: Final[np.ndarray] = np.arange(_CONTROL) / _CONTROL
_BASE_DELAY: Final[int] = 2
"""Both ears run this many samples late, so the cubic never reads a future sample."""


def woodworth_itd_s(lateral: np.ndarray) -> np.ndarray:
    """Interaural time difference (s) for a lateral angle in radians (-π/2..π/2)."""
    return (HEAD_RADIUS_M / SPEED_OF_SOUND_M_S) * (lateral + np.sin(lateral))


def shadow_alpha(incidence: np.ndarray) -> np.ndarray:
    """Brown & Duda's ``α`` for the angle (radians) between the sound and an ear's axis."""
    return (1.0 + _ALPHA_MIN / 2.0) + (1.0 - _ALPHA_MIN / 2.0) * np.cos(
        incidence / _THETA_MIN * math.pi
    )


def k_weighting(rate: int) -> np.ndarray:
    """BS.1770's K-weighting at ``rate`` as second-order sections: a +4 dB shelf above
    about 1.5 kHz and a high-pass at 38 Hz (the coefficients pyloudnorm designs)."""
    sections = []
    for kind, freq_hz, q in (("shelf", 1500.0, 1.0 / math.sqrt(2.0)), ("high", 38.0, 0.5)):
        w0 = 2.0 * math.pi * freq_hz / rate
        alpha, cos_w0 = math.sin(w0) / (2.0 * q), math.cos(w0)
        if kind == "shelf":
            a = 10.0 ** (4.0 / 40.0)
            root = 2.0 * math.sqrt(a) * alpha
            b = [
                a * ((a + 1) + (a - 1) * cos_w0 + root),
                -2 * a * ((a - 1) + (a + 1) * cos_w0),
                a * ((a + 1) + (a - 1) * cos_w0 - root),
            ]
            den = [(a + 1) - (a - 1) * cos_w0 + root, 2 * ((a - 1) - (a + 1) * cos_w0)]
            den.append((a + 1) - (a - 1) * cos_w0 - root)
        else:
            b = [(1 + cos_w0) / 2, -(1 + cos_w0), (1 + cos_w0) / 2]
            den = [1 + alpha, -2 * cos_w0, 1 - alpha]
        sections.append([*(x / den[0] for x in b), *(x / den[0] for x in den)])
    return np.array(sections)


class Trajectory:
    """Where a moving sound is at every sample: ``move`` and ``speed_s`` made concrete.

    ``ear-to-ear`` sways from one ear to the other and back (a pass is one ear to the
    other, ``speed_s`` seconds), starting in front; ``around`` circles the head once
    every ``speed_s`` seconds. ``direction`` is +1 (starting rightwards) or -1.
    """

    def __init__(self, move: str, speed_s: float, rate: int, direction: float = 1.0) -> None:
        if move not in MOVES:
            raise ParameterError(f"move must be one of {', '.join(MOVES)}, not {move!r}")
        low, high = SPEED_RANGE_S
        if not (math.isfinite(speed_s) and low <= speed_s <= high):
            raise ParameterError(
                f"speed must be {low:g} to {high:g} seconds per pass, not {speed_s!r}"
            )
        self.move = move
        self.speed_s = speed_s
        self.rate = rate
        self.direction = direction

    def azimuth(self, frames: np.ndarray) -> np.ndarray:
        """Azimuth (radians) at these frame numbers (counted from the sound's start)."""
        t = frames / self.rate
        if self.move == "ear-to-ear":
            return self.direction * (math.pi / 2.0) * np.sin(math.pi * t / self.speed_s)
        if self.move == "around":
            return self.direction * 2.0 * math.pi * t / self.speed_s
        return np.zeros(len(frames))


def control_points(frames: int) -> np.ndarray:
    """Where, in a block of ``frames``, :meth:`HeadModel.render` wants the azimuth:
    every :data:`_CONTROL` samples from 0 up to and including the block's end (the
    next block's first point, so blocks join without a step)."""
    return np.arange(0, -(-frames // _CONTROL) * _CONTROL + 1, _CONTROL)


def _spread(values: np.ndarray, frames: int) -> np.ndarray:
    """Linear interpolation of per-control-point ``values`` (rows) to ``frames`` samples."""
    start = values[..., :-1, None]
    slope = (values[..., 1:] - values[..., :-1])[..., None]
    per_sample = start + slope * _FRACTIONS
    return per_sample.reshape(*values.shape[:-1], -1)[..., :frames]


class HeadModel:
    """Renders a mono stream at a moving azimuth into two ears (see the module doc)."""

    def __init__(self, rate: int) -> None:
        self._k_weighting = k_weighting(rate)
        self._k_state = np.zeros((len(self._k_weighting), 2, 2))
        # The shadow's pole, ω = 2ω₀ = 2c/a (about 1.25 kHz), by the bilinear transform.
        k = math.tan(SPEED_OF_SOUND_M_S / HEAD_RADIUS_M / rate)
        self._shadow = iir.tf2sos(np.array([k, k]) / (1.0 + k), [1.0, (k - 1.0) / (1.0 + k)])
        self._lp_state = np.zeros((1, 2))
        self.history = math.ceil(MAX_ITD_S * rate) + _BASE_DELAY + 3
        self._tails = np.zeros((2, self.history))
        self._balance: np.ndarray | None = None  # E[lp²], E[lp·hp], E[hp²]
        self.rate = rate
        self._chunk_keep: dict[int, float] = {}

    def render(self, mono: np.ndarray, azimuth: np.ndarray) -> np.ndarray:
        """``mono`` (frames,) placed at ``azimuth`` (radians, one value per point of
        :func:`control_points`, linear in between); returns (frames, 2) float64."""
        n = len(mono)
        if len(azimuth) != len(control_points(n)):
            raise ValueError(
                f"{n} frames need {len(control_points(n))} azimuths, got {len(azimuth)}"
            )
        lp, self._lp_state = iir.sosfilt(self._shadow, mono, zi=self._lp_state)
        hp = mono - lp
        # The position moves slowly: it is worked out every _CONTROL samples and
        # interpolated linearly in between (smooth, at a fraction of the cost).
        delays, alphas, gains = self._geometry(azimuth)
        gains = gains * self._loudness_gain(lp, hp, alphas, gains)
        shaped = _spread(gains, n) * (lp + _spread(alphas, n) * hp)
        out = np.empty((n, 2))
        for ear in (0, 1):
            if not delays[ear].any():  # the near ear: a whole-sample delay, no interpolation
                out[:, ear] = self._delayed_whole(ear, shaped[ear])
            else:
                out[:, ear] = self._delayed(ear, shaped[ear], _spread(delays[ear], n) + _BASE_DELAY)
        return out

    def _geometry(self, azimuth: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per ear (rows: left, right): extra delay (samples), shadow ``α``, level gain."""
        side = np.sin(azimuth)
        lateral = np.arcsin(np.clip(side, -1.0, 1.0))
        itd = woodworth_itd_s(lateral) * self.rate  # > 0: sound on the right, left ear late
        delays = np.stack([np.maximum(itd, 0.0), np.maximum(-itd, 0.0)])
        back = 1.0 - _BACK_DULLING * np.maximum(0.0, -np.cos(azimuth))
        alphas = np.empty((2, len(azimuth)))
        for ear, ear_azimuth in enumerate((-_EAR_AZIMUTH, _EAR_AZIMUTH)):
            incidence = np.arccos(np.clip(np.cos(azimuth - ear_azimuth), -1.0, 1.0))
            alphas[ear] = shadow_alpha(incidence) * back
        gains = 10.0 ** (np.stack([-side, side]) * (_NEAR_FIELD_DB / 20.0))
        return delays, alphas, gains

    def _loudness_gain(
        self,
        lp: np.ndarray,
        hp: np.ndarray,
        alphas: np.ndarray,
        gains: np.ndarray,
    ) -> np.ndarray:
        """Gain (per control point) keeping both ears' loudness at a centred sound's.

        An ear's power is ``g²·(E[lp²] + 2α·E[lp·hp] + α²·E[hp²])``; the balance
        moments are tracked per chunk and ramped across it, so the gain never steps.
        """
        n = len(lp)
        # Measured through BS.1770's K-weighting, as loudness is: K is linear, so
        # K(lp + α·hp) = K(lp) + α·K(hp) and these three moments give any ear's loudness.
        (k_lp, k_hp), self._k_state = iir.sosfilt(
            self._k_weighting, np.stack([lp, hp]), axis=1, zi=self._k_state
        )
        now = np.array([np.mean(k_lp * k_lp), np.mean(k_lp * k_hp), np.mean(k_hp * k_hp)])
        if self._balance is None:
            self._balance = now
        keep = self._chunk_keep.get(n)
        if keep is None:
            keep = self._chunk_keep[n] = math.exp(-n / (_BALANCE_TAU_S * self.rate))
        new = keep * self._balance + (1.0 - keep) * now
        ramp = control_points(n) / n
        e_ll, e_lh, e_hh = (
            old + (fresh - old) * ramp for old, fresh in zip(self._balance, new, strict=True)
        )
        self._balance = new
        centred = 2.0 * (e_ll + 2.0 * e_lh + e_hh)  # α = 1 and g = 1 at both ears
        placed = (gains**2 * (e_ll + 2.0 * alphas * e_lh + alphas**2 * e_hh)).sum(axis=0)
        tiny = 1e-12 + 1e-6 * centred
        return np.sqrt((centred + tiny) / (placed + tiny))

    def _delayed_whole(self, ear: int, x: np.ndarray) -> np.ndarray:
        """``x`` read exactly :data:`_BASE_DELAY` samples late."""
        line = np.concatenate([self._tails[ear], x])
        self._tails[ear] = line[-self.history :]
        return line[self.history - _BASE_DELAY : len(line) - _BASE_DELAY]

    def _delayed(self, ear: int, x: np.ndarray, delay: np.ndarray) -> np.ndarray:
        """``x`` read ``delay`` samples late (fractional, 4-point Lagrange)."""
        line = np.concatenate([self._tails[ear], x])
        self._tails[ear] = line[-self.history :]
        position = self.history + np.arange(len(x)) - delay
        index = np.floor(position).astype(np.intp)
        f = position - index
        xm1, x0, x1, x2 = (line[index + k] for k in (-1, 0, 1, 2))
        # Lagrange weights for taps at -1, 0, 1, 2 and a fraction f between 0 and 1.
        return (
            xm1 * (-f * (f - 1.0) * (f - 2.0) / 6.0)
            + x0 * ((f + 1.0) * (f - 1.0) * (f - 2.0) / 2.0)
            + x1 * (-(f + 1.0) * f * (f - 2.0) / 2.0)
            + x2 * ((f + 1.0) * f * (f - 1.0) / 6.0)
        )
