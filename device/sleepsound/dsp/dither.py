"""Float blocks to the integers ALSA takes: TPDF-dithered 16-bit, plain 32-bit.

Scaling: float 1.0 is integer full scale ``2^(bits-1)``, the convention soundfile and
most decoders read with, so a float in [-1, 1) maps onto the whole integer range.
Values at or beyond full scale clip to the largest integer of that sign; they never
wrap around (a wrap would turn a loud peak into a full-scale click of opposite sign).

Why dither at 16 bits: plain rounding makes the quantisation error follow the signal.
For quiet material (a fade's tail, a soft sound at low volume in a silent room) that
error is distortion you can hear: harmonics and a grainy, gated noise floor that comes
and goes with the signal. Adding TPDF (triangular) noise of ±1 LSB before rounding
makes the error a steady, signal-independent hiss at about -96 dBFS RMS instead
(0.5 LSB RMS: 1/6 LSB² of dither plus 1/12 LSB² of rounding).

Why no dither at 32 bits: the audio is float32 with a 24-bit mantissa, so rounding to
32 bits changes nothing above -186 dBFS, far below any DAC's own noise (~-120 dBFS);
there is no audible error to decorrelate.

A block that is exactly all zeros converts to exactly zeros: volume 0 and idle
silence stay digital silence, with no dither hiss.
"""

from __future__ import annotations

from typing import Final

import numpy as np

__all__ = ["Ditherer", "to_int16", "to_int32"]

_INT16_SCALE: Final[float] = 32768.0
_INT32_SCALE: Final[float] = 2147483648.0
_INT32_SCALE_F32: Final = np.float32(_INT32_SCALE)
_MAX: Final = np.maximum.reduce
_MIN: Final = np.minimum.reduce


def _check_block(block: np.ndarray) -> np.ndarray:
    """The block as a 2-D float array, or ValueError."""
    block = np.asarray(block)
    if block.ndim != 2:
        raise ValueError(f"expected a (frames, channels) block, got shape {block.shape}")
    return block


def to_int16(block: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Convert a float ``(frames, channels)`` block to int16 with TPDF dither of ±1 LSB.

    The dither is the difference of two uniform [0, 1) LSB draws (triangular on
    (-1, 1) LSB), added before rounding to nearest; the result is clipped to
    [-32768, 32767]. An all-zero block returns zeros without drawing any noise.
    NaN converts to 0. The dither stream is consumed frame by frame, so blocks of any
    size give the same result (as long as no block is all zeros, which draws nothing).
    """
    block = _check_block(block)
    if not block.any():
        return np.zeros(block.shape, dtype=np.int16)
    # One draw of shape (frames, channels, 2): the random stream is consumed in frame
    # order, so converting in blocks of any size gives the same samples.
    uniform = rng.random((*block.shape, 2))
    scaled = block.astype(np.float64) * _INT16_SCALE + (uniform[..., 0] - uniform[..., 1])
    np.nan_to_num(scaled, copy=False, nan=0.0)
    np.rint(scaled, out=scaled)
    np.clip(scaled, -32768.0, 32767.0, out=scaled)
    return scaled.astype(np.int16)


def to_int32(block: np.ndarray) -> np.ndarray:
    """Convert a float ``(frames, channels)`` block to int32 by rounding; no dither.

    Clipped to [-2^31, 2^31 - 1] (so +1.0 becomes 2^31 - 1). NaN converts to 0.
    """
    # The usual case, all in float32 and in range: scaling by a power of two is exact
    # and every float32 below 2^31 in magnitude fits an int32, so the range test can be
    # made before scaling. NaN fails it. The ufuncs' own reduce skips the Python layer
    # of ndarray.max (half the time on an audio block).
    if (
        type(block) is np.ndarray
        and block.dtype == np.float32
        and block.ndim == 2
        and block.size
        and _MAX(block, axis=None) < 1.0
        and _MIN(block, axis=None) >= -1.0
    ):
        scaled = np.multiply(block, _INT32_SCALE_F32)
        np.rint(scaled, out=scaled)
        return scaled.astype(np.int32)
    block = _check_block(block)
    scaled = np.multiply(block, _INT32_SCALE, dtype=np.float64)
    if scaled.size and not np.isfinite(scaled.max() + scaled.min()):
        np.nan_to_num(scaled, copy=False, nan=0.0)
    np.rint(scaled, out=scaled)
    np.clip(scaled, -_INT32_SCALE, _INT32_SCALE - 1.0, out=scaled)
    return scaled.astype(np.int32)


class Ditherer:
    """Owns the dither noise generator; converts blocks for a 16- or 32-bit device.

    ``seed`` makes the dither reproducible (tests); ``None`` seeds from the OS.
    """

    def __init__(self, seed: int | None = None) -> None:
        self._rng = np.random.default_rng(seed)

    def to_int16(self, block: np.ndarray) -> np.ndarray:
        """TPDF-dithered int16 ``(frames, channels)``; see :func:`to_int16`."""
        return to_int16(block, self._rng)

    def to_int32(self, block: np.ndarray) -> np.ndarray:
        """Rounded int32 ``(frames, channels)``; see :func:`to_int32`."""
        return to_int32(block)

    def convert(self, block: np.ndarray, bits: int) -> np.ndarray:
        """Convert for a device taking ``bits`` (16 or 32) bit signed samples."""
        if bits == 16:
            return self.to_int16(block)
        if bits == 32:
            return self.to_int32(block)
        raise ValueError(f"bits must be 16 or 32, got {bits}")
