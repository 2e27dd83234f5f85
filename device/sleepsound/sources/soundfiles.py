"""Reading sound files: opened with clear errors, decoded in blocks, converted.

What every file-backed source shares (the looped :class:`~sleepsound.sources.filesource.
FileSource` and the library's shuffled segments): opening a file so that every failure
is a :class:`~sleepsound.errors.SoundError` naming it, decoding blocks cheaply, and
turning native blocks into exact-sized blocks at the output's channels and rate.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import soundfile
import soxr

from sleepsound.errors import SoundFileError, UnknownSoundError
from sleepsound.sources.base import BlockFifo
from sleepsound.sources.file_checks import (
    MPEG_PADDING_FRAMES,
    after_id3v2,
    check_bounds,
    mpeg_declares_length,
    not_readable_message,
    readable_name,
    unsupported_format,
    unsupported_message,
)

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".mp3")


def map_channels(block: np.ndarray, channels: int) -> np.ndarray:
    """Return ``block`` with ``channels`` columns.

    Mono is copied to every output channel; several channels are downmixed (averaged)
    only for a mono output; extra channels beyond the output's are dropped, keeping
    the front pair's stereo image intact.
    """
    have = block.shape[1]
    if have == channels:
        return block
    if channels == 1:
        return block.mean(axis=1, keepdims=True, dtype=np.float32)
    if have == 1:
        return np.repeat(block, channels, axis=1)
    if have > channels:
        return np.ascontiguousarray(block[:, :channels])
    return np.concatenate([block, np.repeat(block[:, -1:], channels - have, axis=1)], axis=1)


def read_converted(
    native: Iterator[np.ndarray],
    resampler: soxr.ResampleStream | None,
    pending: BlockFifo,
    frames: int,
) -> np.ndarray:
    """Pull native blocks, map their channels, resample, and return exactly ``frames``."""
    while pending.frames < frames:
        block = map_channels(next(native), pending.channels)
        if resampler is not None:
            block = resampler.resample_chunk(block)
        pending.push(block)
    return pending.pop(frames)


# soundfile's public ``read`` asks libsndfile for the position before every read and
# seeks to it again after (to keep read and write positions apart in "r+" files): for
# FLAC that absolute seek costs about 100 µs a read, a fifth of the decoding itself.
# Read-only files need neither, so blocks are decoded through soundfile's own binding
# of ``sf_readf_float``; soundfile versions without it get the public ``read``.
_READF_FLOAT = getattr(getattr(soundfile, "_snd", None), "sf_readf_float", None)
_FROM_BUFFER = getattr(getattr(soundfile, "_ffi", None), "from_buffer", None)


def decode_frames(handle: soundfile.SoundFile, frames: int, path: str) -> np.ndarray:
    """Decode up to ``frames`` float32 frames ``(n, channels)`` from ``handle``'s position.

    Fewer (or none) come back at the end of the file. A decoding error raises
    :class:`SoundFileError` naming ``path``.
    """
    try:
        if _READF_FLOAT is None or _FROM_BUFFER is None:
            return handle.read(frames, dtype="float32", always_2d=True)
        out = np.empty((frames, handle.channels), dtype=np.float32)
        got = _READF_FLOAT(handle._file, _FROM_BUFFER(out), frames)
        if handle._errorcode:
            raise soundfile.LibsndfileError(handle._errorcode, "error while decoding: ")
    except (soundfile.LibsndfileError, RuntimeError) as error:
        raise SoundFileError(f"cannot decode {readable_name(path)}: {error}") from error
    return out if got == frames else out[:got]


SNIFF_BYTES = 64 * 1024
"""Bytes read from a file's start to recognise formats and an MP3's length header."""

TAIL_PROBE_FRAMES = 1024
_COUNT_FRAMES = 16384
MPEG_SEEK_PREROLL_FRAMES = 16384
"""How far before its target an MP3 seek lands, to be decoded and dropped: libsndfile's
seek in a VBR MP3 is followed by ~0.1 s of silence (measured up to ~6,600 frames at
48 kHz, for lame and ffmpeg files), while decoding on from an earlier point is exact."""


MAX_TAG_BYTES = 16 * 1024 * 1024
"""How far past a large ID3v2 tag (cover art) :func:`read_start` reads at most."""


def read_start(path: str | bytes | os.PathLike[str], size: int = SNIFF_BYTES) -> bytes:
    """The first bytes of a file: ``size`` of them, or to just past a larger ID3v2 tag.

    What format sniffing and an MP3's length header need (the header follows the tag).
    """
    with open(path, "rb") as file:
        head = file.read(size)
        audio_at = after_id3v2(head)
        if audio_at + 4096 > len(head) and len(head) == size:
            head += file.read(min(audio_at + 4096, MAX_TAG_BYTES) - len(head))
        return head


def open_sound_file(path: str, name: str | None = None) -> soundfile.SoundFile:
    """Open ``path`` for reading, turning every failure into a clear SoundError.

    A format sleepsound does not play, or a file outside :func:`check_bounds`, is
    refused here, so every way of playing a file applies the same rules. Messages
    call the file ``name`` (default: its path, as readable text).
    """
    shown = readable_name(path if name is None else name)
    if not os.path.exists(path):
        raise UnknownSoundError(f"no such sound file: {shown}")
    if os.path.isdir(path):
        raise SoundFileError(f"{shown} is a directory, not a sound file")
    try:
        head = read_start(path)
    except OSError as error:
        raise SoundFileError(f"cannot read {shown} ({error.strerror})") from error
    label = unsupported_format(head)
    if label is not None:
        raise SoundFileError(unsupported_message(shown, label))
    try:
        # Bytes, not str: a name that is not UTF-8 would not encode for libsndfile.
        handle = soundfile.SoundFile(os.fsencode(path))
    except (soundfile.LibsndfileError, RuntimeError, OSError) as error:
        reason = str(error).split(":", 1)[-1].strip() or type(error).__name__
        raise SoundFileError(not_readable_message(shown, reason, head)) from error
    if handle.frames == 0 or handle.samplerate <= 0 or handle.channels <= 0:
        handle.close()
        raise SoundFileError(f"{shown} holds no audio (0 frames)")
    try:
        check_bounds(handle.samplerate, handle.channels, shown)
    except SoundFileError:
        handle.close()
        raise
    return handle


def is_mpeg(handle: soundfile.SoundFile) -> bool:
    """True for MP3 (and other MPEG audio) files, whose frame count may over-report."""
    return handle.format == "MP3" or handle.subtype.startswith("MPEG")


def decoded_end(handle: soundfile.SoundFile, start_bytes: bytes) -> int | None:
    """Where ``handle``'s audio really ends (a frame count), or ``None`` if it is truncated.

    The header's frame count is exact for most formats: its last frames must decode.
    An MP3 with a length header (Xing/Info/VBRI) may over-report by the encoder's
    padding only, so its end must come within :data:`MPEG_PADDING_FRAMES` of the
    count. Without such a header the count is an estimate from the file size (tags
    and cover art inflate it), so the real end is searched backwards from it:
    whatever is there plays, and nothing claims more. Moves the read position.
    """
    frames = handle.frames
    if frames <= 2 * TAIL_PROBE_FRAMES:
        return frames
    if not is_mpeg(handle):
        handle.seek(frames - TAIL_PROBE_FRAMES)
        return frames if _count(handle, TAIL_PROBE_FRAMES) else None
    if mpeg_declares_length(start_bytes):
        start = max(frames - MPEG_PADDING_FRAMES - TAIL_PROBE_FRAMES, 0)
        if not seek_exact(handle, start):
            return None
        end = start + _count(handle, frames - start)
        return end if end >= frames - MPEG_PADDING_FRAMES else None
    back = TAIL_PROBE_FRAMES
    while True:
        start = max(frames - back, 0)
        got = _count(handle, frames - start) if seek_exact(handle, start) else 0
        if got or start == 0:
            return start + got if got else None
        back *= 4


def seek_exact(handle: soundfile.SoundFile, frame: int) -> bool:
    """Move ``handle`` to ``frame`` so that the next decode starts exactly there.

    An MP3 is sought :data:`MPEG_SEEK_PREROLL_FRAMES` earlier and decoded up to
    ``frame`` (see there why). False when ``frame`` cannot be reached (the file
    ends before it, or the seek fails).
    """
    if not is_mpeg(handle):
        try:
            handle.seek(frame)
        except (soundfile.LibsndfileError, RuntimeError):
            return False
        return True
    early = max(frame - MPEG_SEEK_PREROLL_FRAMES, 0)
    try:
        handle.seek(early)
    except (soundfile.LibsndfileError, RuntimeError):
        return False
    return _count(handle, frame - early) == frame - early


def _count(handle: soundfile.SoundFile, frames: int) -> int:
    """Decode up to ``frames`` frames in small blocks and count them (memory stays flat)."""
    total = 0
    name = readable_name(handle.name if isinstance(handle.name, str) else os.fsdecode(handle.name))
    while total < frames:
        got = len(decode_frames(handle, min(_COUNT_FRAMES, frames - total), name))
        if got == 0:
            break
        total += got
    return total
