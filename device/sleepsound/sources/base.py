"""The contract every source keeps."""

from __future__ import annotations

import collections
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
        """Return the next ``frames`` frames as a ``(frames, channels)`` float32 array.

        The block belongs to the caller, who may scale or mix into it in place (the
        engine does, to save a pass over every sample): a source may hand out a view
        into its own buffers only where it never reads those rows again.
        """
        ...

    def close(self) -> None:
        """Release files and buffers; the source is unusable afterwards."""
        ...


class BlockFifo:
    """Blocks of any length in, exactly as many frames as asked for out.

    Decoders and resamplers hand out blocks of their own sizes; sources must return
    exact frame counts. The blocks are kept as they came (no concatenation on push),
    so a long read-ahead costs no copying.
    """

    def __init__(self, channels: int) -> None:
        self.channels = channels
        self.frames = 0
        """Frames waiting to be popped."""
        self._blocks: collections.deque[np.ndarray] = collections.deque()

    def push(self, block: np.ndarray) -> None:
        """Queue a ``(frames, channels)`` block (empty blocks are ignored)."""
        if len(block):
            self._blocks.append(block.astype(np.float32, copy=False))
            self.frames += len(block)

    def pop(self, frames: int) -> np.ndarray:
        """Remove and return the next ``frames`` frames; there must be that many queued."""
        if frames > self.frames:
            raise ValueError(f"asked for {frames} frames, only {self.frames} queued")
        first = self._blocks[0] if self._blocks else None
        if first is not None and len(first) >= frames:
            # The usual case: no copy. Rows handed out are never handed out again, so
            # the caller may modify them (see Source.read).
            self.frames -= frames
            if len(first) == frames:
                self._blocks.popleft()
            else:
                self._blocks[0] = first[frames:]
            return first[:frames]
        out = np.empty((frames, self.channels), dtype=np.float32)
        filled = 0
        while filled < frames:
            block = self._blocks[0]
            take = min(len(block), frames - filled)
            out[filled : filled + take] = block[:take]
            filled += take
            if take == len(block):
                self._blocks.popleft()
            else:
                self._blocks[0] = block[take:]
        self.frames -= frames
        return out
