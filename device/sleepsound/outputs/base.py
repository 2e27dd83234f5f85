"""The contract every output keeps."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Output(Protocol):
    """A place blocks of float32 samples go, at a fixed rate and channel count.

    ``write`` blocks until the output has room, which is what paces a live engine.
    """

    rate: int
    channels: int
    period_frames: int
    underruns: int

    @property
    def description(self) -> str:
        """One line for logs and status: what this output is and what it negotiated."""
        ...

    def write(self, block: np.ndarray) -> None:
        """Play (or record) a ``(frames, channels)`` float32 block."""
        ...

    def close(self) -> None:
        """Release the device or file."""
        ...


RENDER_PERIODS = 4
"""Periods rendered per write: a whole default buffer (4096 frames, 85 ms at 48 kHz).

Every numpy call costs a microsecond or two however short its block, so long blocks
cut the CPU spent on everything but decoding (benchmarks/bench_engine.py). The
margin against underruns does not shrink with it (a write returns once its last
frame is queued, so the buffer is full whenever rendering starts); what grows is
how late a change is heard: at most a block plus a buffer, 170 ms by default."""


def render_frames(output: Output) -> int:
    """How many frames to render and write at a time for ``output``."""
    return output.period_frames * RENDER_PERIODS
