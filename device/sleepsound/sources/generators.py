"""Generated sounds that never repeat: white, pink and brown noise, binaural beats.

Every generator is a :class:`~sleepsound.sources.base.Source`: ``read(frames)`` returns
the next ``frames`` rows as float32 ``(frames, channels)``, forever. All work is
vectorised over the block and the state between blocks (filter memory, oscillator
phase, random generator) is carried, so reading in blocks of any size produces exactly
the same samples as one big read. Pink and brown noise are made in fixed chunks and
served from them, which is what keeps their output independent of the read sizes.

numpy only, on purpose: this module is on the live audio path, and importing
``scipy.signal`` would cost a Raspberry Pi Zero tens of MB and about a second at start.
Pink and brown noise are IIR filters of white noise, evaluated as matrix products
over blocks rather than ``lfilter`` (see ``_BlockFilter``); they match ``lfilter`` to
float32 precision.

Levels: every generator plays at :data:`LEVEL_DB` (-20 dBFS) RMS per channel, where
0 dBFS RMS is a full-scale square wave (RMS 1.0); that is RMS 0.1, leaving 20 dB of
headroom for the engine's gain and mixing. Noise peaks are kept below
:data:`NOISE_PEAK_LIMIT` (0.9) by a soft knee that only touches samples beyond six
standard deviations (a few per hour); binaural sines peak at 0.141 (stereo) or 0.2
(mono).

Spec strings: a generator name, optionally followed by ``:key=value,key=value``
parameters, e.g. ``binaural-delta:carrier=180,beat=2.5``. Only the binaural
generators take parameters (``carrier`` 40–1000 Hz, ``beat`` 0.5–40 Hz).

Binaural beats need headphones: each ear gets its own tone and the brain hears the
difference. Through a single speaker the two tones mix in the air into a plain tone
that wavers in loudness, so with ``channels == 1`` the generator outputs exactly that
on purpose: a monaural beat (both tones summed), which works without headphones.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from typing import Final

import numpy as np

from sleepsound.errors import ParameterError, SoundError, UnknownSoundError
from sleepsound.sources.base import BlockFifo

__all__ = [
    "BINAURAL_BEAT_RANGE_HZ",
    "BINAURAL_CARRIER_RANGE_HZ",
    "GENERATOR_NAMES",
    "LEVEL_DB",
    "NOISE_PEAK_LIMIT",
    "BinauralBeat",
    "BrownNoise",
    "PinkNoise",
    "WhiteNoise",
    "is_generator",
    "open_generator",
    "parse_spec",
]

LEVEL_DB: Final[float] = -20.0
"""RMS level of every generator per channel, dB re a full-scale square wave."""

LEVEL_RMS: Final[float] = 10.0 ** (LEVEL_DB / 20.0)

NOISE_PEAK_LIMIT: Final[float] = 0.9
"""No noise sample ever reaches this magnitude (the soft knee's asymptote)."""

_BELOW_LIMIT_F32: Final[float] = float(np.nextafter(np.float32(0.9), np.float32(0.0)))

_KNEE: Final[float] = 0.6
"""Noise below this magnitude passes untouched: six standard deviations at RMS 0.1."""

BINAURAL_CARRIER_RANGE_HZ: Final[tuple[float, float]] = (40.0, 1000.0)
"""Allowed carrier frequencies: binaural beats are only perceived below about 1 kHz."""

BINAURAL_BEAT_RANGE_HZ: Final[tuple[float, float]] = (0.5, 40.0)
"""Allowed beat frequencies (delta 0.5–4, theta 4–8, up to gamma 40)."""

_BINAURAL_PRESETS: Final[dict[str, tuple[float, float]]] = {
    "binaural-delta": (200.0, 2.0),
    "binaural-theta": (200.0, 6.0),
}

GENERATOR_NAMES: Final[tuple[str, ...]] = (
    "white-noise",
    "pink-noise",
    "brown-noise",
    "binaural-delta",
    "binaural-theta",
)
"""Every generator name accepted by :func:`open_generator`."""

# A 3-pole/3-zero approximation of a 1/f power spectrum (J. O. Smith, "Spectral Audio
# Signal Processing", pink noise example): within ±0.7 dB of -3 dB/octave from about
# 25 Hz to 20 kHz at 44.1-48 kHz. Its poles are real and distinct, so it runs as three
# first-order branches in parallel (see _BlockFilter).
_PINK_B: Final[tuple[float, ...]] = (0.049922035, -0.095993537, 0.050612699, -0.004408786)
_PINK_A: Final[tuple[float, ...]] = (1.0, -2.494956002, 2.017265875, -0.522189400)

_BROWN_LEAK_HZ: Final[float] = 12.5
"""Brown noise: the leaky integrator's corner. -6 dB/octave holds from about 40 Hz up."""

_BROWN_BLOCKER_HZ: Final[float] = 8.0
"""Brown noise: the DC blocker's corner (a distinct pole from the leak's: see _BlockFilter)."""

_INPUT_VARIANCE: Final[float] = (256.0**2 - 1.0) / 12.0
"""Variance of the white input: 256 equally likely values one apart."""

_BLOCK: Final[int] = 32
"""Samples per block of :class:`_BlockFilter`: its products cost about this many
multiply-adds per sample, and its scan over blocks runs on 1/_BLOCK of the samples."""

_SCAN_CUTOFF: Final[float] = 2.0**-40
"""A state decayed by this much no longer shows in a float32 output (2^-24)."""

_SCALED_SUM_SPAN: Final[float] = 600.0
"""Running sums scaled by ``p^-b`` stay within float64 while ``p^-b`` is below e^600."""

_CHUNK_FRAMES: Final[int] = 16384
"""Filtered noise is made this many frames at a time (341 ms at 48 kHz) and served from
the current chunk: the arithmetic then never depends on the caller's read sizes."""


def parse_spec(spec: str) -> tuple[str, dict[str, str]]:
    """Split ``"name:key=value,key=value"`` into the name and a parameter dict.

    Raises :class:`ParameterError` for a parameter without ``=`` or given twice.
    """
    name, _, rest = spec.strip().partition(":")
    params: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ParameterError(
                f"{spec!r}: parameter {item!r} must look like key=value "
                f"(e.g. binaural-delta:carrier=180,beat=2.5)"
            )
        if key in params:
            raise ParameterError(f"{spec!r}: parameter {key!r} is given twice; give it once")
        params[key] = value.strip()
    return name.strip().lower(), params


def is_generator(spec: str) -> bool:
    """True when ``spec`` names a generator (parameters are not checked here)."""
    return parse_spec(spec)[0] in GENERATOR_NAMES


def open_generator(
    spec: str, rate: int, channels: int, seed: int | None = None
) -> WhiteNoise | PinkNoise | BrownNoise | BinauralBeat:
    """Open the generator ``spec`` names at ``rate`` Hz with ``channels`` channels.

    ``seed`` makes noise reproducible (tests); ``None`` seeds from the OS. Raises
    :class:`UnknownSoundError` for an unknown name (the message lists the generators
    and suggests the closest one) and :class:`ParameterError` for bad parameters,
    rate or channel count.
    """
    name, params = parse_spec(spec)
    if name not in GENERATOR_NAMES:
        raise UnknownSoundError(_unknown_message(name))
    _check_format(rate, channels)
    if name in _BINAURAL_PRESETS:
        carrier_hz, beat_hz = _binaural_params(name, params)
        return BinauralBeat(rate, channels, carrier_hz=carrier_hz, beat_hz=beat_hz, name=name)
    if params:
        raise ParameterError(
            f"{name} takes no parameters (got {', '.join(sorted(params))}); use plain {name!r}"
        )
    noise_class = {"white-noise": WhiteNoise, "pink-noise": PinkNoise, "brown-noise": BrownNoise}
    return noise_class[name](rate, channels, seed=seed)


def _unknown_message(name: str) -> str:
    """An unknown-generator message that lists them all and suggests the nearest."""
    close = difflib.get_close_matches(name, GENERATOR_NAMES, n=1, cutoff=0.4)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return f"unknown generator {name!r}.{hint} Generators: {', '.join(GENERATOR_NAMES)}."


def _check_format(rate: int, channels: int) -> None:
    """Reject a sample rate or channel count no generator can produce."""
    if not isinstance(rate, int) or rate < 8000:
        raise ParameterError(f"sample rate must be an integer of at least 8000 Hz, got {rate!r}")
    if not isinstance(channels, int) or channels < 1:
        raise ParameterError(f"channels must be an integer of at least 1, got {channels!r}")


def _binaural_params(name: str, params: Mapping[str, str]) -> tuple[float, float]:
    """The preset's carrier and beat, overridden and range-checked from ``params``."""
    carrier_hz, beat_hz = _BINAURAL_PRESETS[name]
    unknown = sorted(set(params) - {"carrier", "beat"})
    if unknown:
        raise ParameterError(
            f"{name}: unknown parameter(s) {', '.join(unknown)}; it takes carrier and beat "
            f"(e.g. {name}:carrier=180,beat=2.5)"
        )
    if "carrier" in params:
        carrier_hz = _ranged_float(name, "carrier", params["carrier"], BINAURAL_CARRIER_RANGE_HZ)
    if "beat" in params:
        beat_hz = _ranged_float(name, "beat", params["beat"], BINAURAL_BEAT_RANGE_HZ)
    return carrier_hz, beat_hz


def _ranged_float(name: str, key: str, text: str, bounds: tuple[float, float]) -> float:
    """Parse ``text`` as a number within ``bounds`` (Hz) or raise a ParameterError."""
    low, high = bounds
    problem = f"{name}: {key} must be a number from {low:g} to {high:g} Hz, got {text!r}"
    try:
        value = float(text)
    except ValueError:
        raise ParameterError(problem) from None
    if not (math.isfinite(value) and low <= value <= high):
        raise ParameterError(problem)
    return value


def _soft_limit(x: np.ndarray) -> np.ndarray:
    """Leave |x| <= 0.6 untouched; bend larger magnitudes smoothly towards 0.9.

    The knee is continuous in value and slope (tanh), so it adds no click; at RMS 0.1
    Gaussian noise reaches it about once in 10^9 samples.
    """
    # Two reductions and no temporary: the usual answer is "nothing to do".
    if not x.size or (x.max() <= _KNEE and x.min() >= -_KNEE):
        return x
    magnitude = np.abs(x)
    over = magnitude > _KNEE
    if not over.any():
        return x
    span = NOISE_PEAK_LIMIT - _KNEE
    bent = _KNEE + span * np.tanh((magnitude[over] - _KNEE) / span)
    # tanh rounds to 1.0 for huge inputs: keep the strict "< 0.9" promise anyway, also
    # after the cast to float32 (float32(0.9) is slightly above 0.9).
    bent = np.minimum(bent, _BELOW_LIMIT_F32)
    out = x.copy()
    out[over] = np.copysign(bent, x[over])
    return out


def _real_roots(coefficients: tuple[float, ...]) -> list[float]:
    """Roots of ``c[0] + c[1]·z^-1 + …`` (as ``np.roots`` of the coefficients), all real."""
    roots = np.roots(coefficients)
    if np.abs(np.imag(roots)).max(initial=0.0) > 1e-9:
        raise ValueError(f"{coefficients} has complex roots; this filter form needs real ones")
    return sorted(float(r) for r in np.real(roots))


class _BlockFilter:
    """An IIR filter with distinct real poles, run on whole chunks as matrix products.

    Why matrices: numpy evaluates a recursion one pass per pole, and running sums
    (``cumsum``) are serial, several nanoseconds a sample; a matrix product hands the
    arithmetic to BLAS, which does it many samples per instruction. The filter, in
    partial fractions ``H(z) = k + Σ r_i / (1 - p_i z⁻¹)`` (one first-order branch per
    pole, ``w_i[n] = p_i·w_i[n-1] + r_i·x[n]``, output ``k·x[n] + Σ w_i[n]``), is run
    on blocks of ``M`` = :data:`_BLOCK` frames:

    1. ``Y = X·T``: every block filtered from rest (``T`` holds the impulse response
       ``h[0..M-1]`` as a lower-triangular Toeplitz matrix), and ``E = X·G``: the
       state each branch reaches at the block's end, from rest;
    2. the state each block starts from, ``s[b] = p^M·s[b-1] + E[b-1]``, is a
       first-order recursion over blocks (``M`` times fewer values than samples):
       running sums scaled by ``p^∓b`` for slow poles, a doubling scan (log₂ steps,
       cut short once ``p^(M·step)`` no longer shows in float32) for fast ones;
    3. ``Y += s·O`` adds what those start states contribute, ``p_i^(m+1)·s_i`` at
       frame ``m`` of the block.

    Frame-major ``(frames, lanes)`` data is used as it lies: a row of ``X`` is one
    block of every lane interleaved, and the matrices are ``kron(·, I_lanes)``, so no
    transposition is ever needed. The products are float32 (the output's own
    precision, about 1e-7 relative); the start states are float64 and carried
    between chunks, so errors do not build up at block or chunk boundaries or over
    hours (the filter is stable: an error decays rather than grows).
    """

    def __init__(self, b: tuple[float, ...], a: tuple[float, ...], lanes: int, frames: int) -> None:
        if len(b) > len(a) or a[0] != 1.0 or frames % _BLOCK:
            raise ValueError("expects deg B <= deg A, a[0] == 1 and whole blocks")
        poles = np.array(sorted(_real_roots(a), key=abs))
        if not (np.abs(poles) < 1.0).all() or len(set(poles)) < len(poles):
            raise ValueError(f"poles must be distinct and inside the unit circle: {poles}")
        numerator = np.polynomial.Polynomial(b)  # B(w), w = z⁻¹
        residues = np.array(
            [numerator(1.0 / p) / np.prod([1.0 - q / p for q in poles if q != p]) for p in poles]
        )
        m = np.arange(_BLOCK)
        impulse = (residues[None, :] * poles[None, :] ** m[:, None]).sum(axis=1)
        impulse[0] += b[0] - residues.sum()  # the direct term: h[0] = k + Σ r_i
        # Σ h², in closed form: the output variance for unit-variance white input.
        branches = np.outer(residues, residues) / (1.0 - np.outer(poles, poles))
        self.power_gain = float(branches.sum() + impulse[0] ** 2 - residues.sum() ** 2)
        toeplitz = np.zeros((_BLOCK, _BLOCK))
        for row in range(_BLOCK):
            toeplitz[row, : row + 1] = impulse[row::-1]
        ends = residues[None, :] * poles[None, :] ** (_BLOCK - 1 - m[:, None])
        identity = np.eye(lanes)
        self._lanes = lanes
        self._blocks = frames // _BLOCK
        self._block_response = np.kron(toeplitz.T, identity).astype(np.float32)
        self._end_state = np.kron(ends, identity).astype(np.float32)
        self._state_response = np.kron(poles[:, None] ** (m + 1), identity).astype(np.float32)
        # Start states are rows (pole-major, lane-minor), blocks along the row.
        decay = np.repeat(poles**_BLOCK, lanes)
        self._block_decay = decay
        with np.errstate(divide="ignore"):
            span = self._blocks * -np.log(np.abs(decay))
        self._slow = int(np.searchsorted(-span, -_SCALED_SUM_SPAN))  # rows from here: slow
        powers = np.arange(self._blocks)
        self._scale_down = decay[self._slow :, None] ** -powers
        self._scale_up = decay[self._slow :, None] ** powers
        self._doubling: list[tuple[int, int, np.ndarray]] = []
        step, factor = 1, decay[: self._slow].copy()
        while step < self._blocks:
            live = np.flatnonzero(np.abs(factor) > _SCAN_CUTOFF)
            if not len(live):
                break
            first = int(live[0])  # sorted by |pole|: the live rows are the last ones
            self._doubling.append((step, first, factor[first:, None].copy()))
            step, factor = 2 * step, factor * factor
        self._state = np.zeros(len(decay))

    def scale_input(self, gain: float) -> None:
        """Multiply the filter by ``gain`` (the output level, for a known input level)."""
        self._block_response *= np.float32(gain)
        self._end_state *= np.float32(gain)

    def run(self, x: np.ndarray) -> np.ndarray:
        """Filter float32 ``(frames, lanes)`` (C order); return the same shape and type."""
        rows = x.reshape(self._blocks, _BLOCK * self._lanes)
        y = rows @ self._block_response
        ends = rows @ self._end_state
        starts = np.empty((len(self._state), self._blocks))
        starts[:, 0] = self._state
        starts[:, 1:] = ends[:-1].T
        slow = starts[self._slow :]
        slow *= self._scale_down
        np.cumsum(slow, axis=1, out=slow)
        slow *= self._scale_up
        for step, first, factor in self._doubling:
            starts[first : self._slow, step:] += factor * starts[first : self._slow, :-step]
        self._state = starts[:, -1] * self._block_decay + ends[-1]
        y += starts.T.astype(np.float32) @ self._state_response
        return y.reshape(x.shape)


class _Closable:
    """Shared ``rate``/``channels`` bookkeeping and the closed check."""

    def __init__(self, name: str, rate: int, channels: int) -> None:
        _check_format(rate, channels)
        self.name = name
        self.rate = rate
        self.channels = channels
        self._closed = False

    def close(self) -> None:
        """Mark the generator closed; further reads raise :class:`SoundError`."""
        self._closed = True

    def _check_read(self, frames: int) -> None:
        if self._closed:
            raise SoundError(f"{self.name} generator is closed; open a new one")
        if frames < 0:
            raise ValueError(f"frames must be >= 0, got {frames}")


class WhiteNoise(_Closable):
    """White noise: flat spectrum, Gaussian, RMS -20 dBFS per channel.

    Each channel draws its own noise, so channels are uncorrelated. The random
    generator is read frame-major, which keeps the draw order (and so the output)
    independent of the block size.
    """

    def __init__(self, rate: int, channels: int, seed: int | None = None) -> None:
        super().__init__("white-noise", rate, channels)
        self._rng = np.random.default_rng(seed)

    def read(self, frames: int) -> np.ndarray:
        """Return the next ``frames`` frames as float32 ``(frames, channels)``."""
        self._check_read(frames)
        white = self._rng.standard_normal((frames, self.channels), dtype=np.float32)
        white *= np.float32(LEVEL_RMS)
        return _soft_limit(white)


class _FilteredNoise(_Closable):
    """White noise through an IIR filter (see :class:`_BlockFilter`), RMS :data:`LEVEL_RMS`.

    Each channel draws its own noise, so channels are uncorrelated. Noise is made
    in chunks of :data:`_CHUNK_FRAMES` and reads are served from the current chunk,
    so the arithmetic never depends on how the caller slices its reads: any read
    sizes yield exactly the same samples (and the per-call cost is paid per chunk).

    The input is white noise of 256 evenly spaced, equally likely values
    (±0.5 … ±127.5: symmetric, so no DC at all), made from random bytes: a quarter of
    the cost of uniform floats, a tenth of Gaussian ones. Its spectrum is exactly
    flat (the values are independent), so the output's spectrum is exactly the
    filter's; and each output sample is a weighted sum of many inputs, so its
    distribution is Gaussian to within an excess kurtosis of -1.2·Σh⁴/(Σh²)²:
    -0.003 for brown noise, -0.16 for pink (whose newest sample carries a third of
    its power), i.e. marginally fewer peaks.
    """

    def __init__(
        self,
        name: str,
        rate: int,
        channels: int,
        b: tuple[float, ...],
        a: tuple[float, ...],
        seed: int | None,
    ) -> None:
        super().__init__(name, rate, channels)
        self._rng = np.random.default_rng(seed)
        self._filter = _BlockFilter(b, a, channels, _CHUNK_FRAMES)
        self._filter.scale_input(LEVEL_RMS / math.sqrt(_INPUT_VARIANCE * self._filter.power_gain))
        self._pending = BlockFifo(channels)

    def read(self, frames: int) -> np.ndarray:
        """Return the next ``frames`` frames as float32 ``(frames, channels)``."""
        self._check_read(frames)
        while self._pending.frames < frames:
            self._pending.push(self._next_chunk())
        return self._pending.pop(frames)

    def _white(self) -> np.ndarray:
        """The next chunk of white input, float32 ``(frames, channels)``."""
        count = _CHUNK_FRAMES * self.channels
        raw = self._rng.integers(0, 1 << 64, count // 8, dtype=np.uint64, endpoint=False)
        white = np.add(raw.view(np.int8), np.float32(0.5), dtype=np.float32)
        return white.reshape(_CHUNK_FRAMES, self.channels)

    def _next_chunk(self) -> np.ndarray:
        """The next :data:`_CHUNK_FRAMES` frames, filtered, limited and as float32."""
        return _soft_limit(self._filter.run(self._white()))


class PinkNoise(_FilteredNoise):
    """Pink noise: -3 dB/octave (equal energy per octave), RMS -20 dBFS per channel."""

    def __init__(self, rate: int, channels: int, seed: int | None = None) -> None:
        super().__init__("pink-noise", rate, channels, _PINK_B, _PINK_A, seed)


class BrownNoise(_FilteredNoise):
    """Brown noise: -6 dB/octave, RMS -20 dBFS per channel, no DC.

    A leaky integrator (pole at :data:`_BROWN_LEAK_HZ`) gives the -6 dB/octave slope
    without the random walk's drift; a zero at DC with its own pole (a DC blocker at
    :data:`_BROWN_BLOCKER_HZ`) removes the inaudible infrasound that would otherwise
    eat headroom and push speaker cones around. Together:
    ``(1 - z⁻¹) / ((1 - p_blocker·z⁻¹)(1 - p_leak·z⁻¹))``.
    """

    def __init__(self, rate: int, channels: int, seed: int | None = None) -> None:
        super().__init__("brown-noise", rate, channels, (1.0, -1.0), brown_poles(rate), seed)


def brown_poles(rate: int) -> tuple[float, float, float]:
    """The brown filter's denominator ``(1, a1, a2)`` at ``rate`` Hz."""
    blocker, leak = (
        math.exp(-2.0 * math.pi * hz / rate) for hz in (_BROWN_BLOCKER_HZ, _BROWN_LEAK_HZ)
    )
    return (1.0, -(blocker + leak), blocker * leak)


_PHASE_BITS: Final[int] = 64
_PHASE_WRAP: Final[int] = 1 << _PHASE_BITS


class BinauralBeat(_Closable):
    """Two sine carriers, ``carrier - beat/2`` on the left and ``carrier + beat/2`` on the right.

    The ears differ by exactly ``beat_hz``. With one channel the two tones are summed
    (a monaural beat, for a speaker); with more than two, even channels get the left
    tone and odd channels the right. RMS is -20 dBFS per channel either way.

    Phase is a 64-bit fixed-point fraction of a cycle that wraps on its own (unsigned
    overflow), the integer equivalent of a float64 phase wrapped to [0, 1): it never
    loses precision however long it plays (2^-64 cycle resolution, frequency error
    below 10^-14 Hz), and block-rendered output is bit-identical to one big block.
    Each sample's sine is taken in float32 from the phase's top 24 bits, read as a
    signed fraction of a cycle in [-1/2, 1/2) (exact in float32): that rounds the
    phase by at most 2^-25 cycle, a few float32 ulps of the output (about -130 dB),
    where float64 would cost four times as much for nothing a float32 output keeps.
    """

    def __init__(
        self,
        rate: int,
        channels: int,
        carrier_hz: float = 200.0,
        beat_hz: float = 2.0,
        name: str = "binaural",
    ) -> None:
        super().__init__(name, rate, channels)
        for key, value, (low, high) in (
            ("carrier", carrier_hz, BINAURAL_CARRIER_RANGE_HZ),
            ("beat", beat_hz, BINAURAL_BEAT_RANGE_HZ),
        ):
            if not (math.isfinite(value) and low <= value <= high):
                raise ParameterError(
                    f"{name}: {key} must be from {low:g} to {high:g} Hz, got {value!r}"
                )
        self.carrier_hz = float(carrier_hz)
        self.beat_hz = float(beat_hz)
        freqs = (self.carrier_hz - self.beat_hz / 2.0, self.carrier_hz + self.beat_hz / 2.0)
        self.frequencies_hz: tuple[float, float] = freqs
        self._increment = np.array(
            [round(f / rate * _PHASE_WRAP) % _PHASE_WRAP for f in freqs], dtype=np.uint64
        )
        self._phase = np.zeros(2, dtype=np.uint64)
        # One tone per ear at RMS 0.1 (amplitude 0.1·√2); summed, two tones of
        # amplitude 0.1 each add in power to RMS 0.1.
        self._amplitude = LEVEL_RMS * (1.0 if channels == 1 else math.sqrt(2.0))

    def read(self, frames: int) -> np.ndarray:
        """Return the next ``frames`` frames as float32 ``(frames, channels)``."""
        self._check_read(frames)
        steps = np.arange(frames, dtype=np.uint64)
        with np.errstate(over="ignore"):
            # Tone-major (2, frames): each product is one long loop, not pairs.
            phase = self._phase[:, None] + self._increment[:, None] * steps  # wraps mod 2^64
            self._phase = self._phase + np.uint64(frames) * self._increment
        # Top 24 bits as a signed fraction of a cycle: exact in float32, |angle| <= π.
        turns = (phase.view(np.int64) >> np.int64(_PHASE_BITS - 24)).astype(np.float32)
        tones = np.sin(turns * np.float32(2.0 * np.pi * 2.0**-24))
        tones *= np.float32(self._amplitude)
        if self.channels == 1:
            return (tones[0] + tones[1])[:, None]
        return np.ascontiguousarray(tones[np.arange(self.channels) % 2].T)
