"""Non-repeating playback: a long file played as shuffled segments with crossfades.

Against ASMR fatigue (hearing the same 40 minutes every night): the file is cut
into segments of ``segment_s`` seconds taken at random positions, never one that
overlaps a recently played stretch, and each is joined to the next with a
``crossfade_s`` crossfade. The crossfade law is chosen from the measured
correlation of the two pieces (:func:`~sleepsound.dsp.gain.seam_gains`): equal
power for unrelated material, equal gain for alike material, so the level holds
across every join.

The file is read from disk segment by segment (seeked, never loaded whole), joined
at its own rate, then mapped to the output's channels and resampled by one
continuous soxr stream.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator, Sequence

import numpy as np
import soxr

from sleepsound.dsp.gain import seam_gains
from sleepsound.errors import SoundFileError
from sleepsound.sources.base import BlockFifo
from sleepsound.sources.file_checks import readable_name
from sleepsound.sources.soundfiles import (
    decode_frames,
    decoded_end,
    is_mpeg,
    open_sound_file,
    read_converted,
    read_start,
    seek_exact,
)

SEGMENT_S = 45.0
CROSSFADE_S = 3.0
READ_FRAMES = 4096
RECENT_KEEP = 4
"""How many played segments a new one must not overlap (when the file is long enough)."""


def choose_segment(
    frames: int,
    length: int,
    recent: Sequence[tuple[int, int]],
    rng: np.random.Generator,
) -> int:
    """A start frame for the next segment that overlaps none of ``recent`` (pure).

    ``recent`` holds (start, end) ranges, newest last. If no start avoids them
    all, the oldest ranges are let go one by one; the newest is always avoided
    when the file allows it, so a segment never directly repeats.
    """
    last = frames - length
    if last <= 0:
        return 0
    for keep in range(len(recent), 0, -1):
        ranges = sorted(recent[-keep:])
        # Allowed starts are the gaps between forbidden intervals [s - length + 1, e).
        gaps, low = [], 0
        for start, end in ranges:
            high = min(start - length, last)
            if high >= low:
                gaps.append((low, high))
            low = max(low, end)
        if low <= last:
            gaps.append((low, last))
        if gaps:
            sizes = np.array([high - low + 1 for low, high in gaps], dtype=np.float64)
            low, high = gaps[int(rng.choice(len(gaps), p=sizes / sizes.sum()))]
            return int(rng.integers(low, high + 1))
    return int(rng.integers(0, last + 1))


class ShuffledSegments:
    """A :class:`~sleepsound.sources.base.Source` over a seekable file, never looping."""

    def __init__(
        self,
        path: str,
        rate: int,
        channels: int,
        segment_s: float = SEGMENT_S,
        crossfade_s: float = CROSSFADE_S,
        seed: int | None = None,
    ) -> None:
        """Open ``path``; raises :class:`SoundFileError` if it is too short to shuffle."""
        self.path = path
        self._shown = readable_name(path)
        """The path as text for messages (a non-UTF-8 name never reaches JSON)."""
        self.rate = rate
        self.channels = channels
        self._file = open_sound_file(path)
        native = self._file.samplerate
        self.native_rate = native
        self._frames = self._file.frames
        if is_mpeg(self._file):
            # An MP3's frame count may over-report by padding or (without a length
            # header) by its tags: segments are chosen within what really decodes.
            try:
                self._frames = decoded_end(self._file, read_start(path)) or 0
            except (SoundFileError, OSError):
                self._frames = 0  # refused below as too short: the file loops instead
        self._segment = round(segment_s * native)
        self._crossfade = round(crossfade_s * native)
        if self._segment < 3 * self._crossfade or self._frames < 3 * self._segment:
            self._file.close()
            raise SoundFileError(
                f"{readable_name(path)} is too short to play as shuffled {segment_s:g} s segments; "
                "play it as a loop instead"
            )
        self._rng = np.random.default_rng(seed)
        self.recent: collections.deque[tuple[int, int]] = collections.deque(maxlen=RECENT_KEEP)
        self._native = self._native_blocks()
        self._resampler = (
            soxr.ResampleStream(native, rate, channels, dtype="float32", quality="HQ")
            if native != rate
            else None
        )
        self._pending = BlockFifo(channels)

    def _native_blocks(self) -> Iterator[np.ndarray]:
        """The joined stream at the file's own rate and channel count."""
        tail: np.ndarray | None = None
        while True:
            start = choose_segment(self._frames, self._segment, list(self.recent), self._rng)
            self.recent.append((start, start + self._segment))
            if not seek_exact(self._file, start):
                raise SoundFileError(f"{self._shown}: cannot reach frame {start}")
            head = decode_frames(self._file, self._crossfade, self.path)
            if len(head) == 0:
                raise SoundFileError(f"{self._shown}: nothing could be read at frame {start}")
            if tail is not None:
                n = min(len(tail), len(head))
                fade_out, fade_in = seam_gains(tail[:n], head[:n])
                yield tail[:n] * fade_out[:, None] + head[:n] * fade_in[:, None]
            else:
                yield head
            body = self._segment - 2 * self._crossfade
            while body > 0:
                chunk = decode_frames(self._file, min(READ_FRAMES, body), self.path)
                if len(chunk) == 0:
                    break  # a file shorter than its header said: join early
                body -= len(chunk)
                yield chunk
            tail = decode_frames(self._file, self._crossfade, self.path)
            if len(tail) == 0:
                tail = None

    def read(self, frames: int) -> np.ndarray:
        """Return the next ``frames`` frames as a ``(frames, channels)`` float32 array."""
        return read_converted(self._native, self._resampler, self._pending, frames)

    def close(self) -> None:
        """Close the file."""
        self._file.close()
