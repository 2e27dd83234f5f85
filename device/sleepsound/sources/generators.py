"""Generated sounds that never repeat: white, pink and brown noise, binaural beats.

Every generator is a :class:`~sleepsound.sources.base.Source`: ``read(frames)`` returns
the next ``frames`` rows as float32 ``(frames, channels)``, forever. All work is
vectorised over the block and the state between blocks (filter memory, oscillator
phase, random generator) is carried, so reading in blocks of any size produces exactly
the same samples as one big read. Pink and brown noise are made in fixed chunks and
served from them, which is what keeps their output independent of the read sizes.

numpy only, on purpose: this module is on the live audio path, and importing
``scipy.signal`` would cost a Raspberry Pi Zero tens of MB and about a second at start.
Pink and brown noise are IIR filters of white noise, evaluated with cumulative sums
rather than ``lfilter`` (see ``_Section``); they match ``lfilter`` to about 1e-12.

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
# 25 Hz to 20 kHz at 44.1-48 kHz. Its zeros and poles are all real, so it runs as a
# cascade of three first-order sections (see _Section).
_PINK_B: Final[tuple[float, ...]] = (0.049922035, -0.095993537, 0.050612699, -0.004408786)
_PINK_A: Final[tuple[float, ...]] = (1.0, -2.494956002, 2.017265875, -0.522189400)

_BROWN_CORNER_HZ: Final[float] = 10.0
"""Brown noise: leak and DC-blocking corner. -6 dB/octave holds from about 40 Hz up."""

_UNIFORM_CENTRE: Final = np.float32(0.5 - 2.0**-25)
"""Subtracted from numpy's float32 uniform (multiples of 2^-24 in [0, 1)): the result
is the odd multiples of 2^-25 in (-0.5, 0.5), symmetric about zero, computed exactly."""

_UNIFORM_TO_UNIT: Final[float] = math.sqrt(12.0)
"""Uniform noise on (-0.5, 0.5) has variance 1/12."""

_CHUNK_FRAMES: Final[int] = 4096
"""Filtered noise is made this many frames at a time (85 ms at 48 kHz) and served from
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


