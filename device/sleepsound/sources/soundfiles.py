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
        raise SoundFileError(f"cannot decode {path}: {error}") from error
    return out if got == frames else out[:got]


def open_sound_file(path: str) -> soundfile.SoundFile:
    """Open ``path`` for reading, turning every failure into a clear SoundError."""
    if not os.path.exists(path):
        raise UnknownSoundError(f"no such sound file: {path}")
    if os.path.isdir(path):
        raise SoundFileError(f"{path} is a directory, not a sound file")
    try:
        handle = soundfile.SoundFile(path)
    except (soundfile.LibsndfileError, RuntimeError, OSError) as error:
        reason = str(error).split(":", 1)[-1].strip() or type(error).__name__
        raise SoundFileError(
            f"cannot decode {path}: {reason} (sleepsound plays WAV, FLAC, OGG and MP3 files)"
        ) from error
    if handle.frames == 0 or handle.samplerate <= 0 or handle.channels <= 0:
        handle.close()
        raise SoundFileError(f"{path} holds no audio (0 frames)")
    return handle
