"""Sound files as endless, seamless streams at the output's rate and channel count.

A file is read block by block (never whole: a 10-hour file plays in constant
memory), mapped to the output's channels, looped with a crossfaded seam and
resampled with soxr. The loop is made at the file's own rate, before resampling,
so the resampler sees one continuous signal and adds no edge of its own.

How the seam works: the first ``seam`` frames of the file (the head) are kept in
memory. Reading always holds the last ``seam`` frames back, so that when the file
ends (whatever its header claimed: truncated files end early) those held frames are
the tail. The tail is crossfaded into the head with :func:`seam_gains`, and the next
pass continues just after the head. Each pass therefore lasts ``frames - seam``.
An MP3's header may promise more frames than it decodes (encoder padding): reading
to the real end makes that harmless, and :func:`seek_exact` keeps the jump back to
just after the head sample-exact (a plain MP3 seek inserts silence).
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Iterator

import numpy as np
import soxr

from sleepsound.dsp.gain import seam_gains
from sleepsound.errors import SoundFileError
from sleepsound.sources.base import BlockFifo
from sleepsound.sources.file_checks import readable_name
from sleepsound.sources.soundfiles import (
    decode_frames,
    map_channels,
    open_sound_file,
    read_converted,
    seek_exact,
)

log = logging.getLogger(__name__)

READ_FRAMES = 16384
"""Frames decoded per read: large enough to keep Python overhead low, small in memory."""

SEAM_S = 1.0
"""Length of the loop crossfade (shortened for files under four times this)."""


class FileSource:
    """A sound file looped seamlessly forever, at ``rate`` Hz with ``channels`` channels."""

    def __init__(self, path: str, rate: int, channels: int, seam_s: float = SEAM_S) -> None:
        self.path = path
        self._shown = readable_name(path)
        """The path as text for messages (a non-UTF-8 name never reaches JSON)."""
        self.rate = rate
        self.channels = channels
        self._file = open_sound_file(path)
        self.native_rate = self._file.samplerate
        self.native_channels = self._file.channels
        self.declared_frames = self._file.frames
        self._seam = max(min(round(seam_s * self.native_rate), self.declared_frames // 4), 0)
        try:
            self._head = self._decode(self._seam)
            seek_exact(self._file, 0)
        except SoundFileError:
            self._file.close()
            raise
        self._native = self._native_blocks()
        self._resampler = (
            soxr.ResampleStream(self.native_rate, rate, channels, dtype="float32", quality="HQ")
            if self.native_rate != rate
            else None
        )
        self._pending = BlockFifo(channels)
        self.loops = 0
        self.damaged = False
        """True once decoding stopped early at damage inside the file (logged once)."""

    def __repr__(self) -> str:
        return f"FileSource({self.path!r}, rate={self.rate}, channels={self.channels})"

    def _native_blocks(self) -> Iterator[np.ndarray]:
        """Yield the looped stream at the file's own rate, in the output's channels."""
        start = 0
        while True:
            if start and not seek_exact(self._file, start):
                raise SoundFileError(f"{self._shown}: cannot seek back to frame {start} to loop")
            held: collections.deque[np.ndarray] = collections.deque()
            held_frames = 0
            produced = 0
            while True:
                try:
                    chunk = self._decode(READ_FRAMES)
                except SoundFileError as error:
                    if produced + held_frames == 0:
                        raise
                    # Damage mid-file (a stretch the decoder cannot resync past): what
                    # decoded loops, seamed as at a real end, rather than the sound stopping.
                    self._damaged(error, start + produced + held_frames)
                    break
                if len(chunk) == 0:
                    break
                held.append(chunk)
                held_frames += len(chunk)
                # Release whole chunks while the rest still covers a full seam.
                while held and held_frames - len(held[0]) >= self._seam:
                    released = held.popleft()
                    held_frames -= len(released)
                    produced += len(released)
                    yield released
            tail = np.concatenate(held) if held else np.empty((0, self.channels), "float32")
            body = max(len(tail) - self._seam, 0)
            if body:
                produced += body
                yield tail[:body]
            tail = tail[body:]
            overlap = min(len(tail), len(self._head))
            if produced == 0 and overlap == 0:
                raise SoundFileError(f"{self._shown} ended before any audio could be read")
            if overlap < len(tail):
                yield tail[: len(tail) - overlap]
            fade_out, fade_in = seam_gains(tail[-overlap:], self._head[:overlap])
            yield tail[len(tail) - overlap :] * fade_out[:, None] + (
                self._head[:overlap] * fade_in[:, None]
            )
            self.loops += 1
            start = overlap

    def _decode(self, frames: int) -> np.ndarray:
        """Decode up to ``frames`` frames, mapped to the output's channels at once.

        Mapping before the seam keeps what the loop holds (the head and a seam's worth
        of tail) in the output's channels: a 192 kHz 8-channel file holds a quarter of
        the memory it would in its own channels (about 10 MB less on a stereo output).
        """
        return map_channels(decode_frames(self._file, frames, self.path), self.channels)

    def _damaged(self, error: SoundFileError, frame: int) -> None:
        if not self.damaged:
            log.warning(
                "%s cannot be decoded past %.1f s (%s); looping what decodes",
                self._shown,
                frame / self.native_rate,
                error,
            )
        self.damaged = True

    def read(self, frames: int) -> np.ndarray:
        """Return the next ``frames`` frames as a ``(frames, channels)`` float32 array."""
        return read_converted(self._native, self._resampler, self._pending, frames)

    def close(self) -> None:
        """Close the file."""
        self._file.close()


def open_file(path: str, rate: int, channels: int) -> FileSource:
    """Open a sound file as an endless source at ``rate`` Hz with ``channels`` channels."""
    return FileSource(path, rate, channels)
