"""Procedural textures: rain, surf, a fan, tapping, brushing, paper — made on the device.

Each texture is an endless :class:`~sleepsound.sources.base.Source` driven by a
preset (``sounds/<id>.toml``, see :mod:`sleepsound.sources.presets`) whose
``[parameters]`` table sets its character. Nothing is a recording, so nothing
ever loops: every stretch is new.

How they are made
-----------------
* Audio is rendered internally in fixed chunks of :data:`CHUNK` frames and served
  from a small queue, so the samples depend only on the seed and never on the
  block size the engine reads with. Within a chunk everything is numpy
  (:mod:`sleepsound.dsp.iir` for the filters):
  filters keep their state across chunks (``sosfilt`` with ``zi``), slow
  wanderings are Ornstein–Uhlenbeck processes stepped once per chunk and
  interpolated per sample. Python loops run over *events* (a tap, a stroke, a page),
  never over samples.
* Closeness: the two ears get independent noise (low interaural correlation) and
  events are placed left or right with a level difference and an interaural delay
  of up to 0.6 ms; strokes and page turns move across the head while they sound.
* Never startling: every event has a soft attack (raised-cosine, milliseconds,
  never a step) and event levels are drawn from narrow ranges, so peaks stay
  within about 20 dB of the texture's loudness (``tests/test_textures.py``
  measures it); the library's tamer backs this up.
* Levels: each preset's ``level_db`` is calibrated so the texture measures about
  -23 LUFS; the library's loudness matching then trims the rest.

Output is stereo; on a mono output the two sides are averaged (the independent
sides then simply add up, nothing cancels).

Every texture also takes, from its preset or the spec (``rain:move=ear-to-ear,speed=8``):

* ``move=still|ear-to-ear|around`` and ``speed`` (seconds per pass): the texture,
  gathered to one point, travels around the head (:mod:`sleepsound.sources.movement`).
  Headphones only: on a mono output the sound stays still and centred.
* ``spells=true`` and ``density`` (0.1-1): the texture comes and goes in spells of a
  few minutes with quiet pauses between (:mod:`sleepsound.sources.spells`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from sleepsound.dsp import iir
from sleepsound.errors import ParameterError
from sleepsound.sources.base import BlockFifo
from sleepsound.sources.movement import (
    DEFAULT_SPEED_S,
    MOVES,
    SPEED_RANGE_S,
    HeadModel,
    Trajectory,
    control_points,
)
from sleepsound.sources.spells import DEFAULT_DENSITY, DENSITY_RANGE, Spells

if TYPE_CHECKING:
    from sleepsound.sources.presets import Preset

# The few scipy.signal calls made here, in numpy alone: scipy.signal would cost the
# daemon some 75 MB for good the first time a texture played (see sleepsound.dsp.iir).
signal: Any = iir

CHUNK = 4096
"""Frames rendered at a time internally (fixed, so output is block-size invariant)."""
MAX_ITD_S = 0.0006
"""Largest interaural time difference: a sound right beside one ear."""
_Stereo = np.ndarray  # (frames, 2) float64


# ----------------------------------------------------------------- building blocks


class _Params:
    """Typed, range-checked access to a preset's ``[parameters]``; typos are errors."""

    def __init__(self, values: Mapping[str, Any], where: str) -> None:
        self.values = dict(values)
        self.where = where
        self.used: set[str] = set()

    def number(self, key: str, default: float, low: float, high: float) -> float:
        self.used.add(key)
        value = self.values.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ParameterError(f"{self.where}: parameter {key} must be a number, not {value!r}")
        if not (low <= value <= high) or not math.isfinite(value):
            raise ParameterError(
                f"{self.where}: parameter {key} = {value} is outside {low:g}..{high:g}"
            )
        return float(value)

    def span(
        self, key: str, default: tuple[float, float], low: float, high: float
    ) -> tuple[float, float]:
        """A ``[min, max]`` pair within ``low..high``."""
        self.used.add(key)
        value = self.values.get(key, list(default))
        ok = (
            isinstance(value, list)
            and len(value) == 2
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        )
        if not ok or not (low <= value[0] <= value[1] <= high):
            raise ParameterError(
                f"{self.where}: parameter {key} must be [min, max] within {low:g}..{high:g}, "
                f"not {value!r}"
            )
        return float(value[0]), float(value[1])

    def choice(self, key: str, default: str, options: tuple[str, ...]) -> str:
        """One of ``options``."""
        self.used.add(key)
        value = self.values.get(key, default)
        if value not in options:
            raise ParameterError(
                f"{self.where}: parameter {key} must be one of {', '.join(options)}, not {value!r}"
            )
        return str(value)

    def flag(self, key: str, default: bool) -> bool:
        """``true`` or ``false``."""
        self.used.add(key)
        value = self.values.get(key, default)
        if not isinstance(value, bool):
            raise ParameterError(
                f"{self.where}: parameter {key} must be true or false, not {value!r}"
            )
        return value

    def check_unknown(self) -> None:
        unknown = sorted(set(self.values) - self.used)
        if unknown:
            raise ParameterError(
                f"{self.where}: unknown parameter(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(self.used))}"
            )


