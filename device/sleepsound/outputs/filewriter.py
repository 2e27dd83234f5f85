"""Writing rendered audio to a sound file (offline render, and the clock's recording)."""

from __future__ import annotations

import os

import numpy as np
import soundfile

from sleepsound.dsp.dither import Ditherer
from sleepsound.errors import OutputError

SUBTYPES = {16: "PCM_16", 32: "PCM_32"}


class FileOutput:
    """Writes blocks to a WAV/FLAC file as 16-bit (TPDF-dithered) or 32-bit integers."""

    def __init__(
        self,
        path: str,
        rate: int,
        channels: int,
        bits: int = 16,
        period_frames: int = 4096,
        dither_seed: int | None = None,
    ) -> None:
        self.path = path
        self.rate = rate
        self.channels = channels
        self.period_frames = period_frames
        self.underruns = 0
        self.frames_written = 0
        self._bits = bits
        self._ditherer = Ditherer(dither_seed)
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            raise OutputError(f"cannot write {path}: folder {directory} does not exist")
        try:
            self._file = soundfile.SoundFile(
                path, "w", samplerate=rate, channels=channels, subtype=SUBTYPES[bits]
            )
        except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as error:
            raise OutputError(f"cannot write {path}: {error} (use a .wav or .flac name)") from error

    @property
    def description(self) -> str:
        """The file and its format."""
        return f"file {self.path} {self._bits}-bit {self.rate} Hz {self.channels} ch"

    def write(self, block: np.ndarray) -> None:
        """Append a block."""
        self._file.write(self._ditherer.convert(block, self._bits))
        self.frames_written += len(block)

    def close(self) -> None:
        """Finish the file (its header gets the final length)."""
        self._file.close()
