"""A keep-alive tone: enough signal for a headband's silence detector, nothing for the ear.

Bluetooth headbands switch themselves off after some seconds (often 5-10 minutes, some
far less) of *digital silence* while connected: while sleepsound is paused, or between
the end of a sleep timer and the morning, the headband would drop and the next play would
find no output. Playing this tone while paused keeps the stream non-silent.

What it is: a :data:`FREQUENCY_HZ` (20 Hz) sine, the same on every channel (no beat
between ears), at :data:`PEAK_DB` (-40 dBFS peak, -43 dBFS RMS), mixed after the
volume (the engine adds it behind the user's volume and the sleep fade, with a
:data:`FADE_S` fade each way: no click when it starts or stops).

Why a detector sees it and a person does not:

- A silence detector works on the decoded samples. Digital silence is zero, or at most
  the last bit or two of dither (-90 dBFS and below in 16 bits); -40 dBFS is 50 dB above
  that, and SBC/AAC code a steady low tone without trouble.
- The ear: the threshold of hearing at 20 Hz is about 78 dB SPL (ISO 226:2003), against
  about 0-5 dB SPL at 1-4 kHz. Even a headphone turned fully up, playing a full-scale
  1 kHz sine at ~110 dB SPL, would play this tone at ≤ 70 dB SPL if its driver were flat
  down to 20 Hz, 8 dB under the threshold; the small drivers in a headband fall off by
  10 dB or more there, and the volume a sleeper uses is far below full. So it stays
  below hearing with a wide margin, at a level that does not depend on the user's volume
  (a tone scaled by a quiet volume could sink to where a detector calls it silence).
- At 20 Hz the second and third harmonics a driver may add sit at -40 dBFS minus the
  driver's distortion (-30 dB or better): about -70 dBFS at 40-60 Hz, where the hearing
  threshold is still 50-60 dB SPL.

Pure numpy; phase is carried between reads, so blocks of any size join seamlessly.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np

from sleepsound.dsp.gain import Envelope, ramp_frames
from sleepsound.errors import ParameterError

__all__ = ["FADE_S", "FREQUENCY_HZ", "PEAK_DB", "RMS_DB", "KeepAlive", "KeepAliveTone"]

FREQUENCY_HZ: Final[float] = 20.0
"""The tone's frequency: the bottom of human hearing, where the threshold is ~78 dB SPL."""

PEAK_DB: Final[float] = -40.0
"""The tone's peak level in dBFS (a sine's RMS is 3 dB lower)."""

RMS_DB: Final[float] = PEAK_DB - 10.0 * math.log10(2.0)
"""The tone's RMS level per channel in dBFS re a full-scale square wave (about -43)."""

FADE_S: Final[float] = 0.5
"""How long the engine fades the tone in or out: a whole number of its 50 ms periods."""

_PEAK: Final[float] = 10.0 ** (PEAK_DB / 20.0)


class KeepAliveTone:
    """The keep-alive sine as a :class:`~sleepsound.sources.base.Source` (endless)."""

    def __init__(self, rate: int, channels: int) -> None:
        if not isinstance(rate, int) or rate < 8000:
            raise ParameterError(f"sample rate must be at least 8000 Hz, got {rate!r}")
        if not isinstance(channels, int) or channels < 1:
            raise ParameterError(f"channels must be at least 1, got {channels!r}")
        self.rate = rate
        self.channels = channels
        self._step = 2.0 * math.pi * FREQUENCY_HZ / rate
        self._position = 0
        """Frames read so far, modulo one period's worth of frames when that is whole."""
        period = rate / FREQUENCY_HZ
        self._wrap = int(period) if period == int(period) else 0
        self._closed = False

    def read(self, frames: int) -> np.ndarray:
        """The next ``frames`` frames, float32 ``(frames, channels)``, continuing the phase."""
        if self._closed:
            raise ParameterError("the keep-alive tone was closed")
        index = np.arange(self._position, self._position + frames, dtype=np.float64)
        self._position += frames
        if self._wrap:
            self._position %= self._wrap  # keeps the float phase exact however long it runs
        wave = (_PEAK * np.sin(self._step * index)).astype(np.float32)
        return np.repeat(wave[:, None], self.channels, axis=1)

    def close(self) -> None:
        """Nothing to release; later reads are refused."""
        self._closed = True


class KeepAlive:
    """The tone as the engine mixes it: opened when asked for, faded in and out over
    :data:`FADE_S`, closed once faded out, at its fixed level whatever the volume."""

    def __init__(self, rate: int, channels: int) -> None:
        self.rate = rate
        self.channels = channels
        self._tone: KeepAliveTone | None = None
        self._level = Envelope(rate, 0.0)

    @property
    def active(self) -> bool:
        """True while the tone sounds or fades (open)."""
        return self._tone is not None

    def follow(self, on: bool) -> None:
        """Fade the tone in (opening it) or out."""
        if on and self._tone is None:
            self._tone = KeepAliveTone(self.rate, self.channels)
        self._level.move_to(1.0 if on else 0.0, ramp_frames(FADE_S, self.rate), "db")

    def skip(self, frames: int) -> None:
        """Move its fade on by ``frames`` (time the output was away)."""
        self._level.skip(frames)

    def add(
        self, out: np.ndarray | None, frames: int, back: float | np.ndarray
    ) -> np.ndarray | None:
        """Add the tone × its own fade × ``back`` (the engine's return fade) into ``out``."""
        tone = self._tone
        if tone is None:
            return out
        level = self._level
        gain = (level.render(frames) if level.is_moving else level.value) * back
        block = tone.read(frames)
        if isinstance(gain, np.ndarray):
            block *= gain.astype(np.float32, copy=False)[:, None]
        else:
            block *= np.float32(gain)
        if not level.is_moving and level.value == 0.0:
            tone.close()
            self._tone = None
        if out is None:
            return block
        out += block
        return out
