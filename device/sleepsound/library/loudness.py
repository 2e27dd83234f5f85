"""Loudness: measured once per sound, cached, turned into a gain.

Method (ITU-R BS.1770-4 via pyloudnorm)
---------------------------------------
pyloudnorm's :class:`~pyloudnorm.Meter` K-weights the audio and computes the
loudness of 400 ms gating blocks (75 % overlap). We never hand it a whole file:

* files whose peaks stand more than 20 dB above their loudness are measured as
  the tamer (:mod:`levelled`) will play them, so taming does not leave them
  quieter than the rest;
* files up to ``whole_file_max_s`` (20 min) are read in 10.3 s chunks that start
  every 10 s, so the chunks' gating blocks tile the file exactly (only the
  K-weighting filter restarts at each chunk, which moves the result by far less
  than 0.1 LU);
* longer files are measured on a bounded, deterministic sample: ``excerpts``
  (60) excerpts of ``excerpt_s`` (10 s) spread evenly from start to end, i.e.
  10 minutes of audio whatever the file's length. Sleep material is steady, so the
  sample lands well within 1 LU of the full measurement; memory stays at one
  chunk.

The block loudnesses of all chunks are pooled and gated once, as BS.1770 does for
one long signal: absolute gate at -70 LUFS, relative gate 10 LU below the
absolute-gated mean. Files shorter than a gating block are measured as the loop
they are played as.

What is measured is exactly the signal the output plays: every chunk goes through
the same channel mapping as the file source (:func:`~sleepsound.sources.soundfiles.
map_channels`: all channels averaged for a mono output, the front pair kept for a
stereo one, mono copied to both ears), and the loudness is the sum of the mapped
channels' K-weighted powers (every output channel weighs 1: they are all speakers
in front of the listener). A measurement therefore belongs to one output layout
(``out_channels``); the cache keeps one per layout.

Built-in sounds are measured by rendering 30 s of them. Results are cached by
:mod:`sleepsound.library.loudness_cache` and handed out as gains by
:mod:`sleepsound.library.loudness_service`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from sleepsound.errors import SoundFileError
from sleepsound.library.levelled import CEILING_ABOVE_LOUDNESS_DB, make_tamer
from sleepsound.sources.base import Source
from sleepsound.sources.soundfiles import map_channels

TARGET_LUFS = -23.0
"""EBU R128 programme loudness: every sound is brought here before the volume knob."""
PROVISIONAL_LUFS = -14.0
"""What an unmeasured file is assumed to be: loud (a mastered track), so it starts quiet."""
MAX_BOOST_DB = 30.0
"""The most a sound is ever raised: a sound quieter than ``target - 30`` LUFS (-53 at
the default target) stays quieter than the rest rather than bringing its noise floor
up, and a mismeasured one cannot come out tens of dB too loud."""
MAX_CUT_DB = -40.0
"""The most a sound is ever lowered (a full-scale square wave needs about -26 dB)."""
BLOCK_S = 0.4
HOP_S = 0.1
ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
READ_PIECE_FRAMES = 65536
"""Frames decoded at a time while measuring, before the channel mapping shrinks them."""
BUILTIN_RENDER_S = 30.0
BUILTIN_RATE = 48000


@dataclass(frozen=True)
class Measurement:
    """The loudness of one sound as one output layout plays it."""

    lufs: float
    """Integrated loudness of the sound as played on ``out_channels`` channels; -inf
    when silent."""
    peak_db: float
    """Highest sample peak seen while measuring (as played), dBFS."""
    channels: int
    """The sound's own channel count."""
    method: str
    """``whole`` or ``sampled NxTs`` (see the module docstring)."""
    measured_s: float
    """Seconds of audio the measurement looked at."""
    out_channels: int = 2
    """The output layout measured for (the channel count of the output)."""

    def to_json(self) -> dict[str, Any]:
        """JSON-ready fields (infinities as ``None``)."""
        data = asdict(self)
        for key in ("lufs", "peak_db"):
            if not math.isfinite(data[key]):
                data[key] = None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Measurement:
        """Inverse of :meth:`to_json`."""
        fields = dict(data)
        for key in ("lufs", "peak_db"):
            if fields.get(key) is None:
                fields[key] = -math.inf
        return cls(
            lufs=float(fields["lufs"]),
            peak_db=float(fields["peak_db"]),
            channels=int(fields["channels"]),
            method=str(fields["method"]),
            measured_s=float(fields["measured_s"]),
            out_channels=int(fields["out_channels"]),
        )