class _Filter:
    """A stereo IIR filter (second-order sections) whose state runs on across chunks."""

    def __init__(self, sos: np.ndarray, channels: int = 2) -> None:
        self.sos = sos
        self.zi = np.zeros((sos.shape[0], 2, channels))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        y, self.zi = signal.sosfilt(self.sos, x, axis=0, zi=self.zi)
        return y


class _Wander:
    """A slow random drift (Ornstein–Uhlenbeck), stepped per chunk, ramped per sample."""

    def __init__(self, rng: np.random.Generator, rate: int, tau_s: float, sigma: float) -> None:
        chunk_s = CHUNK / rate
        self.rng = rng
        self.keep = math.exp(-chunk_s / tau_s)
        self.kick = sigma * math.sqrt(1.0 - self.keep**2)
        self.value = float(rng.normal(0.0, sigma))
        self._ramp = np.arange(1, CHUNK + 1) / CHUNK

    def step(self) -> np.ndarray:
        new = self.keep * self.value + self.kick * float(self.rng.standard_normal())
        out = self.value + (new - self.value) * self._ramp
        self.value = new
        return out


class _OverlapAdd:
    """Events longer than a chunk spill into the next ones through this accumulator."""

    def __init__(self) -> None:
        self.buf = np.zeros((4 * CHUNK, 2))

    def add(self, offset: int, wave: _Stereo) -> None:
        end = offset + len(wave)
        if end > len(self.buf):
            grown = np.zeros((max(end, 2 * len(self.buf)), 2))
            grown[: len(self.buf)] = self.buf
            self.buf = grown
        self.buf[offset:end] += wave

    def take(self, n: int) -> _Stereo:
        out = self.buf[:n].copy()
        self.buf[:-n] = self.buf[n:]
        self.buf[-n:] = 0.0
        return out


def _db(level_db: float) -> float:
    return 10.0 ** (level_db / 20.0)


def _pan_gains(pan: np.ndarray | float) -> tuple[Any, Any]:
    """Constant-power gains (left, right) for pan -1 (left) .. +1 (right)."""
    theta = (np.asarray(pan, dtype=np.float64) + 1.0) * (math.pi / 4.0)
    return np.cos(theta), np.sin(theta)


def _place(mono: np.ndarray, pan: float, rate: int, far: np.ndarray | None = None) -> _Stereo:
    """Put an event at ``pan``: level difference plus the far ear's delay.

    ``far`` is what the far ear hears if it differs (reflections, head shadow);
    by default both ears hear ``mono``.
    """
    far_wave = mono if far is None else far
    gl, gr = _pan_gains(pan)
    delay = round(abs(pan) * MAX_ITD_S * rate)
    out = np.zeros((max(len(mono), len(far_wave) + delay), 2))
    near_side, far_side = (1, 0) if pan >= 0 else (0, 1)
    gains = (gl, gr)
    out[: len(mono), near_side] = mono * gains[near_side]
    out[delay : delay + len(far_wave), far_side] = far_wave * gains[far_side]
    return out


def _sweep(wave: _Stereo, pan_from: float, pan_to: float) -> _Stereo:
    """Move a stereo event from ``pan_from`` to ``pan_to`` while it sounds."""
    gl, gr = _pan_gains(np.linspace(pan_from, pan_to, len(wave)))
    return wave * np.stack([gl, gr], axis=1)


