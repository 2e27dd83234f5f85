"""A real-time output without a sound card: keeps pace with a clock, optionally records.

Serves the demo on machines without sound and real-time tests: ``write`` returns at
the pace a sound card would take the samples, keeping at most one buffer ahead.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from sleepsound.outputs.filewriter import FileOutput


class ClockOutput:
    """Consumes blocks in real time; writes them to ``record`` (a WAV path) if given."""

    def __init__(
        self,
        rate: int = 48000,
        channels: int = 2,
        period_frames: int = 1024,
        periods: int = 4,
        record: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self.channels = channels
        self.period_frames = period_frames
        self.buffer_frames = period_frames * periods
        self.underruns = 0
        self.record = record
        self._recorder = FileOutput(record, rate, channels) if record else None
        self._clock = clock
        self._sleep = sleep
        self._start: float | None = None
        self._frames = 0

    @property
    def description(self) -> str:
        """What this output is."""
        where = f", recording to {self.record}" if self.record else ""
        return f"clock {self.rate} Hz {self.channels} ch (no sound card){where}"

    def write(self, block: np.ndarray) -> None:
        """Accept a block, sleeping so the stream runs at real-time speed."""
        now = self._clock()
        if self._start is None:
            self._start = now
        played_until = self._start + self._frames / self.rate
        if now > played_until + self.period_frames / self.rate:
            # We fell behind by more than a period: a sound card would have underrun.
            self.underruns += 1
            self._start = now - self._frames / self.rate
        if self._recorder is not None:
            self._recorder.write(block)
        self._frames += len(block)
        ahead = self._start + (self._frames - self.buffer_frames) / self.rate - now
        if ahead > 0:
            self._sleep(ahead)

    def close(self) -> None:
        """Finish the recording, if any."""
        if self._recorder is not None:
            self._recorder.close()
