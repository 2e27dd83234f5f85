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


RENDER_PERIODS = 2
"""Periods rendered per write: halves the per-block Python work while keeping half the
device buffer queued at all times, so an underrun still needs a long stall."""


def render_frames(output: Output) -> int:
    """How many frames to render and write at a time for ``output``."""
    return output.period_frames * RENDER_PERIODS