# ---------------------------------------------------------------- pure core


def gated_loudness(block_lufs: np.ndarray) -> float:
    """Integrated loudness (LUFS) from BS.1770 gating-block loudnesses (pure).

    ``block_lufs`` are the loudness values of 400 ms blocks (channel-weighted
    sums, as pyloudnorm's ``blockwise_loudness``). Returns ``-inf`` for silence.
    """
    blocks = np.asarray(block_lufs, dtype=np.float64)
    blocks = blocks[np.isfinite(blocks) & (blocks >= ABSOLUTE_GATE_LUFS)]
    if blocks.size == 0:
        return -math.inf
    power = 10.0 ** ((blocks + 0.691) / 10.0)
    relative_gate = -0.691 + 10.0 * math.log10(power.mean()) + RELATIVE_GATE_LU
    kept = power[blocks > relative_gate]
    if kept.size == 0:
        return -math.inf
    return -0.691 + 10.0 * math.log10(kept.mean())


def plan_reads(
    frames: int,
    rate: int,
    whole_file_max_s: float = 1200.0,
    excerpts: int = 60,
    excerpt_s: float = 10.0,
    chunk_s: float = 10.0,
) -> tuple[list[tuple[int, int]], str]:
    """Which (start, length) frame ranges to measure, and the method's name (pure)."""
    block = round(BLOCK_S * rate)
    hop = round(HOP_S * rate)
    if frames <= whole_file_max_s * rate:
        step = round(chunk_s * rate)
        reads = []
        for start in range(0, frames, step):
            length = min(step + block - hop, frames - start)
            if length >= block or start == 0:
                reads.append((start, length))
        return reads, "whole"
    length = round(excerpt_s * rate)
    starts = np.linspace(0, frames - length, excerpts).round().astype(np.int64)
    return [(int(s), length) for s in starts], f"sampled {excerpts}x{excerpt_s:g}s"


def gain_for(measurement: Measurement, target_lufs: float) -> float:
    """Gain (dB) that brings the sound to ``target_lufs`` on its output layout (pure).

    The gain is bounded by :data:`MAX_BOOST_DB` and :data:`MAX_CUT_DB`, and a silent
    sound gets 0 dB.
    """
    if not math.isfinite(measurement.lufs):
        return 0.0
    return float(np.clip(target_lufs - measurement.lufs, MAX_CUT_DB, MAX_BOOST_DB))


def provisional_gain(target_lufs: float, builtin: bool) -> float:
    """The gain to start with before a sound has been measured (pure).

    Built-in sounds are designed at the target; a file is assumed to be loud, so
    it starts too quiet rather than too loud and ramps up once measured.
    """
    return 0.0 if builtin else min(0.0, target_lufs - PROVISIONAL_LUFS)


# ---------------------------------------------------------------- measuring


class _Accumulator:
    """Pools pyloudnorm block powers over chunks of the signal an output plays."""

    def __init__(self, rate: int, channels: int, out_channels: int) -> None:
        # pyloudnorm pulls in scipy.signal (~75 MB, a second of start-up on a Pi): load it
        # only when something is actually measured (in a worker process, for the daemon).
        import pyloudnorm

        self.meter = pyloudnorm.Meter(rate, block_size=BLOCK_S)
        self.rate = rate
        self.channels = channels
        self.out_channels = out_channels
        self.blocks: list[np.ndarray] = []
        self.peak = 0.0
        self.seconds = 0.0

    def add(self, data: np.ndarray) -> None:
        """Add a chunk already mapped to the output's ``out_channels`` channels."""
        data = np.asarray(data, dtype=np.float64)
        if data.ndim == 1:
            data = data[:, None]
        self.seconds += len(data) / self.rate
        if len(data) == 0:
            return
        self.peak = max(self.peak, float(np.max(np.abs(data))))
        block = round(BLOCK_S * self.rate)
        if len(data) < block:  # a short loop: measure it as it is heard, repeated
            data = np.tile(data, (math.ceil(block / len(data)), 1))[:block]
        # Each output channel weighs 1; a channel the mapping copied is measured once.
        measured: list[tuple[np.ndarray, np.ndarray]] = []
        total: np.ndarray | None = None
        for column in data.T:
            power = next((p for c, p in measured if np.array_equal(c, column)), None)
            if power is None:
                power = self._block_power(column)
                measured.append((column, power))
            total = power if total is None else total + power
        assert total is not None
        with np.errstate(divide="ignore"):
            self.blocks.append(-0.691 + 10.0 * np.log10(total))

    def _block_power(self, column: np.ndarray) -> np.ndarray:
        """K-weighted mean square of each gating block of one channel."""
        self.meter.integrated_loudness(column)
        loudness = np.asarray(self.meter.blockwise_loudness, dtype=np.float64)
        return 10.0 ** ((loudness + 0.691) / 10.0)

    def result(self, method: str) -> Measurement:
        lufs = gated_loudness(np.concatenate(self.blocks)) if self.blocks else -math.inf
        peak_db = 20.0 * math.log10(self.peak) if self.peak > 0 else -math.inf
        return Measurement(lufs, peak_db, self.channels, method, self.seconds, self.out_channels)