def _power_gain(gain: float, sections: list[tuple[float, float]]) -> float:
    """Output variance of the cascade for unit-variance white input (the sum of h²).

    The mean of ``|H|²`` over ``L`` equally spaced frequencies is the sum of h² plus
    the autocorrelation at lags ``±L, ±2L…``, which decays like ``pole^L``; ``L`` is
    chosen so that is below e^-64.
    """
    slowest = max(pole for _, pole in sections)
    length = 1 << max(12, math.ceil(math.log2(64.0 / -math.log(slowest))))
    z = np.exp(-2j * np.pi * np.arange(length // 2 + 1) / length)  # e^-jω, 0 … π
    response = np.full(len(z), gain, dtype=complex)
    for zero, pole in sections:
        response *= (1.0 - zero * z) / (1.0 - pole * z)
    power = np.abs(response) ** 2
    # Half the circle, counted twice except for DC and Nyquist.
    return float((2.0 * power.sum() - power[0] - power[-1]) / length)


class _Section:
    """One real zero and one real pole, ``(1 - zero·z⁻¹) / (1 - pole·z⁻¹)``, run on chunks.

    The recursion ``w[n] = pole·w[n-1] + v[n]`` is unrolled without a Python loop:
    over a row of ``M`` frames, ``w[m] = pole^m · (Σ_{i≤m} pole^-i·v[i] + pole·w[-1])``,
    one ``cumsum`` between two multiplications by precomputed powers. ``M`` is the
    longest power-of-two row (at most the chunk) over which ``pole^±m`` stays within
    e^±512 (10^±222), well inside float64; a fast pole's chunk is split into several rows,
    whose end states are chained by a short doubling scan (``log2`` of the row count
    steps). Rounding relative to the output stays near float64 epsilon (the scaled
    partial sums grow together with the powers that undo them), so this matches a
    direct-form IIR to about 1e-12; the chunk layout is fixed, so the result is too.

    The ``cumsum`` is the costly step (each element waits for the previous one). With
    an even channel count, pairs of channels are viewed as one complex number, so
    each step of the running sum advances two channels at once: half the time.
    """

    def __init__(self, zero: float, pole: float, chunk: int, channels: int, gain: float) -> None:
        if not 0.0 < pole < 1.0:
            raise ValueError(f"pole must be in (0, 1) for a stable section, got {pole}")
        self._zero = zero
        self._pole = pole
        row = chunk
        while row > 1 and row * -math.log(pole) > 512.0:
            row //= 2
        self._row = row
        self._rows = chunk // row
        # Channel pairs as complex lanes when they pair up; one float lane each if not.
        paired = channels % 2 == 0
        self._lane_dtype: type[np.generic] = np.complex128 if paired else np.float64
        lanes = channels // 2 if paired else channels
        powers = pole ** np.arange(row, dtype=np.float64)
        # Frame-major like the data, so every product is one flat loop; ``gain`` is
        # folded into the input scaling, where it costs nothing.
        self._down = np.repeat((gain / powers)[:, None], channels, axis=1)
        self._up = np.repeat(powers[:, None], channels, axis=1)
        self._last_up = pole ** (row - 1)
        self._row_decay = pole**row
        self._previous_input = np.zeros(channels)
        self._state = np.zeros(lanes, dtype=self._lane_dtype)

    def run(self, u: np.ndarray) -> np.ndarray:
        """Filter one float64 chunk ``(chunk, channels)``; returns float64 the same shape."""
        if self._zero:
            v = np.empty(u.shape)
            np.multiply(u[:-1], -self._zero, out=v[1:])
            v[1:] += u[1:]
            v[0] = u[0] - self._zero * self._previous_input
            self._previous_input = u[-1].copy()
        else:
            v = u
        scaled = v.reshape(self._rows, self._row, -1) * self._down
        rows = scaled.view(self._lane_dtype)  # (rows, row, lanes)
        rows[0, 0] += self._pole * self._state  # the carry in, summed along with row 0
        np.cumsum(rows, axis=1, out=rows)
        if self._rows == 1:
            self._state = rows[0, -1] * self._last_up
        else:
            # Each row so far starts from rest; its true end is its own end plus the
            # previous row's true end times pole^row: a first-order scan over the rows.
            ends = rows[:, -1] * self._last_up
            step, decay = 1, self._row_decay
            while step < self._rows and decay > 2.0**-60:  # beyond that it no longer shows
                ends[step:] += decay * ends[:-step]
                step, decay = 2 * step, decay * decay
            self._state = ends[-1]
            rows[1:] += (self._pole * ends[:-1])[:, None, :]
        scaled *= self._up
        return scaled.reshape(u.shape)


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
    """White noise through a cascade of real first-order sections, RMS :data:`LEVEL_RMS`.

    Each channel draws its own noise, so channels are uncorrelated. Noise is made
    in chunks of :data:`_CHUNK_FRAMES` and reads are served from the current chunk,
    so the arithmetic never depends on how the caller slices its reads: any read
    sizes yield exactly the same samples (and the per-call cost is paid per chunk).

    The input is uniform white noise, which numpy draws four times faster than
    Gaussian. The spectrum (hence the sound) depends only on the input's variance;
    the output's distribution is a weighted sum of many inputs, Gaussian to within
    an excess kurtosis of -1.2·Σh⁴/(Σh²)²: -0.003 for brown noise, -0.16 for pink
    (whose newest sample carries a third of its power), i.e. marginally fewer peaks.
    """

    def __init__(
        self,
        name: str,
        rate: int,
        channels: int,
        gain: float,
        sections: list[tuple[float, float]],
        seed: int | None,
    ) -> None:
        super().__init__(name, rate, channels)
        self._rng = np.random.default_rng(seed)
        gain *= _UNIFORM_TO_UNIT * LEVEL_RMS / math.sqrt(_power_gain(gain, sections))
        gains = [gain] + [1.0] * (len(sections) - 1)
        self._sections = [
            _Section(zero, pole, _CHUNK_FRAMES, channels, section_gain)
            for (zero, pole), section_gain in zip(sections, gains, strict=True)
        ]
        self._chunk = np.zeros((0, channels), dtype=np.float32)
        self._used = 0

    def read(self, frames: int) -> np.ndarray:
        """Return the next ``frames`` frames as float32 ``(frames, channels)``."""
        self._check_read(frames)
        if self._used + frames <= len(self._chunk):
            # The usual case: a view into the current chunk (C-contiguous rows). Rows
            # once served are never read again, so a caller may modify them in place.
            self._used += frames
            return self._chunk[self._used - frames : self._used]
        out = np.empty((frames, self.channels), dtype=np.float32)
        filled = 0
        while filled < frames:
            if self._used == len(self._chunk):
                self._chunk = self._next_chunk()
                self._used = 0
            take = min(frames - filled, len(self._chunk) - self._used)
            out[filled : filled + take] = self._chunk[self._used : self._used + take]
            filled += take
            self._used += take
        return out

    def _next_chunk(self) -> np.ndarray:
        """The next :data:`_CHUNK_FRAMES` frames, filtered, limited and as float32."""
        # Uniform, not Gaussian, white noise: a quarter of the cost, and after these long
        # filters the sum of many inputs is Gaussian anyway (see the class docstring).
        white = self._rng.random((_CHUNK_FRAMES, self.channels), dtype=np.float32)
        white -= _UNIFORM_CENTRE  # exact: symmetric about 0, so no DC at all
        shaped = white.astype(np.float64)
        for section in self._sections:
            shaped = section.run(shaped)
        return _soft_limit(shaped).astype(np.float32)


class PinkNoise(_FilteredNoise):
    """Pink noise: -3 dB/octave (equal energy per octave), RMS -20 dBFS per channel."""

    def __init__(self, rate: int, channels: int, seed: int | None = None) -> None:
        sections = list(zip(_real_roots(_PINK_B), _real_roots(_PINK_A), strict=True))
        super().__init__("pink-noise", rate, channels, _PINK_B[0], sections, seed)


class BrownNoise(_FilteredNoise):
    """Brown noise: -6 dB/octave, RMS -20 dBFS per channel, no DC.

    A leaky integrator (pole 10 Hz) gives the -6 dB/octave slope without the random
    walk's drift; a zero at DC (a DC blocker, also 10 Hz) removes the inaudible
    infrasound that would otherwise eat headroom and push speaker cones around. The
    zero comes first, so the integrators never see the input's DC.
    """

    def __init__(self, rate: int, channels: int, seed: int | None = None) -> None:
        pole = math.exp(-2.0 * math.pi * _BROWN_CORNER_HZ / rate)
        sections = [(1.0, pole), (0.0, pole)]
        super().__init__("brown-noise", rate, channels, 1.0, sections, seed)


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