def _soft_envelope(frames: int, attack: int, release: int) -> np.ndarray:
    """1 in the middle, raised-cosine attack and release (never a step)."""
    env = np.ones(frames)
    attack, release = min(attack, frames // 2), min(release, frames - frames // 2)
    if attack > 0:
        env[:attack] = 0.5 - 0.5 * np.cos(np.pi * (np.arange(attack) + 0.5) / attack)
    if release > 0:
        env[frames - release :] *= 0.5 + 0.5 * np.cos(np.pi * (np.arange(release) + 0.5) / release)
    return env


def _decorrelated(rng: np.random.Generator, frames: int, correlation: float) -> _Stereo:
    """Stereo Gaussian noise with the given interaural correlation, unit power per side."""
    a = rng.standard_normal((frames, 2))
    # L = c·x + s·y, R = s·x + c·y has correlation 2cs = sin(2φ).
    phi = 0.5 * math.asin(max(-1.0, min(1.0, correlation)))
    c, s = math.cos(phi), math.sin(phi)
    return np.stack([c * a[:, 0] + s * a[:, 1], s * a[:, 0] + c * a[:, 1]], axis=1)


def _bandpass(low_hz: float, high_hz: float, rate: int, order: int = 2) -> np.ndarray:
    nyquist = rate / 2.0
    high_hz = min(high_hz, 0.45 * rate)
    low_hz = min(low_hz, 0.9 * high_hz)
    return signal.butter(order, [low_hz / nyquist, high_hz / nyquist], "bandpass", output="sos")


def _resonator(freq_hz: float, decay_s: float, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """A two-pole resonance ringing at ``freq_hz`` that decays by 60 dB in ``decay_s``."""
    freq_hz = min(freq_hz, 0.45 * rate)
    radius = math.exp(-6.91 / (decay_s * rate))
    w = 2.0 * math.pi * freq_hz / rate
    a = np.array([1.0, -2.0 * radius * math.cos(w), radius * radius])
    b = np.array([1.0 - radius, 0.0, 0.0])
    return b, a


class _Room:
    """The faint noise of the room events sound in, so between them is never digital silence."""

    def __init__(
        self, rng: np.random.Generator, rate: int, band_hz: tuple[float, float], level_db: float
    ) -> None:
        self.rng = rng
        self.filter = _Filter(_bandpass(*band_hz, rate, order=1))
        self.level = _db(level_db)

    def render(self) -> _Stereo:
        """The next :data:`CHUNK` frames of room noise."""
        return self.filter(self.rng.standard_normal((CHUNK, 2))) * self.level


# ----------------------------------------------------------------- the base class


class Texture:
    """Base of every texture: fixed-chunk rendering, movement, spells, stereo to mono, closing."""

    engine = ""
    point_source = False
    """True when :meth:`render` gives one column: a single voice, placed by the base."""

    def __init__(self, preset: Preset, rate: int, channels: int, seed: int | None) -> None:
        if channels not in (1, 2):
            raise ParameterError(f"textures play on 1 or 2 channels, not {channels}")
        if not 8000 <= rate <= 192000:
            raise ParameterError(f"textures need a rate from 8000 to 192000 Hz, not {rate}")
        self.preset = preset
        self.rate = rate
        self.channels = channels
        self.rng = np.random.default_rng(seed)
        where = str(preset.path) if preset.path else preset.id
        self.params = _Params(preset.parameters, where)
        self.gain = _db(self.params.number("level_db", 0.0, -60.0, 20.0))
        self.head, self.path = self._movement()
        self.spells = self._spells()
        self.events = _OverlapAdd()
        self.clock = 0
        """Frames rendered so far (the start of the next chunk)."""
        self._queue = BlockFifo(channels)
        self._closed = False

    def _movement(self) -> tuple[HeadModel | None, Trajectory | None]:
        """The ``move``/``speed`` parameters: a head model and path, or none when still."""
        move = self.params.choice("move", "still", MOVES)
        speed_s = self.params.number("speed", DEFAULT_SPEED_S, *SPEED_RANGE_S)
        # Mono: ears summed with different delays would comb-filter; stay centred.
        if move == "still" or self.channels == 1:
            return None, None
        # Always setting off rightwards draws nothing from the generator, so a moving
        # texture is the still one, placed: same seed, same sound.
        return HeadModel(self.rate), Trajectory(move, speed_s, self.rate)

    def _spells(self) -> Spells | None:
        """The ``spells``/``density`` parameters: an envelope, or none."""
        on = self.params.flag("spells", False)
        density = self.params.number("density", DEFAULT_DENSITY, *DENSITY_RANGE)
        if not on:
            return None
        ebb = _Wander(self.rng, self.rate, tau_s=40.0, sigma=1.5)
        return Spells(self.rng, self.rate, density, ebb.step)

    def _ready(self) -> None:
        """Call at the end of a subclass ``__init__``: rejects unknown parameters."""
        self.params.check_unknown()

    def render(self) -> _Stereo:
        """Render the next :data:`CHUNK` frames (subclasses)."""
        raise NotImplementedError

    def read(self, frames: int) -> np.ndarray:
        """Return the next ``frames`` frames as ``(frames, channels)`` float32."""
        if self._closed:
            raise ValueError(f"texture {self.preset.id} is closed")
        while self._queue.frames < frames:
            chunk = self._place(self.render()) * self.gain
            if self.spells is not None:
                chunk *= self.spells.envelope(self.clock, CHUNK)[:, None]
            self.clock += CHUNK
            if self.channels == 1:
                chunk = chunk.mean(axis=1, keepdims=True)
            self._queue.push(chunk)
        return self._queue.pop(frames)

    def _place(self, chunk: _Stereo) -> _Stereo:
        """Move the chunk around the head if asked; give a one-column voice its two ears."""
        if self.head is not None and self.path is not None:
            if chunk.shape[1] == 1:
                mono = chunk[:, 0]
            else:  # gathered to one point; power kept for uncorrelated sides
                mono = (chunk[:, 0] + chunk[:, 1]) * math.sqrt(0.5)
            points = control_points(len(chunk))
            return self.head.render(mono, self.path.azimuth(self.clock + points))
        if chunk.shape[1] == 1 and self.channels == 2:
            return np.repeat(chunk, 2, axis=1)
        return chunk

    def close(self) -> None:
        """Release buffers; reading afterwards is an error."""
        self._closed = True
        self._queue = BlockFifo(self.channels)

    def _run_events(self, next_at: int, fire: Callable[[int], float]) -> int:
        """Fire every event due in this chunk; return when the next one falls.

        ``fire(offset)`` makes the event starting ``offset`` frames into the chunk
        and returns the seconds until the event after it.
        """
        end = self.clock + CHUNK
        while next_at < end:
            gap_s = fire(next_at - self.clock)
            next_at += max(1, round(gap_s * self.rate))
        return next_at


# ----------------------------------------------------------------- rain


class Rain(Texture):
    """Steady rain: a hiss of distant drops plus near drops ticking left and right."""

    engine = "rain"

    def __init__(self, preset: Preset, rate: int, channels: int, seed: int | None) -> None:
        super().__init__(preset, rate, channels, seed)
        p = self.params
        self.drops_per_s = p.number("drops_per_s", 60.0, 0.0, 2000.0)
        self.drop_level = _db(p.number("drop_level_db", -8.0, -60.0, 0.0))
        self.wash_level = _db(p.number("wash_level_db", 0.0, -60.0, 0.0))
        low, high = p.span("wash_band_hz", (300.0, 7000.0), 20.0, 20000.0)
        wander_db = p.number("wander_db", 1.0, 0.0, 12.0)
        self.correlation = p.number("correlation", 0.15, 0.0, 0.9)
        self._ready()
        self.wash = _Filter(_bandpass(low, high, rate))
        self.rumble = _Filter(signal.butter(2, 250.0 / (rate / 2), output="sos"))
        self.intensity = _Wander(self.rng, rate, tau_s=9.0, sigma=wander_db)
        # Drops ring at a few pitches (leaves, puddles, a sill); each has its own filter.
        self.pitches = [_Filter(self._drop_sos(f)) for f in (1400.0, 2600.0, 4300.0, 6200.0)]

    def _drop_sos(self, freq_hz: float) -> np.ndarray:
        b, a = _resonator(freq_hz, 0.025, self.rate)
        return signal.tf2sos(b, a)

    def render(self) -> _Stereo:
        n = CHUNK
        swell = 10.0 ** (self.intensity.step() / 20.0)
        noise = _decorrelated(self.rng, n, self.correlation)
        out = self.wash(noise) * (0.25 * self.wash_level)
        out += self.rumble(self.rng.standard_normal((n, 2))) * 0.12 * self.wash_level
        expected = self.drops_per_s * n / self.rate
        for ring in self.pitches:
            impulses = np.zeros((n, 2))
            for side in (0, 1):
                count = self.rng.poisson(expected / len(self.pitches) / 2.0)
                if count:
                    where = self.rng.integers(0, n, count)
                    size = np.minimum(self.rng.lognormal(0.0, 0.45, count), 2.5)
                    np.add.at(impulses[:, side], where, size)
            out += ring(impulses) * (3.0 * self.drop_level)
        return out * swell[:, None]


# ----------------------------------------------------------------- ocean surf


class Surf(Texture):
    """Waves on a beach: slow irregular swells, each breaking somewhere left to right."""

    engine = "surf"

    def __init__(self, preset: Preset, rate: int, channels: int, seed: int | None) -> None:
        super().__init__(preset, rate, channels, seed)
        p = self.params
        self.period = p.span("period_s", (8.0, 14.0), 3.0, 60.0)
        self.wash_level = _db(p.number("wash_level_db", -14.0, -60.0, 0.0))
        self.foam_level = _db(p.number("foam_level_db", -6.0, -60.0, 6.0))
        self.correlation = p.number("correlation", 0.2, 0.0, 0.9)
        self._ready()
        nyquist = rate / 2
        self.dark = _Filter(
            signal.butter(2, [40.0 / nyquist, 700.0 / nyquist], "bandpass", output="sos")
        )
        self.bright = _Filter(_bandpass(900.0, 9000.0, rate))
        self.swell_start = 0
        self._new_swell(first=True)

    def _new_swell(self, first: bool = False) -> None:
        rng = self.rng
        self.swell_len = round(rng.uniform(*self.period) * self.rate)
        self.swell_rise = rng.uniform(0.3, 0.5)
        self.swell_amp = rng.uniform(0.55, 1.0)
        side = rng.choice([-1.0, 1.0])
        self.pan_from = side * rng.uniform(0.1, 0.8)
        self.pan_to = self.pan_from - side * rng.uniform(0.3, 1.0)
        if first:  # start part-way into a swell, quietly
            self.swell_start = -round(self.swell_len * rng.uniform(0.6, 0.9))

    def _envelope(self, phase: np.ndarray) -> np.ndarray:
        """Swell shape over 0..1: a slow rise, a crest, a long draining fall."""
        rise = self.swell_rise
        up = 0.5 - 0.5 * np.cos(np.pi * np.clip(phase / rise, 0.0, 1.0))
        fall_phase = np.clip((phase - rise) / (1.0 - rise), 0.0, 1.0)
        down = (1.0 - fall_phase) ** 1.6 * (0.5 + 0.5 * np.cos(np.pi * fall_phase))
        return np.where(phase < rise, up, down) * self.swell_amp

    def render(self) -> _Stereo:
        n = CHUNK
        env = np.empty(n)
        pan = np.empty(n)
        pos = 0
        while pos < n:
            t = self.clock + pos - self.swell_start
            if t >= self.swell_len:
                self.swell_start += self.swell_len
                self._new_swell()
                continue
            take = min(n - pos, self.swell_len - t)
            phase = (t + np.arange(take)) / self.swell_len
            env[pos : pos + take] = self._envelope(phase)
            pan[pos : pos + take] = self.pan_from + (self.pan_to - self.pan_from) * phase
            pos += take
        dark = self.dark(_decorrelated(self.rng, n, self.correlation))
        bright = self.bright(_decorrelated(self.rng, n, self.correlation))
        gl, gr = _pan_gains(pan)
        placed = np.stack([0.6 + 0.8 * gl, 0.6 + 0.8 * gr], axis=1) / 1.4
        crash = env[:, None] * (dark + self.foam_level * env[:, None] * bright) * placed
        return self.wash_level * (dark + 0.3 * bright) + crash


# ----------------------------------------------------------------- fan


class Fan(Texture):
    """A room fan: steady broadband air with a gentle, slowly wavering blade tone."""

    engine = "fan"

    def __init__(self, preset: Preset, rate: int, channels: int, seed: int | None) -> None:
        super().__init__(preset, rate, channels, seed)
        p = self.params
        self.blade_hz = p.number("blade_hz", 52.0, 10.0, 400.0)
        self.blade_level = _db(p.number("blade_level_db", -20.0, -80.0, 0.0))
        self.hum_hz = p.number("hum_hz", 100.0, 0.0, 400.0)
        self.hum_level = _db(p.number("hum_level_db", -34.0, -80.0, 0.0))
        cutoff = p.number("air_cutoff_hz", 1400.0, 100.0, 12000.0)
        self.chop = p.number("blade_chop", 0.06, 0.0, 0.5)
        self.correlation = p.number("correlation", 0.3, 0.0, 0.9)
        self._ready()
        nyquist = rate / 2
        self.air = _Filter(signal.butter(2, min(cutoff, 0.45 * rate) / nyquist, output="sos"))
        self.hiss = _Filter(_bandpass(2000.0, 8000.0, rate, order=1))
        self.highpass = _Filter(signal.butter(1, 40.0 / nyquist, "highpass", output="sos"))
        self.speed = _Wander(self.rng, rate, tau_s=6.0, sigma=0.004)
        self.level = _Wander(self.rng, rate, tau_s=12.0, sigma=0.5)
        self.phase = 0.0
        self.hum_phase = 0.0

    def render(self) -> _Stereo:
        n = CHUNK
        freq = self.blade_hz * (1.0 + self.speed.step())
        phases = self.phase + np.cumsum(2.0 * np.pi * freq / self.rate)
        self.phase = float(phases[-1] % (2.0 * np.pi))
        noise = _decorrelated(self.rng, n, self.correlation)
        air = self.highpass(self.air(noise) + 0.05 * self.hiss(noise))
        air *= (1.0 + self.chop * np.sin(phases))[:, None]
        tone = np.sin(phases) + 0.35 * np.sin(2.0 * phases + 0.7) + 0.12 * np.sin(3.0 * phases)
        hum_step = 2.0 * np.pi * self.hum_hz / self.rate
        hum_phases = self.hum_phase + hum_step * np.arange(1, n + 1)
        self.hum_phase = float(hum_phases[-1] % (2.0 * np.pi))
        hum = np.sin(hum_phases)
        mono = self.blade_level * tone + self.hum_level * hum
        # The tone reaches the ears a hair apart: a fan beside the bed, not inside the head.
        stereo = np.stack([mono, np.roll(mono, 3) * 0.9], axis=1)
        stereo[:3, 1] = mono[:3] * 0.9
        level = 10.0 ** (self.level.step() / 20.0)
        return (0.5 * air + stereo) * level[:, None]


# ----------------------------------------------------------------- tapping


class Tapping(Texture):
    """Finger and nail taps on a surface: soft bursts at irregular intervals."""

    engine = "tapping"

    def __init__(self, preset: Preset, rate: int, channels: int, seed: int | None) -> None:
        super().__init__(preset, rate, channels, seed)
        p = self.params
        self.burst = p.span("taps_per_burst", (3.0, 8.0), 1.0, 40.0)
        self.tap_gap_s = p.span("tap_gap_s", (0.08, 0.18), 0.03, 2.0)
        self.pause_s = p.span("pause_s", (0.6, 3.0), 0.0, 30.0)
        self.nail = p.number("nail_mix", 0.35, 0.0, 1.0)
        self.modes = p.span("surface_hz", (260.0, 1900.0), 50.0, 8000.0)
        self.room = _Room(
            self.rng, rate, (80.0, 3000.0), p.number("room_level_db", -42.0, -90.0, 0.0)
        )
        self._ready()
        self.next_at = round(self.rng.uniform(0.1, 0.6) * rate)
        self.left_in_burst = 0
        self.pan = float(self.rng.uniform(-0.8, 0.8))
        # One surface for the session: a desk has its own resonances.
        low, high = self.modes
        self.surface = sorted(self.rng.uniform(low, high, 3))

    def _gap(self) -> float:
        if self.left_in_burst > 0:
            self.left_in_burst -= 1
            return float(self.rng.uniform(*self.tap_gap_s))
        self.left_in_burst = int(self.rng.integers(round(self.burst[0]), round(self.burst[1]) + 1))
        self.pan = float(np.clip(self.pan + self.rng.normal(0.0, 0.5), -0.9, 0.9))
        return float(self.rng.uniform(*self.pause_s))

    def _ring(self, pulse: np.ndarray, decays: np.ndarray, detune: np.ndarray) -> np.ndarray:
        """The surface's response to one excitation (lowest mode dominant, as on a desk)."""
        body = np.zeros(len(pulse))
        for freq, weight, decay, tune in zip(
            self.surface, (1.0, 0.5, 0.3), decays, detune, strict=True
        ):
            b, a = _resonator(freq * tune, decay, self.rate)
            body += weight * signal.lfilter(b, a, pulse)
        return body

    def _tap(self) -> tuple[np.ndarray, np.ndarray]:
        """One tap as the near ear and the far ear hear it."""
        rng, rate = self.rng, self.rate
        length = round(0.35 * rate)
        excite = round(rng.uniform(0.003, 0.006) * rate)
        window = np.hanning(excite + 2)[1:-1]
        decays = rng.uniform(0.12, 0.25, 3)
        detune = rng.uniform(0.97, 1.03, 3)
        pulses = np.zeros((2, length))
        pulses[:, :excite] = rng.standard_normal((2, excite)) * window
        near = self._ring(pulses[0], decays, detune)
        # The far ear hears the same tap by other paths: partly a different ring.
        far = 0.5 * near + 0.6 * self._ring(pulses[1], decays, detune)
        scale = 1.0 / (max(np.max(np.abs(near)), np.max(np.abs(far))) + 1e-12)
        near, far = near * scale, far * scale
        if rng.random() < self.nail:
            click = signal.lfilter(*_resonator(rng.uniform(2500.0, 4200.0), 0.02, rate), pulses[0])
            click *= 0.25 / (np.max(np.abs(click)) + 1e-12)
            near, far = near + click, far + 0.3 * click
        # A couple of milliseconds of fade-in: a fingertip lands, it does not snap.
        env = _soft_envelope(length, round(0.002 * rate), round(0.15 * rate))
        level = _db(rng.uniform(-2.0, 0.0))
        return near * env * level, far * env * level

    def _fire(self, offset: int) -> float:
        pan = float(np.clip(self.pan + self.rng.normal(0.0, 0.08), -1.0, 1.0))
        near, far = self._tap()
        self.events.add(offset, _place(near, pan, self.rate, far=far) * 0.5)
        return self._gap()

    def render(self) -> _Stereo:
        self.next_at = self._run_events(self.next_at, self._fire)
        return self.events.take(CHUNK) + self.room.render()


# ----------------------------------------------------------------- brushing


class Brushing(Texture):
    """Soft brush strokes: filtered noise that sweeps across, back and forth."""

    engine = "brushing"

    def __init__(self, preset: Preset, rate: int, channels: int, seed: int | None) -> None:
        super().__init__(preset, rate, channels, seed)
        p = self.params
        self.stroke_s = p.span("stroke_s", (0.35, 1.1), 0.05, 5.0)
        self.gap_s = p.span("gap_s", (0.08, 0.6), 0.0, 10.0)
        self.strokes = p.span("strokes_per_set", (3.0, 8.0), 1.0, 50.0)
        self.pause_s = p.span("pause_s", (0.8, 3.5), 0.0, 30.0)
        self.band = p.span("band_hz", (1500.0, 7000.0), 100.0, 16000.0)
        self.room = _Room(
            self.rng, rate, (100.0, 4000.0), p.number("room_level_db", -44.0, -90.0, 0.0)
        )
        self._ready()
        self.flutter_sos = signal.butter(1, 40.0 / (rate / 2), output="sos")
        self.next_at = round(self.rng.uniform(0.1, 0.5) * rate)
        self.left_in_set = 0
        self.direction = 1.0
        self.centre = float(self.rng.uniform(-0.5, 0.5))

    def _gap(self) -> float:
        """Seconds from the end of a stroke to the start of the next."""
        if self.left_in_set > 0:
            self.left_in_set -= 1
            return float(self.rng.uniform(*self.gap_s))
        self.left_in_set = int(
            self.rng.integers(round(self.strokes[0]), round(self.strokes[1]) + 1)
        )
        self.centre = float(np.clip(self.centre + self.rng.normal(0.0, 0.5), -0.7, 0.7))
        return float(self.rng.uniform(*self.pause_s))

    def _stroke(self) -> _Stereo:
        rng, rate = self.rng, self.rate
        n = round(float(rng.uniform(*self.stroke_s)) * rate)
        low, high = self.band
        centre = math.exp(rng.uniform(math.log(low * 1.2), math.log(high / 1.2)))
        # Each ear hears its own bristles (low interaural correlation: close, not inside).
        noise = _decorrelated(rng, n, 0.25)
        a = signal.sosfilt(_bandpass(centre / 1.8, centre * 1.4, rate), noise, axis=0)
        b = signal.sosfilt(_bandpass(centre / 1.2, centre * 2.2, rate), noise, axis=0)
        sweep = np.linspace(0.0, 1.0, n) if rng.random() < 0.5 else np.linspace(1.0, 0.0, n)
        tone = a * (1.0 - sweep[:, None]) + b * sweep[:, None]
        # Bristles: a quick, shallow flutter on the level.
        flutter = signal.sosfilt(self.flutter_sos, rng.standard_normal(n))
        flutter = np.clip(1.0 + 0.35 * flutter / (np.std(flutter) + 1e-12), 0.2, 2.0)
        env = _soft_envelope(n, round(0.3 * n), round(0.4 * n))
        wave = tone * (flutter * env)[:, None]
        wave /= np.sqrt(np.mean(wave**2)) + 1e-12
        self.direction = -self.direction
        reach = float(rng.uniform(0.2, 0.6))
        pan_from = float(np.clip(self.centre - self.direction * reach, -1, 1))
        pan_to = float(np.clip(self.centre + self.direction * reach, -1, 1))
        level = 0.12 * math.sqrt(2.0) * _db(rng.uniform(-3.0, 0.0))
        return _sweep(wave, pan_from, pan_to) * level

    def _fire(self, offset: int) -> float:
        stroke = self._stroke()
        self.events.add(offset, stroke)
        return len(stroke) / self.rate + self._gap()

    def render(self) -> _Stereo:
        self.next_at = self._run_events(self.next_at, self._fire)
        return self.events.take(CHUNK) + self.room.render()


# ----------------------------------------------------------------- paper


class Paper(Texture):
    """Paper: soft rustles, crinkles and now and then a page turning."""

    engine = "paper"

    def __init__(self, preset: Preset, rate: int, channels: int, seed: int | None) -> None:
        super().__init__(preset, rate, channels, seed)
        p = self.params
        self.rustle_gap_s = p.span("rustle_gap_s", (0.4, 3.0), 0.05, 120.0)
        self.rustle_s = p.span("rustle_s", (0.25, 1.4), 0.05, 10.0)
        self.crinkle = p.number("crinkle", 0.6, 0.0, 1.0)
        self.page_gap_s = p.span("page_gap_s", (14.0, 40.0), 1.0, 600.0)
        self.page_level = _db(p.number("page_level_db", 0.0, -40.0, 6.0))
        self.rustle_level = _db(p.number("rustle_level_db", 0.0, -60.0, 6.0))
        self.room = _Room(
            self.rng, rate, (100.0, 4000.0), p.number("room_level_db", -46.0, -90.0, 0.0)
        )
        self._ready()
        # Fixed filters are designed once: each design costs about as much as a chunk.
        self.crackle_sos = _bandpass(1800.0, 9000.0, rate)
        self.page_low_sos = _bandpass(400.0, 1800.0, rate)
        self.page_high_sos = _bandpass(1500.0, 6000.0, rate)
        self.flap_sos = signal.butter(2, 250.0 / (rate / 2), output="sos")
        self.next_rustle = round(self.rng.uniform(0.2, 1.0) * rate)
        self.next_page = round(self.rng.uniform(2.0, 8.0) * rate)

    def _crackle(self, n: int, density_per_s: float) -> np.ndarray:
        """Sparse tiny clicks (the fibres giving way), filtered bright."""
        rng = self.rng
        count = rng.poisson(density_per_s * n / self.rate)
        impulses = np.zeros(n)
        if count:
            np.add.at(impulses, rng.integers(0, n, count), rng.lognormal(0.0, 0.5, count))
        return signal.sosfilt(self.crackle_sos, impulses)

    def _rustle(self) -> _Stereo:
        rng, rate = self.rng, self.rate
        n = round(rng.uniform(*self.rustle_s) * rate)
        centre = math.exp(rng.uniform(math.log(1200.0), math.log(4500.0)))
        band = _bandpass(centre / 2.0, centre * 2.0, rate)
        hiss = signal.sosfilt(band, rng.standard_normal(n))
        hiss /= np.sqrt(np.mean(hiss**2)) + 1e-12
        # Crackle peaks are set against the hiss's own peaks, so a crinkle is crisp
        # without standing out as a click.
        crackle = self._crackle(n, rng.uniform(150.0, 600.0) * self.crinkle)
        crackle *= 3.0 / (np.max(np.abs(crackle)) + 1e-12)
        env = _soft_envelope(n, round(rng.uniform(0.15, 0.4) * n), round(0.4 * n))
        other = signal.sosfilt(band, rng.standard_normal(n))
        other /= np.sqrt(np.mean(other**2)) + 1e-12
        pan = float(rng.uniform(-0.9, 0.9))
        near = (hiss + self.crinkle * crackle) * env
        far = (0.6 * hiss + 0.8 * other) * env  # the far ear hears the sheet differently
        gl, gr = _pan_gains(pan)
        stereo = np.stack([near, far], axis=1) if pan < 0 else np.stack([far, near], axis=1)
        stereo *= np.array([gl, gr]) * math.sqrt(2.0)
        level = 0.05 * self.rustle_level * _db(rng.uniform(-6.0, 0.0))
        return stereo * level

    def _page(self) -> _Stereo:
        rng, rate = self.rng, self.rate
        n = round(rng.uniform(0.8, 1.4) * rate)
        noise = _decorrelated(rng, n, 0.3)
        low = signal.sosfilt(self.page_low_sos, noise, axis=0)
        high = signal.sosfilt(self.page_high_sos, noise, axis=0)
        lift = (np.linspace(0.0, 1.0, n) ** 1.5)[:, None]
        swoosh = low * (1.0 - 0.6 * lift) + high * lift
        swoosh /= np.sqrt(np.mean(swoosh**2)) + 1e-12
        env = _soft_envelope(n, round(0.55 * n), round(0.4 * n))
        wave = swoosh * env[:, None]
        # Fingers find the corner: a few crisp fibres at the start, no louder than the hiss.
        grab = self._crackle(n, 300.0) * _soft_envelope(n, round(0.01 * n), round(0.25 * n))
        grab[round(0.3 * n) :] = 0.0
        wave += (0.8 / (np.max(np.abs(grab)) + 1e-12)) * grab[:, None] * np.array([1.0, 0.6])
        # The page settles: a soft low flap as it lands.
        flap_n = round(0.06 * rate)
        flap = signal.sosfilt(self.flap_sos, rng.standard_normal(flap_n))
        flap *= _soft_envelope(flap_n, round(0.012 * rate), round(0.04 * rate))
        flap *= 0.6 / (np.max(np.abs(flap)) + 1e-12)
        start = n - flap_n - round(0.05 * rate)
        wave[start : start + flap_n] += flap[:, None]
        side = float(rng.choice([-1.0, 1.0]))
        level = 0.06 * math.sqrt(2.0) * self.page_level * _db(rng.uniform(-3.0, 0.0))
        return _sweep(wave, 0.7 * side, -0.6 * side) * level

    def _fire_rustle(self, offset: int) -> float:
        self.events.add(offset, self._rustle())
        return float(self.rng.uniform(*self.rustle_gap_s))

    def _fire_page(self, offset: int) -> float:
        self.events.add(offset, self._page())
        return float(self.rng.uniform(*self.page_gap_s))

    def render(self) -> _Stereo:
        self.next_rustle = self._run_events(self.next_rustle, self._fire_rustle)
        self.next_page = self._run_events(self.next_page, self._fire_page)
        return self.events.take(CHUNK) + self.room.render()
