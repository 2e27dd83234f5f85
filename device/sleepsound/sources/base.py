"""The contract every source keeps."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Source(Protocol):
    """An endless stream of float32 blocks at the output rate and channel count.

    ``read(frames)`` always returns exactly ``frames`` rows of shape
    ``(frames, channels)``: sources loop or generate forever, so the engine never
    has to handle an end. Values are nominally within [-1, 1].
    """

    rate: int
    channels: int

    def read(self, frames: int) -> np.ndarray:
        """Return the next ``frames`` frames as a ``(frames, channels)`` float32 array."""
        ...

    def close(self) -> None:
        """Release files and buffers; the source is unusable afterwards."""
        ...
