"""Capture what the player writes to ALSA, through ALSA's own ``file`` plugin.

The test configuration defines two PCMs, added to the system's ALSA configuration:

- ``sscapture:FILE=<path>,FORMAT=<S16_LE|S32_LE>``: a ``plug`` (so any sample format, rate
  and channel count the player asks for is accepted) converting to FORMAT and writing the raw
  interleaved samples to FILE, then to the ``null`` device. ``null`` never blocks, so capture
  runs faster than real time, and the file is complete once the PCM is closed.
- ``ssnull``: ``plug`` -> ``null``, a sink that accepts anything (for benchmarks).

alsa-lib reads its configuration once per process, so :func:`use_test_alsa_config` must run
before anything opens ALSA; it also exports ``ALSA_CONFIG_PATH`` so subprocesses see it too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SYSTEM_ALSA_CONF = "/usr/share/alsa/alsa.conf"

# Sample formats the capture PCM can write, with their numpy dtype and full-scale value.
CAPTURE_FORMATS: dict[str, tuple[type[np.signedinteger], float]] = {
    "S16_LE": (np.int16, 32768.0),
    "S32_LE": (np.int32, 2147483648.0),
}

TEST_ASOUNDRC = """\
# Written by the sleepsound test suite (tests/support/alsa.py).
pcm.sscapture {
    @args [ FILE FORMAT ]
    @args.FILE { type string }
    @args.FORMAT { type string default "S16_LE" }
    type plug
    slave {
        pcm {
            type file
            slave.pcm "null"
            file $FILE
            format "raw"
        }
        format $FORMAT
    }
}

pcm.ssnull {
    type plug
    slave.pcm "null"
}
"""


def write_asoundrc(directory: Path) -> Path:
    """Write the test ALSA configuration into ``directory``; return the file's path."""
    path = Path(directory) / "asoundrc"
    path.write_text(TEST_ASOUNDRC)
    return path


def use_test_alsa_config(directory: Path) -> Path:
    """Write the test configuration and point this process and its children at it.

    Must run before the first ALSA call in the process: alsa-lib caches its configuration.
    """
    path = write_asoundrc(directory)
    # The system file first: it defines "null", "plug" and the rest, and still loads
    # /etc/asound.conf and ~/.asoundrc, so real devices keep working beside the test ones.
    os.environ["ALSA_CONFIG_PATH"] = f"{SYSTEM_ALSA_CONF}:{path}"
    return path


def capture_device_name(path: Path, fmt: str = "S16_LE") -> str:
    """Return the ALSA device name that writes raw ``fmt`` samples to ``path``."""
    if fmt not in CAPTURE_FORMATS:
        raise ValueError(f"capture format must be one of {sorted(CAPTURE_FORMATS)}, not {fmt!r}")
    text = str(path)
    # ALSA config strings are double-quoted; these two would need escaping we do not need.
    if '"' in text or "\\" in text:
        raise ValueError(f"capture path must not contain quotes or backslashes: {text!r}")
    return f'sscapture:FILE="{text}",FORMAT={fmt}'


@dataclass(frozen=True)
class AlsaCapture:
    """One capture file and the ALSA device names that write to it.

    Open ``device`` (16-bit) or ``device_for("S32_LE")`` for playback, close it, then
    :meth:`read` what arrived.
    """

    path: Path

    @property
    def device(self) -> str:
        """The device name capturing 16-bit samples (S16_LE)."""
        return capture_device_name(self.path, "S16_LE")

    def device_for(self, fmt: str) -> str:
        """The device name capturing samples in ``fmt`` (``S16_LE`` or ``S32_LE``)."""
        return capture_device_name(self.path, fmt)

    def exists(self) -> bool:
        """Whether anything opened the device (the file is created on open)."""
        return self.path.exists()

    def read_raw(self, channels: int, fmt: str = "S16_LE") -> np.ndarray:
        """Return the captured integer samples, shape (frames, channels)."""
        dtype, _ = CAPTURE_FORMATS[fmt]
        if not self.path.exists():
            raise FileNotFoundError(
                f"{self.path} was never written: did the code under test open {self.device!r}?"
            )
        data = np.fromfile(self.path, dtype=np.dtype(dtype).newbyteorder("<"))
        if data.size % channels:
            raise ValueError(
                f"{self.path} holds {data.size} samples, not a whole number of "
                f"{channels}-channel frames: wrong channel count or format?"
            )
        return data.reshape(-1, channels)

    def read(self, channels: int, fmt: str = "S16_LE") -> np.ndarray:
        """Return the captured audio as float32 (frames, channels) scaled to [-1, 1)."""
        _, full_scale = CAPTURE_FORMATS[fmt]
        raw = self.read_raw(channels, fmt)
        return (raw.astype(np.float64) / full_scale).astype(np.float32)