def measure_file(path: Path, out_channels: int = 2, **plan: Any) -> Measurement:
    """Measure a sound file's loudness on an ``out_channels`` output, never loading it whole.

    See the module docstring.
    When the file has transients that the tamer will cut (peaks more than
    :data:`CEILING_ABOVE_LOUDNESS_DB` above its loudness), the loudness that counts
    is the one heard *after* taming: the reads are measured again through the same
    limiter playback uses, up to twice, until the figure settles. ``plan`` takes
    :func:`plan_reads` keywords. Raises :class:`SoundFileError`.
    """
    try:
        with sf.SoundFile(str(path)) as f:
            reads, method = plan_reads(f.frames, f.samplerate, **plan)
            result = _measure_reads(f, reads, method, None, out_channels)
            peak_db = result.peak_db
            for _ in range(2):
                if not math.isfinite(result.lufs):
                    break
                if peak_db - result.lufs <= CEILING_ABOVE_LOUDNESS_DB:
                    break
                tamed = _measure_reads(f, reads, method + ", tamed", result.lufs, out_channels)
                settled = abs(tamed.lufs - result.lufs) < 0.05
                result = replace(tamed, peak_db=peak_db)
                if settled:
                    break
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as error:
        raise SoundFileError(f"{path.name}: cannot measure loudness ({error})") from error
    return result


def _measure_reads(
    f: sf.SoundFile,
    reads: list[tuple[int, int]],
    method: str,
    tamed_at: float | None,
    out_channels: int,
) -> Measurement:
    """Measure the planned reads as the output plays them (mapped like the file source);
    ``tamed_at`` (LUFS) runs them through the tamer first."""
    acc = _Accumulator(f.samplerate, f.channels, out_channels)
    for start, length in reads:
        f.seek(start)
        data = _read_mapped(f, length, out_channels)
        if tamed_at is not None and len(data):
            data = _tame_like_playback(data, f.samplerate, tamed_at)
        acc.add(data)
    return acc.result(method)


def _read_mapped(f: sf.SoundFile, frames: int, out_channels: int) -> np.ndarray:
    """Read ``frames`` frames mapped to the output, a piece at a time.

    Only the mapped signal is ever whole: ten seconds of a 192 kHz 8-channel file would
    be 60 MB as decoded, its stereo mapping a quarter of that.
    """
    pieces = []
    while frames > 0:
        piece = f.read(min(frames, READ_PIECE_FRAMES), dtype="float32", always_2d=True)
        if len(piece) == 0:
            break
        pieces.append(map_channels(piece, out_channels))
        frames -= len(piece)
    if not pieces:
        return np.zeros((0, out_channels), np.float32)
    return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)


def _tame_like_playback(data: np.ndarray, rate: int, loudness: float) -> np.ndarray:
    """``data`` as the tamer leaves it when the sound is levelled from ``loudness``."""
    gain = 10.0 ** ((TARGET_LUFS - loudness) / 20.0)
    tamer = make_tamer(rate, data.shape[1], TARGET_LUFS)
    latency = tamer.latency_frames
    padded = np.concatenate([data * np.float32(gain), np.zeros((latency, data.shape[1]), "f4")])
    return tamer.process(padded)[latency:] / np.float32(gain)


def measure_source(source: Source, seconds: float = BUILTIN_RENDER_S) -> Measurement:
    """Measure ``seconds`` of an endless source (opened at the output's channel count)."""
    acc = _Accumulator(source.rate, source.channels, source.channels)
    remaining = round(seconds * source.rate)
    step = 10 * source.rate
    while remaining > 0:
        n = min(step, remaining)
        acc.add(source.read(n))
        remaining -= n
    return acc.result(f"rendered {seconds:g}s")
